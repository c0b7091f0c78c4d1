"""Calibration figures and bootstrap intervals, against values worked out by hand.

The bootstrap fixtures are small enough that the bootstrap distribution is known
exactly (a binomial, or three equally likely outcomes), so the 2.5 % and 97.5 %
percentiles follow by arithmetic; with 2,000 resamples the empirical percentiles land
on them with overwhelming probability (the margins are stated in each test).
"""

import json
from math import comb

import numpy as np
import pytest

from ferengine.bench.tasks import significant
from ferengine.bench.uncertainty import Interval, bootstrap_intervals, point_estimates
from ferengine.calibration import (
    brier_score,
    calibration_metrics,
    expected_calibration_error,
    negative_log_likelihood,
    reliability,
)
from ferengine.evaluation import metrics

# Four samples, three classes. Top-class confidence, top class, true class, right?
#   0.9 → 0 (true 0) right;  0.7 → 1 (true 0) wrong;  0.4 → 0 (true 0) right;
#   0.4 → 2 (true 1) wrong.
PROBA = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.4, 0.3, 0.3], [0.3, 0.3, 0.4]])
Y = np.array([0, 0, 0, 1])


def test_ece_by_hand_with_two_bins():
    # bin (0.5, 1]: samples 1, 2 — accuracy 1/2, mean confidence (0.9 + 0.7) / 2 = 0.8
    # bin (0, 0.5]: samples 3, 4 — accuracy 1/2, mean confidence 0.4
    # ECE = 2/4 · |0.5 − 0.8| + 2/4 · |0.5 − 0.4| = 0.15 + 0.05 = 0.2
    assert expected_calibration_error(PROBA, Y, n_bins=2) == pytest.approx(0.2)
    bins = reliability(PROBA, Y, n_bins=2)
    assert bins.counts.tolist() == [2, 2]
    assert bins.confidence == pytest.approx([0.4, 0.8])
    assert bins.accuracy == pytest.approx([0.5, 0.5])


def test_ece_bins_are_right_closed_and_empty_bins_do_not_count():
    # confidence exactly 0.5 falls in (0, 0.5], not (0.5, 1]; 15 bins: 0.5 is the edge 7.5/15,
    # so it falls in bin 7 (7/15, 8/15]; 0.6 in bin 8 (8/15, 9/15].
    proba = np.array([[0.5, 0.5], [0.6, 0.4]])
    assert reliability(proba, np.array([0, 1]), n_bins=2).counts.tolist() == [1, 1]
    counts = reliability(proba, np.array([0, 1]), n_bins=15).counts
    assert np.flatnonzero(counts).tolist() == [7, 8]
    # |1 − 0.5| / 2 + |0 − 0.6| / 2 = 0.55
    assert expected_calibration_error(proba, np.array([0, 1]), n_bins=15) == pytest.approx(0.55)


def test_nll_by_hand():
    # probabilities of the true classes: 0.9, 0.2, 0.4, 0.3
    expected = -(np.log(0.9) + np.log(0.2) + np.log(0.4) + np.log(0.3)) / 4
    assert expected == pytest.approx(0.958765, abs=1e-6)
    assert negative_log_likelihood(PROBA, Y) == pytest.approx(expected)


def test_brier_by_hand():
    # sum over classes of squared error to the one-hot truth, per sample:
    # (0.9−1)² + 0.05² + 0.05² = 0.015;  (0.2−1)² + 0.7² + 0.1² = 1.14;
    # (0.4−1)² + 0.3² + 0.3² = 0.54;     0.3² + (0.3−1)² + 0.4² = 0.74;  mean 2.435 / 4
    assert brier_score(PROBA, Y) == pytest.approx(2.435 / 4)


def test_calibration_metrics_leave_out_classes_the_model_lacks():
    extra = np.vstack([PROBA, [0.1, 0.1, 0.8]])
    figures = calibration_metrics(extra, np.array([0, 0, 0, 1, 3]), n_bins=2)  # 3: contempt
    assert figures == pytest.approx({"ece": 0.2, "nll": 0.958765, "brier": 0.60875}, abs=1e-6)


@pytest.mark.parametrize(
    ("proba", "y", "message"),
    [
        (np.ones(3), [0, 1, 0], "n_samples × n_classes"),
        (PROBA, [0, 1], "4 rows"),
        (PROBA, [0, 1, 2, 3], "class codes 0…2"),
        (-PROBA, Y, "non-negative"),
    ],
)
def test_calibration_inputs_are_checked(proba, y, message):
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(proba, np.asarray(y))


def test_probabilities_are_stored_with_three_significant_digits():
    values = np.array([[0.123456, 4.5678e-5, 0.0, 1.0, 0.99951]])
    rounded = significant(values, 3)
    assert rounded.tolist() == [[0.123, 4.57e-05, 0.0, 1.0, 1.0]]
    assert json.dumps(rounded.tolist()) == "[[0.123, 4.57e-05, 0.0, 1.0, 1.0]]"


def _run(y_true, y_pred, fold=0, subjects=None, labels=("a", "b"), index=None):
    n = len(y_true)
    return {
        "repeat": 0, "fold": fold, "labels": list(labels), "y_true": list(y_true),
        "y_pred": list(y_pred), "test_index": list(range(n)) if index is None else index,
        "test_subjects": subjects,
    }  # fmt: skip


def _binomial_cdf(k, n, p):
    return sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def test_bootstrap_interval_of_accuracy_by_hand():
    # 10 test images, 9 right: a resample's accuracy is Binomial(10, 0.9) / 10.
    # P(X ≤ 6) = 0.013 < 0.025 < P(X ≤ 7) = 0.070: the 2.5 % percentile is 0.7;
    # P(X = 10) = 0.349 > 0.025: the 97.5 % percentile is 1.
    # (Of 2,000 resamples about 26 ± 5 are ≤ 0.6 and 140 ≤ 0.7: the 50th is 0.7.)
    assert _binomial_cdf(6, 10, 0.9) < 0.025 < _binomial_cdf(7, 10, 0.9)
    found = bootstrap_intervals([_run([0] * 10, [0] * 9 + [1])])
    assert found["accuracy"] == Interval(0.7, 1.0)
    # macro-F1 over the classes in the test labels (only "a"): with k of 10 draws right,
    # F1 = 2k / (2k + 0 + (10 − k)); at k = 7: 14 / 17
    assert found["macro_f1"].low == pytest.approx(14 / 17)
    assert found["macro_f1"].high == 1.0


def test_subjects_are_resampled_whole():
    # 10 subjects × 2 images; 9 subjects right on both, 1 wrong on both.
    # By subject: Binomial(10, 0.9) / 10 again → [0.7, 1.0].
    # By image (no subject ids): Binomial(20, 0.9) / 20: P(X ≤ 14) = 0.011 < 0.025 <
    # P(X ≤ 15) = 0.043 → 0.75; P(X = 20) = 0.12 → 1.0. A subject's two images are not
    # two independent pieces of evidence: the subject interval is wider.
    assert _binomial_cdf(14, 20, 0.9) < 0.025 < _binomial_cdf(15, 20, 0.9)
    y, pred = [0] * 20, [0] * 18 + [1, 1]
    subjects = [f"s{i // 2}" for i in range(20)]
    assert bootstrap_intervals([_run(y, pred, subjects=subjects)])["accuracy"] == Interval(0.7, 1)
    assert bootstrap_intervals([_run(y, pred)])["accuracy"] == Interval(0.75, 1)


def test_folds_are_averaged_as_the_leaderboard_does():
    # Fold 0: subject a, 2 images, both right (accuracy 1). Fold 1: subject b, 4 images,
    # 1 right (0.25). The leaderboard shows the mean over folds, (1 + 0.25) / 2 = 0.625
    # (pooled, 3 / 6 = 0.5, would be another figure). Resampling the two subjects:
    # {a, a} → 1 (probability 1/4), {a, b} → 0.625 (1/2), {b, b} → 0.25 (1/4): each
    # fold weighted by how many of its images were drawn. Percentiles: [0.25, 1].
    runs = [
        _run([0, 0], [0, 0], fold=0, subjects=["a", "a"], index=[0, 1]),
        _run([1, 1, 1, 1], [1, 0, 0, 0], fold=1, subjects=["b"] * 4, index=[2, 3, 4, 5]),
    ]
    assert point_estimates(runs)["accuracy"] == pytest.approx(0.625)
    assert bootstrap_intervals(runs)["accuracy"] == Interval(0.25, 1.0)


def test_point_estimates_are_the_mean_over_folds_of_the_fold_metrics():
    rng = np.random.default_rng(3)
    runs, expected = [], {"accuracy": [], "macro_f1": []}
    names = tuple("abcdefg")
    for fold, n in enumerate([37, 52, 41]):  # uneven folds, several classes
        y = rng.integers(0, 7, n)
        pred = np.where(rng.random(n) < 0.5, y, rng.integers(0, 7, n))
        runs.append(_run(y.tolist(), pred.tolist(), fold=fold, labels=names,
                         index=list(range(fold * 100, fold * 100 + n))))  # fmt: skip
        scored = metrics(y, pred, names)
        expected["accuracy"].append(scored["accuracy"])
        expected["macro_f1"].append(scored["macro_f1"])
    found = point_estimates(runs)
    assert found["accuracy"] == pytest.approx(np.mean(expected["accuracy"]))
    assert found["macro_f1"] == pytest.approx(np.mean(expected["macro_f1"]))
    intervals = bootstrap_intervals(runs)
    for key in ("accuracy", "macro_f1"):
        assert intervals[key].low < found[key] < intervals[key].high


def test_a_perfect_pipeline_has_a_point_interval_and_one_unit_none():
    assert bootstrap_intervals([_run([0, 1, 1], [0, 1, 1])])["accuracy"] == Interval(1.0, 1.0)
    assert bootstrap_intervals([_run([0, 1], [0, 0], subjects=["s", "s"])]) is None
    assert bootstrap_intervals([{**_run([0], [0]), "y_pred": None}]) is None


def test_intervals_overlap_when_they_share_a_point():
    assert Interval(0.5, 0.7).overlaps(Interval(0.7, 0.9))
    assert not Interval(0.5, 0.69).overlaps(Interval(0.7, 0.9))
    assert str(Interval(0.5961, 0.62849)) == "[0.596, 0.628]"


def test_extra_true_classes_count_in_accuracy_and_not_in_macro_f1():
    # a cross-dataset test keeping contempt (code 2) for a two-class model: always wrong
    y, pred = np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 1, 1, 0, 1])
    expected = metrics(y, pred, ("a", "b"), ("a", "b", "contempt"))
    found = point_estimates([_run(y.tolist(), pred.tolist())])
    assert found["accuracy"] == pytest.approx(expected["accuracy"]) == pytest.approx(3 / 6)
    # known rows only: a: tp 1, fn 1, fp 0 → 2/3; b: tp 2, fp 1 → 4/5; mean 11/15
    assert found["macro_f1"] == pytest.approx(expected["macro_f1"]) == pytest.approx(11 / 15)
