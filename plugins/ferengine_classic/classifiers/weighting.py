"""Class weights for every classifier: scikit-learn's schemes plus ferengine's "max-ratio"."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ferengine.balance import class_weights
from ferengine_classic.classifiers import model_checks  # noqa: F401 (registers the load-time checks)

#: Schemes of :func:`ferengine.balance.class_weights` accepted as ``class_weight=``.
SCHEMES = ("balanced", "max-ratio")
#: Constraint of a ``class_weight`` parameter applied as per-sample weights.
CLASS_WEIGHT = [StrOptions(set(SCHEMES)), dict, None]


def with_schemes(constraints: dict[str, list]) -> dict[str, list]:
    """Return scikit-learn parameter constraints whose ``class_weight`` also takes our schemes."""
    extended = [c for c in constraints["class_weight"] if not isinstance(c, StrOptions)]
    options = set(SCHEMES)
    for c in constraints["class_weight"]:
        if isinstance(c, StrOptions):
            options |= set(c.options)
    return {**constraints, "class_weight": [StrOptions(options), *extended]}


def resolve(class_weight: Any, y: np.ndarray) -> Any:
    """Turn a ferengine scheme name into a ``{class: weight}`` dict; pass others through."""
    if isinstance(class_weight, str) and class_weight == "max-ratio":
        return class_weights(y, "max-ratio")
    return class_weight


def sample_weights(class_weight: Any, y: np.ndarray, sample_weight: Any = None) -> Any:
    """Per-sample weights from ``class_weight`` (None, scheme or dict) times ``sample_weight``."""
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if sample_weight.shape != (len(y),):
            raise ValueError(
                f"sample_weight has shape {sample_weight.shape}; expected ({len(y)},), "
                "one weight per sample"
            )
    if class_weight is None:
        return sample_weight
    table = class_weights(y, class_weight) if isinstance(class_weight, str) else class_weight
    missing = set(np.unique(y).tolist()) - set(table)
    if missing:
        raise ValueError(f"class_weight has no weight for classes {sorted(missing)}")
    weights = np.array([table[c] for c in y.tolist()], dtype=np.float64)
    return weights if sample_weight is None else weights * np.asarray(sample_weight)


class SchemeClassWeight:
    """Mixin for scikit-learn classifiers with ``class_weight``: also accept "max-ratio".

    The scheme becomes a dict for the duration of the parent's ``fit`` only, so
    ``get_params`` still returns what the user set.
    """

    def fit(self, X, y, *args, **kwargs):
        """Fit, resolving a ferengine class-weight scheme from ``y`` first."""
        given = self.class_weight
        self.class_weight = resolve(given, np.asarray(y))
        try:
            return super().fit(X, y, *args, **kwargs)
        finally:
            self.class_weight = given


def prepare_fit(
    estimator: Any, X: Any, y: Any, sample_weight: Any = None
) -> tuple[np.ndarray, np.ndarray, Any]:
    """Validate a classifier's parameters and training data; set ``classes_``.

    The parameters are checked against the estimator's ``_parameter_constraints``.

    Returns
    -------
    X : ndarray
        The validated feature matrix.
    codes : ndarray
        The labels encoded as ``0..C-1`` (``classes_[codes]`` gives them back).
    weights : ndarray or None
        Per-sample weights combining ``estimator.class_weight`` and ``sample_weight``.
    """
    estimator._validate_params()
    X, y = validate_data(estimator, X, y, dtype=[np.float64, np.float32])
    check_classification_targets(y)
    encoder = LabelEncoder().fit(y)
    estimator.classes_ = encoder.classes_
    if len(estimator.classes_) < 2:
        raise ValueError(f"{estimator.name} needs at least 2 classes, got 1 class")
    weights = sample_weights(estimator.class_weight, y, sample_weight)
    return X, encoder.transform(y), weights


class WrappedClassifier(ClassifierMixin, BaseEstimator):
    """Base of classifiers that build and fit another estimator (``estimator_``) in ``fit``.

    Subclasses implement ``_build(n_classes)``; labels are encoded to 0..C-1,
    ``class_weight`` becomes per-sample weights.
    """

    class_weight: Any = None

    def _build(self, n_classes: int, n_samples: int) -> Any:
        raise NotImplementedError

    def _fit_estimator(self, estimator: Any, X: np.ndarray, y: np.ndarray, weights: Any) -> None:
        estimator.fit(X, y, sample_weight=weights)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> WrappedClassifier:
        """Fit on an N×D feature matrix and labels.

        Returns
        -------
        self
        """
        X, codes, weights = prepare_fit(self, X, y, sample_weight)
        self.estimator_ = self._build(len(self.classes_), len(codes))
        self._fit_estimator(self.estimator_, X, codes, weights)
        if hasattr(self.estimator_, "n_iter_"):
            self.n_iter_ = self.estimator_.n_iter_
        return self

    def _features(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return validate_data(self, X, reset=False, dtype=[np.float64, np.float32])

    def predict(self, X: Any) -> np.ndarray:
        """Predict class labels."""
        X = self._features(X)
        return self.classes_[self.estimator_.predict(X).astype(int)]

    @staticmethod
    def _has(name: str):
        def check(self) -> bool:
            probe = self.estimator_ if hasattr(self, "estimator_") else self._build(2, 100)
            return hasattr(probe, name)

        return check

    @available_if(_has("decision_function"))
    def decision_function(self, X: Any) -> np.ndarray:
        """Decision values of the underlying model."""
        X = self._features(X)
        return self.estimator_.decision_function(X)

    @available_if(_has("predict_proba"))
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in ``classes_`` order."""
        X = self._features(X)
        return self.estimator_.predict_proba(X)
