"""The ``cnn`` classifier: torch training behind scikit-learn's ``fit`` / ``predict``.

Its parameters follow skorch's shape: the network by name (``module``, a registered
architecture) with its options by prefix (``module__width``), the optimiser and loss by
name with theirs (``optimizer__weight_decay``, ``criterion__label_smoothing``), and
``max_epochs``, ``lr``, ``batch_size`` as skorch spells them. Training runs through the
one path of :class:`ferengine_deep.training.TorchClassifier` (skorch: validation
split, early stopping, schedules, checkpoints, progress). Prediction runs the fitted
torch module directly, so a model loaded from disk needs no skorch state. The fitted
module is saved as a plain ``{name: array}`` state dict plus its architecture, which
skops stores safely; nothing about the machine that trained it (threads, folders,
verbosity) is part of the model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from numbers import Integral
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ferengine.errors import FerengineError
from ferengine.imageops import to_grey, to_uint8
from ferengine.images import validate_images
from ferengine.registry import Registry, get_registry, parameters
from ferengine_deep import augment as aug
from ferengine_deep import model_checks  # noqa: F401 (registers the load-time checks)
from ferengine_deep.model_checks import MAX_CNN_SIZE
from ferengine_deep.params import NORMALIZATIONS
from ferengine_deep.training import FitData, TorchClassifier


def bf16_supported() -> bool:
    """Tell whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX).

    There autocast speeds convolutions up about twofold; elsewhere it would be
    emulated and slow.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class CNN(TorchClassifier):
    """A convolutional network of a registered architecture, trained on CPU with torch.

    It takes images (N×H×W or N×H×W×C), greyed and resized to ``size``.

    Parameters
    ----------
    module : str
        A registered architecture (``ferengine plugins architecture``): "compact" (the
        recommended default), "lenet", "vgg", "vgg1024", "small32", "bkstart",
        "bkvgg12", "resnet18", "densenet", or one a plugin package adds. Its
        parameters by prefix: ``module__width=16``, ``module__dropout=0.3`` …
        (``ferengine plugins show architecture NAME`` lists them).
    size : int, optional
        Side the images are resized to (default: keep the input size; must be square).
    normalize : {"image", "unit", "pixel"}
        Per-image standardisation, [0, 1] scaling, or per-pixel mean/std learned from
        the training images (stored in the model).
    max_epochs, batch_size, optimizer, lr, criterion, schedule, validation_fraction,
    patience, class_weight, seed
        Training, as in :class:`~ferengine_deep.training.TorchClassifier`; the
        optimiser's and the loss's settings by prefix (``optimizer__weight_decay``,
        ``optimizer__momentum``, ``criterion__label_smoothing``…).
    augment : str or list, optional
        Online augmentation of every training batch: a preset ("fer", "light") or a
        list of augmenter steps (names or ``{"name": ..., "params": {...}}`` tables),
        built on the registry the ``cnn`` step is built with.
    augment_copies : int
        Offline augmentation: add this many augmented copies of the training set
        before training (with ``augment``'s chain).
    bf16 : {"auto", True, False}
        bfloat16 autocast for training's convolutions ("auto": where the CPU supports it
        natively). Prediction always runs in float32.
    init : str, optional
        Transfer learning: a saved ferengine model (path, or "default") holding a
        ``cnn`` whose normalisation and backbone initialise this one; its
        architecture, input size and normalisation replace ``module`` (and its
        ``module__`` parameters), ``size`` and ``normalize``. The head is new, sized
        for this fit's classes.
    trainable : {"all", "head"} or int
        With ``init``: train everything, only the new head (frozen backbone), or the
        head and the last ``k`` weight layers of the backbone.
    mixup, cutmix, mix_prob, ema, swa, sam
        Training recipes, all off by default: mixup / CutMix with soft targets (α of
        each, the share of batches mixed), a weight average (``ema`` decay, or ``swa``
        over the last epochs) that the fitted model keeps, and sharpness-aware
        minimisation of radius ``sam``; see
        :class:`~ferengine_deep.training.TorchClassifier`.
    targets : {"labels", "votes"}
        Train towards the labels, or towards each image's distribution of annotators'
        votes (the "probability" training of FER+, Barsoum et al. 2016): fit a pipeline
        on a dataset carrying votes (``fer2013`` with ``ferplus=``), or pass
        ``fit(..., votes=...)``. Needs the cross-entropy and ``validation_fraction=0``.
    **kwargs
        ``module__<p>``, ``optimizer__<p>``, ``criterion__<p>``: settings of the
        network, the optimiser and the loss, routed as in skorch.

    Notes
    -----
    Run-time options are not parameters: torch threads and progress output come from
    :func:`ferengine.runtime.options`; ``fit(..., checkpoint_dir=..., curves_dir=...)``
    saves checkpoints (and resumes from them) and writes training curves.
    """

    name = "cnn"
    _image_input = True
    step_params: ClassVar[dict[str, str]] = {"augment": "augmenters"}
    _parameter_constraints: ClassVar[dict] = {
        **TorchClassifier._parameter_constraints,
        **TorchClassifier._recipe_constraints,
        "module": [str],
        "size": [None, Interval(Integral, 1, MAX_CNN_SIZE, closed="both")],
        "normalize": [StrOptions(set(NORMALIZATIONS))],
        "augment": [None, StrOptions(set(aug.PRESETS)), list, tuple],
        "augment_copies": [Interval(Integral, 0, None, closed="left")],
        "bf16": [StrOptions({"auto"}), "boolean"],
        "init": [None, str, os.PathLike],
        "trainable": [StrOptions({"all", "head"}), Interval(Integral, 0, None, closed="left")],
    }
    # A small, fast instance for scikit-learn's estimator checks (tests/).
    _test_params: ClassVar[dict] = {"module__width": 8, "max_epochs": 15, "batch_size": 32,
                                    "lr": 3e-3, "validation_fraction": 0.0}  # fmt: skip
    _expected_failed_checks: ClassVar[dict] = {
        "check_classifiers_train": "the check's tables hold negative values; as 8-bit "
        "images each row is min-max rescaled on its own, which keeps only the order of "
        "its features, and the blobs are not separable from that",
        "check_no_attributes_set_in_init": "prefixed parameters (module__width, …) arrive "
        "through **kwargs and are stored under their own names, as skorch's NeuralNet "
        "stores them; the check counts only the named constructor arguments as parameters",
    }

    def __init__(
        self,
        module: str = "compact",
        size: int | None = None,
        normalize: str = "image",
        max_epochs: int = 30,
        batch_size: int = 64,
        optimizer: str = "adam",
        lr: float = 1e-3,
        criterion: str = "cross-entropy",
        schedule: str | None = None,
        validation_fraction: float = 0.1,
        patience: int | None = None,
        class_weight: Any = None,
        augment: Any = None,
        augment_copies: int = 0,
        seed: int = 0,
        bf16: Any = "auto",
        init: str | None = None,
        trainable: Any = "all",
        mixup: float = 0.0,
        cutmix: float = 0.0,
        mix_prob: float = 1.0,
        ema: float | None = None,
        swa: int | None = None,
        sam: float | None = None,
        targets: str = "labels",
        **kwargs: Any,
    ) -> None:
        self._store(locals())

    @classmethod
    def _module_parameters(
        cls, params: Mapping[str, Any], registry: Registry | None
    ) -> tuple[str, dict[str, Any]] | None:
        """Describe the architecture ``module`` names and its parameters (none with ``init``)."""
        if params.get("init") is not None:
            return None  # the init model's architecture is used
        name = params.get("module")
        if not isinstance(name, str):
            raise ValueError(f"must name a registered architecture, got {name!r}")
        try:
            arch = (registry or get_registry()).get("architecture", name)
        except FerengineError as exc:
            raise ValueError(str(exc.args[0] if exc.args else exc)) from None
        return f"architecture {name!r}", parameters(arch)

    # ---- images -------------------------------------------------------------------------

    def _images(self, X: Any, reset: bool) -> np.ndarray:
        """Return validated images as a uint8 N×1×S×S array (grey, resized to ``size_``)."""
        X = validate_images(self, X, reset=reset, flat_ok=False)
        grey = to_uint8(to_grey(np.asarray(X)))
        if reset:
            h, w = grey.shape[1:]
            size = self.config_["size"]
            if size is None and h != w:
                raise ValueError(f"cnn: images are {h}×{w}; give size= to resize them square")
            self.size_ = int(size or h)
        return square_batch(grey, self.size_)

    # ---- fitting ------------------------------------------------------------------------

    def _prepare(self, X: Any, y: Any) -> FitData:
        """Check the images and labels; add ``augment_copies``; normalisation, or ``init``'s."""
        import torch

        from ferengine_deep.net import Collate

        source = fitted_cnn(self.init, self.name)
        self.config_ = (dict(source.config_) if source is not None else {
            "module": self.module, "module_params": self.get_params_for("module"),
            "size": self.size, "normalize": self.normalize})  # fmt: skip
        images = self._images(X, reset=True)
        codes = self._encode(y)
        rng = np.random.default_rng(self.seed)
        chain = aug.chain(self.augment)
        if self.augment_copies:
            copies = [
                aug.apply(chain, images[:, 0], rng)[:, None] for _ in range(self.augment_copies)
            ]
            images = np.concatenate([images, *copies])
            codes = np.tile(codes, self.augment_copies + 1)

        def build() -> Any:
            module = self._build(len(self.classes_))
            if source is None:
                module.normalize.fit(torch.from_numpy(images))
            else:
                transfer(source.module_, module, self.trainable)
            return module.to(memory_format=torch.channels_last)

        self.bf16_ = bf16_supported() if self.bf16 == "auto" else bool(self.bf16)
        return FitData(images, codes, build, (Collate(chain, rng), Collate([], rng)), self.bf16_)

    def _build(self, n_classes: int) -> Any:
        from ferengine_deep.layers import network

        config = self.config_
        arch = architecture(config["module"], config["module_params"])
        return network(arch, n_classes, 1, self.size_, config["normalize"])

    # ---- prediction ---------------------------------------------------------------------

    def _inputs(self, X: Any, what: str) -> np.ndarray:
        return self._images(X, reset=False)

    def _forward(self, network: Any, batch: np.ndarray) -> Any:
        """Run ``network`` on a channels-last batch in float32.

        Never under bfloat16 autocast, even when it was trained so: bfloat16 rounding
        differs between CPUs with and without native bfloat16, and a model must give
        each face the same class on every machine (its card's figures are tested).
        """
        import torch

        x = torch.from_numpy(batch).contiguous(memory_format=torch.channels_last)
        return network(x)

    def embed(self, X: Any) -> np.ndarray:
        """Penultimate-layer activations (the ``cnn-embedding`` feature)."""
        return self._run(X, "embed")

    def _new_module(self) -> Any:
        """Return the untrained network a saved state dict loads into."""
        import torch

        return self._build(len(self.classes_)).to(memory_format=torch.channels_last)

    def export(self, format: str, *, quantize: str | None = None, calibration: Any = None) -> Any:
        """Return this fitted network in another runtime's form (``ferengine export``).

        Parameters
        ----------
        format : {"onnx"}
            The form: an :class:`~ferengine_deep.onnx_export.OnnxClassifier` running
            the network on onnxruntime (the ``onnx`` extra).
        quantize : {None, "int8"}
            Post-training static quantisation of weights and activations.
        calibration : array-like, optional
            Images (N×H×W or N×H×W×C) whose activations set the int8 ranges; needed
            with ``quantize``.

        Returns
        -------
        OnnxClassifier
            A fitted classifier predicting as this one.
        """
        from ferengine_deep.onnx_export import export_cnn

        return export_cnn(self, format, quantize=quantize, calibration=calibration)


def square_batch(grey: np.ndarray, size: int) -> np.ndarray:
    """Return uint8 grey images N×H×W as the N×1×size×size batch a ``cnn`` network takes.

    Images of another size are resized with area interpolation. The exported form of a
    ``cnn`` (:class:`ferengine_deep.onnx_export.OnnxClassifier`) prepares its inputs here too.
    """
    if grey.shape[1:] != (size, size):
        grey = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA)
                         for im in grey])  # fmt: skip
    return np.ascontiguousarray(grey[:, None])


def fitted_cnn(init: str | os.PathLike | None, owner: str) -> CNN | None:
    """Return the fitted ``cnn`` inside the saved model ``init`` (None without one).

    In a pipeline, its last ``cnn`` step. ``owner`` names the estimator whose ``init``
    parameter it is, in the error.
    """
    if init is None:
        return None
    from ferengine.persistence import load

    model = load(init)
    found = [s for _, s in getattr(model, "steps", [("", model)]) if isinstance(s, CNN)]
    if not found:
        raise ValueError(f"{owner}: init model {init} holds no fitted cnn")
    return found[-1]


def architecture(name: str, params: dict | None) -> Any:
    """Create the registered architecture ``name`` with ``params`` for ``cnn``.

    Raises
    ------
    ValueError
        Naming ``cnn``'s ``module`` when the name is unknown (with the registry's
        suggestions), or the ``module__`` parameter the architecture does not take.
    """
    issues = CNN.prefixed_param_issues(
        {"module": name, **{f"module__{k}": v for k, v in (params or {}).items()}}
    )
    if issues:
        raise ValueError("\n".join(f"cnn: {key}: {problem}" for key, problem in issues))
    return get_registry().create("architecture", name, **(params or {}))


def transfer(source: Any, target: Any, trainable: Any = "all") -> None:
    """Copy ``source``'s normalisation and backbone into ``target``; freeze the rest.

    ``target`` keeps its new head; layers ``trainable`` leaves out stop learning.
    """
    target.normalize.load_state_dict(source.normalize.state_dict())
    target.features.load_state_dict(source.features.state_dict())
    if trainable == "all":
        return
    layers = [m for m in target.features.modules() if getattr(m, "weight", None) is not None]
    if trainable == "head":
        keep = 0
    elif isinstance(trainable, int) and not isinstance(trainable, bool) and trainable >= 0:
        keep = trainable
    else:
        raise ValueError(f"cnn: trainable must be 'all', 'head' or an int ≥ 0, got {trainable!r}")
    for layer in layers[: len(layers) - keep]:
        for parameter in layer.parameters(recurse=False):
            parameter.requires_grad_(False)
