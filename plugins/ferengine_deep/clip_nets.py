"""End-to-end networks on clips: ``cnn-lstm`` (the cascade), ``c3d`` and ``convlstm``.

All three take clips (``X`` a 1-D object array of ``(T, H, W[, 3])`` uint8 frame stacks,
:func:`ferengine.sequences.as_clips`) and learn from the pixels up, every layer
trained together. Frames are greyed and resized to ``size``; with ``frames`` every clip
is resampled to that many frames by uniform temporal sampling (``c3d`` always is).
Variable-length batches are padded and masked (:mod:`ferengine_deep.clip_layers`), so a
clip's prediction does not depend on the clips batched with it. They train on the one
torch training path of ``cnn`` (:class:`~ferengine_deep.training.TorchClassifier`:
class weights, validation split, early stopping, schedules, checkpoints, curves), with
``augment`` drawing one change per clip, the same for all of its frames
(:func:`ferengine.clip_augment.clip_augment`), and are saved like ``cnn``, as a state
dict of arrays.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any, ClassVar

import cv2
import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ferengine.errors import FerengineError
from ferengine.imageops import to_grey, to_uint8
from ferengine.registry import Registry, get_registry, parameters
from ferengine.sequences import as_clips
from ferengine.temporal import sequence_tags
from ferengine_deep import augment as aug
from ferengine_deep import model_checks  # noqa: F401 (registers the load-time checks)
from ferengine_deep.estimator import CNN, fitted_cnn, transfer
from ferengine_deep.model_checks import MAX_CLIP_FRAMES, MAX_CNN_SIZE
from ferengine_deep.params import NORMALIZATIONS
from ferengine_deep.temporal import _RNN_CONSTRAINTS, _check_module, recurrent
from ferengine_deep.training import FitData, TorchClassifier

#: The CNN ``cnn-lstm`` runs on every frame by default: LeNet, cheap per frame (2.5 MFLOPs
#: at 48×48), where ``compact`` (193 MFLOPs) would make an epoch some 40 times longer.
DEFAULT_CNN = "lenet"

_DROPOUT = [Interval(Real, 0, 1, closed="left")]
_POSITIVE = [Interval(Integral, 1, None, closed="left")]
_C3D_CONSTRAINTS: dict[str, list] = {
    "channels": [list, tuple],
    "grid": _POSITIVE,
    "dropout": _DROPOUT,
}
_CONVLSTM_CONSTRAINTS: dict[str, list] = {
    "channels": [list, tuple],
    "hidden": _POSITIVE,
    "kernel": _POSITIVE,
    "grid": _POSITIVE,
    "dropout": _DROPOUT,
}

#: Why ferengine.testing's checks that fit on its sample data cannot run on these networks.
_CLIPS_ONLY = (
    "the check fits on ferengine.testing's still images or tables, but a clip network takes "
    "clips, one (T, H, W) frame stack each; tests/test_clip_models.py checks classes, "
    "probabilities, seeding and persistence on clips"
)


def uniform_frames(length: int, n: int) -> np.ndarray:
    """Return the indices of ``n`` frames spread evenly over ``length`` (short clips repeat)."""
    return np.rint(np.linspace(0, length - 1, n)).astype(np.int64)


def _channels(owner: str, value: Any) -> list[int]:
    """Return ``module__channels`` as a list of positive ints, or raise naming it."""
    if not len(value) or not all(
        isinstance(c, Integral) and not isinstance(c, bool) and c >= 1 for c in value
    ):
        raise ValueError(
            f"{owner}: module__channels must be a non-empty list of positive ints, got {value!r}"
        )
    return [int(c) for c in value]


def volumetric(normalize: Any, n_out: int, channels: Any = (8, 16, 32, 64), grid: int = 3,
               dropout: float = 0.3) -> Any:  # fmt: skip
    """Return the network of ``c3d`` (its ``module__`` parameters).

    Parameters
    ----------
    normalize : ferengine_deep.layers.Normalize
        The frames' input scaling.
    n_out : int
        Classes.
    channels : sequence of int
        Output channels of each 3×3×3 convolution block, in order; the first block pools
        space (1×2×2), the others time and space (2×2×2).
    grid : int
        The last block's maps are averaged over time and down to ``grid``×``grid``
        cells before the output layer (1: global pooling, which forgets where on the
        face a feature is).
    dropout : float
        Dropout before the output layer.
    """
    params = {"channels": channels, "grid": grid, "dropout": dropout}
    _check_module(C3DClassifier.name, _C3D_CONSTRAINTS, params)
    from ferengine_deep.clip_layers import C3D

    return C3D(normalize, n_out, _channels(C3DClassifier.name, channels), int(grid),
               float(dropout))  # fmt: skip


def conv_recurrent(normalize: Any, n_out: int, channels: Any = (8, 16), hidden: int = 16,
                   kernel: int = 3, grid: int = 3, dropout: float = 0.2) -> Any:  # fmt: skip
    """Return the network of ``convlstm`` (its ``module__`` parameters).

    Parameters
    ----------
    normalize : ferengine_deep.layers.Normalize
        The frames' input scaling.
    n_out : int
        Classes.
    channels : sequence of int
        Output channels of the per-frame encoder's 3×3 convolution blocks, each halving
        the side (two: a 48×48 frame becomes a 12×12 map).
    hidden : int
        Channels of the ConvLSTM's state.
    kernel : int
        Side of the ConvLSTM's convolution (odd, so the state keeps its size).
    grid : int
        The final state is averaged down to ``grid``×``grid`` cells before the output
        layer (1: global pooling, which forgets where on the face the state changed).
    dropout : float
        Dropout before the output layer.
    """
    params = {"channels": channels, "hidden": hidden, "kernel": kernel, "grid": grid,
              "dropout": dropout}  # fmt: skip
    _check_module(ConvLSTMClassifier.name, _CONVLSTM_CONSTRAINTS, params)
    if kernel % 2 == 0:
        raise ValueError(
            f"{ConvLSTMClassifier.name}: module__kernel must be odd (the state keeps its "
            f"size), got {kernel}"
        )
    from ferengine_deep.clip_layers import ConvLSTMNet

    return ConvLSTMNet(normalize, n_out, _channels(ConvLSTMClassifier.name, channels),
                       int(hidden), int(kernel), int(grid), float(dropout))  # fmt: skip


class ClipNetClassifier(TorchClassifier):
    """Base of the clip networks: clips in, one label per clip out.

    ``X`` is a 1-D object array of ``(T, H, W)`` or ``(T, H, W, 3)`` uint8 clips, any
    ``T ≥ 1``, one frame size (or an ``(n, T, H, W[, 3])`` array). Subclasses name their
    network builder in ``_network`` (``builder(normalize, n_out, **module_params)``) or
    override :meth:`_new_module` and :meth:`_module_parameters`.
    """

    step_params: ClassVar[dict[str, str]] = {"augment": "augmenters"}
    _parameter_constraints: ClassVar[dict] = {
        **TorchClassifier._parameter_constraints,
        "size": [None, Interval(Integral, 1, MAX_CNN_SIZE, closed="both")],
        "frames": [None, Interval(Integral, 1, MAX_CLIP_FRAMES, closed="both")],
        "normalize": [StrOptions(set(NORMALIZATIONS))],
        "augment": [None, StrOptions(set(aug.PRESETS)), list, tuple],
    }
    _optimizer_defaults: ClassVar[dict[str, Any]] = {"weight_decay": 1e-4}
    _expected_failed_checks: ClassVar[dict[str, str]] = dict.fromkeys(
        ("check_classifier_classes", "check_predict_proba", "check_seed_determinism",
         "check_persistence"),
        _CLIPS_ONLY,
    )  # fmt: skip

    def __init__(
        self,
        size: int | None = None,
        frames: int | None = None,
        normalize: str = "image",
        max_epochs: int = 30,
        batch_size: int = 16,
        optimizer: str = "adam",
        lr: float = 3e-3,
        criterion: str = "cross-entropy",
        schedule: str | None = None,
        validation_fraction: float = 0.1,
        patience: int | None = 10,
        class_weight: Any = None,
        augment: Any = None,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        self._store(locals())

    # ---- clips --------------------------------------------------------------------------

    def _input_size(self, clips: np.ndarray) -> int:
        """Return the side frames are resized to: ``size``, else the (square) frames' own."""
        h, w = clips[0].shape[1:3]
        if self.size is None and h != w:
            raise ValueError(
                f"{self.name}: the clips' frames are {h}×{w}; give size= to resize them square"
            )
        return int(self.size or h)

    def _frames(self, clips: np.ndarray) -> np.ndarray:
        """Return the clips grey, resized to ``size_`` and resampled to ``frames`` (if set)."""
        out = np.empty(len(clips), dtype=object)
        side = (self.size_, self.size_)
        for i, clip in enumerate(clips):
            if self.frames is not None:
                clip = clip[uniform_frames(len(clip), self.frames)]
            grey = to_uint8(to_grey(clip)) if clip.ndim == 4 else clip
            if grey.shape[1:] != side:
                grey = np.stack([cv2.resize(f, side, interpolation=cv2.INTER_AREA) for f in grey])
            out[i] = np.ascontiguousarray(grey)
        return out

    def _inputs(self, X: Any, what: str) -> np.ndarray:
        """Return validated clips of the fitted frame shape, ready for the network."""
        clips = as_clips(X, f"{self.name}: {what}")
        if len(clips) and clips[0].shape[1:] != self.frame_shape_:
            raise ValueError(
                f"{self.name}: {what}: the clips' frames have shape {clips[0].shape[1:]}, but "
                f"it was fitted on frames of shape {self.frame_shape_}"
            )
        return self._frames(clips)

    # ---- fitting ------------------------------------------------------------------------

    def _configure(self, clips: np.ndarray) -> Any:
        """Set ``size_`` and ``config_`` for the training clips; return a model to start from."""
        self.size_ = self._input_size(clips)
        self.config_ = {"normalize": self.normalize}
        return None

    def _initialise(self, module: Any, frames: np.ndarray, source: Any) -> None:
        """Prepare the untrained network: learn per-pixel statistics ("pixel")."""
        import torch

        if self.config_["normalize"] == "pixel":
            module.normalize.fit(torch.from_numpy(np.concatenate(list(frames))[:, None]))

    def _prepare(self, X: Any, y: Any) -> FitData:
        """Check the clips and labels, set ``size_``, ``config_`` and ``frame_shape_``."""
        from ferengine_deep.clip_layers import ClipCollate

        clips = as_clips(X, f"{self.name}: X")
        self._check_count(len(clips), y, "clips", "at least one")
        codes = self._encode(y)
        chain = aug.chain(self.augment)
        source = self._configure(clips)
        self.frame_shape_ = tuple(int(s) for s in clips[0].shape[1:])
        frames = self._frames(clips)

        def build() -> Any:
            module = self._new_module()
            self._initialise(module, frames, source)
            return module

        rng = np.random.default_rng(self.seed)
        return FitData(frames, codes, build, (ClipCollate(chain, rng), ClipCollate([], rng)))

    def _new_module(self) -> Any:
        from ferengine_deep.layers import Normalize

        normalize = Normalize(self.config_["normalize"], 1, self.size_)
        return type(self)._network(normalize, len(self.classes_), **self.get_params_for("module"))

    # ---- prediction ---------------------------------------------------------------------

    def _forward(self, network: Any, batch: np.ndarray) -> Any:
        from ferengine_deep.clip_layers import pad_clips

        x, lengths = pad_clips(list(batch))
        return network(x, lengths)

    def __sklearn_tags__(self):
        # clips, never tables: scikit-learn's estimator checks yield only the clone check
        return sequence_tags(super().__sklearn_tags__())


class CNNLSTM(ClipNetClassifier):
    """A zoo CNN on every frame, an LSTM over the frame embeddings, a linear head, trained jointly.

    The cascade, end to end: the CNN (a registered architecture, ``module__cnn``) embeds
    every frame, an LSTM, BiLSTM or GRU reads the embeddings up to each clip's own last
    frame (packed sequences; padded frames never reach the CNN), and a linear layer
    classifies its final state. With ``init`` the CNN starts from a saved still model
    ("fer2013": the shipped FER2013 CNN) and can be frozen.

    Parameters
    ----------
    size : int, optional
        Side frames are resized to (default: keep the frames' side; they must be
        square). With ``init``: the init model's side (a different ``size`` is an error).
    frames : int, optional
        Resample every clip to this many frames (uniform temporal sampling); default:
        keep every frame (clips of any lengths).
    normalize : {"image", "unit", "pixel"}
        Input scaling of each frame, as ``cnn``'s (ignored with ``init``: the init
        model's).
    init : str, optional
        A saved ferengine model (path, or "default") holding a fitted ``cnn``: its
        normalisation and backbone (``features``) initialise the CNN, and its
        architecture replaces ``module__cnn`` (the ``module__cnn__`` options, too).
    trainable : {"all", "temporal"} or int
        With ``init``: train everything, only the recurrent layers and the head (the CNN
        frozen, its batch-norm statistics too), or those and the last ``k`` weight
        layers of the CNN.
    augment : str or list, optional
        Online augmentation of every training batch, as ``cnn``'s (a preset or a list of
        augmenter steps), one random draw per clip applied to all of its frames.
    max_epochs, batch_size, optimizer, lr, criterion, schedule, validation_fraction,
    patience, class_weight, seed
        Training, as in :class:`~ferengine_deep.training.TorchClassifier` (the path of
        ``cnn``); ``batch_size`` counts clips. The optimiser's settings by prefix; here
        ``optimizer__weight_decay`` defaults to 1e-4.
    **kwargs
        The network by prefix: ``module__cnn`` (a registered architecture, default
        "lenet", cheap per frame) with its options as ``module__cnn__<p>``
        (``module__cnn="compact", module__cnn__width=8``);
        the recurrent part as in ``temporal-rnn``: ``module__cell`` ("lstm" or "gru",
        default "lstm"), ``module__bidirectional`` (default False), ``module__hidden``
        (default 64), ``module__layers`` (default 1), ``module__dropout`` (default 0.0);
        and ``optimizer__<p>``, ``criterion__<p>`` as for ``cnn``.
    """

    name = "cnn-lstm"
    _parameter_constraints: ClassVar[dict] = {
        **ClipNetClassifier._parameter_constraints,
        "init": [None, str, os.PathLike],
        "trainable": [StrOptions({"all", "temporal"}), Interval(Integral, 0, None, closed="left")],
    }
    _test_params: ClassVar[dict] = {"module__cnn": "lenet", "module__hidden": 8, "max_epochs": 2,
                                    "validation_fraction": 0.0}  # fmt: skip

    def __init__(
        self,
        size: int | None = None,
        frames: int | None = None,
        normalize: str = "image",
        init: str | None = None,
        trainable: Any = "all",
        max_epochs: int = 30,
        batch_size: int = 16,
        optimizer: str = "adam",
        lr: float = 1e-3,
        criterion: str = "cross-entropy",
        schedule: str | None = None,
        validation_fraction: float = 0.1,
        patience: int | None = 10,
        class_weight: Any = None,
        augment: Any = None,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        self._store(locals())

    @classmethod
    def _module_parameters(
        cls, params: Mapping[str, Any], registry: Registry | None
    ) -> tuple[str, dict[str, Any]]:
        """Describe the network's parameters: the CNN, its options, the recurrent part's."""
        signature = inspect.signature(recurrent).parameters.values()
        rnn = {p.name: p.default for p in signature if p.name not in ("n_in", "n_out")}
        if params.get("init") is not None:
            return f"the {cls.name} network (its CNN comes from init)", rnn
        name = params.get("module__cnn", DEFAULT_CNN)
        if not isinstance(name, str):
            raise ValueError(f"module__cnn must name a registered architecture, got {name!r}")
        try:
            arch = (registry or get_registry()).get("architecture", name)
        except FerengineError as exc:
            raise ValueError(f"module__cnn: {exc.args[0] if exc.args else exc}") from None
        cnn = {f"cnn__{k}": v for k, v in parameters(arch).items()}
        return f"the {cls.name} network (CNN {name!r})", {"cnn": DEFAULT_CNN, **cnn, **rnn}

    def _parts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split the ``module__`` parameters into the CNN's options and the recurrent part's."""
        module = self.get_params_for("module")
        cnn = {k[len("cnn__") :]: v for k, v in module.items() if k.startswith("cnn__")}
        rnn = {k: v for k, v in module.items() if k != "cnn" and not k.startswith("cnn__")}
        return cnn, rnn

    def _configure(self, clips: np.ndarray) -> CNN | None:
        """Set ``size_`` and ``config_`` (the CNN, from ``module__cnn`` or ``init``)."""
        source = fitted_cnn(self.init, self.name)
        if source is None:
            if self.trainable != "all":
                raise ValueError(
                    f"{self.name}: trainable={self.trainable!r} freezes the CNN that init "
                    "loads; give init (a saved model holding a cnn), or leave trainable='all'"
                )
            cnn, _ = self._parts()
            self.size_ = self._input_size(clips)
            self.config_ = {"cnn": self.get_params_for("module").get("cnn", DEFAULT_CNN),
                            "cnn_params": cnn, "normalize": self.normalize}  # fmt: skip
            return None
        if self.size is not None and self.size != source.size_:
            raise ValueError(
                f"{self.name}: size={self.size}, but the init model's cnn takes "
                f"{source.size_}×{source.size_} frames; leave size unset"
            )
        self.size_ = int(source.size_)
        self.config_ = {"cnn": source.config_["module"],
                        "cnn_params": dict(source.config_["module_params"] or {}),
                        "normalize": source.config_["normalize"]}  # fmt: skip
        return source

    def _initialise(self, module: Any, frames: np.ndarray, source: CNN | None) -> None:
        """Learn per-pixel statistics, or load the init model's CNN (and freeze it)."""
        if source is None:
            super()._initialise(module, frames, source)
            return
        transfer(source.module_, module, "head" if self.trainable == "temporal" else self.trainable)

    def _new_module(self) -> Any:
        from ferengine_deep.clip_layers import CNNRecurrent
        from ferengine_deep.layers import network

        try:
            arch = get_registry().create("architecture", self.config_["cnn"],
                                         **self.config_["cnn_params"])  # fmt: skip
        except FerengineError as exc:
            raise ValueError(f"{self.name}: module__cnn: {exc}") from None
        still = network(arch, len(self.classes_), 1, self.size_, self.config_["normalize"])
        _, rnn = self._parts()
        _check_module(self.name, _RNN_CONSTRAINTS, rnn)  # named as this network's parameters
        temporal = recurrent(still.embedding_size, len(self.classes_), **rnn)
        return CNNRecurrent(still.normalize, still.features, temporal)


class C3DClassifier(ClipNetClassifier):
    """A small 3D CNN on clips resampled to a fixed number of frames, trained with torch.

    Blocks of a 3×3×3 convolution, batch norm, ReLU and max pooling over time and space
    see how the face moves as much as how it looks; the last block's maps, averaged over
    time and down to a 3×3 grid, go to a linear layer. Every clip is resampled to
    ``frames`` frames by uniform temporal sampling. With the defaults (16 frames of
    48×48, channels 8-16-32-64) it has about 75,000 weights and trains on two CPU cores
    in minutes.

    Parameters
    ----------
    size : int, optional
        Side frames are resized to (default: keep the frames' side; they must be square).
    frames : int
        Frames every clip is resampled to (uniform temporal sampling: short clips repeat
        frames).
    normalize : {"image", "unit", "pixel"}
        Input scaling of each frame, as ``cnn``'s.
    augment : str or list, optional
        Online augmentation, one random draw per clip applied to all of its frames.
    max_epochs, batch_size, optimizer, lr, criterion, schedule, validation_fraction,
    patience, class_weight, seed
        Training, as in :class:`~ferengine_deep.training.TorchClassifier` (the path of
        ``cnn``); ``batch_size`` counts clips. The optimiser's settings by prefix; here
        ``optimizer__weight_decay`` defaults to 1e-4.
    **kwargs
        The network by prefix (see :func:`volumetric`): ``module__channels`` (default
        ``(8, 16, 32, 64)``), ``module__grid`` (default 3), ``module__dropout`` (default
        0.3); and ``optimizer__<p>``, ``criterion__<p>`` as for ``cnn``.
    """

    name = "c3d"
    _network = staticmethod(volumetric)
    _parameter_constraints: ClassVar[dict] = {
        **ClipNetClassifier._parameter_constraints,
        "frames": [Interval(Integral, 1, MAX_CLIP_FRAMES, closed="both")],
    }
    _test_params: ClassVar[dict] = {"frames": 4, "module__channels": (4,), "max_epochs": 2,
                                    "validation_fraction": 0.0}  # fmt: skip

    def __init__(
        self,
        size: int | None = None,
        frames: int = 16,
        normalize: str = "image",
        max_epochs: int = 30,
        batch_size: int = 16,
        optimizer: str = "adam",
        lr: float = 3e-3,
        criterion: str = "cross-entropy",
        schedule: str | None = None,
        validation_fraction: float = 0.1,
        patience: int | None = 10,
        class_weight: Any = None,
        augment: Any = None,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        self._store(locals())


class ConvLSTMClassifier(ClipNetClassifier):
    """A convolutional LSTM over the frames of a clip, pooled, then a linear head; torch.

    A small convolutional encoder maps every frame to a feature map; a ConvLSTM (an LSTM
    whose gates are convolutions, so its state is a map that keeps where on the face
    things change) reads the maps up to each clip's own last frame; the final state,
    averaged down to a 3×3 grid, goes through dropout to a linear layer.

    Parameters
    ----------
    size : int, optional
        Side frames are resized to (default: keep the frames' side; they must be square).
    frames : int, optional
        Resample every clip to this many frames (uniform temporal sampling); default:
        keep every frame (clips of any lengths).
    normalize : {"image", "unit", "pixel"}
        Input scaling of each frame, as ``cnn``'s.
    augment : str or list, optional
        Online augmentation, one random draw per clip applied to all of its frames.
    max_epochs, batch_size, optimizer, lr, criterion, schedule, validation_fraction,
    patience, class_weight, seed
        Training, as in :class:`~ferengine_deep.training.TorchClassifier` (the path of
        ``cnn``); ``batch_size`` counts clips. The optimiser's settings by prefix; here
        ``optimizer__weight_decay`` defaults to 1e-4.
    **kwargs
        The network by prefix (see :func:`conv_recurrent`): ``module__channels`` (the
        encoder, default ``(8, 16)``), ``module__hidden`` (default 16),
        ``module__kernel`` (odd, default 3), ``module__grid`` (default 3),
        ``module__dropout`` (default 0.2); and ``optimizer__<p>``, ``criterion__<p>`` as
        for ``cnn``.
    """

    name = "convlstm"
    _network = staticmethod(conv_recurrent)
    _test_params: ClassVar[dict] = {"module__channels": (4,), "module__hidden": 4,
                                    "max_epochs": 2, "validation_fraction": 0.0}  # fmt: skip


__all__ = [
    "CNNLSTM",
    "C3DClassifier",
    "ClipNetClassifier",
    "ConvLSTMClassifier",
    "conv_recurrent",
    "uniform_frames",
    "volumetric",
]
