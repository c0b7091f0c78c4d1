"""``temperature``: temperature scaling of a classifier's probabilities (Guo et al., 2017)."""

from __future__ import annotations

from numbers import Real
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp, softmax
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ferengine.classifier import ProbaClassifier
from ferengine.images import validate_images, validate_labelled_images
from ferengine.step_checks import require_probabilities
from ferengine.steps import build_model
from ferengine_ensembles import model_checks  # noqa: F401 (registers the load-time checks)
from ferengine_ensembles.params import STEP

#: Probabilities are clipped to at least this before their logarithm (a held-out image
#: whose class got probability 0 would make the likelihood 0 at every temperature).
EPS = float(np.finfo(np.float64).eps)
#: Search range of ``log T``: T from about 0.02 (sharper) to 55 (flatter).
LOG_T_BOUNDS = (-4.0, 4.0)


def scaled(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Return ``softmax(log(proba) / temperature)`` row by row (``proba`` clipped at :data:`EPS`).

    ``temperature`` > 1 flattens the probabilities, < 1 sharpens them; the most probable
    class of each row never changes.
    """
    return softmax(np.log(np.clip(proba, EPS, None)) / temperature, axis=1)


def held_out_nll(log_proba: np.ndarray, y: np.ndarray, temperature: float) -> float:
    """Return the mean negative log-likelihood of codes ``y`` under ``softmax(log_proba / T)``."""
    logits = log_proba / temperature
    return float(np.mean(logsumexp(logits, axis=1) - logits[np.arange(len(y)), y]))


class Temperature(ProbaClassifier):
    """Temperature scaling: a classifier, and one temperature fitted on held-out data.

    ``fit`` fits the classifier on a stratified ``1 − holdout`` share of the training
    samples, then finds the temperature ``T > 0`` that minimises the negative
    log-likelihood of the held-out share (:func:`scipy.optimize.minimize_scalar` on
    ``log T``, bounded). ``predict_proba`` is ``softmax(log(p) / T)`` of the classifier's
    probabilities ``p``: the same most probable class (so the same accuracy as the
    classifier fitted on that share), probabilities made less (T > 1) or more (T < 1)
    confident. The classifier is not refitted on the held-out share, which the
    temperature must not have seen it trained on.

    Parameters
    ----------
    estimator : step or list of steps, optional
        The classifier (or pipeline), with ``predict_proba``: a step or a list of steps.
        It gets what ``temperature`` gets — feature vectors in a benchmark suite's
        ``[[classifiers]]``, images when it is a whole pipeline or a CNN. Default: the
        registered ``cnn`` classifier (the deep extra).
    holdout : float
        Share of the training samples held out to fit the temperature, in (0, 1);
        stratified by class when every class has at least two samples.
    random_state : int, RandomState instance or None
        Seed of the held-out split.

    Attributes
    ----------
    estimator_ : estimator
        The classifier, fitted on the ``1 − holdout`` share.
    temperature_ : float
        The fitted temperature.
    nll_before_, nll_after_ : float
        Negative log-likelihood of the held-out share at ``T = 1`` and at
        ``temperature_``.
    classes_ : ndarray
        The training labels.
    """

    name = "temperature"
    step_params: ClassVar[dict[str, str]] = {"estimator": "pipeline"}
    _parameter_constraints: ClassVar[dict] = {
        "estimator": [None, *STEP],
        "holdout": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    }
    _test_params: ClassVar[dict] = {"estimator": "logistic"}

    def __init__(self, estimator: Any = None, holdout: float = 0.2, random_state: Any = 0) -> None:
        self.estimator = estimator
        self.holdout = holdout
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> Temperature:
        """Fit the classifier on ``1 − holdout`` of the samples and the temperature on the rest.

        Returns
        -------
        self

        Raises
        ------
        MissingProbabilitiesError
            The classifier has no ``predict_proba`` (checked before it is fitted).
        ValueError
            Fewer than two classes, or too few samples to hold a share out.
        """
        self._validate_params()
        X, y = validate_labelled_images(self, X, y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"temperature needs samples of at least 2 classes, got 1 class: {self.classes_}"
            )
        self.estimator_ = build_model("cnn" if self.estimator is None else self.estimator)
        require_probabilities(self.estimator_, "temperature's estimator")
        fit_rows, held_rows = self._split(codes)
        self.estimator_.fit(X[fit_rows], y[fit_rows])
        log_proba = np.log(np.clip(self._inner_proba(X[held_rows]), EPS, None))
        held = codes[held_rows]
        found = minimize_scalar(
            lambda log_t: held_out_nll(log_proba, held, float(np.exp(log_t))),
            bounds=LOG_T_BOUNDS,
            method="bounded",
        )
        self.temperature_ = float(np.exp(found.x))
        self.nll_before_ = held_out_nll(log_proba, held, 1.0)
        self.nll_after_ = held_out_nll(log_proba, held, self.temperature_)
        return self

    def _split(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the rows the classifier is fitted on and those held out."""
        n, k = len(codes), len(self.classes_)
        n_held = int(np.ceil(self.holdout * n))
        if n_held < 1 or n - n_held < 1:
            raise ValueError(
                f"temperature: holdout={self.holdout} of {n} samples leaves "
                f"{n - n_held} to fit the classifier and {n_held} to fit the temperature; "
                "both need at least one"
            )
        stratify = codes if np.bincount(codes).min() >= 2 and k <= n_held <= n - k else None
        rows = np.arange(n)
        fit_rows, held_rows = train_test_split(
            rows, test_size=n_held, stratify=stratify, random_state=self.random_state
        )
        return np.sort(fit_rows), np.sort(held_rows)

    def _inner_proba(self, X: Any) -> np.ndarray:
        """Return the classifier's probabilities, a column per class of ``classes_`` (0: unseen)."""
        proba = np.asarray(self.estimator_.predict_proba(X), dtype=np.float64)
        out = np.zeros((len(proba), len(self.classes_)))
        out[:, np.searchsorted(self.classes_, self.estimator_.classes_)] = proba
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        """Return ``softmax(log(p) / temperature_)``, columns in ``classes_`` order."""
        check_is_fitted(self, "temperature_")
        X = validate_images(self, X, reset=False)
        return scaled(self._inner_proba(X), self.temperature_)
