"""CNN features for any classifier (``cnn-embedding``) and a dense softmax head on them."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ferengine_deep import model_checks  # noqa: F401 (registers the load-time checks)
from ferengine_deep.base import LogitsClassifier
from ferengine_deep.estimator import CNN, torch_threads


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


class SoftmaxHead(LogitsClassifier):
    """Dense layers with a softmax output, trained with Adam on feature vectors.

    The "VGG16 features under a dense head" recipe: put it after ``cnn-embedding``
    (or any feature). Inputs are standardised with training statistics.

    Parameters
    ----------
    hidden : sequence of int
        Widths of the hidden layers (ReLU, dropout); empty: multinomial logistic.
    dropout : float
        Dropout after each hidden layer.
    epochs, batch_size, lr, weight_decay
        Adam training settings.
    validation_fraction, patience
        Early stopping on a stratified held-out share (0: train all ``epochs``).
    class_weight : {None, "balanced", "max-ratio"} or dict
        Loss weight per class.
    seed : int
        Seed of weights, shuffling and the split.
    threads : int, optional
        torch threads.
    """

    name = "softmax-head"
    requires = ("torch", "skorch")
    extra = "deep"
    _test_params: ClassVar[dict] = {"hidden": (16,), "epochs": 40, "lr": 1e-2,
                                    "validation_fraction": 0.0, "threads": 1}  # fmt: skip

    def __init__(self, hidden=(256,), dropout: float = 0.5, epochs: int = 50,
                 batch_size: int = 128, lr: float = 1e-3, weight_decay: float = 1e-4,
                 validation_fraction: float = 0.1, patience: int | None = 5,
                 class_weight: Any = None, seed: int = 0,
                 threads: int | None = None) -> None:  # fmt: skip
        self.hidden = hidden
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.class_weight = class_weight
        self.seed = seed
        self.threads = threads

    def _module(self, n_in: int, n_out: int) -> Any:
        from torch import nn

        layers: list[Any] = []
        for width in self.hidden:
            layers += [nn.Linear(n_in, width), nn.ReLU(), nn.Dropout(self.dropout)]
            n_in = width
        return nn.Sequential(*layers, nn.Linear(n_in, n_out))

    def fit(self, X: Any, y: Any) -> SoftmaxHead:
        """Train on an N×D feature matrix and labels.

        Returns
        -------
        self
        """
        import torch
        from skorch import NeuralNetClassifier
        from skorch.callbacks import EarlyStopping
        from skorch.dataset import ValidSplit
        from torch import nn

        from ferengine.balance import class_weights

        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError("softmax-head needs at least 2 classes, got 1 class")
        codes = encoder.transform(y).astype(np.int64)
        self.mean_ = X.mean(axis=0)
        self.scale_ = np.maximum(X.std(axis=0), 1e-6)
        Z = ((X - self.mean_) / self.scale_).astype(np.float32)
        weight = None
        if self.class_weight is not None:
            table = (class_weights(codes, self.class_weight)
                     if isinstance(self.class_weight, str) else self.class_weight)  # fmt: skip
            weight = torch.tensor([float(table.get(c, 1.0)) for c in range(len(self.classes_))])
        torch.manual_seed(self.seed)
        validate = self.validation_fraction > 0 and len(Z) >= 20
        net = NeuralNetClassifier(
            self._module(Z.shape[1], len(self.classes_)),
            criterion=nn.CrossEntropyLoss, criterion__weight=weight,
            optimizer=torch.optim.Adam, optimizer__weight_decay=self.weight_decay,
            lr=self.lr, max_epochs=self.epochs, batch_size=self.batch_size,
            train_split=ValidSplit(self.validation_fraction, stratified=True,
                                   random_state=self.seed) if validate else None,
            callbacks=[EarlyStopping(patience=self.patience, load_best=True)]
            if validate and self.patience else [],
            iterator_train__shuffle=True, predict_nonlinearity=None,
            classes=list(range(len(self.classes_))), verbose=0,
        )  # fmt: skip
        with torch_threads(self.threads):
            net.fit(Z, codes)
        self.module_ = net.module_.eval()
        self.n_epochs_ = len(net.history)
        return self

    def _logits(self, X: Any) -> np.ndarray:
        import torch

        check_is_fitted(self, "module_")
        X = validate_data(self, X, reset=False, dtype=np.float32)
        Z = torch.from_numpy(((X - self.mean_) / self.scale_).astype(np.float32))
        with torch_threads(self.threads), torch.inference_mode():
            return self.module_(Z).numpy()

    def _new_module(self) -> Any:
        return self._module(len(self.mean_), len(self.classes_))


__all__ = ["CNNEmbedding", "SoftmaxHead"]
