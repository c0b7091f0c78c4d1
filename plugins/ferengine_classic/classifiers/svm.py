"""Support vector machines: linear (LinearSVC, optionally calibrated) and RBF (SVC)."""

from __future__ import annotations

from typing import Any

from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import SVC, LinearSVC

from ferengine_classic.classifiers.weighting import (
    SchemeClassWeight,
    WrappedClassifier,
    with_schemes,
)


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
    """

    name = "svm-linear"

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
        if self.calibration is None:
            return svm
        if self.calibration not in ("sigmoid", "isotonic"):
            raise ValueError(
                f"svm-linear: calibration must be None, 'sigmoid' or 'isotonic', "
                f"got {self.calibration!r}"
            )
        return CalibratedClassifierCV(svm, method=self.calibration, cv=self.cv)


class SVMRBF(SchemeClassWeight, SVC):
    """Kernel SVM with an RBF kernel (libsvm's SVC); ``probability=True`` gives Platt scaling.

    All parameters are those of :class:`sklearn.svm.SVC`; ``class_weight`` also
    takes "max-ratio", and ``cache_size`` defaults to 1000 MB because FER training
    sets are large.
    """

    name = "svm-rbf"
    _expected_failed_checks = {  # noqa: RUF012
        "check_classifiers_one_label_sample_weights": (
            "libsvm refuses weights that leave one class (as scikit-learn's SVC does)"
        ),
    }
    _parameter_constraints = with_schemes(SVC._parameter_constraints)

    def __init__(
        self,
        *,
        C=1.0,
        kernel="rbf",
        degree=3,
        gamma="scale",
        coef0=0.0,
        shrinking=True,
        probability=False,
        tol=1e-3,
        cache_size=1000,
        class_weight=None,
        verbose=False,
        max_iter=-1,
        decision_function_shape="ovr",
        break_ties=False,
        random_state=None,
    ) -> None:
        super().__init__(
            C=C,
            kernel=kernel,
            degree=degree,
            gamma=gamma,
            coef0=coef0,
            shrinking=shrinking,
            probability=probability,
            tol=tol,
            cache_size=cache_size,
            class_weight=class_weight,
            verbose=verbose,
            max_iter=max_iter,
            decision_function_shape=decision_function_shape,
            break_ties=break_ties,
            random_state=random_state,
        )
