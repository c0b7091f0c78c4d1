"""CNN features for any classifier (``cnn-embedding``) and a dense softmax head on them."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ferengine_deep import model_checks  # noqa: F401 (registers the load-time checks)
from ferengine_deep.estimator import CNN
from ferengine_deep.training import FitData, TorchClassifier


class CNNEmbedding(TransformerMixin, BaseEstimator):
    """Penultimate-layer activations of a CNN, as features.

    Parameters
    ----------
    model : str, optional
        A saved ferengine model (path, or "default") holding a fitted ``cnn``; its
        preprocessing steps run first. Without a model, ``fit`` trains a ``cnn`` with
        ``cnn_params`` on the training images and labels (the classifier after this
        feature then sees embeddings of images the CNN was trained on).
    cnn_params : dict, optional
        Parameters of the ``cnn`` trained when no ``model`` is given.
    """

    name = "cnn-embedding"
    requires = ("torch", "skorch")
    extra = "deep"
    _image_input = True
    _test_params: ClassVar[dict] = {"cnn_params": CNN._test_params}

    def __init__(self, model: str | None = None, cnn_params: dict | None = None) -> None:
        self.model = model
        self.cnn_params = cnn_params

    def _learns_from_training(self) -> bool:
        """Whether fitting learns from the images: only when no saved ``model`` is given."""
        return self.model is None

    def fit(self, X: Any, y: Any = None) -> CNNEmbedding:
        """Load the model, or train a CNN on ``X``, ``y``.

        Returns
        -------
        self
        """
        if self.model is not None:
            from ferengine.persistence import load

            loaded = load(self.model)
            steps = [s for _, s in getattr(loaded, "steps", [("", loaded)])]
            if not steps or not isinstance(steps[-1], CNN):
                raise ValueError(f"cnn-embedding: {self.model} does not end in a fitted cnn")
            self.preprocess_ = steps[:-1]
            self.cnn_ = steps[-1]
        else:
            if y is None:
                raise ValueError("cnn-embedding: without a model, fit needs labels to train one")
            self.preprocess_ = []
            self.cnn_ = CNN(**(self.cnn_params or {})).fit(X, y)
        self.n_features_out_ = int(self.cnn_.module_.embedding_size)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # always float32
        return tags

    def transform(self, X: Any) -> np.ndarray:
        """Return the N×D float32 embeddings of a batch of images."""
        check_is_fitted(self, "cnn_")
        for step in self.preprocess_:
            X = step.transform(X)
        return self.cnn_.embed(X).astype(np.float32)


def mlp(n_in: int, n_out: int, hidden: Any = (256,), dropout: float = 0.5) -> Any:
    """Return dense layers (ReLU, dropout) of ``hidden`` widths, then a linear output layer.

    The network of ``softmax-head``; its ``module__hidden`` and ``module__dropout``.
    """
    from torch import nn

    layers: list[Any] = []
    for width in hidden:
        layers += [nn.Linear(n_in, int(width)), nn.ReLU(), nn.Dropout(dropout)]
        n_in = int(width)
    return nn.Sequential(*layers, nn.Linear(n_in, n_out))


class SoftmaxHead(TorchClassifier):
    """Dense layers with a softmax output, trained with torch on feature vectors.

    The "VGG16 features under a dense head" recipe: put it after ``cnn-embedding``
    (or any feature). Inputs are standardised with training statistics.

    Parameters
    ----------
    max_epochs, batch_size, optimizer, lr, criterion, schedule, validation_fraction,
    patience, class_weight, seed
        Training, as in :class:`~ferengine_deep.training.TorchClassifier` (the same
        path as ``cnn``'s). The optimiser's settings by prefix; here
        ``optimizer__weight_decay`` defaults to 1e-4.
    **kwargs
        ``module__hidden`` (sequence of int, default ``(256,)``: widths of the hidden
        layers; empty: multinomial logistic regression), ``module__dropout`` (float,
        default 0.5: dropout after each hidden layer), and ``optimizer__<p>``,
        ``criterion__<p>`` as for ``cnn``.
    """

    name = "softmax-head"
    _test_params: ClassVar[dict] = {"module__hidden": (16,), "max_epochs": 40, "lr": 1e-2,
                                    "validation_fraction": 0.0}  # fmt: skip
    _expected_failed_checks: ClassVar[dict] = {
        "check_no_attributes_set_in_init": CNN._expected_failed_checks[
            "check_no_attributes_set_in_init"
        ],
    }
    _optimizer_defaults: ClassVar[dict[str, Any]] = {"weight_decay": 1e-4}
    _prediction_batches: ClassVar[int | None] = None  # all rows in one pass
    _network = staticmethod(mlp)
    _network_label = "the softmax head"

    def __init__(
        self,
        max_epochs: int = 50,
        batch_size: int = 128,
        optimizer: str = "adam",
        lr: float = 1e-3,
        criterion: str = "cross-entropy",
        schedule: str | None = None,
        validation_fraction: float = 0.1,
        patience: int | None = 5,
        class_weight: Any = None,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        self._store(locals())

    def _prepare(self, X: Any, y: Any) -> FitData:
        """Check the N×D features and labels; set ``mean_`` and ``scale_``."""
        X, y = validate_data(self, X, y, dtype=np.float32)
        codes = self._encode(y)
        self.mean_ = X.mean(axis=0)
        self.scale_ = np.maximum(X.std(axis=0), 1e-6)
        return FitData(self._standardize(X), codes, self._new_module)

    def _inputs(self, X: Any, what: str) -> np.ndarray:
        return self._standardize(validate_data(self, X, reset=False, dtype=np.float32))

    def _standardize(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean_) / self.scale_).astype(np.float32)

    def _new_module(self) -> Any:
        return mlp(len(self.mean_), len(self.classes_), **self.get_params_for("module"))


__all__ = ["CNNEmbedding", "SoftmaxHead"]
