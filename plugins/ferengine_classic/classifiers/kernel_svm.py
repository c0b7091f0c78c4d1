"""Kernel SVM on a Gram matrix computed with BLAS (fast on high-dimensional features)."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.metrics.pairwise import PAIRWISE_KERNEL_FUNCTIONS, pairwise_kernels
from sklearn.svm import SVC
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if

from ferengine_classic.classifiers import model_checks  # noqa: F401 (registers the load-time checks)
from ferengine_classic.classifiers.svm import CALIBRATION, calibrated
from ferengine_classic.classifiers.weighting import CLASS_WEIGHT, WrappedClassifier


class SVMKernel(WrappedClassifier):
    """Kernel SVM (libsvm's SVC) on a precomputed Gram matrix.

    ``svm-rbf`` lets libsvm evaluate the kernel one pair of samples at a time,
    which is slow on the 10,000+ dimensional features of bag-of-visual-words and
    fused descriptors. This classifier computes the Gram matrix block by block
    with scikit-learn's pairwise kernels (matrix products through BLAS for
    "rbf", "linear", "poly", "cosine"), fits ``SVC(kernel="precomputed")`` on it
    and keeps only the training rows that are support vectors for prediction.
    The Gram matrix costs 8·N² bytes (6.6 GB for FER2013's 28,709 images).

    Parameters
    ----------
    C : float
        Inverse regularisation strength.
    kernel : str
        A :func:`sklearn.metrics.pairwise.pairwise_kernels` metric: "rbf",
        "linear", "poly", "cosine", "laplacian", "chi2", "additive_chi2", …
    gamma : "scale" or float
        Kernel width of "rbf", "poly", "laplacian", "chi2"; "scale" is
        ``1 / (n_features · X.var())`` as in :class:`sklearn.svm.SVC`.
    degree : int
        Degree of the "poly" kernel.
    coef0 : float
        Independent term of the "poly" kernel.
    calibration : {None, "sigmoid", "isotonic"}
        With a method, ``predict_proba`` is available (see ``svm-rbf``).
    cv : int
        Folds for the calibration.
    class_weight : {None, "balanced", "max-ratio"} or dict
        Per-class weights (see :func:`ferengine.balance.class_weights`).
    cache_size : float
        libsvm cache in MB (kernel values are looked up, so little is needed).
    tol : float
        Stopping tolerance.
    max_iter : int
        Iteration limit (-1: none).
    block_size : int
        Rows of the Gram matrix computed at once (bounds temporary memory).
    """

    name = "svm-kernel"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **{
            k: SVC._parameter_constraints[k]
            for k in ("C", "degree", "coef0", "cache_size", "tol", "max_iter")
        },
        "kernel": [StrOptions(set(PAIRWISE_KERNEL_FUNCTIONS))],
        "gamma": [StrOptions({"scale"}), Interval(Real, 0, None, closed="neither")],
        **CALIBRATION,
        "class_weight": CLASS_WEIGHT,
        "block_size": [Interval(Integral, 1, None, closed="left")],
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
        kernel: str = "rbf",
        gamma: Any = "scale",
        degree: int = 3,
        coef0: float = 1.0,
        calibration: str | None = None,
        cv: int = 3,
        class_weight: Any = None,
        cache_size: float = 200,
        tol: float = 1e-3,
        max_iter: int = -1,
        block_size: int = 2048,
    ) -> None:
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.calibration = calibration
        self.cv = cv
        self.class_weight = class_weight
        self.cache_size = cache_size
        self.tol = tol
        self.max_iter = max_iter
        self.block_size = block_size

    def _build(self, n_classes: int, n_samples: int) -> Any:
        svm = SVC(
            C=self.C,
            kernel="precomputed",
            cache_size=self.cache_size,
            tol=self.tol,
            max_iter=self.max_iter,
        )
        return calibrated(svm, self.calibration, self.cv, ensemble=False)

    def _gram(self, A: np.ndarray, B: np.ndarray, B_sq: np.ndarray | None = None) -> np.ndarray:
        out = np.empty((len(A), len(B)), dtype=np.float64)
        params = {"gamma": self.gamma_, "degree": self.degree, "coef0": self.coef0}
        for start in range(0, len(A), self.block_size):
            stop = start + self.block_size
            if self.kernel == "rbf" and B_sq is not None:
                # Prediction against stored support vectors: their squared norms are
                # kept, and pairwise_kernels would re-validate the whole support-vector
                # matrix on every call (most of the time of a one-image prediction).
                block = A[start:stop]
                sq = np.einsum("ij,ij->i", block, block)[:, None] + B_sq[None, :]
                dist = np.maximum(sq - 2.0 * (block @ B.T), 0.0)
                out[start:stop] = np.exp(-self.gamma_ * dist)
            else:
                out[start:stop] = pairwise_kernels(
                    A[start:stop], B, metric=self.kernel, filter_params=True, **params
                )
        return out

    def _fit_estimator(self, estimator: Any, X: np.ndarray, y: np.ndarray, weights: Any) -> None:
        if self.gamma == "scale":
            variance = float(X.var())
            self.gamma_ = 1.0 / (X.shape[1] * variance) if variance > 0 else 1.0
        else:
            self.gamma_ = float(self.gamma)
        estimator.fit(self._gram(X, X), y, sample_weight=weights)
        fitted = getattr(estimator, "calibrated_classifiers_", None)
        svms = [c.estimator for c in fitted] if fitted else [estimator]
        used = np.unique(np.concatenate([svm.support_ for svm in svms]))
        self.n_fit_ = len(X)
        self.fit_index_ = used
        self.support_vectors_ = np.ascontiguousarray(X[used])
        self.support_sq_norms_ = np.einsum("ij,ij->i", self.support_vectors_, self.support_vectors_)

    def _batched(self, method: str, X: Any) -> np.ndarray:
        X = self._features(X)
        outputs = []
        for start in range(0, len(X), self.block_size):
            block = X[start : start + self.block_size]
            K = np.zeros((len(block), self.n_fit_))
            K[:, self.fit_index_] = self._gram(block, self.support_vectors_,
                                               self.support_sq_norms_)  # fmt: skip
            outputs.append(getattr(self.estimator_, method)(K))
        return np.concatenate(outputs)

    def predict(self, X: Any) -> np.ndarray:
        """Predict class labels."""
        codes = self._batched("predict", X).astype(int)
        return self.classes_[codes]

    @available_if(WrappedClassifier._has("decision_function"))
    def decision_function(self, X: Any) -> np.ndarray:
        """Decision values of the SVM (one-vs-rest shape)."""
        return self._batched("decision_function", X)

    @available_if(WrappedClassifier._has("predict_proba"))
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (needs ``calibration``), columns in ``classes_`` order."""
        return self._batched("predict_proba", X)
