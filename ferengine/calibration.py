"""How well a classifier's class probabilities match how often it is right.

Three figures of a probability matrix ``proba`` (one row per sample, one column per
class code ``0 … K-1``) against the true codes ``y``:

- **Expected calibration error** (ECE; Naeini et al. 2015, Guo et al. 2017): the
  top-class confidence ``max_k proba[i, k]`` of each sample is put in one of
  ``n_bins`` equal-width bins of ``[0, 1]`` (right-closed: ``(0, 1/M], (1/M, 2/M], …``;
  a confidence of 0 goes in the first); in each bin the accuracy of the top class
  (``argmax proba == y``) is compared with the mean confidence, and the absolute gaps
  are averaged, weighted by the bins' shares of the samples:
  ``ECE = Σ_m |B_m| / n · |acc(B_m) − conf(B_m)|``. 15 bins, as in Guo et al.
- **Negative log-likelihood** (NLL): ``−mean_i log proba[i, y_i]``, with probabilities
  clipped at the float64 machine epsilon as scikit-learn's
  :func:`~sklearn.metrics.log_loss` (which computes it) does.
- **Brier score**, multi-class: the mean over samples of the sum over classes of the
  squared error to the one-hot truth, ``mean_i Σ_k (proba[i, k] − [y_i = k])²``,
  in ``[0, 2]`` (scikit-learn's :func:`~sklearn.metrics.brier_score_loss` with
  ``scale_by_half=False``).

ECE measures only miscalibration (0 for a classifier whose 70 %-confident answers are
right 70 % of the time, however often that is); NLL and Brier are proper scoring
rules, lower for both better calibration and better discrimination.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss

#: Bins of the expected calibration error and of the reliability diagrams.
N_BINS = 15


@dataclass(frozen=True)
class Reliability:
    """Top-class confidence and accuracy per equal-width confidence bin.

    Attributes
    ----------
    edges : ndarray of shape (n_bins + 1,)
        Bin edges, ``0, 1/M, …, 1``.
    counts : ndarray of shape (n_bins,)
        Samples per bin.
    confidence : ndarray of shape (n_bins,)
        Mean top-class confidence per bin (NaN where the bin is empty).
    accuracy : ndarray of shape (n_bins,)
        Share of samples whose top class is the true one, per bin (NaN where empty).
    """

    edges: np.ndarray
    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray

    @property
    def ece(self) -> float:
        """Expected calibration error: bin-share-weighted mean of ``|accuracy − confidence|``."""
        n = self.counts.sum()
        if n == 0:
            return float("nan")
        filled = self.counts > 0
        gaps = np.abs(self.accuracy[filled] - self.confidence[filled])
        return float(np.sum(self.counts[filled] * gaps) / n)


def _checked(proba: np.ndarray, y_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    proba = np.asarray(proba, dtype=np.float64)
    y_true = np.asarray(y_true)
    if proba.ndim != 2 or proba.shape[1] < 2:
        raise ValueError(f"proba must be n_samples × n_classes (≥ 2), got shape {proba.shape}")
    if len(y_true) != len(proba):
        raise ValueError(f"y_true has {len(y_true)} labels for {len(proba)} rows of proba")
    in_range = not len(y_true) or (y_true.min() >= 0 and y_true.max() < proba.shape[1])
    if y_true.dtype.kind not in "iu" or not in_range:
        raise ValueError(
            f"y_true must be class codes 0…{proba.shape[1] - 1} (the columns of proba), "
            f"got {np.unique(y_true)[:10].tolist()}"
        )
    if not np.isfinite(proba).all() or proba.min() < 0:
        raise ValueError("proba must hold finite, non-negative probabilities")
    return proba, y_true


def reliability(proba: np.ndarray, y_true: np.ndarray, n_bins: int = N_BINS) -> Reliability:
    """Bin the top-class confidences and return each bin's count, confidence and accuracy.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_classes)
        Class probabilities, columns in class-code order.
    y_true : ndarray of int, shape (n_samples,)
        True class codes (column indices of ``proba``).
    n_bins : int
        Equal-width bins of ``[0, 1]``, right-closed.

    Returns
    -------
    Reliability
    """
    proba, y_true = _checked(proba, y_true)
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # right-closed bins (0, 1/M], …; ceil(c·M) − 1, a confidence of 0 in the first bin
    which = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins)
    sums = np.bincount(which, weights=confidence, minlength=n_bins)
    hits = np.bincount(which, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return Reliability(edges, counts, sums / counts, hits / counts)


def expected_calibration_error(
    proba: np.ndarray, y_true: np.ndarray, n_bins: int = N_BINS
) -> float:
    """Return the expected calibration error of the top-class confidence (module docstring)."""
    return reliability(proba, y_true, n_bins).ece


def negative_log_likelihood(proba: np.ndarray, y_true: np.ndarray) -> float:
    """Return ``−mean log proba[i, y_i]`` (scikit-learn's ``log_loss``; clipped at eps)."""
    proba, y_true = _checked(proba, y_true)
    return float(log_loss(y_true, _normalised(proba), labels=np.arange(proba.shape[1])))


def brier_score(proba: np.ndarray, y_true: np.ndarray) -> float:
    """Return the multi-class Brier score ``mean_i Σ_k (proba[i, k] − [y_i = k])²``, in [0, 2]."""
    proba, y_true = _checked(proba, y_true)
    return float(
        brier_score_loss(
            y_true, _normalised(proba), labels=np.arange(proba.shape[1]), scale_by_half=False
        )
    )


def calibration_metrics(
    proba: np.ndarray, y_true: np.ndarray, n_bins: int = N_BINS
) -> dict[str, float]:
    """Return ``{"ece", "nll", "brier"}`` of ``proba`` against ``y_true``.

    Samples whose true code is not a column of ``proba`` (a cross-dataset test keeping
    classes the model lacks) have no probability of their class and are left out.
    """
    proba, y_true = np.asarray(proba, dtype=np.float64), np.asarray(y_true)
    known = y_true < proba.shape[1]
    proba, y_true = proba[known], y_true[known]
    if not len(y_true):
        raise ValueError("no sample has a true class among the columns of proba")
    return {
        "ece": expected_calibration_error(proba, y_true, n_bins),
        "nll": negative_log_likelihood(proba, y_true),
        "brier": brier_score(proba, y_true),
    }


def _normalised(proba: np.ndarray) -> np.ndarray:
    """Rows divided by their sums (floating-point drift, averaged ensembles), within [0, 1]."""
    sums = proba.sum(axis=1, keepdims=True)
    if np.any(sums <= 0):
        raise ValueError("a row of proba sums to 0: not a probability distribution")
    return np.clip(proba / sums, 0.0, 1.0)
