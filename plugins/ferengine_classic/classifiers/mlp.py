"""Multi-layer perceptron on feature vectors (scikit-learn)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.neural_network import MLPClassifier

from ferengine_classic.classifiers import model_checks  # noqa: F401 (registers the load-time checks)
from ferengine_classic.classifiers.weighting import CLASS_WEIGHT, WrappedClassifier

#: Parameters passed on to scikit-learn's MLPClassifier, checked by its constraints.
_FROM_SKLEARN = ("hidden_layer_sizes", "alpha", "learning_rate_init", "batch_size", "max_iter",
                 "early_stopping", "validation_fraction", "random_state")  # fmt: skip


class MLP(WrappedClassifier):
    """Multi-layer perceptron (scikit-learn's MLPClassifier, Adam) with class weights.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int
        Width of each hidden layer.
    alpha : float
        L2 penalty.
    learning_rate_init : float
        Adam's initial step size.
    batch_size : int or "auto"
        Minibatch size ("auto": ``min(200, n_samples)``).
    max_iter : int
        Maximum epochs.
    early_stopping : bool
        Stop when the score on a validation fraction stops improving.
    validation_fraction : float
        Share of the training set held out for early stopping.
    class_weight : {None, "balanced", "max-ratio"} or dict
        Per-class weights, applied as sample weights.
    random_state : int, optional
        Seed of initialisation, shuffling and the validation split.
    """

    name = "mlp"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **{k: MLPClassifier._parameter_constraints[k] for k in _FROM_SKLEARN},
        "class_weight": CLASS_WEIGHT,
    }

    def __init__(
        self,
        hidden_layer_sizes=(256,),
        alpha: float = 1e-4,
        learning_rate_init: float = 1e-3,
        batch_size: int = 200,
        max_iter: int = 200,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        class_weight=None,
        random_state: int | None = 0,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.alpha = alpha
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.random_state = random_state

    _expected_failed_checks = {  # noqa: RUF012
        "check_class_weight_classifiers": (
            "early stopping scores its validation split without the class weights, so "
            "extreme weights (1000 : 0.0001) stop training early; with "
            "early_stopping=False the weights apply in full"
        ),
    }

    def _build(self, n_classes: int, n_samples: int) -> Any:
        # Early stopping needs a validation split holding every class at least once.
        early = self.early_stopping and self.validation_fraction * n_samples >= n_classes
        return MLPClassifier(
            hidden_layer_sizes=tuple(np.atleast_1d(self.hidden_layer_sizes).tolist()),
            alpha=self.alpha,
            learning_rate_init=self.learning_rate_init,
            batch_size=self.batch_size,
            max_iter=self.max_iter,
            early_stopping=bool(early),
            validation_fraction=self.validation_fraction,
            random_state=self.random_state,
        )
