import contextlib
import gzip

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ferengine
from ferengine.errors import DatasetError

RNG = np.random.default_rng(0)


def row(label, usage, n=16, value=None):
    px = RNG.integers(0, 256, n) if value is None else np.full(n, value)
    return f"{label},{' '.join(map(str, px))},{usage}"


def write(path, rows, header="emotion,pixels,Usage", gz=False):
    text = "\n".join([header, *rows]) + "\n"
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def load(path, **kw):
    return ferengine.load_dataset("fer2013", path=path, image_size=4, **kw)


@pytest.mark.parametrize("gz", [False, True])
def test_reads_plain_and_gzip_with_splits(tmp_path, gz):
    rows = [row(0, "Training"), row(3, "Training"), row(6, "PublicTest"), row(5, "PrivateTest")]
    ds = load(write(tmp_path / ("f.csv.gz" if gz else "f.csv"), rows, gz=gz))
    assert len(ds) == 4 and ds.images.shape == (4, 4, 4)
    assert ds.labels.tolist() == [0, 3, 6, 5]
    assert ds.splits.tolist() == ["Training", "Training", "PublicTest", "PrivateTest"]
    assert ds.meta["usages_present"] == ["Training", "PublicTest", "PrivateTest"]
    only = load(tmp_path / ("f.csv.gz" if gz else "f.csv"), usage=["PublicTest"])
    assert only.labels.tolist() == [6]
    assert only.meta["usages_present"] == ["Training", "PublicTest", "PrivateTest"]


def test_pixels_are_row_major(tmp_path):
    line = "2," + " ".join(str(v) for v in range(16)) + ",Training"
    ds = load(write(tmp_path / "f.csv", [line]))
    assert ds.images[0].tolist() == np.arange(16).reshape(4, 4).tolist()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0,1 2 3,Training", "line 2: pixel string holds 3 values, expected 16"),
        ("0," + "1 " * 15 + "x,Training", "line 2: pixel value 'x' is not"),
        ("0," + "1 " * 15 + "256,Training", "line 2: pixel values must lie in 0..255"),
        ("9," + "1 " * 16 + ",Training", "line 2: emotion '9' is not 0..6"),
        ("0," + "1 " * 16 + ",Validation", "line 2: Usage 'Validation'"),
        ("0,1,2,Training", "line 2: 4 fields, expected 3"),
    ],
)
def test_bad_rows_name_their_line(tmp_path, line, message):
    path = write(tmp_path / "f.csv", [line])
    with pytest.raises(DatasetError, match=message.replace("(", r"\(")):
        load(path)


def test_bad_header_names_missing_columns(tmp_path):
    path = write(tmp_path / "f.csv", [row(0, "Training")], header="label,pixels,Usage")
    with pytest.raises(DatasetError, match=r"lacks column\(s\) \['emotion'\]"):
        load(path)
    with pytest.raises(DatasetError, match="does not exist"):
        load(tmp_path / "missing.csv")


def test_non_strict_skips_and_reports(tmp_path):
    rows = [row(0, "Training"), "0,1 2,Training", row(1, "PublicTest")]
    ds = load(write(tmp_path / "f.csv", rows), strict=False)
    assert len(ds) == 2
    assert ds.meta["n_skipped"] == 1
    assert ds.meta["skipped"][0]["where"] == "line 3"


GOOD = st.builds(
    lambda lab, use: row(lab, use),
    st.integers(0, 6),
    st.sampled_from(["Training", "PublicTest", "PrivateTest"]),
)
BAD = st.one_of(
    st.text(alphabet="0123456789 ,xX-.", max_size=40).filter(lambda s: s.strip() != ""),
    st.builds(lambda n: "0," + " ".join(["7"] * n) + ",Training", st.integers(0, 40)),
    st.builds(
        lambda v: "1," + " ".join([v] * 16) + ",Training",
        st.sampled_from(["-1", "256", "1e3", "nan", "3.5"]),
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.one_of(GOOD, BAD), min_size=1, max_size=12))
def test_malformed_rows_are_errors_or_reported_never_lost(tmp_path, lines):
    path = write(tmp_path / "h.csv", lines)
    with contextlib.suppress(DatasetError):  # the documented error; any other one fails
        load(path)
    try:
        ds = load(path, strict=False)
    except DatasetError as exc:  # every line bad: an empty dataset is an error that counts them
        assert f"no usable rows ({len(lines)} skipped; first: line 2: " in str(exc)
    else:
        assert len(ds) + ds.meta["n_skipped"] == len(lines)


FERPLUS_HEADER = (
    "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
)


def test_ferplus_relabelling_majority_unknown_ties_and_not_face(tmp_path):
    csv_path = write(tmp_path / "f.csv", [row(0, "Training")] * 5 + [row(3, "PublicTest")])
    votes = [
        "Training,a.png,0,8,1,0,0,0,0,1,0,0",  # happiness
        "Training,b.png,0,0,0,0,0,0,0,0,0,10",  # NF: dropped
        "Training,,5,0,0,0,0,0,0,0,0,0",  # no image name: dropped
        "Training,d.png,1,0,0,0,0,0,0,0,8,1",  # unknown
        "Training,e.png,4,4,0,0,0,0,0,0,2,0",  # tie neutral/happiness
        "PublicTest,f.png,0,0,0,0,0,0,2,7,1,0",  # contempt
    ]
    fp = tmp_path / "fer2013new.csv"
    fp.write_text("\n".join([FERPLUS_HEADER, *votes]) + "\n")
    ds = load(csv_path, ferplus=fp)
    assert ds.label_space.name == "ferplus8"
    assert ds.label_names.tolist() == ["happiness", "contempt"]
    assert ds.meta["ferplus_dropped"] == {"not_face": 2, "unknown": 1, "tie": 1}
    kept = load(csv_path, ferplus=fp, ferplus_unknown="keep", ferplus_ties="first")
    assert kept.label_names.tolist() == ["happiness", "neutral", "neutral", "contempt"]
    with pytest.raises(DatasetError, match="has 1 Training rows but"):
        fp.write_text(FERPLUS_HEADER + "\n" + votes[0] + "\n" + votes[-1] + "\n")
        load(csv_path, ferplus=fp)
