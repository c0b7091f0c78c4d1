"""image-folder, ckplus, jaffe and affectnet loaders on fixture files made here."""

import contextlib
import csv

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ferengine
from ferengine.errors import DatasetError

RNG = np.random.default_rng(0)


def img(path, shape=(12, 12), value=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (
        RNG.integers(0, 256, shape, dtype=np.uint8)
        if value is None
        else np.full(shape, value, np.uint8)
    )
    assert cv2.imwrite(str(path), data)
    return path


def folder(root, classes=("anger", "happy"), per=2, prefix=""):
    for c in classes:
        for i in range(per):
            img(root / prefix / c / f"S{10 + i:03d}_001_{i:08d}.png")
    return root


def load(name, **kw):
    return ferengine.load_dataset(name, **kw)


def test_class_folders_with_aliases_and_subjects(tmp_path):
    ds = load("image-folder", path=folder(tmp_path), subject_regex=r"S(\d+)_")
    assert ds.label_space.name == "fer7"  # anger -> angry
    assert sorted(ds.label_names.tolist()) == ["angry", "angry", "happy", "happy"]
    assert sorted(set(ds.subjects.tolist())) == ["010", "011"]
    assert ds.splits is None and ds.images.shape == (4, 12, 12)


def test_split_folders_and_colour(tmp_path):
    folder(tmp_path, prefix="train")
    folder(tmp_path, prefix="test", per=1)
    ds = load("image-folder", path=tmp_path, color=True, size=8)
    assert ds.images.shape == (6, 8, 8, 3)
    assert sorted(set(ds.splits.tolist())) == ["test", "train"]
    assert len(ds.where(split="test")) == 2


def test_unknown_class_folder_lists_aliases(tmp_path):
    folder(tmp_path, classes=("anger", "boredom"))
    with pytest.raises(DatasetError, match=r"\['boredom'\].*Known aliases: angry/anger"):
        load("image-folder", path=tmp_path)
    ds = load("image-folder", path=tmp_path, label_space="folders")
    assert ds.label_space.names == ("anger", "boredom")


@pytest.mark.parametrize("problem", ["empty", "duplicate", "corrupt", "size", "regex"])
def test_bad_files_are_named_and_skippable(tmp_path, problem):
    folder(tmp_path)
    if problem == "empty":
        (tmp_path / "sad").mkdir()
        where, reason = "sad", "no images"
    elif problem == "duplicate":
        src = tmp_path / "happy" / "S010_001_00000000.png"
        (tmp_path / "happy" / "S099_copy.png").write_bytes(src.read_bytes())
        where, reason = "S099_copy.png", "duplicate of happy/S010_001_00000000.png"
    elif problem == "corrupt":
        good = (tmp_path / "happy" / "S010_001_00000000.png").read_bytes()
        (tmp_path / "happy" / "S050_bad.png").write_bytes(good[: len(good) // 3])
        where, reason = "S050_bad.png", "not a readable image"
    elif problem == "size":
        img(tmp_path / "happy" / "S060_big.png", shape=(20, 20))
        where, reason = "S060_big.png", "pass size="
    else:
        img(tmp_path / "happy" / "nosubject.png")
        where, reason = "nosubject.png", "does not match subject_regex"
    kw = {"path": tmp_path, "subject_regex": r"S(\d+)_"}
    with pytest.raises(DatasetError, match=f"{where}.*{reason}"):
        load("image-folder", **kw)
    if problem == "size":
        assert len(load("image-folder", size=12, **kw)) == 5
        return
    ds = load("image-folder", strict=False, **kw)
    assert len(ds) == 4 and ds.meta["n_skipped"] == 1
    assert where in ds.meta["skipped"][0]["where"]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=1, max_size=6))
def test_truncated_images_are_errors_or_reported_never_lost(tmp_path_factory, files):
    root = tmp_path_factory.mktemp("trunc")
    good = cv2.imencode(".png", RNG.integers(0, 256, (10, 10), dtype=np.uint8))[1].tobytes()
    for i, (truncate, frac) in enumerate(files):
        data = good[: int(len(good) * frac)] if truncate else good[:-1] + bytes([i % 256])
        path = root / "happy" / f"S{i:03d}_x.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            data if truncate else cv2.imencode(".png", np.full((10, 10), i, np.uint8))[1].tobytes()
        )
    with contextlib.suppress(DatasetError):  # the documented error; any other one fails
        load("image-folder", path=root)
    try:
        ds = load("image-folder", path=root, strict=False)
    except DatasetError as exc:  # every file bad: the documented error
        assert "no readable images" in str(exc)
        return
    assert len(ds) + ds.meta["n_skipped"] == len(files)


def test_ckplus_original_layout(tmp_path):
    for subj, seq, code, n in (
        ("S005", "001", 3, 5),
        ("S010", "002", 2, 4),
        ("S011", "001", None, 3),
    ):
        for k in range(1, n + 1):
            img(tmp_path / "cohn-kanade-images" / subj / seq / f"{subj}_{seq}_{k:08d}.png")
        if code is not None:
            emo = tmp_path / "Emotion" / subj / seq / f"{subj}_{seq}_{n:08d}_emotion.txt"
            emo.parent.mkdir(parents=True, exist_ok=True)
            emo.write_text(f"   {code:.7e}\n")
    ds = load("ckplus", path=tmp_path)
    assert ds.label_space.name == "ckplus7" and len(ds) == 6
    assert sorted(set(ds.label_names.tolist())) == ["contempt", "disgust"]
    assert set(ds.subjects.tolist()) == {"S005", "S010"}
    ds8 = load("ckplus", path=tmp_path, neutral_first=True, last_n=2)
    assert ds8.label_names.tolist().count("neutral") == 2 and len(ds8) == 6
    seqs = load("ckplus-sequences", path=tmp_path).frames()  # every frame: the clip loader
    assert len(seqs) == 9 and seqs.meta["frame"].max() == 4
    with pytest.raises(DatasetError, match="cohn-kanade-images is missing"):
        load("ckplus", path=tmp_path / "Emotion")


def test_jaffe_names(tmp_path):
    for name in ("KA.AN1.39.tiff", "KA.HA2.30.tiff", "YM.NE1.49.tiff", "README.tiff"):
        img(tmp_path / name, shape=(16, 16))
    with pytest.raises(DatasetError, match="README.tiff.*SUBJECT.EXPR"):
        load("jaffe", path=tmp_path)
    ds = load("jaffe", path=tmp_path, strict=False)
    assert ds.label_names.tolist() == ["angry", "happy", "neutral"]
    assert ds.subjects.tolist() == ["KA", "KA", "YM"] and ds.meta["n_skipped"] == 1


def test_affectnet_manifest_crops_and_drops(tmp_path):
    big = np.zeros((40, 40), np.uint8)
    big[10:30, 5:25] = 200
    (tmp_path / "images" / "1").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "images" / "1" / "a.jpg"), big)
    fields = [
        "subDirectory_filePath",
        "face_x",
        "face_y",
        "face_width",
        "face_height",
        "facial_landmarks",
        "expression",
        "valence",
        "arousal",
    ]
    rows = [
        ["1/a.jpg", 5, 10, 20, 20, "", 1, 0.5, 0.1],
        ["1/a.jpg", 5, 10, 20, 20, "", 8, 0, 0],
        ["1/a.jpg", 5, 10, 20, 20, "", 10, 0, 0],
        ["1/missing.jpg", 0, 0, 5, 5, "", 2, 0, 0],
    ]
    with open(tmp_path / "training.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([fields, *rows])
    kw = {"path": tmp_path / "training.csv", "images_dir": tmp_path / "images", "size": 16}
    with pytest.raises(DatasetError, match="line 5.*missing.jpg"):
        load("affectnet", **kw)
    ds = load("affectnet", strict=False, **kw)
    assert len(ds) == 1 and ds.label_names.tolist() == ["happy"]
    assert ds.images.shape == (1, 16, 16) and ds.images.mean() > 150  # cropped to the face
    assert ds.meta["dropped"] == {"None": 1, "Uncertain": 0, "Non-Face": 1}
    assert ds.splits.tolist() == ["training"]
    assert ds.meta["files"] == ["1/a.jpg"]
    rows.append(["1/a.jpg", 0, 0, 10, 10, "", 3, 0, 0])  # a 10×10 crop beside a 20×20 one
    with open(tmp_path / "training.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([fields, *rows])
    with pytest.raises(DatasetError, match="pass size="):
        load("affectnet", strict=False, **{**kw, "size": None})
