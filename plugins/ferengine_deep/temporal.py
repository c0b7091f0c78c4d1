"""Temporal heads: an LSTM or GRU (``temporal-rnn``) and 1-D convolutions (``temporal-cnn``).

Both classify per-frame feature sequences (``frame-features``' output, one ``(T_i, D)``
array per clip, :func:`ferengine.temporal.as_sequences`) of any lengths: batches are
padded and the networks mask the padding (:mod:`ferengine_deep.temporal_layers`), so a
clip's prediction does not depend on the clips batched with it. They train on the one
torch training path of ``cnn`` and ``softmax-head``
(:class:`~ferengine_deep.training.TorchClassifier`: class weights, validation split,
early stopping, schedules, checkpoints, curves) and are saved like them, as a state
dict of arrays.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions, validate_parameter_constraints

from ferengine.temporal import as_sequences, sequence_tags
from ferengine_deep import model_checks  # noqa: F401 (registers the load-time checks)
from ferengine_deep.training import FitData, TorchClassifier

CELLS = ("lstm", "gru")
#: Global pooling of ``temporal-cnn`` over the frames: mean, max, or both concatenated.
CONV_POOLINGS = ("mean", "max", "meanmax")

_POSITIVE = [Interval(Integral, 1, None, closed="left")]
_DROPOUT = [Interval(Real, 0, 1, closed="left")]
#: Constraints of the networks' parameters (``module__<name>``).
_RNN_CONSTRAINTS: dict[str, list] = {
    "cell": [StrOptions(set(CELLS))],
    "hidden": _POSITIVE,
    "layers": _POSITIVE,
    "bidirectional": ["boolean"],
    "dropout": _DROPOUT,
}
_CNN_CONSTRAINTS: dict[str, list] = {
    "channels": [list, tuple],
    "kernel": _POSITIVE,
    "dilation": _POSITIVE,
    "dropout": _DROPOUT,
    "pooling": [StrOptions(set(CONV_POOLINGS))],
}

#: Why ferengine.testing's checks that fit on its sample data cannot run on these heads.
_SEQUENCES_ONLY = (
    "the check fits on ferengine.testing's N×D tables, but a temporal head takes sequences, "
    "one (T, D) array per clip; tests/test_temporal.py checks classes, probabilities, "
    "seeding and persistence on sequences"
)


def _check_module(owner: str, constraints: dict[str, list], params: dict[str, Any]) -> None:
    """Raise scikit-learn's InvalidParameterError naming ``module__<name>`` of a bad value."""
    validate_parameter_constraints(
        {f"module__{k}": c for k, c in constraints.items()},
        {f"module__{k}": v for k, v in params.items()},
        caller_name=owner,
    )


def recurrent(
    n_in: int,
    n_out: int,
    cell: str = "lstm",
    hidden: int = 64,
    layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
) -> Any:
    """Return the network of ``temporal-rnn`` (its ``module__`` parameters).

    Parameters
    ----------
    n_in, n_out : int
        Features per frame and classes.
    cell : {"lstm", "gru"}
        The recurrent cell.
    hidden : int
        Units of the state (per direction).
    layers : int
        Stacked recurrent layers.
    bidirectional : bool
        Also read the clip backwards (a BiLSTM with ``cell="lstm"``); the final states
        of both directions are concatenated.
    dropout : float
        Dropout between stacked layers and before the output layer.
    """
    params = {"cell": cell, "hidden": hidden, "layers": layers,
              "bidirectional": bidirectional, "dropout": dropout}  # fmt: skip
    _check_module(TemporalRNN.name, _RNN_CONSTRAINTS, params)
    from ferengine_deep.temporal_layers import RecurrentHead

    return RecurrentHead(n_in, n_out, cell, int(hidden), int(layers), bool(bidirectional),
                         float(dropout))  # fmt: skip


def convolutional(
    n_in: int,
    n_out: int,
    channels: Any = (32, 32, 32),
    kernel: int = 3,
    dilation: int = 2,
    dropout: float = 0.1,
    pooling: str = "max",
) -> Any:
    """Return the network of ``temporal-cnn`` (its ``module__`` parameters).

    Parameters
    ----------
    n_in, n_out : int
        Features per frame and classes.
    channels : sequence of int
        Output channels of each 1-D convolution over time, in order (one layer each).
    kernel : int
        Taps of each convolution (odd, so the output keeps the clip's length).
    dilation : int
        Layer ``i`` (from 0) reads frames ``dilation**i`` apart: with the default 2 and
        kernel 3, two layers see 7 consecutive frames, three see 15 (1: no dilation).
    dropout : float
        Dropout after each convolution.
    pooling : {"mean", "max", "meanmax"}
        Global pooling over the clip's frames (padding excluded).
    """
    params = {"channels": channels, "kernel": kernel, "dilation": dilation, "dropout": dropout,
              "pooling": pooling}  # fmt: skip
    _check_module(TemporalCNN.name, _CNN_CONSTRAINTS, params)
    if not len(channels) or not all(
        isinstance(c, Integral) and not isinstance(c, bool) and c >= 1 for c in channels
    ):
        raise ValueError(
            f"temporal-cnn: module__channels must be a non-empty list of positive ints, got "
            f"{channels!r}"
        )
    if kernel % 2 == 0:
        raise ValueError(
            f"temporal-cnn: module__kernel must be odd (the output keeps the clip's length), "
            f"got {kernel}"
        )
    from ferengine_deep.temporal_layers import ConvHead

    return ConvHead(n_in, n_out, [int(c) for c in channels], int(kernel), int(dilation),
                    float(dropout), pooling)  # fmt: skip


class SequenceClassifier(TorchClassifier):
    """Base of the temporal heads: sequences in, one label per clip out.

    ``X`` holds one ``(T, D)`` float array per clip, any ``T ≥ 1``, one ``D``: a 1-D
    object array of them (``frame-features``' output) or an ``(n, T, D)`` array. Inputs
    are standardised with the mean and standard deviation of the training frames
    (stored in the model); batches are padded and the network masks the padding.
    Subclasses name their network builder in ``_network``:
    ``builder(n_in, n_out, **module_params)``.
    """

    _optimizer_defaults: ClassVar[dict[str, Any]] = {"weight_decay": 1e-4}
    _expected_failed_checks: ClassVar[dict[str, str]] = dict.fromkeys(
        ("check_classifier_classes", "check_predict_proba", "check_seed_determinism",
         "check_persistence"),
        _SEQUENCES_ONLY,
    )  # fmt: skip

    def __init__(
        self,
        max_epochs: int = 60,
        batch_size: int = 32,
        optimizer: str = "adam",
        lr: float = 3e-3,
        criterion: str = "cross-entropy",
        schedule: str | None = None,
        validation_fraction: float = 0.1,
        patience: int | None = 10,
        class_weight: Any = None,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        self._store(locals())

    def _inputs(self, X: Any, what: str) -> np.ndarray:
        """Return validated, standardised sequences of the fitted width."""
        sequences = as_sequences(X, f"{self.name}: {what}", self.n_features_in_)
        out = np.empty(len(sequences), dtype=object)
        for i, seq in enumerate(sequences):
            out[i] = ((seq - self.mean_) / self.scale_).astype(np.float32)
        return out

    def _prepare(self, X: Any, y: Any) -> FitData:
        """Check the sequences and labels; set ``n_features_in_``, ``mean_`` and ``scale_``."""
        from ferengine_deep.temporal_layers import PadCollate

        sequences = as_sequences(X, f"{self.name}: X")
        self._check_count(len(sequences), y, "sequences", "at least one clip")
        codes = self._encode(y)
        frames = np.concatenate(list(sequences))
        self.n_features_in_ = int(frames.shape[1])
        self.mean_ = frames.mean(axis=0)
        self.scale_ = np.maximum(frames.std(axis=0), 1e-6)
        collate = PadCollate()
        return FitData(self._inputs(sequences, "X"), codes, self._new_module, (collate, collate))

    def _forward(self, network: Any, batch: np.ndarray) -> Any:
        from ferengine_deep.temporal_layers import pad

        x, lengths = pad(batch)
        return network(x, lengths)

    def _new_module(self) -> Any:
        return type(self)._network(self.n_features_in_, len(self.classes_),
                                   **self.get_params_for("module"))  # fmt: skip

    def __sklearn_tags__(self):
        return sequence_tags(super().__sklearn_tags__())


class TemporalRNN(SequenceClassifier):
    """An LSTM, BiLSTM or GRU over per-frame feature sequences, trained with torch.

    The cascade's temporal half: put it after ``frame-features`` (any image feature or
    a CNN embedding per frame). Clips of any length; the network reads each up to its
    own last frame (packed sequences).

    Parameters
    ----------
    max_epochs, batch_size, optimizer, lr, criterion, schedule, validation_fraction,
    patience, class_weight, seed
        Training, as in :class:`~ferengine_deep.training.TorchClassifier` (the path of
        ``cnn`` and ``softmax-head``); ``batch_size`` counts clips. The optimiser's
        settings by prefix; here ``optimizer__weight_decay`` defaults to 1e-4.
    **kwargs
        The network by prefix (see :func:`recurrent`): ``module__cell`` ("lstm" or
        "gru", default "lstm"), ``module__bidirectional`` (default False),
        ``module__hidden`` (default 64), ``module__layers`` (default 1),
        ``module__dropout`` (default 0.0); and ``optimizer__<p>``, ``criterion__<p>``
        as for ``cnn``.
    """

    name = "temporal-rnn"
    _network = staticmethod(recurrent)
    _test_params: ClassVar[dict] = {"module__hidden": 8, "max_epochs": 5,
                                    "validation_fraction": 0.0}  # fmt: skip


class TemporalCNN(SequenceClassifier):
    """1-D convolutions over time on per-frame feature sequences, pooled, trained with torch.

    A temporal convolutional network: put it after ``frame-features``. Stacked dilated
    convolutions see how the features change over a window of frames (15 with the
    defaults: three layers, kernel 3, dilation 2) and the result is pooled over the
    clip's frames, padding excluded.

    Parameters
    ----------
    max_epochs, batch_size, optimizer, lr, criterion, schedule, validation_fraction,
    patience, class_weight, seed
        Training, as in :class:`~ferengine_deep.training.TorchClassifier` (the path of
        ``cnn`` and ``softmax-head``); ``batch_size`` counts clips. The optimiser's
        settings by prefix; here ``optimizer__weight_decay`` defaults to 1e-4.
    **kwargs
        The network by prefix (see :func:`convolutional`): ``module__channels``
        (default ``(32, 32, 32)``), ``module__kernel`` (odd, default 3),
        ``module__dilation`` (default 2), ``module__dropout`` (default 0.1),
        ``module__pooling`` ("mean", "max" or "meanmax", default "max"); and
        ``optimizer__<p>``, ``criterion__<p>`` as for ``cnn``.
    """

    name = "temporal-cnn"
    _network = staticmethod(convolutional)
    _test_params: ClassVar[dict] = {"module__channels": (8,), "max_epochs": 5,
                                    "validation_fraction": 0.0}  # fmt: skip


__all__ = ["SequenceClassifier", "TemporalCNN", "TemporalRNN", "convolutional", "recurrent"]
