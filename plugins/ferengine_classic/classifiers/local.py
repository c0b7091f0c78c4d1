"""Local learning: an SVM trained, for each test sample, on its nearest training samples.

Ionescu, Popescu & Grozea (2013), "Local learning to improve bag of visual words model
for facial expression recognition", and Georgescu, Ionescu & Popescu (2019), "Local
learning with deep and handcrafted features for facial expression recognition": a
k-nearest-neighbour search selects the training samples closest to a test sample, a
one-versus-all SVM is trained on them, and it predicts that one sample.

Written here because no library does it: scikit-learn gives the neighbour search
(``NearestNeighbors``, brute force through BLAS, a batch of test samples at a time) and
the SVMs; this module only wires them per sample, in joblib workers.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.neighbors import NearestNeighbors
from sklearn.svm import SVC, LinearSVC
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ferengine_classic.classifiers.kernel_svm import SVMKernel
from ferengine_classic.classifiers.weighting import prepare_fit

#: Score of the classes absent from a sample's neighbourhood, below any SVM decision value.
ABSENT = -1e3


class LocalSVM(ClassifierMixin, BaseEstimator):
    """Local learning: per test sample, a one-vs-all SVM on its nearest training samples.

    For each sample, the ``n_neighbors`` nearest training samples (Euclidean distance:
    the distance of the linear and RBF kernels' feature spaces) train a one-versus-all
    SVM — linear (liblinear) or RBF (libsvm, on the neighbours' Gram matrix) — whose
    decision values score the sample. A neighbourhood of one class predicts it outright.
    Classes absent from a neighbourhood score ``ABSENT``. With ``global_weight`` > 0 the
    decision values of a global SVM of the same kernel, C and gamma, fitted on all the
    training data (``LinearSVC``, or ``svm-kernel`` for RBF), are added, times that weight
    (each model's scores divided by their standard deviation on the sample first).

    Fitting only stores the training data (and fits the global SVM); the cost is in
    prediction, about one small SVM fit per sample (``n_jobs`` workers share them).

    Parameters
    ----------
    n_neighbors : int
        Training samples per local SVM.
    kernel : {"linear", "rbf"}
        The local SVMs' kernel.
    C : float
        Inverse regularisation of the local (and global) SVMs.
    gamma : "scale" or float
        RBF width; "scale" is ``1 / (n_features · X.var())`` of the training data.
    global_weight : float
        Weight of the global SVM's scores (0: local learning alone, as in the papers).
    batch_size : int
        Test samples per neighbour search.
    n_jobs : int, optional
        joblib workers fitting local SVMs.

    Attributes
    ----------
    classes_ : ndarray
        Class labels.
    X_fit_ : ndarray of shape (n_samples, n_features), float32
        The training samples.
    y_fit_ : ndarray of shape (n_samples,), int
        Their labels as indices into ``classes_``.
    gamma_ : float
        The RBF width used.
    global_ : LinearSVC, SVMKernel or None
        The global SVM (``global_weight`` > 0), of the local SVMs' kernel.
    """

    name = "local-svm"
    #: No class weights (read by ``prepare_fit``): each local SVM sees only its neighbours.
    class_weight = None
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "n_neighbors": [Interval(Integral, 2, None, closed="left")],
        "kernel": [StrOptions({"linear", "rbf"})],
        "C": [Interval(Real, 0, None, closed="neither")],
        "gamma": [StrOptions({"scale"}), Interval(Real, 0, None, closed="neither")],
        "global_weight": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [None, Integral],
    }
    _test_params: ClassVar[dict] = {"n_neighbors": 20}

    def __init__(self, n_neighbors: int = 200, kernel: str = "linear", C: float = 1.0,
                 gamma: Any = "scale", global_weight: float = 0.0, batch_size: int = 256,
                 n_jobs: int | None = None) -> None:  # fmt: skip
        self.n_neighbors = n_neighbors
        self.kernel = kernel
        self.C = C
        self.gamma = gamma
        self.global_weight = global_weight
        self.batch_size = batch_size
        self.n_jobs = n_jobs

    def fit(self, X: Any, y: Any) -> LocalSVM:
        """Store the training samples (and fit the global SVM when it is weighted).

        Returns
        -------
        self
        """
        X, codes, _ = prepare_fit(self, X, y)
        self.X_fit_ = np.ascontiguousarray(X, dtype=np.float32)
        self.y_fit_ = codes
        variance = float(self.X_fit_.var())
        self.gamma_ = (
            (1.0 / (X.shape[1] * variance) if variance > 0 else 1.0)
            if self.gamma == "scale"
            else float(self.gamma)
        )
        self.neighbors_ = NearestNeighbors(
            n_neighbors=min(self.n_neighbors, len(X)), algorithm="brute"
        ).fit(self.X_fit_)
        self.global_ = None
        if self.global_weight > 0:
            self.global_ = (
                self._linear_svm()
                if self.kernel == "linear"
                else SVMKernel(C=self.C, kernel="rbf", gamma=self.gamma_)
            ).fit(X, codes)
        return self

    def _linear_svm(self) -> LinearSVC:
        """Return the unfitted linear SVM of the local models and of the global one."""
        return LinearSVC(C=self.C, dual="auto", max_iter=5000)

    def _local(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Decision values of one sample from the SVM of its neighbourhood ``rows``."""
        n_classes = len(self.classes_)
        labels = self.y_fit_[rows]
        present = np.unique(labels)
        scores = np.full(n_classes, ABSENT)
        if len(present) == 1:
            scores[present[0]] = 1.0
            return scores
        train = self.X_fit_[rows]
        if self.kernel == "linear":
            svm = self._linear_svm().fit(train, labels)
            values = svm.decision_function(x[None])[0]
        else:
            gram = rbf_kernel(train, gamma=self.gamma_)
            svm = SVC(C=self.C, kernel="precomputed", decision_function_shape="ovr")
            values = svm.fit(gram, labels).decision_function(
                rbf_kernel(x[None], train, gamma=self.gamma_)
            )[0]
        if len(present) == 2:  # one decision value, for the second class
            values = np.array([-values, values]).ravel()
        scores[present] = values
        return scores

    def decision_function(self, X: Any) -> np.ndarray:
        """Per-class scores of each sample from its local SVM (plus the weighted global one).

        Returns
        -------
        ndarray of shape (n_samples, n_classes), or (n_samples,) for two classes
            For two classes, scikit-learn's convention: the second class's score minus
            the first's (positive: ``classes_[1]``).
        """
        scores = self._scores(X)
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def _scores(self, X: Any) -> np.ndarray:
        """Per-class scores, (n_samples, n_classes), whatever the number of classes."""
        check_is_fitted(self, "X_fit_")
        X = validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
        X = np.asarray(X, dtype=np.float32)
        out = np.empty((len(X), len(self.classes_)))
        for start in range(0, len(X), self.batch_size):
            block = X[start : start + self.batch_size]
            rows = self.neighbors_.kneighbors(block, return_distance=False)
            out[start : start + len(block)] = Parallel(n_jobs=self.n_jobs, prefer="threads")(
                delayed(self._local)(x, r) for x, r in zip(block, rows, strict=True)
            )
        if self.global_ is not None:
            glob = self.global_.decision_function(X)
            if glob.ndim == 1:
                glob = np.column_stack([-glob, glob])
            local = np.where(out > ABSENT, out, np.nan)
            scale = np.nanstd(local, axis=1, keepdims=True)
            out = np.where(out > ABSENT, out / np.where(scale > 0, scale, 1.0), ABSENT)
            out += self.global_weight * glob / np.maximum(glob.std(axis=1, keepdims=True), 1e-12)
        return out

    def predict(self, X: Any) -> np.ndarray:
        """Predict class labels: the best-scored class of each sample."""
        best = self._scores(X).argmax(axis=1)  # checks fitting before classes_ is read
        return self.classes_[best]
