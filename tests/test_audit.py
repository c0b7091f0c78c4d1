"""Dataset audits: planted duplicates, leaks, conflicts and blank images are all found."""

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import ferengine
from ferengine.audit import NEAR_THRESHOLD, audit_dataset
from ferengine.audit.hashes import content_hashes, exact_groups
from ferengine.audit.near import cosine_pairs, hamming_pairs
from ferengine.audit.report import write_html
from ferengine.cli import main
from ferengine.errors import DatasetError

from .conftest import shared_data_dir, write_image_folder

DATA = shared_data_dir()
#: Subjects 0-7 Training, 8-9 PublicTest, 10-11 PrivateTest: no subject in two splits.
SPLIT_OF_SUBJECT = ["Training"] * 8 + ["PublicTest"] * 2 + ["PrivateTest"] * 2


def _with_splits(ds):
    subject = np.char.replace(ds.subjects, "synth-", "").astype(int)
    return ferengine.FaceDataset(
        ds.images,
        ds.labels,
        ds.label_space,
        subjects=ds.subjects,
        splits=np.asarray(SPLIT_OF_SUBJECT)[subject],
        source=ds.source,
    )


@pytest.fixture(scope="module")
def clean():
    """168 synthetic faces (12 subjects × 7 expressions × 2), split by subject."""
    return _with_splits(
        ferengine.load_dataset("synthetic", n_subjects=12, per_expression=2, seed=5)
    )


def _jpeg(img, quality=75):
    return cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], 0)


def _plant(clean):
    """Append planted problems to ``clean``; return the dataset and where each one is."""
    rng = np.random.default_rng(0)
    images, labels = list(clean.images), clean.labels.tolist()
    subjects, splits = clean.subjects.tolist(), clean.splits.tolist()
    train = np.flatnonzero(clean.splits == "Training")
    public = np.flatnonzero(clean.splits == "PublicTest")
    private = np.flatnonzero(clean.splits == "PrivateTest")
    planted = {}

    def add(img, like, split=None, label=None):
        images.append(img)
        labels.append(clean.labels[like] if label is None else label)
        subjects.append(clean.subjects[like])
        splits.append(split or clean.splits[like])
        return len(images) - 1

    src = train[3]  # an exact copy in its own split
    planted["exact within"] = {int(src), add(clean.images[src].copy(), src)}
    src = train[20]  # an exact copy in PublicTest (kept under a PublicTest subject)
    new = add(clean.images[src].copy(), public[0], "PublicTest", clean.labels[src])
    planted["exact across"] = {int(src), new}
    src = public[5]  # the same image under another label
    planted["conflict"] = {
        int(src),
        add(clean.images[src].copy(), src, label=(clean.labels[src] + 1) % 7),
    }
    noisy = np.clip(clean.images[train[40]] + rng.normal(0, 3, (48, 48)), 0, 255).astype(np.uint8)
    brighter = np.clip(clean.images[public[9]].astype(int) + 10, 0, 255).astype(np.uint8)
    jpeg = _jpeg(clean.images[private[2]])  # a JPEG copy in Training, under a Training subject
    planted["near"] = {
        frozenset({int(train[40]), add(noisy, train[40])}),
        frozenset({int(public[9]), add(brighter, public[9])}),
        frozenset({int(private[2]), add(jpeg, train[60], "Training", clean.labels[private[2]])}),
    }
    planted["blank"] = {
        add(np.full((48, 48), 128, np.uint8), train[0]),
        add(np.clip(128 + rng.normal(0, 1, (48, 48)), 0, 255).astype(np.uint8), train[1]),
    }
    moved = int(train[-1])  # its subject now has images in two splits
    splits[moved] = "PublicTest"
    planted["subject"] = clean.subjects[moved]
    ds = ferengine.FaceDataset(
        np.stack(images),
        labels,
        clean.label_space,
        subjects=subjects,
        splits=splits,
        source="planted",
    )
    return ds, planted


def _rows(members):
    return {m["row"] for m in members}


def test_clean_synthetic_data_flags_nothing(clean):
    # The stated false-positive rate of the near search at the default threshold is 2 in
    # 11.0 million clean pairs (benchmarks/audit_thresholds.py): 14,028 pairs here expect none.
    audit = audit_dataset(clean)
    assert audit.exact["distinct"] == len(clean) and audit.exact["surplus"] == 0
    assert audit.exact["groups"] == 0 and audit.near["pairs"] == 0
    assert audit.blank["count"] == 0 and audit.label_conflicts["groups"] == 0
    assert audit.subjects[clean.source]["known"]
    assert audit.subjects[clean.source]["in_several_splits"] == 0
    balance = audit.balance[clean.source]
    assert balance["Training"]["counts"]["happy"] == 16 and balance["Training"]["imbalance"] == 1


def test_every_planted_problem_is_found_and_nothing_else(clean):
    ds, planted = _plant(clean)
    audit = audit_dataset(ds, name="planted")
    groups = {frozenset(_rows(g["members"])): g for g in audit.exact["group_list"]}
    assert set(groups) == {
        frozenset(planted[k]) for k in ("exact within", "exact across", "conflict")
    }
    assert groups[frozenset(planted["exact within"])]["scope"] == "within split"
    assert groups[frozenset(planted["exact across"])]["scope"] == "across splits"
    assert audit.exact["surplus"] == 3 and audit.exact["distinct"] == len(ds) - 3
    copies = {(c["split"], c["other_split"]): c["images"] for c in audit.exact["copies"]}
    assert copies == {
        ("Training", "Training"): 2,
        ("Training", "PublicTest"): 1,
        ("PublicTest", "Training"): 1,
        ("PublicTest", "PublicTest"): 2,
    }

    pairs = {frozenset(_rows(p["a"]) | _rows(p["b"])): p for p in audit.near["pair_list"]}
    assert set(pairs) == planted["near"]
    assert all(p["distance"] <= NEAR_THRESHOLD for p in pairs.values())  # 0: brightness
    assert all(len(p["labels"]) == 1 for p in pairs.values())
    assert sorted(p["scope"] for p in pairs.values()) == [
        "across splits",
        "within split",
        "within split",
    ]
    near_copies = {(c["split"], c["other_split"]): c["images"] for c in audit.near["copies"]}
    assert near_copies[("PrivateTest", "Training")] == 1  # the JPEG copy

    conflicts = audit.label_conflicts["group_list"]
    assert [_rows(g["members"]) for g in conflicts] == [planted["conflict"]]
    assert len(conflicts[0]["labels"]) == 2
    assert {m["row"] for m in audit.blank["images"]} == planted["blank"]
    assert audit.near["skipped_blank"] == 2
    subjects = audit.subjects["planted"]
    assert [s["subject"] for s in subjects["list"]] == [planted["subject"]]
    json.loads(audit.to_json())  # JSON values only


def test_against_a_second_dataset_reports_copies_across_datasets(clean):
    other = ferengine.load_dataset("synthetic", n_subjects=3, per_expression=2, seed=9)
    images = np.concatenate([other.images, clean.images[[7]], _jpeg(clean.images[30], 60)[None]])
    labels = [*other.labels.tolist(), clean.labels[7], clean.labels[30]]
    other = ferengine.FaceDataset(images, labels, other.label_space, source="other")
    audit = audit_dataset(clean, other, name="clean", against_name="other")
    assert audit.exact["per_dataset"]["other"] == {"images": 44, "distinct": 44, "surplus": 0}
    assert audit.exact["distinct"] == len(clean) + 44 - 1 and audit.exact["surplus"] == 1
    (group,) = audit.exact["group_list"]
    assert group["scope"] == "across datasets"
    assert {(m["dataset"], m["row"]) for m in group["members"]} == {("clean", 7), ("other", 42)}
    (pair,) = audit.near["pair_list"]
    assert pair["scope"] == "across datasets"
    assert {(m["dataset"], m["row"]) for m in pair["a"] + pair["b"]} == {
        ("clean", 30),
        ("other", 43),
    }
    assert audit.subjects["other"] == {
        "known": False,
        "reason": "the dataset has no subject ids",
        "subjects": None,
        "in_several_splits": None,
        "list": [],
    }


def test_html_is_self_contained_and_caps_what_it_shows(clean, tmp_path):
    ds, _ = _plant(clean)
    audit = audit_dataset(ds, name="planted")
    page = write_html(audit, [ds], tmp_path / "audit.html", max_shown=2).read_text()
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing fetched at view time
    assert (
        'Exact duplicates</h2><p class="note">byte-identical images; widest scope first, '
        "then largest: showing 2 of 3." in page
    )
    assert "showing 2 of 3." in page.split("Near duplicates (perceptual hash)")[1]
    images = re.findall(r'<img alt="" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 2 + 1 + 2 * 2 + 2  # exact, conflict, near pairs, blank
    png = np.frombuffer(__import__("base64").b64decode(images[0]), np.uint8)
    assert cv2.imdecode(png, cv2.IMREAD_UNCHANGED).shape == (48, 48)


def test_hashes_and_pair_searches_agree_with_brute_force():
    rng = np.random.default_rng(1)
    words = rng.integers(0, 2**64, size=(600, 4), dtype=np.uint64)  # more rows than one chunk
    words[5] = words[17]
    words[5, 2] ^= np.uint64(0b1011)  # 3 bits apart
    pairs, dist = hamming_pairs(words, 112)  # random pairs: 128 ± 8 bits apart
    full = np.bitwise_count(words[:, None] ^ words[None]).sum(axis=2)
    i, j = np.triu_indices(600, 1)
    expected = sorted((a, b, d) for a, b, d in zip(i, j, full[i, j], strict=True) if d <= 112)
    assert len(expected) > 100
    assert sorted(zip(*pairs.T.tolist(), dist.tolist(), strict=True)) == expected
    assert hamming_pairs(words, 3)[0].tolist() == [[5, 17]]

    vectors = rng.normal(size=(200, 8)).astype(np.float32)
    pairs, sims = cosine_pairs(vectors, 0.8)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    full = unit @ unit.T
    i, j = np.triu_indices(200, 1)
    assert set(map(tuple, pairs.tolist())) == {
        (a, b) for a, b in zip(i, j, strict=True) if full[a, b] >= 0.8
    }
    np.testing.assert_allclose(sims, full[pairs[:, 0], pairs[:, 1]], rtol=1e-5)

    same_bytes = [np.zeros((1, 4, 9), np.uint8), np.zeros((1, 6, 6), np.uint8)]
    assert content_hashes(same_bytes[0])[0] != content_hashes(same_bytes[1])[0]  # shape counts
    inverse, counts = exact_groups(content_hashes(np.asarray([[[1]], [[0]], [[1]]], np.uint8)))
    assert inverse.tolist() == [0, 1, 0] and counts.tolist() == [2, 1]


def test_faces_sample_finds_no_face_in_blank_images(clean):
    images = np.concatenate([clean.images[:10], np.zeros((2, 48, 48), np.uint8)])
    ds = ferengine.FaceDataset(images, [0] * 12, clean.label_space, source="faces")
    found = audit_dataset(ds, faces_sample=12).faces["faces"]
    assert found["sampled"] == 12 and found["detector"] == "auto"
    missing = {m["row"] for m in found["images"]}
    assert {10, 11} <= missing and len(missing) <= 4


def test_embeddings_pair_a_slightly_changed_copy(clean):
    pytest.importorskip("torch")
    images = np.concatenate([clean.images, clean.images[[50]] // 2 + 64])  # contrast halved
    ds = ferengine.FaceDataset(images, [*clean.labels, clean.labels[50]], clean.label_space)
    found = audit_dataset(ds, embeddings=True).embeddings
    pairs = [_rows(p["a"]) | _rows(p["b"]) for p in found["pair_list"]]
    # only the planted pair: the stated clean rate at 0.98 is 3 in 11.0 million pairs
    assert pairs == [{50, len(clean)}]
    assert found["pair_list"][0]["phash_distance"] <= NEAR_THRESHOLD


def test_refuses_what_it_cannot_audit(clean):
    empty = ferengine.FaceDataset(np.zeros((0, 4, 4), np.uint8), [], clean.label_space, source="e")
    with pytest.raises(DatasetError, match="e holds no image"):
        audit_dataset(empty)
    clips = ferengine.load_dataset("synthetic-sequences", n_subjects=2, size=32)
    with pytest.raises(DatasetError, match="expected a FaceDataset of still images"):
        audit_dataset(clips)
    with pytest.raises(ValueError, match="near_threshold must be in 0…256"):
        audit_dataset(clean, near_threshold=-1)


def test_cli_writes_json_and_html(tmp_path):
    args = [
        "datasets",
        "audit",
        "synthetic",
        "--param",
        "n_subjects=3",
        "--param",
        "per_expression=1",
        "--out",
        str(tmp_path),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "21 images, 21 distinct (0 surplus exact copies)" in result.output
    found = json.loads((tmp_path / "audit.json").read_text())
    assert found["exact"]["images"] == 21 and found["datasets"][0]["name"] == "synthetic"
    assert (tmp_path / "audit.html").read_text().startswith("<!DOCTYPE html>")


def test_cli_names_the_files_of_a_copy_filed_under_two_classes(clean, tmp_path):
    write_image_folder(tmp_path / "data", clean.subset(np.arange(28)))
    # the loader refuses byte-identical files; the same pixels compressed otherwise pass
    first = cv2.imread(str(tmp_path / "data" / "Training" / "angry" / "001.png"), 0)
    copy = tmp_path / "data" / "Training" / "happy" / "copy.png"
    cv2.imwrite(str(copy), first, [cv2.IMWRITE_PNG_COMPRESSION, 0])
    args = [
        "datasets",
        "audit",
        "image-folder",
        "--path",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "audit"),
        "--json",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    (group,) = json.loads(result.output)["label_conflicts"]["group_list"]
    assert group["labels"] == ["angry", "happy"] and group["scope"] == "within split"
    assert sorted(Path(m["file"]).name for m in group["members"]) == ["001.png", "copy.png"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], "no dataset plugin named 'nosuch'"),
        (["fer2013"], "dataset 'fer2013' needs --path"),
        (["fer2013", "--path", "/nonexistent/fer2013.csv"], "does not exist"),
        (["synthetic", "--against", "fer2013"], "dataset 'fer2013' needs --path2"),
        (["synthetic", "--path2", "x"], "give --against"),
        (["synthetic", "--near-threshold", "300"], "--near-threshold"),
    ],
)
def test_cli_errors_name_the_problem(tmp_path, args, message):
    result = CliRunner().invoke(main, ["datasets", "audit", *args, "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.skipif(
    DATA is None, reason="real data absent: set FERENGINE_DATA or place ../shared/data"
)
def test_fer2013_distinct_images(tmp_path):
    path = DATA / "fer2013" / "fer2013.csv.gz"
    args = ["datasets", "audit", "fer2013", "--path", str(path), "--out", str(tmp_path), "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert (found["exact"]["images"], found["exact"]["distinct"]) == (32298, 30766)
    assert found["exact"]["surplus"] == 1532
    assert found["blank"]["count"] >= 12  # FER2013's images of one grey level
