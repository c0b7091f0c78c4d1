"""CNN features for any classifier (``cnn-embedding``) and a dense softmax head on them."""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ferengine.registry import Registry
from ferengine_deep import model_checks  # noqa: F401 (registers the load-time checks)
from ferengine_deep.estimator import CNN
from ferengine_deep.training import TorchClassifier, torch_threads


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
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.criterion = criterion
        self.schedule = schedule
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.class_weight = class_weight
        self.seed = seed
        self._store_kwargs(kwargs)

    @classmethod
    def _module_parameters(
        cls, params: Mapping[str, Any], registry: Registry | None
    ) -> tuple[str, dict[str, Any]]:
        """Describe the head's layers: ``hidden`` and ``dropout`` of :func:`mlp`."""
        signature = inspect.signature(mlp).parameters.values()
        accepted = {p.name: p.default for p in signature if p.name not in ("n_in", "n_out")}
        return "the softmax head", accepted

    def fit(
        self,
        X: Any,
        y: Any,
        X_val: Any = None,
        y_val: Any = None,
        *,
        checkpoint_dir: str | os.PathLike | None = None,
        curves_dir: str | os.PathLike | None = None,
    ) -> SoftmaxHead:
        """Train on an N×D feature matrix and labels.

        Parameters
        ----------
        X, y
            Training features and labels.
        X_val, y_val : optional
            A validation set instead of ``validation_fraction`` of the training rows.
        checkpoint_dir, curves_dir : path, optional
            As for ``cnn``: checkpoints to resume from, training curves.

        Returns
        -------
        self
        """
        self._validate_params()
        self._check_prefixed()
        X, y = validate_data(self, X, y, dtype=np.float32)
        codes = self._encode(y)
        self.mean_ = X.mean(axis=0)
        self.scale_ = np.maximum(X.std(axis=0), 1e-6)
        valid = None
        if X_val is not None and y_val is not None:
            valid = (self._standardize(validate_data(self, X_val, reset=False, dtype=np.float32)),
                     self._codes(y_val, "y_val"))  # fmt: skip
        self._fit_network(self._new_module, self._standardize(X), codes, valid=valid,
                          checkpoint_dir=checkpoint_dir, curves_dir=curves_dir)  # fmt: skip
        return self

    def _standardize(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean_) / self.scale_).astype(np.float32)

    def _logits(self, X: Any) -> np.ndarray:
        import torch

        check_is_fitted(self, "module_")
        X = validate_data(self, X, reset=False, dtype=np.float32)
        with torch_threads(), torch.inference_mode():
            return self.module_(torch.from_numpy(self._standardize(X))).numpy()

    def _new_module(self) -> Any:
        return mlp(len(self.mean_), len(self.classes_), **self.get_params_for("module"))


__all__ = ["CNNEmbedding", "SoftmaxHead"]
