"""The ``cnn`` classifier: torch training behind scikit-learn's ``fit`` / ``predict``.

Training runs through skorch (``NeuralNetClassifier``): validation split, early
stopping, learning-rate schedules, checkpoints and the progress bar are its
callbacks. Prediction runs the fitted torch module directly, so a model loaded
from disk needs no skorch state. The fitted module is saved as a plain
``{name: array}`` state dict plus its architecture, which skops stores safely.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ferengine.architectures import Architecture
from ferengine.balance import class_weights
from ferengine.imageops import to_grey, to_uint8
from ferengine.images import validate_images
from ferengine_deep import augment as aug
from ferengine_deep import model_checks  # noqa: F401 (registers the load-time checks)
from ferengine_deep.base import LogitsClassifier

OPTIMIZERS = ("adam", "adamw", "adadelta", "sgd")
SCHEDULES = (None, "plateau", "cosine", "onecycle")
LOSSES = ("cross-entropy", "hinge", "squared-hinge")


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


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run torch on ``n`` intra-op threads inside the block (None: leave as is)."""
    import torch

    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class CNN(LogitsClassifier):
    """A convolutional network of a registered architecture, trained on CPU with torch.

    Parameters
    ----------
    arch : str
        A registered architecture (``ferengine plugins architecture``): "compact" (the
        recommended default), "lenet", "vgg", "vgg1024", "small32", "bkstart",
        "bkvgg12", "resnet18", "densenet", or one a plugin package adds.
    arch_params : dict, optional
        Parameters of the architecture (``width``, ``dropout``, …), checked by name.
    size : int, optional
        Side the images are resized to (default: keep the input size; must be square).
    normalize : {"image", "unit", "pixel"}
        Per-image standardisation, [0, 1] scaling, or per-pixel mean/std learned from
        the training images (stored in the model).
    epochs, batch_size : int
        Training length and minibatch size.
    optimizer : {"adam", "adamw", "adadelta", "sgd"}
        SGD uses Nesterov momentum ``momentum``.
    lr, momentum, weight_decay : float
        Optimiser settings (AdaDelta's customary ``lr`` is 1.0).
    schedule : {None, "plateau", "cosine", "onecycle"}
        Learning-rate schedule: halve on a validation-loss plateau (3 epochs),
        cosine annealing over ``epochs``, or one-cycle (per batch, peak ``lr``).
    loss : {"cross-entropy", "hinge", "squared-hinge"}
        Cross-entropy (with ``label_smoothing``) or the multiclass (squared) hinge of
        ``torch.nn.MultiMarginLoss``.
    label_smoothing : float
        Cross-entropy label smoothing.
    validation_fraction : float
        Stratified share of the training images held out to monitor the fit (0: none);
        ignored when ``fit`` is given ``X_val`` and ``y_val``.
    patience : int, optional
        Early stopping: stop after this many epochs without a better validation loss
        and restore the best weights.
    class_weight : {None, "balanced", "max-ratio"} or dict
        Loss weight per class (see :func:`ferengine.balance.class_weights`).
    augment : str or list, optional
        Online augmentation of every training batch: a preset ("fer", "light") or a
        list of augmenter steps (names or ``{"name": ..., "params": {...}}`` tables).
    augment_copies : int
        Offline augmentation: add this many augmented copies of the training set
        before training (with ``augment``'s chain).
    threads : int, optional
        torch intra-op threads during fit and predict.
    seed : int
        Seed of weights, shuffling, the validation split and augmentation.
    bf16 : {"auto", True, False}
        bfloat16 autocast for convolutions ("auto": where the CPU supports it natively).
    checkpoint_dir : str, optional
        Save weights, optimiser and history after every epoch; a later ``fit`` with
        the same folder resumes from the last epoch saved.
    curves_dir : str, optional
        Write ``curves.csv`` and ``curves.png`` (losses, accuracy, learning rate).
    init : str, optional
        Transfer learning: a saved ferengine model (path, or "default") holding a
        ``cnn`` whose normalisation and backbone initialise this one; its
        architecture, input size and normalisation replace ``arch``, ``arch_params``,
        ``size`` and ``normalize``. The head is new, sized for this fit's classes.
    trainable : {"all", "head"} or int
        With ``init``: train everything, only the new head (frozen backbone), or the
        head and the last ``k`` weight layers of the backbone.
    verbose : int
        0: silent; 1: skorch's epoch table and a progress bar.
    """

    name = "cnn"
    requires = ("torch", "skorch")  # the deep extra; imported on use
    extra = "deep"
    _image_input = True
    # A small, fast instance for scikit-learn's estimator checks (tests/).
    _test_params: ClassVar[dict] = {"arch_params": {"width": 8}, "epochs": 15, "batch_size": 32,
                    "lr": 3e-3, "validation_fraction": 0.0, "threads": 1}  # fmt: skip
    _expected_failed_checks: ClassVar[dict] = {
        "check_classifiers_train": "the check's tables hold negative values; as 8-bit "
        "images each row is min-max rescaled on its own, which keeps only the order of "
        "its features, and the blobs are not separable from that",
    }

    def __init__(
        self,
        arch: str = "compact",
        arch_params: dict | None = None,
        size: int | None = None,
        normalize: str = "image",
        epochs: int = 30,
        batch_size: int = 64,
        optimizer: str = "adam",
        lr: float = 1e-3,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        schedule: str | None = None,
        loss: str = "cross-entropy",
        label_smoothing: float = 0.0,
        validation_fraction: float = 0.1,
        patience: int | None = None,
        class_weight: Any = None,
        augment: Any = None,
        augment_copies: int = 0,
        threads: int | None = None,
        seed: int = 0,
        bf16: Any = "auto",
        checkpoint_dir: str | None = None,
        curves_dir: str | None = None,
        init: str | None = None,
        trainable: Any = "all",
        verbose: int = 0,
    ) -> None:
        self.arch = arch
        self.arch_params = arch_params
        self.size = size
        self.normalize = normalize
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.loss = loss
        self.label_smoothing = label_smoothing
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.class_weight = class_weight
        self.augment = augment
        self.augment_copies = augment_copies
        self.threads = threads
        self.seed = seed
        self.bf16 = bf16
        self.checkpoint_dir = checkpoint_dir
        self.curves_dir = curves_dir
        self.init = init
        self.trainable = trainable
        self.verbose = verbose

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
        if grey.shape[1:] != (self.size_, self.size_):
            grey = np.stack([cv2.resize(im, (self.size_, self.size_),
                                        interpolation=cv2.INTER_AREA) for im in grey])  # fmt: skip
        return np.ascontiguousarray(grey[:, None])

    # ---- fitting ------------------------------------------------------------------------

    def _check_params(self) -> None:
        from ferengine_deep.layers import NORMALIZATIONS

        checks = [
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}"),
            (self.loss in LOSSES, f"loss must be one of {LOSSES}"),
            (self.normalize in NORMALIZATIONS, f"normalize must be one of {NORMALIZATIONS}"),
            (isinstance(self.epochs, int) and self.epochs >= 1, "epochs must be an int ≥ 1"),
            (isinstance(self.batch_size, int) and self.batch_size >= 1, "batch_size must be ≥ 1"),
            (0 <= self.validation_fraction < 1, "validation_fraction must be in [0, 1)"),
            (self.bf16 in ("auto", True, False), "bf16 must be 'auto', True or False"),
        ]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise ValueError(f"cnn: {message}")
        if self.init is None:  # with init, the source model's architecture is used
            architecture(self.arch, self.arch_params)

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> CNN:
        """Train on images (N×H×W or N×H×W×C) and labels.

        Parameters
        ----------
        X, y
            Training images and labels.
        X_val, y_val : optional
            A validation set for monitoring, schedules and early stopping, instead
            of ``validation_fraction`` of the training images.

        Returns
        -------
        self
        """
        import torch
        from skorch.dataset import Dataset, ValidSplit
        from skorch.helper import predefined_split

        self._check_params()
        source = self._source()
        self.config_ = (dict(source.config_) if source is not None else {
            "arch": self.arch, "arch_params": dict(self.arch_params or {}),
            "size": self.size, "normalize": self.normalize})  # fmt: skip
        images = self._images(X, reset=True)
        if y is None:
            raise ValueError("cnn requires y to be passed, but the target y is None")
        y = np.asarray(y)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError("cnn needs at least 2 classes, got 1 class")
        codes = encoder.transform(y).astype(np.int64)
        rng = np.random.default_rng(self.seed)
        chain = aug.chain(self.augment)
        if self.augment_copies:
            copies = [
                aug.apply(chain, images[:, 0], rng)[:, None] for _ in range(self.augment_copies)
            ]
            images = np.concatenate([images, *copies])
            codes = np.tile(codes, self.augment_copies + 1)
        torch.manual_seed(self.seed)
        module = self._build(len(self.classes_))
        if source is None:
            module.normalize.fit(torch.from_numpy(images))
        else:
            transfer(source.module_, module, self.trainable)
        module = module.to(memory_format=torch.channels_last)
        self.bf16_ = bf16_supported() if self.bf16 == "auto" else bool(self.bf16)
        if X_val is not None and y_val is not None:
            valid = Dataset(self._images(X_val, reset=False),
                            encoder.transform(np.asarray(y_val)).astype(np.int64))  # fmt: skip
            split: Any = predefined_split(valid)
            n_train = len(images)
        elif self.validation_fraction > 0:
            split = ValidSplit(self.validation_fraction, stratified=True, random_state=self.seed)
            n_train = len(images) - math.ceil(self.validation_fraction * len(images))
        else:
            split, n_train = None, len(images)
        net = self._net(module, split, codes, chain, rng, n_train)
        with torch_threads(self.threads):
            self._train(net, images, codes)
        self.module_ = net.module_.eval()
        # completed epochs only: an interrupted one (Ctrl-C) has no duration
        self.history_ = [{k: v for k, v in row.items() if k != "batches"}
                         for row in net.history if "dur" in row]  # fmt: skip
        self.n_epochs_ = len(self.history_)
        if self.curves_dir:
            from ferengine_deep.curves import write_curves

            write_curves(self.history_, self.curves_dir)
        return self

    def _build(self, n_classes: int) -> Any:
        from ferengine_deep.layers import network

        config = self.config_
        arch = architecture(config["arch"], config["arch_params"])
        return network(arch, n_classes, 1, self.size_, config["normalize"])

    def _source(self) -> CNN | None:
        """Return the fitted ``cnn`` inside the ``init`` model, if any."""
        if self.init is None:
            return None
        from ferengine.persistence import load

        model = load(self.init)
        steps = [s for _, s in getattr(model, "steps", [("", model)])]
        found = [s for s in steps if isinstance(s, CNN)]
        if not found:
            raise ValueError(f"cnn: init model {self.init} holds no fitted cnn")
        return found[-1]

    def _net(self, module: Any, split: Any, codes: np.ndarray, chain: list,
             rng: np.random.Generator, n_train: int) -> Any:  # fmt: skip
        import torch
        from skorch.callbacks import EarlyStopping, ProgressBar
        from torch import nn

        from ferengine_deep.net import AtomicCheckpoint, BF16Net, Collate
        from ferengine_deep.net import ResumableLRScheduler as LRScheduler

        weight = None
        if self.class_weight is not None:
            table = (class_weights(codes, self.class_weight) if isinstance(self.class_weight, str)
                     else self.class_weight)  # fmt: skip
            weight = torch.tensor([float(table.get(c, 1.0)) for c in range(len(self.classes_))])
        if self.loss == "cross-entropy":
            criterion, kwargs = nn.CrossEntropyLoss, {"label_smoothing": self.label_smoothing}
        else:
            criterion, kwargs = nn.MultiMarginLoss, {"p": 1 if self.loss == "hinge" else 2}
        monitor = "valid_loss" if split is not None else "train_loss"
        callbacks: list[Any] = []
        schedulers = torch.optim.lr_scheduler
        if self.schedule == "plateau":
            callbacks.append(LRScheduler(schedulers.ReduceLROnPlateau, monitor=monitor,
                                         factor=0.5, patience=3))  # fmt: skip
        elif self.schedule == "cosine":
            callbacks.append(LRScheduler(schedulers.CosineAnnealingLR, T_max=self.epochs))
        elif self.schedule == "onecycle":
            steps = self.epochs * math.ceil(n_train / self.batch_size)
            callbacks.append(LRScheduler(schedulers.OneCycleLR, max_lr=self.lr,
                                         total_steps=steps + 1, step_every="batch"))  # fmt: skip
        if self.patience and split is not None:
            callbacks.append(EarlyStopping(monitor="valid_loss", patience=self.patience,
                                           load_best=True))  # fmt: skip
        if self.checkpoint_dir:
            callbacks.append(AtomicCheckpoint(monitor=None, dirname=self.checkpoint_dir,
                                        f_criterion=None, f_pickle=None))  # fmt: skip
        if self.verbose:
            callbacks.append(ProgressBar())
        optimizer = {
            "adam": torch.optim.Adam,
            "adamw": torch.optim.AdamW,
            "adadelta": torch.optim.Adadelta,
            "sgd": torch.optim.SGD,
        }[self.optimizer]
        extra = {"optimizer__momentum": self.momentum, "optimizer__nesterov": True} if (
            self.optimizer == "sgd") else {}  # fmt: skip
        return BF16Net(
            module=module,
            criterion=criterion,
            criterion__weight=weight,
            **{f"criterion__{k}": v for k, v in kwargs.items()},
            optimizer=optimizer,
            optimizer__weight_decay=self.weight_decay,
            **extra,
            lr=self.lr,
            max_epochs=self.epochs,
            batch_size=self.batch_size,
            train_split=split,
            callbacks=callbacks,
            iterator_train__shuffle=True,
            iterator_train__collate_fn=Collate(chain, rng),
            iterator_valid__collate_fn=Collate([], rng),
            predict_nonlinearity=None,
            classes=list(range(len(self.classes_))),
            device="cpu",
            verbose=self.verbose,
            bf16=self.bf16_,
        )

    def _train(self, net: Any, images: np.ndarray, codes: np.ndarray) -> None:
        """Fit, or resume from the checkpoint folder up to ``epochs`` in total."""
        from ferengine_deep.net import AtomicCheckpoint

        saved = self.checkpoint_dir and os.path.isfile(os.path.join(self.checkpoint_dir,
                                                                    "params.pt"))  # fmt: skip
        if not saved:
            net.fit(images, codes)
            return
        net.initialize()
        net.load_params(checkpoint=AtomicCheckpoint(dirname=self.checkpoint_dir, f_criterion=None,
                                              f_pickle=None))  # fmt: skip
        remaining = self.epochs - len(net.history)
        if remaining > 0:
            net.partial_fit(images, codes, epochs=remaining)

    # ---- prediction ---------------------------------------------------------------------

    def _run(self, X: Any, layer: str) -> np.ndarray:
        """Run the fitted network on images in batches: ``layer`` "logits" or "embed"."""
        import torch

        check_is_fitted(self, "module_")
        images = self._images(X, reset=False)
        forward = self.module_ if layer == "logits" else self.module_.embed
        out = []
        with torch_threads(self.threads), torch.inference_mode():
            for start in range(0, len(images), 4 * self.batch_size):
                x = torch.from_numpy(images[start : start + 4 * self.batch_size])
                x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16_):
                    out.append(forward(x).float().numpy())
        return np.concatenate(out)

    def _logits(self, X: Any) -> np.ndarray:
        return self._run(X, "logits")

    def embed(self, X: Any) -> np.ndarray:
        """Penultimate-layer activations (the ``cnn-embedding`` feature)."""
        return self._run(X, "embed")

    def _new_module(self) -> Any:
        """Return the untrained network a saved state dict loads into."""
        import torch

        return self._build(len(self.classes_)).to(memory_format=torch.channels_last)

    @property
    def n_parameters_(self) -> int:
        """Number of learned weights of the network."""
        check_is_fitted(self, "module_")
        return int(sum(p.numel() for p in self.module_.parameters()))


def architecture(name: str, params: dict | None) -> Architecture:
    """Create the registered architecture ``name`` with ``params`` for ``cnn``.

    Raises
    ------
    ValueError
        Naming ``cnn``'s ``arch`` or ``arch_params`` when the name is unknown (with the
        registry's suggestions) or a parameter is not the architecture's.
    """
    from ferengine import registry

    return registry.create_for("cnn", "arch", "architecture", name, params)


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
