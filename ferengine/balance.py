"""Class balancing: per-class resampling and class weights."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils.class_weight import compute_class_weight

from ferengine.dataset import FaceDataset


def class_weights(labels, method: str = "max-ratio") -> dict[int, float]:
    """Return a ``{class: weight}`` dict for ``class_weight=`` parameters.

    Parameters
    ----------
    labels : array-like of int
        Training labels.
    method : {"max-ratio", "balanced"}
        ``"max-ratio"``: ``w_i = max(n) / (C · n_i)`` (the largest class gets ``1/C``);
        ``"balanced"``: scikit-learn's ``n_samples / (C · n_i)``.
    """
    y = np.asarray(labels)
    classes, counts = np.unique(y, return_counts=True)
    if method == "balanced":
        weights = compute_class_weight("balanced", classes=classes, y=y)
    elif method == "max-ratio":
        weights = counts.max() / (len(classes) * counts)
    else:
        raise ValueError(f"method must be 'max-ratio' or 'balanced', got {method!r}")
    return {c.item(): float(w) for c, w in zip(classes, weights, strict=True)}


def resample_indices(labels, fraction: float = 1.0, seed: int = 0) -> np.ndarray:
    """Return indices drawing ``M = round(fraction · max class size)`` samples per class.

    Classes are sampled with replacement (a class larger than M is sampled without
    replacement, so it loses images but repeats none).
    """
    if not fraction > 0:
        raise ValueError(f"fraction must be positive, got {fraction}")
    y = np.asarray(labels)
    classes, counts = np.unique(y, return_counts=True)
    m = max(1, round(fraction * counts.max()))
    rng = np.random.default_rng(seed)
    picks = []
    for c, n in zip(classes, counts, strict=True):
        members = np.flatnonzero(y == c)
        picks.append(rng.choice(members, size=m, replace=n < m))
    return np.sort(np.concatenate(picks))


def resample(ds: FaceDataset, fraction: float = 1.0, seed: int = 0) -> FaceDataset:
    """Return ``ds`` with every class resampled to the same size (see :func:`resample_indices`)."""
    return ds.subset(resample_indices(ds.labels, fraction, seed))


class ResampledClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Fit a classifier on a class-balanced resample of its training data.

    Use it as the last step of a pipeline: prediction is the wrapped classifier's.

    Parameters
    ----------
    estimator : classifier
        The classifier to fit.
    fraction : float
        Every class is resampled to ``fraction × (largest class size)``.
    seed : int
        Seed of the resampling.
    """

    def __init__(self, estimator, fraction: float = 1.0, seed: int = 0) -> None:
        self.estimator = estimator
        self.fraction = fraction
        self.seed = seed

    def fit(self, X, y):
        """Resample ``(X, y)`` per class and fit a clone of ``estimator``."""
        idx = resample_indices(y, self.fraction, self.seed)
        self.estimator_ = clone(self.estimator).fit(np.asarray(X)[idx], np.asarray(y)[idx])
        self.classes_ = self.estimator_.classes_
        return self

    def predict(self, X):
        """Predict with the fitted classifier."""
        return self.estimator_.predict(X)

    def predict_proba(self, X):
        """Class probabilities of the fitted classifier."""
        return self.estimator_.predict_proba(X)
