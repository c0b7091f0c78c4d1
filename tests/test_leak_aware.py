"""Leak-aware benchmark protocols: test images copied in training, counted and dropped.

A tiny FER2013-format CSV of random-noise faces with planted copies of test images on
the training side: byte-identical ones and near ones (a little noise added). A 1-nearest-
neighbour classifier on the pixels gets every copied test image right (its copy carries
the same label) and the others right by chance only, so the de-duplicated accuracy is
the share right among the test images planted without a copy.
"""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ferengine.bench import RunOptions, SuiteError, parse_suite, run_suite, write_report
from ferengine.bench.folds import make_folds
from ferengine.bench.keys import feature_key
from ferengine.bench.leaks import (
    EXACT_COPY,
    NEAR_COPY,
    NO_COPY,
    Leaks,
    fingerprints,
    fold_leaks,
    match,
    scores,
)

SIZE = 24
#: Test rows (of the PublicTest split) that get an exact / a near copy in Training.
EXACT, NEAR = (0, 1, 2), (3, 4)
N_TRAIN, N_TEST = 30, 10

SUITE = """
name = "leaks"
seed = 0
[datasets.fer]
name = "fer2013"
params = {{ path = "{path}", image_size = {size} }}
[protocol]
kind = "{kind}"
train_split = "Training"
test_split = "PublicTest"
folds = 3
{dedupe}
[[features]]
name = "pixels"
params = {{ size = {size} }}
[[classifiers]]
name = "knn"
params = {{ n_neighbors = 1 }}
"""


def noise(rng, n):
    return rng.integers(0, 256, (n, SIZE, SIZE)).astype(np.uint8)


def nudge(image, rng):
    """A near copy: a few grey levels of noise, not byte-identical."""
    moved = image.astype(int) + rng.integers(-3, 4, image.shape)
    return np.clip(moved, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The CSV: Training rows first (the planted copies at its end), then PublicTest."""
    rng = np.random.default_rng(0)
    test, train = noise(rng, N_TEST), noise(rng, N_TRAIN)
    y_test, y_train = rng.integers(0, 7, N_TEST), rng.integers(0, 7, N_TRAIN)
    train[-5:-2] = test[list(EXACT)]  # byte-identical copies, same labels
    train[-2:] = [nudge(test[i], rng) for i in NEAR]
    y_train[-5:] = y_test[[*EXACT, *NEAR]]
    path = tmp_path_factory.mktemp("leaks") / "fer.csv"
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["emotion", "pixels", "Usage"])
        for images, labels, usage in ((train, y_train, "Training"), (test, y_test, "PublicTest")):
            for image, label in zip(images, labels, strict=True):
                out.writerow([label, " ".join(map(str, image.ravel())), usage])
    return path


def suite(path, kind="split", dedupe=None):
    option = "" if dedupe is None else f'dedupe = "{dedupe}"'
    text = SUITE.format(path=path, size=SIZE, kind=kind, dedupe=option)
    return parse_suite(text, "leaks.toml", Path("."))


def folds(path, kind="split", dedupe=None):
    s = suite(path, kind, dedupe)
    datasets = {k: r.resolved() for k, r in s.datasets.items()}
    return make_folds("fer", datasets, s.protocol, s.seed)


# --- counting and dropping, by hand ---------------------------------------------------------


def test_copies_are_told_apart_and_blank_images_are_never_near():
    rng = np.random.default_rng(1)
    test = noise(rng, 4)
    test[3] = 100  # blank
    blank = np.full((SIZE, SIZE), 103, np.uint8)  # blank too, three grey levels lighter
    train = np.stack([test[0], nudge(test[1], rng), *noise(rng, 2), blank])
    matches = match(fingerprints(train), fingerprints(test))
    rows, leaks = fold_leaks(matches, np.arange(5), np.arange(4))
    assert rows.tolist() == [0, 1, 2, 3, 4] and leaks.dropped == 0
    assert leaks.copies.tolist() == [EXACT_COPY, NEAR_COPY, NO_COPY, NO_COPY]
    assert leaks.counts() == {"dup_exact": 1, "dup_near": 1, "n_dedup": 2, "dedupe": "none",
                              "dedupe_dropped": 0}  # fmt: skip
    rows, leaks = fold_leaks(matches, np.arange(5), np.arange(4), "exact")
    assert rows.tolist() == [1, 2, 3, 4] and leaks.dropped == 1
    assert leaks.copies.tolist() == [NO_COPY, NEAR_COPY, NO_COPY, NO_COPY]
    rows, leaks = fold_leaks(matches, np.arange(5), np.arange(4), "near")
    assert rows.tolist() == [2, 3, 4] and leaks.dropped == 2 and not leaks.copies.any()
    with pytest.raises(ValueError, match="dedupe must be one of"):
        fold_leaks(matches, np.arange(5), np.arange(4), "fuzzy")


def test_deduplicated_scores_use_only_the_test_images_without_copies():
    names = ("a", "b", "c")
    y_true = np.array([0, 1, 2, 0, 1, 2])
    y_pred = np.array([0, 1, 2, 1, 1, 0])  # the three copied images right, 1 of 3 others
    copies = np.array([EXACT_COPY, EXACT_COPY, NEAR_COPY, NO_COPY, NO_COPY, NO_COPY], np.int8)
    out = scores(Leaks(copies), y_true, y_pred, names, names)
    assert out["dup_exact"] == 2 and out["dup_near"] == 1 and out["n_dedup"] == 3
    assert out["accuracy_dedup"] == pytest.approx(1 / 3)
    # clean rows: true a, b, c predicted b, b, a: F1 of a 0, of b 2/3, of c 0
    assert out["macro_f1_dedup"] == pytest.approx((0 + 2 / 3 + 0) / 3)
    every = scores(Leaks(np.full(6, EXACT_COPY, np.int8)), y_true, y_pred, names, names)
    assert every["accuracy_dedup"] is None and every["n_dedup"] == 0
    assert scores(None, y_true, y_pred, names, names) == {
        "dup_note": "duplicates not counted: clip datasets are not hashed"
    }


# --- folds: counts per fold, dropped rows, cache keys ---------------------------------------


def test_each_fold_counts_the_copies_its_training_rows_hold(planted):
    (fold,) = folds(planted)
    assert fold.leaks.counts()["dup_exact"] == len(EXACT)
    assert np.flatnonzero(fold.leaks.copies == EXACT_COPY).tolist() == list(EXACT)
    assert np.flatnonzero(fold.leaks.copies == NEAR_COPY).tolist() == list(NEAR)
    # k-fold over all 40 images: a copy counts where the original is tested and its copy
    # trains (or the other way round), never when both sit on one side
    pairs = [(N_TRAIN - 5 + k, N_TRAIN + t) for k, t in enumerate((*EXACT, *NEAR))]
    kinds = [EXACT_COPY] * len(EXACT) + [NEAR_COPY] * len(NEAR)
    total = 0
    for fold in folds(planted, kind="kfold"):
        expected = np.zeros(len(fold.test), np.int8)
        for (a, b), kind in zip(pairs, kinds, strict=True):
            for tested, trained in ((a, b), (b, a)):
                if tested in fold.test and trained in fold.train:
                    expected[fold.test.tolist().index(tested)] = kind
        assert fold.leaks.copies.tolist() == expected.tolist()
        total += int((expected > 0).sum())
    assert total > 0  # the seed splits some pairs across sides


@pytest.mark.parametrize("dedupe,dropped", [("exact", len(EXACT)), ("near", len(EXACT + NEAR))])
def test_dedupe_drops_the_training_copies_and_changes_the_feature_keys(planted, dedupe, dropped):
    (kept,) = folds(planted)
    (fold,) = folds(planted, dedupe=dedupe)
    copies = set(range(N_TRAIN - 5, N_TRAIN - 5 + dropped))  # rows of the planted copies
    assert set(kept.train) - set(fold.train) == copies and fold.leaks.dropped == dropped
    assert fold.test.tolist() == kept.test.tolist()
    left = fold.leaks.counts()
    assert left["dup_exact"] == 0 and left["dup_near"] == (len(NEAR) if dedupe == "exact" else 0)
    front = ({"name": "pixels", "params": {"size": SIZE}},)
    assert feature_key(fold, front) != feature_key(kept, front)


CLIPS = """
name = "clips"
[datasets.clips]
name = "synthetic-sequences"
params = {{ n_subjects = 6, clips_per_class = 1, size = 16, frames = [6, 8] }}
[protocol]
kind = "subject-holdout"
{dedupe}
[[pipelines]]
steps = ["logistic"]
"""


def test_clip_datasets_are_not_hashed_and_cannot_be_deduplicated():
    s = parse_suite(CLIPS.format(dedupe=""), "clips.toml", Path("."))
    (fold,) = make_folds("clips", s.datasets, s.protocol, 0)
    assert fold.leaks is None
    s = parse_suite(CLIPS.format(dedupe='dedupe = "exact"'), "clips.toml", Path("."))
    with pytest.raises(SuiteError, match=r"protocol.dedupe = 'exact': clip datasets"):
        make_folds("clips", s.datasets, s.protocol, 0)


def test_a_bad_dedupe_value_names_the_key(planted):
    with pytest.raises(SuiteError, match=r"protocol\.dedupe: Input should be 'none', 'exact'"):
        suite(planted, dedupe="fuzzy")


# --- a run: records, results.csv, report.md, report.html ------------------------------------


def test_a_run_reports_accuracy_with_and_without_the_copies(planted, tmp_path):
    out = tmp_path / "run"
    run_suite(suite(planted), RunOptions(out=out))
    write_report(out)
    (record,) = json.loads((out / "results.json").read_text())
    assert record["dup_exact"] == len(EXACT) and record["dup_near"] == len(NEAR)
    assert record["n_dedup"] == N_TEST - len(EXACT + NEAR) and record["dedupe_dropped"] == 0
    stored = json.loads(next((out / "runs").rglob("*.json")).read_text())
    right = np.asarray(stored["y_true"]) == np.asarray(stored["y_pred"])
    copied = [*EXACT, *NEAR]
    assert right[copied].all()  # 1-NN finds each copy, which carries the same label
    clean = np.setdiff1d(np.arange(N_TEST), copied)
    assert record["accuracy_dedup"] == pytest.approx(right[clean].mean())
    assert record["accuracy"] == pytest.approx((len(copied) + right[clean].sum()) / N_TEST)
    with (out / "results.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert float(row["accuracy_dedup"]) == pytest.approx(record["accuracy_dedup"])
    assert row["dup_exact"] == "3" and row["dup_near"] == "2"
    report = (out / "report.md").read_text()
    assert "### Duplicates between test and training images" in report
    assert f"| 0 | 0 | {N_TEST} | 3 | 2 | 5 | 0 |" in report
    assert f"{record['accuracy_dedup']:.3f}" in report
    page = (out / "report.html").read_text()
    assert "acc. de-dup." in page and "exact copies" in page
