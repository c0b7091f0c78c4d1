"""FER+ as a benchmark: the votes on the dataset, the vote metrics, the shipped suite."""

import csv
import gzip
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

import ferengine
from ferengine.bench import RunOptions, SuiteError, load_suite, parse_suite, run_suite
from ferengine.bench.plan import load_folds, make_plan
from ferengine.bench.report import write_report
from ferengine.bench.store import ResultStore
from ferengine.bench.votes import (
    EPS,
    cross_entropy_to_votes,
    plurality_accuracy,
    vote_entropy,
    vote_scores,
)
from ferengine.datacache import load_cached
from ferengine.labels import FER7, FERPLUS8, mapping
from ferengine.registry import get_registry

from .conftest import shared_data_dir

RNG = np.random.default_rng(0)
VOTE_NAMES = [*FERPLUS8.names, "unknown", "NF"]
HEADER = "Usage,Image name," + ",".join(VOTE_NAMES)
# Usage, image name, ten votes (neutral happiness surprise sadness anger disgust fear
# contempt unknown NF), and what the majority relabelling does with the row.
VOTES = [
    ("Training", "a.png", [0, 8, 1, 0, 0, 0, 0, 1, 0, 0]),  # happiness
    ("Training", "b.png", [0, 0, 0, 0, 0, 0, 0, 0, 0, 10]),  # NF: dropped
    ("Training", "c.png", [6, 0, 0, 3, 0, 0, 0, 0, 1, 0]),  # neutral
    ("Training", "d.png", [4, 4, 0, 0, 0, 0, 0, 0, 2, 0]),  # tie: dropped
    ("PublicTest", "e.png", [0, 0, 0, 0, 0, 0, 2, 7, 1, 0]),  # contempt
    ("PublicTest", "f.png", [1, 0, 9, 0, 0, 0, 0, 0, 0, 0]),  # surprise
]


def write_pair(folder: Path, size: int = 4, gz: bool = False) -> tuple[Path, Path]:
    """Write a FER2013 CSV and its FER+ votes (rows in the same order per Usage)."""
    images = ["emotion,pixels,Usage"] + [
        f"{i % 7},{' '.join(map(str, RNG.integers(0, 256, size * size)))},{usage}"
        for i, (usage, _, _) in enumerate(VOTES)
    ]
    votes = [HEADER] + [f"{u},{n},{','.join(map(str, v))}" for u, n, v in VOTES]
    suffix = ".csv.gz" if gz else ".csv"
    paths = folder / f"fer2013{suffix}", folder / f"fer2013new{suffix}"
    for path, lines in zip(paths, (images, votes), strict=True):
        text = "\n".join(lines) + "\n"
        if gz:
            with gzip.open(path, "wt") as fh:
                fh.write(text)
        else:
            path.write_text(text)
    return paths


def load(images: Path, votes: Path, **kw):
    return ferengine.load_dataset("fer2013", path=images, ferplus=votes, image_size=4, **kw)


# --- the votes on the dataset --------------------------------------------------------------


def test_votes_are_kept_per_image_in_file_column_order(tmp_path):
    ds = load(*write_pair(tmp_path))
    assert ds.label_names.tolist() == ["happiness", "neutral", "contempt", "surprise"]
    assert ds.meta["vote_names"] == VOTE_NAMES
    assert "votes" in ds.per_sample
    expected = [VOTES[i][2] for i in (0, 2, 4, 5)]  # the rows the relabelling keeps
    assert ds.meta["votes"].shape == (4, 10) and ds.meta["votes"].tolist() == expected
    kept = load(*write_pair(tmp_path), ferplus_ties="first")  # the tie stays, votes too
    assert kept.meta["votes"][2].tolist() == VOTES[3][2]
    assert "votes" not in ferengine.load_dataset("fer2013", path=tmp_path / "fer2013.csv",
                                                 image_size=4).meta  # fmt: skip


def test_votes_follow_subsets_label_maps_and_the_dataset_cache(tmp_path):
    ds = load(*write_pair(tmp_path, gz=True))
    test = ds.where(split="PublicTest")
    assert test.meta["votes"].tolist() == [VOTES[4][2], VOTES[5][2]]
    assert ds.subset([3, 0]).meta["votes"].tolist() == [VOTES[5][2], VOTES[0][2]]
    mapped = ds.map_labels(mapping(FERPLUS8, FER7, unmapped="drop"))  # no contempt in fer7
    assert mapped.meta["votes"].tolist() == [VOTES[i][2] for i in (0, 2, 5)]
    assert mapped.meta["vote_names"] == VOTE_NAMES
    plugin = get_registry().get("dataset", "fer2013")(path=tmp_path)
    cached = load_cached(plugin, lambda allocate: ds, cache_dir=tmp_path / "cache")
    assert cached.meta["votes"].tolist() == ds.meta["votes"].tolist()
    assert cached.meta["vote_names"] == VOTE_NAMES and "votes" in cached.per_sample
    assert cached.where(split="Training").meta["votes"].tolist() == [
        VOTES[0][2], VOTES[2][2],
    ]  # fmt: skip


# --- the metrics, by hand -------------------------------------------------------------------

# Four images, three classes: a clear winner, a tie, unanimity, a spread.
HAND_VOTES = [[6, 4, 0], [5, 5, 0], [0, 0, 10], [2, 3, 5]]
HAND_PROBA = [[0.7, 0.2, 0.1], [0.5, 0.5, 0.0], [0.1, 0.1, 0.8], [0.2, 0.3, 0.5]]


def test_cross_entropy_to_votes_by_hand():
    ln = math.log
    rows = [
        -(0.6 * ln(0.7) + 0.4 * ln(0.2)),  # votes 6/10, 4/10
        -(0.5 * ln(0.5) + 0.5 * ln(0.5)),  # the class with probability 0 has no vote
        -ln(0.8),
        -(0.2 * ln(0.2) + 0.3 * ln(0.3) + 0.5 * ln(0.5)),
    ]
    assert cross_entropy_to_votes(HAND_PROBA, HAND_VOTES) == pytest.approx(sum(rows) / 4)
    assert cross_entropy_to_votes(HAND_PROBA, HAND_VOTES) == pytest.approx(0.700931, abs=1e-6)
    # a voted class predicted at probability 0 costs -ln(EPS) times its vote share
    zero = cross_entropy_to_votes([[1.0, 0.0, 0.0]], [[5, 5, 0]])
    assert zero == pytest.approx(-0.5 * ln(EPS)) and EPS == 1e-7
    # votes that agree with confident predictions cost nothing
    assert cross_entropy_to_votes([[0.0, 1.0, 0.0]], [[0, 3, 0]]) == pytest.approx(0.0)


def test_vote_entropy_by_hand_is_the_floor_of_the_cross_entropy():
    ln = math.log
    rows = [
        -(0.6 * ln(0.6) + 0.4 * ln(0.4)),
        ln(2),
        0.0,
        -(0.2 * ln(0.2) + 0.3 * ln(0.3) + 0.5 * ln(0.5)),
    ]
    assert vote_entropy(HAND_VOTES) == pytest.approx(sum(rows) / 4)
    shares = np.asarray(HAND_VOTES) / 10  # predicting the vote shares reaches the floor
    assert cross_entropy_to_votes(shares, HAND_VOTES) == pytest.approx(vote_entropy(HAND_VOTES))
    assert cross_entropy_to_votes(HAND_PROBA, HAND_VOTES) > vote_entropy(HAND_VOTES)


def test_plurality_accuracy_by_hand_counts_any_tied_winner():
    assert plurality_accuracy([0, 1, 2, 1], HAND_VOTES) == 0.75  # the spread row is wrong
    assert plurality_accuracy([1, 0, 2, 2], HAND_VOTES) == 0.75  # the clear winner is missed
    assert plurality_accuracy([0, 0, 2, 2], HAND_VOTES) == 1.0  # either side of the tie
    assert plurality_accuracy([2, 2, 0, 0], HAND_VOTES) == 0.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: plurality_accuracy([0], [[0, 0, 0]]), r"rows \[0\] hold no vote"),
        (lambda: plurality_accuracy([3], [[1, 0, 0]]), "column indices 0..2"),
        (lambda: cross_entropy_to_votes([[0.5, 0.5]], [[1, 0, 0]]), "must match"),
        (lambda: cross_entropy_to_votes([[1.0]], [[-1]]), "non-negative"),
    ],
)
def test_bad_metric_inputs_say_what_is_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_vote_scores_use_the_emotion_columns_and_the_models_classes():
    names = FERPLUS8.names  # the model's label space
    # ten-column FER+ votes; unknown and NF votes must be ignored
    votes = np.array([
        [0, 6, 0, 4, 0, 0, 0, 0, 5, 5],   # happiness 6, sadness 4
        [9, 0, 0, 0, 0, 0, 0, 0, 0, 1],   # neutral: a class the model never saw
        [0, 0, 0, 0, 0, 0, 0, 0, 3, 7],   # no emotion vote: not scored
        [0, 5, 0, 5, 0, 0, 0, 0, 0, 0],   # tie happiness / sadness
    ], dtype=float)  # fmt: skip
    meta = {"votes": votes, "vote_names": VOTE_NAMES}
    proba = np.array([[0.8, 0.2], [0.5, 0.5], [0.5, 0.5], [0.1, 0.9]])
    seen = np.array([1, 3])  # the classifier saw happiness and sadness only
    predicted = np.array([1, 1, 1, 3])  # happiness, happiness, happiness, sadness
    out = vote_scores(proba, seen, predicted, names, meta, np.arange(4))
    assert out["votes_n"] == 3
    assert out["vote_entropy"] == pytest.approx((-(0.6 * math.log(0.6) + 0.4 * math.log(0.4))
                                                 + 0 + math.log(2)) / 3)  # fmt: skip
    assert out["plurality_accuracy"] == pytest.approx(2 / 3)  # rows 0 and 3 right, 1 wrong
    ln = math.log
    expected = [-(0.6 * ln(0.8) + 0.4 * ln(0.2)), -ln(EPS), -(0.5 * ln(0.1) + 0.5 * ln(0.9))]
    assert out["vote_cross_entropy"] == pytest.approx(np.mean(expected))
    # the fold's test rows select the votes
    some = vote_scores(proba[3:], seen, predicted[3:], names, meta, np.array([3]))
    assert some["plurality_accuracy"] == 1.0 and some["votes_n"] == 1
    wrong = vote_scores(proba, np.array([1, 3, 5]), predicted, names, meta, np.arange(4))
    assert wrong["vote_cross_entropy"] is None and "shape (4, 2)" in wrong["votes_note"]


def test_vote_scores_without_probabilities_votes_or_matching_classes():
    meta = {"votes": np.array([[0, 1, 0, 0, 0, 0, 0, 0, 0, 0.0]]), "vote_names": VOTE_NAMES}
    no_proba = vote_scores(None, None, np.array([1]), FERPLUS8.names, meta, np.array([0]))
    assert no_proba["plurality_accuracy"] == 1.0 and no_proba["vote_cross_entropy"] is None
    assert "no predict_proba" in no_proba["votes_note"]
    assert vote_scores(None, None, [1], FERPLUS8.names, {}, [0]) == {}
    # fer7 says "happy", not "happiness": no vote column to score it against
    other = vote_scores(None, None, [1], FER7.names, meta, [0])
    assert "plurality_accuracy" not in other and "have no vote column" in other["votes_note"]


# --- the shipped suite ----------------------------------------------------------------------


def test_ferplus_suite_parses_and_plans_on_generated_data(tmp_path, monkeypatch):
    suite = load_suite("ferplus")
    assert suite.protocol.kind == "split"
    assert (suite.protocol.train_split, suite.protocol.test_split) == ("Training", "PublicTest")
    assert len(suite.combinations) == 6  # 4 heads fitted here; the FER+ `default` CNN, its TTA
    params = suite.datasets["fer2013"].params
    assert params["ferplus"] == "${FERENGINE_DATA}/fer2013/fer2013new.csv.gz"
    (tmp_path / "fer2013").mkdir()
    write_pair(tmp_path / "fer2013", size=48, gz=True)  # the suite reads 48×48 images
    monkeypatch.setenv("FERENGINE_DATA", str(tmp_path))
    options = RunOptions(tmp_path / "run")
    datasets = options.datasets(suite)  # ${FERENGINE_DATA} expanded in both paths
    assert datasets["fer2013"].params["ferplus"] == str(tmp_path / "fer2013/fer2013new.csv.gz")
    folds = load_folds(suite, datasets, tmp_path / "run")["fer2013"]
    assert len(folds) == 1
    test_ds = folds[0].test_side.load()
    assert test_ds.label_space == FERPLUS8 and test_ds.meta["votes"][folds[0].test].shape == (2, 10)
    plan = make_plan(suite, {"fer2013": folds}, ResultStore(tmp_path / "run"), options)
    assert plan.tasks == 6 and len(plan.features) == 3  # hog, the CNN embedding, no front


def test_unset_votes_variable_names_the_parameter(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_DATA_DIR", raising=False)
    suite = parse_suite('[datasets.f]\nname = "fer2013"\n'
                        'params = { path = "x.csv", ferplus = "${NO_SUCH_DATA_DIR}/v.csv" }\n'
                        '[[features]]\nname = "hog"\n[[classifiers]]\nname = "knn"',
                        "s.toml", tmp_path)  # fmt: skip
    with pytest.raises(SuiteError, match="datasets.f.params.ferplus: unset"):
        RunOptions(tmp_path / "out").datasets(suite)


TINY = """
name = "tiny-ferplus"
[datasets.fp]
name = "fer2013"
params = {{ path = "{images}", image_size = 4{votes} }}
[protocol]
kind = "split"
train_split = "Training"
test_split = "PublicTest"
[[features]]
name = "pixels"
params = {{ size = 4 }}
[[classifiers]]
name = "logistic"
[[classifiers]]
name = "svm-linear"
"""


@pytest.mark.slow  # a benchmark run
def test_a_run_on_voted_data_records_and_reports_the_vote_metrics(tmp_path):
    images, votes = write_pair(tmp_path)
    text = TINY.format(images=images, votes=f', ferplus = "{votes}", ferplus_ties = "first"')
    out = tmp_path / "run"
    summary = run_suite(parse_suite(text, "tiny.toml", tmp_path), RunOptions(out))
    assert summary.failed == 0
    write_report(out)
    rows = {r["pipeline"]: r for r in json.loads((out / "results.json").read_text())}
    logistic = rows["pixels(size=4) → logistic"]
    svm = rows["pixels(size=4) → svm-linear"]
    for row in (logistic, svm):
        assert row["votes_n"] == 2 and 0 <= row["plurality_accuracy"] <= 1
    assert logistic["vote_cross_entropy"] > 0 and svm["vote_cross_entropy"] is None
    assert "no predict_proba" in svm["votes_note"]
    table = list(csv.DictReader(io.StringIO((out / "results.csv").read_text())))
    assert {r["votes_n"] for r in table} == {"2"}
    report = (out / "report.md").read_text()
    header = next(line for line in report.splitlines() if line.startswith("| # | pipeline"))
    assert "| Brier | plurality acc. | CE to votes |" in header  # report.html's order
    heads = [c.strip() for c in header.strip("|").split("|")]
    svm_line = next(line for line in report.splitlines() if "→ svm-linear`" in line)
    cells = [c.strip() for c in svm_line.strip("|").split("|")]
    assert cells[heads.index("plurality acc.")] == f"{svm['plurality_accuracy']:.3f}"
    assert cells[heads.index("CE to votes")] == "–"
    assert "Annotators' votes (2 test images with a vote for a class)" in report
    assert f"the votes' own entropy, {logistic['vote_entropy']:.3f}, is the lowest" in report


@pytest.mark.slow  # a benchmark run
def test_a_report_without_votes_has_no_vote_columns(tmp_path):
    images, _ = write_pair(tmp_path)
    text = TINY.format(images=images, votes="")
    out = tmp_path / "run"
    run_suite(parse_suite(text, "tiny.toml", tmp_path), RunOptions(out))
    report = write_report(out).read_text()
    assert "plurality acc." not in report and "Annotators' votes" not in report


# --- the real data --------------------------------------------------------------------------

DATA = shared_data_dir()


@pytest.mark.slow
@pytest.mark.skipif(DATA is None, reason="real data absent: set FERENGINE_DATA or ../shared/data")
def test_real_ferplus_public_test_carries_its_votes():
    folder = DATA / "fer2013"
    ds = ferengine.load_dataset("fer2013", path=folder / "fer2013.csv.gz", usage="PublicTest",
                                ferplus=folder / "fer2013new.csv.gz")  # fmt: skip
    assert len(ds) + sum(ds.meta["ferplus_dropped"].values()) == 3589
    assert np.bincount(ds.labels, minlength=8).tolist() == [1250, 882, 443, 399, 313, 31, 74, 24]
    votes = ds.meta["votes"]
    assert votes.shape == (3416, 10) and (votes.sum(axis=1) == 10).all()
    # the majority label is the top emotion vote of the same row (no tie was kept)
    assert (votes[:, :8].argmax(axis=1) == ds.labels).all()
    # and the rows are the file's PublicTest rows, in order
    with gzip.open(folder / "fer2013new.csv.gz", "rt") as fh:
        raw = [r for r in csv.reader(fh) if r[0] == "PublicTest"]
    every = ferengine.load_dataset("fer2013", path=folder / "fer2013.csv.gz", usage="PublicTest")
    position = np.searchsorted(every.meta["csv_line"], ds.meta["csv_line"])
    assert votes.tolist() == [[float(x) for x in raw[i][2:12]] for i in position]
