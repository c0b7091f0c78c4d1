"""The one torch training path of ferengine's torch classifiers (``cnn``, ``softmax-head``).

:class:`TorchClassifier` holds everything about training a network that does not
depend on what the network looks at: the parameters (named, and routed by prefix as
in skorch, :mod:`ferengine_deep.params`), label encoding, class weights, the loss,
the optimiser, the learning-rate schedule, the validation split, early stopping,
checkpoints and resuming, progress output, torch threads and seeding. Training runs
through skorch (:class:`ferengine_deep.net.BF16Net`); a subclass prepares its inputs,
builds its network and calls :meth:`TorchClassifier._fit_network`.

Run-time concerns stay out of the model: torch threads and progress output come from
:mod:`ferengine.runtime` (read at fit and predict time), the checkpoint and curve
folders are arguments of ``fit``. A saved model holds none of them.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import math
import os
from collections.abc import Callable, Iterator, Mapping
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets

from ferengine import runtime
from ferengine.balance import class_weights
from ferengine.registry import Registry
from ferengine_deep.base import LogitsClassifier
from ferengine_deep.params import (
    CRITERIA,
    OPTIMIZERS,
    PrefixedParams,
    component,
    component_parameters,
)

SCHEDULES = ("plateau", "cosine", "onecycle")
#: A validation split needs this many training samples; below it, all of them train.
MIN_VALIDATION_SAMPLES = 20


@contextlib.contextmanager
def torch_threads() -> Iterator[None]:
    """Run torch on the run-time option's thread count inside the block (unset: as it is)."""
    import torch

    n = runtime.current().threads
    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class TorchClassifier(PrefixedParams, LogitsClassifier):
    """Base of the torch classifiers: one training path for every network.

    Subclasses name in their ``__init__`` the training parameters below (with their own
    defaults), their own parameters, and ``**kwargs`` for the prefixed ones, which they
    pass to ``self._store_kwargs(kwargs)``. They implement :meth:`_module_parameters`
    (what ``module__`` accepts), ``_logits`` and ``_new_module`` (see
    :class:`~ferengine_deep.base.LogitsClassifier`), and a ``fit`` that prepares the
    inputs and calls :meth:`_encode` and :meth:`_fit_network`.

    Training parameters
    -------------------
    max_epochs, batch_size : int
        Training length and minibatch size.
    optimizer : {"adam", "adamw", "adadelta", "sgd"}
        The torch optimiser; its settings by prefix (``optimizer__weight_decay``,
        ``optimizer__momentum``…). SGD defaults to Nesterov momentum 0.9.
    lr : float
        Learning rate (peak rate of the one-cycle schedule).
    criterion : {"cross-entropy", "hinge", "squared-hinge"}
        The loss: cross-entropy (``criterion__label_smoothing``) or the multiclass
        (squared) hinge of ``torch.nn.MultiMarginLoss`` (``criterion__margin``).
    schedule : {None, "plateau", "cosine", "onecycle"}
        Learning-rate schedule: halve on a validation-loss plateau (3 epochs), cosine
        annealing over ``max_epochs``, or one-cycle (per batch, peak ``lr``).
    validation_fraction : float
        Stratified share of the training samples held out to monitor the fit (0, or
        fewer than 20 samples: none); ignored when ``fit`` is given ``X_val``, ``y_val``.
    patience : int, optional
        Early stopping: stop after this many epochs without a better validation loss
        and restore the best weights.
    class_weight : {None, "balanced", "max-ratio"} or dict
        Loss weight per class (see :func:`ferengine.balance.class_weights`); a dict maps
        class labels to weights (1 for a class it leaves out).
    seed : int
        Seed of the weights, shuffling, the validation split (and augmentation).
    """

    requires = ("torch", "skorch")  # the deep extra; imported on use
    extra = "deep"
    _parameter_constraints: ClassVar[dict] = {
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "criterion": [StrOptions(set(CRITERIA))],
        "schedule": [None, StrOptions(set(SCHEDULES))],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "patience": [None, Interval(Integral, 1, None, closed="left")],
        "class_weight": [None, StrOptions({"balanced", "max-ratio"}), dict],
        "seed": [Interval(Integral, 0, None, closed="left")],
    }
    #: Optimiser settings this estimator gives beyond torch's and ferengine's defaults.
    _optimizer_defaults: ClassVar[dict[str, Any]] = {}

    # ---- parameters ---------------------------------------------------------------------

    @classmethod
    def _module_parameters(
        cls, params: Mapping[str, Any], registry: Registry | None
    ) -> tuple[str, dict[str, Any]] | None:
        """Describe what ``module__`` reaches: a name for messages and its parameters.

        ``params`` holds every constructor parameter (defaults filled in). Returns
        ``None`` when ``module__`` parameters are not used (``cnn`` with ``init``).

        Raises
        ------
        ValueError
            The network the parameters name does not exist (message with suggestions).
        """
        raise NotImplementedError

    @classmethod
    def prefixed_param_issues(
        cls, params: Mapping[str, Any], registry: Registry | None = None
    ) -> list[tuple[str, str]]:
        """Return the problems of the parameters beyond the named ones, before any training.

        Every key of ``params`` that is not a named constructor parameter must be
        ``<prefix>__<name>`` with a name the part accepts: ``module__`` the network's
        parameters (an architecture's, through ``registry``), ``optimizer__`` and
        ``criterion__`` the torch class's. The network ``module`` names is checked too.
        Model specs and suites call this when they are loaded; ``fit`` raises them.

        Parameters
        ----------
        params : mapping
            Constructor parameters, as written (a spec's ``params``) or ``get_params()``.
        registry : Registry, optional
            Where architectures are looked up; defaults to the installed plugins.

        Returns
        -------
        list of (str, str)
            ``(parameter, problem)`` pairs, empty when all is well.
        """
        named = cls._named_params()
        defaults = {
            p.name: p.default
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.name in named
        }
        values = {**defaults, **params}
        issues: list[tuple[str, str]] = []
        parts: dict[str, tuple[str, dict[str, Any]] | None] = {}
        try:
            parts["module"] = cls._module_parameters(values, registry)
        except ValueError as exc:
            issues.append(("module", str(exc)))
            parts["module"] = None
        for key in params:
            if key in named:
                continue
            if not cls._is_prefixed(key):
                issues.append((key, cls._unexpected(key)))
                continue
            prefix, _, sub = key.partition("__")
            if prefix not in parts:
                parts[prefix] = component_parameters(prefix, values.get(prefix))
            part = parts[prefix]
            if part is None or sub in part[1]:
                continue
            what, accepted = part
            close = difflib.get_close_matches(sub, list(accepted), n=1)
            if sub in named or (prefix, sub) == ("criterion", "weight"):
                own = "class_weight" if sub == "weight" else sub
                hint = f" (it is set by {cls.name}'s own parameter {own!r})"
            else:
                hint = f" (did you mean '{prefix}__{close[0]}'?)" if close else ""
            issues.append((key, f"{what} has no parameter {sub!r}{hint}; its parameters: "
                                f"{', '.join(accepted) or 'none'}"))  # fmt: skip
        return issues

    def _check_prefixed(self, registry: Registry | None = None) -> None:
        """Raise ValueError listing the problems of :meth:`prefixed_param_issues`."""
        issues = self.prefixed_param_issues(self.get_params(deep=False), registry)
        if issues:
            raise ValueError("\n".join(f"{self.name}: {key}: {problem}" for key, problem in issues))

    # ---- labels -------------------------------------------------------------------------

    def _encode(self, y: Any) -> np.ndarray:
        """Set ``classes_`` from the training labels and return their codes 0 … K-1."""
        if y is None:
            raise ValueError(f"{self.name} requires y to be passed, but the target y is None")
        y = np.asarray(y)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError(f"{self.name} needs at least 2 classes, got 1 class")
        self.classes_ = encoder.classes_
        return encoder.transform(y).astype(np.int64)

    def _codes(self, y: Any, name: str) -> np.ndarray:
        """Return the codes of labels of the fitted ``classes_`` (validation labels)."""
        y = np.asarray(y)
        unknown = sorted(set(np.unique(y).tolist()) - set(self.classes_.tolist()))
        if unknown:
            raise ValueError(f"{self.name}: {name} holds classes {unknown[:5]} absent from y")
        return np.searchsorted(self.classes_, y).astype(np.int64)

    def _class_weights(self, codes: np.ndarray) -> Any:
        """Return the loss weight of each class (a tensor in ``classes_`` order), or None."""
        import torch

        if self.class_weight is None:
            return None
        if isinstance(self.class_weight, str):
            table = class_weights(codes, self.class_weight)
            weights = [table.get(i, 1.0) for i in range(len(self.classes_))]
        else:
            weights = [self.class_weight.get(c, 1.0) for c in self.classes_.tolist()]
        return torch.tensor([float(w) for w in weights])

    # ---- training -----------------------------------------------------------------------

    def _fit_network(
        self,
        build: Callable[[], Any],
        X: np.ndarray,
        codes: np.ndarray,
        *,
        valid: tuple[np.ndarray, np.ndarray] | None = None,
        collate: tuple[Any, Any] | None = None,
        bf16: bool = False,
        checkpoint_dir: str | os.PathLike | None = None,
        curves_dir: str | os.PathLike | None = None,
    ) -> None:
        """Seed torch, build the network and train it; set ``module_``, ``history_``, ``n_epochs_``.

        Parameters
        ----------
        build : callable
            Returns the untrained network (called after seeding, so its weights follow ``seed``).
        X, codes : ndarray
            Training inputs and class codes.
        valid : (ndarray, ndarray), optional
            A validation set (inputs, codes) instead of ``validation_fraction``.
        collate : (callable, callable), optional
            Batch assembly of training and validation batches (skorch's default otherwise).
        bf16 : bool
            bfloat16 autocast around the forward pass.
        checkpoint_dir : path, optional
            Save weights, optimiser and history after every epoch; when the folder holds
            a checkpoint, training resumes from it up to ``max_epochs`` in total.
        curves_dir : path, optional
            Write ``curves.csv`` and ``curves.png`` there after training.
        """
        import torch

        with torch_threads():
            torch.manual_seed(self.seed)
            module = build()
            net = self._net(module, X, codes, valid, collate, bf16, checkpoint_dir)
            self._train(net, X, codes, checkpoint_dir)
        self.module_ = net.module_.eval()
        # completed epochs only: an interrupted one (Ctrl-C) has no duration
        self.history_ = [{k: v for k, v in row.items() if k != "batches"}
                         for row in net.history if "dur" in row]  # fmt: skip
        self.n_epochs_ = len(self.history_)
        if curves_dir:
            from ferengine_deep.curves import write_curves

            write_curves(self.history_, curves_dir)

    def _split(self, n: int, valid: tuple[np.ndarray, np.ndarray] | None) -> tuple[Any, int]:
        """Return skorch's ``train_split`` and the number of training samples it leaves."""
        from skorch.dataset import Dataset, ValidSplit
        from skorch.helper import predefined_split

        if valid is not None:
            return predefined_split(Dataset(*valid)), n
        if self.validation_fraction > 0 and n >= MIN_VALIDATION_SAMPLES:
            split = ValidSplit(self.validation_fraction, stratified=True, random_state=self.seed)
            return split, n - math.ceil(self.validation_fraction * n)
        return None, n

    def _net(
        self,
        module: Any,
        X: np.ndarray,
        codes: np.ndarray,
        valid: tuple[np.ndarray, np.ndarray] | None,
        collate: tuple[Any, Any] | None,
        bf16: bool,
        checkpoint_dir: str | os.PathLike | None,
    ) -> Any:
        """Return the skorch net: criterion, optimiser, split and callbacks from the parameters."""
        from skorch.callbacks import EarlyStopping, ProgressBar

        from ferengine_deep.net import AtomicCheckpoint, BF16Net

        split, n_train = self._split(len(X), valid)
        criterion, criterion_args = component("criterion", self.criterion)
        optimizer, optimizer_args = component("optimizer", self.optimizer)
        optimizer_args.update(self._optimizer_defaults)
        criterion_args.update(self.get_params_for("criterion"))
        optimizer_args.update(self.get_params_for("optimizer"))
        callbacks = self._schedule(split is not None, n_train)
        if self.patience and split is not None:
            callbacks.append(EarlyStopping(monitor="valid_loss", patience=self.patience,
                                           load_best=True))  # fmt: skip
        if checkpoint_dir:
            callbacks.append(AtomicCheckpoint(monitor=None, dirname=str(checkpoint_dir),
                                              f_criterion=None, f_pickle=None))  # fmt: skip
        verbose = runtime.current().verbose or 0
        if verbose:
            callbacks.append(ProgressBar())
        iterators = {}
        if collate is not None:
            iterators = {"iterator_train__collate_fn": collate[0],
                         "iterator_valid__collate_fn": collate[1]}  # fmt: skip
        return BF16Net(
            module=module,
            criterion=criterion,
            criterion__weight=self._class_weights(codes),
            **{f"criterion__{k}": v for k, v in criterion_args.items()},
            optimizer=optimizer,
            **{f"optimizer__{k}": v for k, v in optimizer_args.items()},
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=split,
            callbacks=callbacks,
            iterator_train__shuffle=True,
            **iterators,
            predict_nonlinearity=None,
            classes=list(range(len(self.classes_))),
            device="cpu",
            verbose=verbose,
            bf16=bf16,
        )

    def _schedule(self, validated: bool, n_train: int) -> list[Any]:
        """Return the learning-rate scheduler callback of ``schedule`` (none, or one)."""
        import torch

        from ferengine_deep.net import ResumableLRScheduler as LRScheduler

        schedulers = torch.optim.lr_scheduler
        if self.schedule == "plateau":
            monitor = "valid_loss" if validated else "train_loss"
            return [LRScheduler(schedulers.ReduceLROnPlateau, monitor=monitor, factor=0.5,
                                patience=3)]  # fmt: skip
        if self.schedule == "cosine":
            return [LRScheduler(schedulers.CosineAnnealingLR, T_max=self.max_epochs)]
        if self.schedule == "onecycle":
            steps = self.max_epochs * math.ceil(n_train / self.batch_size)
            return [LRScheduler(schedulers.OneCycleLR, max_lr=self.lr, total_steps=steps + 1,
                                step_every="batch")]  # fmt: skip
        return []

    def _train(
        self, net: Any, X: np.ndarray, codes: np.ndarray, checkpoint_dir: str | os.PathLike | None
    ) -> None:
        """Fit, or resume from the checkpoint folder up to ``max_epochs`` in total."""
        from ferengine_deep.net import AtomicCheckpoint

        saved = checkpoint_dir and os.path.isfile(os.path.join(checkpoint_dir, "params.pt"))
        if not saved:
            net.fit(X, codes)
            return
        net.initialize()
        net.load_params(checkpoint=AtomicCheckpoint(dirname=str(checkpoint_dir),
                                                    f_criterion=None, f_pickle=None))  # fmt: skip
        remaining = self.max_epochs - len(net.history)
        if remaining > 0:
            net.partial_fit(X, codes, epochs=remaining)
