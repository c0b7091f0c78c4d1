"""Support vector machines: linear (LinearSVC, optionally calibrated) and RBF (SVC)."""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import SVC, LinearSVC
from sklearn.utils._param_validation import Interval, StrOptions

from ferengine_classic.classifiers import model_checks  # noqa: F401 (registers the load-time checks)
from ferengine_classic.classifiers.weighting import CLASS_WEIGHT, WrappedClassifier

#: Constraints of the SVMs' ``calibration`` and ``cv`` (see :func:`calibrated`).
CALIBRATION: dict[str, list] = {
    "calibration": [None, StrOptions({"sigmoid", "isotonic"})],
    "cv": [Interval(Integral, 2, None, closed="left")],
}


class SVMLinear(WrappedClassifier):
    """Linear SVM (liblinear's LinearSVC); probabilities by calibration when asked.

    Parameters
    ----------
    C : float
        Inverse regularisation strength.
    loss : {"squared_hinge", "hinge"}
        Hinge loss or its square (the liblinear default).
    calibration : {None, "sigmoid", "isotonic"}
        With a method, ``predict_proba`` is available: the SVM is fitted on
        ``cv`` folds and calibrated on the held-out ones (Platt's sigmoid or
        isotonic regression), as :class:`sklearn.calibration.CalibratedClassifierCV`.
    cv : int
        Folds for the calibration.
    class_weight : {None, "balanced", "max-ratio"} or dict
        Per-class weights (see :func:`ferengine.balance.class_weights`).
    max_iter : int
        Iteration limit of the solver.
    tol : float
        Stopping tolerance.
    random_state : int, optional
        Seed of the solver's coordinate order.

    Attributes
    ----------
    coef_ : ndarray of shape (1 or n_classes, n_features)
        The SVM's weights (one row for two classes), averaged over the ``cv`` fitted
        SVMs with calibration; the ``feature-weights`` explainer reads them.
    intercept_ : ndarray of shape (1 or n_classes,)
        The matching intercepts.
    """

    name = "svm-linear"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **{k: LinearSVC._parameter_constraints[k] for k in ("C", "loss", "max_iter", "tol")},
        **CALIBRATION,
        "class_weight": CLASS_WEIGHT,
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        C: float = 1.0,
        loss: str = "squared_hinge",
        calibration: str | None = None,
        cv: int = 3,
        class_weight=None,
        max_iter: int = 5000,
        tol: float = 1e-4,
        random_state: int | None = 0,
    ) -> None:
        self.C = C
        self.loss = loss
        self.calibration = calibration
        self.cv = cv
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    _expected_failed_checks = {  # noqa: RUF012
        "check_sample_weight_equivalence_on_dense_data": (
            "liblinear's sample weights are not equivalent to repeated samples "
            "(scikit-learn expects the same failure of LinearSVC)"
        ),
    }

    def _build(self, n_classes: int, n_samples: int) -> Any:
        svm = LinearSVC(
            C=self.C,
            loss=self.loss,
            dual="auto",
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=self.random_state,
        )
        return calibrated(svm, self.calibration, self.cv)

    def _fit_estimator(self, estimator: Any, X: np.ndarray, y: np.ndarray, weights: Any) -> None:
        """Fit, then keep the weights: one SVM's, or the mean of the calibrated folds' SVMs."""
        super()._fit_estimator(estimator, X, y, weights)
        folds = getattr(estimator, "calibrated_classifiers_", None)
        svms = [c.estimator for c in folds] if folds else [estimator]
        self.coef_ = np.mean([s.coef_ for s in svms], axis=0)
        self.intercept_ = np.mean([s.intercept_ for s in svms], axis=0)


class SVMRBF(WrappedClassifier):
    """Kernel SVM (libsvm's SVC, RBF kernel by default); probabilities by Platt scaling.

    Parameters
    ----------
    C : float
        Inverse regularisation strength.
    gamma : {"scale", "auto"} or float
        RBF kernel width, as in :class:`sklearn.svm.SVC`.
    kernel : {"rbf", "poly", "sigmoid", "linear"}
        libsvm kernel.
    degree : int
        Degree of the "poly" kernel.
    coef0 : float
        Independent term of the "poly" and "sigmoid" kernels.
    calibration : {None, "sigmoid", "isotonic"}
        With a method, ``predict_proba`` is available: one SVM is fitted on all
        the data and its decision values are calibrated on ``cv``-fold
        cross-validated predictions ("sigmoid" is Platt scaling) —
        scikit-learn's replacement for the deprecated ``SVC(probability=True)``.
    cv : int
        Folds for the calibration.
    class_weight : {None, "balanced", "max-ratio"} or dict
        Per-class weights (see :func:`ferengine.balance.class_weights`).
    cache_size : float
        libsvm kernel cache in MB (large FER training sets benefit from more).
    tol : float
        Stopping tolerance.
    max_iter : int
        Iteration limit (-1: none).
    """

    name = "svm-rbf"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **{
            k: SVC._parameter_constraints[k]
            for k in ("C", "gamma", "degree", "coef0", "cache_size", "tol", "max_iter")
        },
        "kernel": [StrOptions({"rbf", "poly", "sigmoid", "linear"})],
        **CALIBRATION,
        "class_weight": CLASS_WEIGHT,
    }
    _expected_failed_checks = {  # noqa: RUF012
        "check_sample_weight_equivalence_on_dense_data": (
            "libsvm's sample weights are close to, not equal to, repeated samples "
            "(scikit-learn expects the same failure of SVC, meta-issue #16298)"
        ),
    }

    def __init__(
        self,
        C: float = 1.0,
        gamma="scale",
        kernel: str = "rbf",
        degree: int = 3,
        coef0: float = 0.0,
        calibration: str | None = None,
        cv: int = 3,
        class_weight=None,
        cache_size: float = 1000,
        tol: float = 1e-3,
        max_iter: int = -1,
    ) -> None:
        self.C = C
        self.gamma = gamma
        self.kernel = kernel
        self.degree = degree
        self.coef0 = coef0
        self.calibration = calibration
        self.cv = cv
        self.class_weight = class_weight
        self.cache_size = cache_size
        self.tol = tol
        self.max_iter = max_iter

    def _build(self, n_classes: int, n_samples: int) -> Any:
        svm = SVC(
            C=self.C,
            kernel=self.kernel,
            gamma=self.gamma,
            degree=self.degree,
            coef0=self.coef0,
            cache_size=self.cache_size,
            tol=self.tol,
            max_iter=self.max_iter,
        )
        return calibrated(svm, self.calibration, self.cv, ensemble=False)


def calibrated(svm: Any, method: str | None, cv: int, ensemble: bool = True) -> Any:
    """Wrap an SVM for probabilities (CalibratedClassifierCV); ``method=None`` returns it.

    ``method`` and ``cv`` are checked by the :data:`CALIBRATION` constraints.
    """
    if method is None:
        return svm
    return CalibratedClassifierCV(svm, method=method, cv=cv, ensemble=ensemble)
