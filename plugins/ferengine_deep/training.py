"""The one path of ferengine's torch classifiers: ``fit``, training and batched prediction.

:class:`TorchClassifier` holds everything about a torch classifier that does not
depend on what its network looks at: ``fit`` and ``predict`` themselves, the
parameters (named, and routed by prefix as in skorch, :mod:`ferengine_deep.params`),
label encoding, class weights, the loss, the optimiser, the learning-rate schedule,
the validation split, early stopping, checkpoints and resuming, progress output, torch
threads, seeding, the training recipes a subclass takes (mixup / CutMix, weight
averaging, sharpness-aware minimisation: :data:`RECIPES`), and running the fitted
network in batches. Training runs through
skorch (:class:`ferengine_deep.net.BF16Net`). A subclass checks and prepares its
inputs (:meth:`TorchClassifier._prepare`, :meth:`TorchClassifier._inputs`), builds its
network and runs it on a batch (:meth:`TorchClassifier._forward`).

Run-time concerns stay out of the model: torch threads and progress output come from
:mod:`ferengine.runtime` (read at fit and predict time), the checkpoint and curve
folders are arguments of ``fit``. A saved model holds none of them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from numbers import Integral, Real
from typing import Any, ClassVar, NamedTuple, Self

import numpy as np
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ferengine import runtime
from ferengine.balance import class_weights
from ferengine.runtime import torch_threads
from ferengine_deep.base import LogitsClassifier
from ferengine_deep.params import CRITERIA, OPTIMIZERS, PrefixedParams, component

SCHEDULES = ("plateau", "cosine", "onecycle")
#: Training recipes, off by these values. A subclass takes them by naming them in its
#: constructor (``cnn`` does); one that does not trains without them.
RECIPES: dict[str, Any] = {"mixup": 0.0, "cutmix": 0.0, "mix_prob": 1.0, "ema": None,
                           "swa": None, "sam": None, "targets": "labels"}  # fmt: skip
TARGETS = ("labels", "votes")
#: A validation split needs this many training samples; below it, all of them train.
MIN_VALIDATION_SAMPLES = 20


class FitData(NamedTuple):
    """What a torch classifier's ``_prepare`` hands to training."""

    #: Prepared training inputs, one per sample (what :meth:`TorchClassifier._inputs` returns).
    inputs: np.ndarray
    #: Their class codes 0 … K-1 (:meth:`TorchClassifier._encode`).
    codes: np.ndarray
    #: Returns the untrained network (called after seeding, so its weights follow ``seed``).
    build: Callable[[], Any]
    #: Batch assembly of training and validation batches (skorch's default otherwise).
    collate: tuple[Any, Any] | None = None
    #: bfloat16 autocast around the forward pass.
    bf16: bool = False


class TorchClassifier(PrefixedParams, LogitsClassifier):
    """Base of the torch classifiers: one ``fit``, training path and prediction for every network.

    Subclasses name in their ``__init__`` the training parameters below (with their own
    defaults), their own parameters, and ``**kwargs`` for the prefixed ones, and store
    them with ``self._store(locals())``. They give their network factory (``_network``,
    or :meth:`_module_parameters` for what ``module__`` accepts) and implement
    :meth:`_prepare` (check the training inputs, set ``classes_`` and what the network
    is sized by), :meth:`_inputs` (the same for validation and prediction inputs),
    ``_new_module`` (see :class:`~ferengine_deep.base.LogitsClassifier`) and, unless a
    batch is one tensor, :meth:`_forward`.

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
        Seed of the weights, shuffling, the validation split (and augmentation, mixing).

    Training recipes (for subclasses that name them; all off by default)
    --------------------------------------------------------------------
    mixup, cutmix : float
        α of the Beta(α, α) mixing weight of mixup / CutMix (0: off); with both on,
        each mixed batch uses one of them. Targets become probability rows, so they
        need the cross-entropy criterion (see :mod:`ferengine_deep.mixing` for how class
        weights and ``criterion__label_smoothing`` combine with them).
    mix_prob : float
        Probability that a training batch is mixed.
    ema : float, optional
        Decay of an exponential moving average of the weights, updated after every
        step (0.999 is usual; a run of few steps needs less). Validation and the fitted
        model use the average.
    swa : int, optional
        Stochastic weight averaging: the equal average of the weights at the end of each
        of the last ``swa`` epochs, with batch-norm statistics recomputed on the
        training data at the end; validation (once averaging started) and the fitted
        model use it. One of ``ema`` and ``swa``.
    sam : float, optional
        Radius ρ of sharpness-aware minimisation (0.05 is the paper's default): every
        step takes two forward/backward passes (:mod:`ferengine_deep.sam`).
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
    #: Constraints of the training recipes (:data:`RECIPES`), for the subclasses that take them.
    _recipe_constraints: ClassVar[dict] = {
        "mixup": [Interval(Real, 0, None, closed="left")],
        "cutmix": [Interval(Real, 0, None, closed="left")],
        "mix_prob": [Interval(Real, 0, 1, closed="both")],
        "ema": [None, Interval(Real, 0, 1, closed="neither")],
        "swa": [None, Interval(Integral, 1, None, closed="left")],
        "sam": [None, Interval(Real, 0, None, closed="neither")],
        "targets": [StrOptions(set(TARGETS))],
    }
    #: Optimiser settings this estimator gives beyond torch's and ferengine's defaults.
    _optimizer_defaults: ClassVar[dict[str, Any]] = {}
    #: Inputs of one forward pass at prediction, in ``batch_size`` (None: all at once).
    #: One: the shipped 48×48 CNN predicts 16 % faster in passes of 64 images than of
    #: 256 on a 2-core AVX2 CPU (benchmarks/RESULTS.md, 2026-12-03).
    _prediction_batches: ClassVar[int | None] = 1

    # ---- fitting ------------------------------------------------------------------------

    def fit(
        self,
        X: Any,
        y: Any,
        X_val: Any = None,
        y_val: Any = None,
        *,
        checkpoint_dir: str | os.PathLike | None = None,
        curves_dir: str | os.PathLike | None = None,
        votes: Any = None,
    ) -> Self:
        """Train the network on inputs and their labels.

        In a pipeline, pass the keywords as scikit-learn fit parameters:
        ``pipe.fit(X, y, cnn__checkpoint_dir="checkpoints/run1")``.

        Parameters
        ----------
        X : array-like
            Training inputs, of the kind the classifier takes (its class docstring):
            images, feature rows, per-frame feature sequences or clips.
        y : array-like of shape (n_samples,)
            Their labels.
        X_val, y_val : optional
            A validation set for monitoring, schedules and early stopping, instead
            of ``validation_fraction`` of the training inputs.
        checkpoint_dir : path, optional
            Save weights, optimiser and history after every epoch; a later ``fit``
            with the same folder resumes from the last epoch saved, up to ``max_epochs``.
        curves_dir : path, optional
            Write ``curves.csv`` and ``curves.png`` (losses, accuracy, learning rate).
        votes : array-like of shape (n_samples, n_classes), optional
            With ``targets="votes"``: annotators' votes per sample, one column per class
            of ``np.unique(y)`` in order (a pipeline fitted on a dataset carrying votes
            passes them). Each row, normalised, is the sample's target distribution; a
            row without votes falls back to its label.

        Returns
        -------
        self
        """
        import torch

        self._validate_params()
        self._check_prefixed()
        self._check_recipe()
        data = self._prepare(X, y)
        targets = self._targets(data.codes, votes)
        valid = None
        if X_val is not None and y_val is not None:
            valid = (self._inputs(X_val, "X_val"), self._codes(y_val, "y_val"))
        with torch_threads():
            torch.manual_seed(self.seed)
            module = data.build()
            net = self._net(module, data, valid, checkpoint_dir)
            self._train(net, data.inputs, targets, checkpoint_dir)
            self.module_ = net.fitted_module(data.inputs, data.codes).eval()
        # completed epochs only: an interrupted one (Ctrl-C) has no duration
        self.history_ = [{k: v for k, v in row.items() if k != "batches"}
                         for row in net.history if "dur" in row]  # fmt: skip
        self.n_epochs_ = len(self.history_)
        if curves_dir:
            from ferengine_deep.curves import write_curves

            write_curves(self.history_, curves_dir)
        return self

    def _prepare(self, X: Any, y: Any) -> FitData:
        """Check the training inputs and labels; set ``classes_`` and the input statistics.

        Returns the prepared inputs, their codes, the network's builder and collation.
        """
        raise NotImplementedError

    def _inputs(self, X: Any, what: str) -> np.ndarray:
        """Return validation or prediction inputs checked and prepared as the training ones.

        ``what`` names them in messages ("X", "X_val").
        """
        raise NotImplementedError

    # ---- recipes ------------------------------------------------------------------------

    def _recipe(self) -> dict[str, Any]:
        """Return the training recipes' values: those this estimator names, the rest off."""
        params = self.get_params(deep=False)
        return {name: params.get(name, off) for name, off in RECIPES.items()}

    def _check_recipe(self) -> None:
        """Raise ValueError, naming the parameter, for recipes that cannot go together."""
        recipe = self._recipe()
        for name in ("mixup", "cutmix"):
            if recipe[name] and self.criterion != "cross-entropy":
                raise ValueError(
                    f"{self.name}: {name}: mixed batches have soft targets, which "
                    f"need criterion='cross-entropy', not {self.criterion!r}"
                )
        if recipe["targets"] == "votes" and self.criterion != "cross-entropy":
            raise ValueError(
                f"{self.name}: targets='votes': vote distributions are soft targets, which "
                f"need criterion='cross-entropy', not {self.criterion!r}"
            )
        if recipe["ema"] is not None and recipe["swa"] is not None:
            raise ValueError(
                f"{self.name}: ema and swa: choose one weight average, got "
                f"ema={recipe['ema']} and swa={recipe['swa']}"
            )
        if recipe["swa"] is not None and recipe["swa"] > self.max_epochs:
            raise ValueError(
                f"{self.name}: swa: averages the last swa epochs, so must be at "
                f"most max_epochs={self.max_epochs}, got {recipe['swa']}"
            )

    def _targets(self, codes: np.ndarray, votes: Any) -> np.ndarray:
        """Return what the network trains towards: the codes, or vote shares (N×K rows).

        ``codes`` may hold the training samples several times over (``augment_copies``);
        the votes, given once per sample, repeat with them.
        """
        if self._recipe()["targets"] == "labels":
            return codes
        if votes is None:
            raise ValueError(
                f"{self.name}: targets='votes' needs the annotators' votes: fit(..., votes=...) "
                "or a pipeline fitted on a dataset that carries them (fer2013 ferplus=PATH)"
            )
        votes = np.asarray(votes, dtype=np.float64)
        k = len(self.classes_)
        if votes.ndim != 2 or votes.shape[1] != k or len(codes) % max(len(votes), 1):
            raise ValueError(
                f"{self.name}: votes have shape {votes.shape}, expected (n_samples, {k}): "
                "one row per training sample, one column per class"
            )
        if (votes < 0).any() or not np.isfinite(votes).all():
            raise ValueError(f"{self.name}: votes must be finite and non-negative")
        if self.validation_fraction:
            raise ValueError(
                f"{self.name}: targets='votes' with validation_fraction="
                f"{self.validation_fraction}: the stratified split needs labels; set "
                "validation_fraction=0 (select on a held-out share: [train] hold_out)"
            )
        votes = np.tile(votes, (len(codes) // len(votes), 1))
        total = votes.sum(axis=1, keepdims=True)
        onehot = np.eye(k)[codes]
        shares = np.where(total > 0, votes / np.where(total > 0, total, 1), onehot)
        return shares.astype(np.float32)

    def _average(self) -> tuple[str, float] | None:
        """Return BF16Net's ``average``: ("ema", decay), ("swa", first epoch) or None."""
        recipe = self._recipe()
        if recipe["ema"] is not None:
            return "ema", float(recipe["ema"])
        if recipe["swa"] is not None:
            return "swa", self.max_epochs - recipe["swa"] + 1
        return None

    def _checkpoint(self, checkpoint_dir: str | os.PathLike, **kwargs: Any) -> Any:
        """Return the checkpoint callback of ``checkpoint_dir`` (saving any weight average)."""
        from ferengine_deep.net import AVERAGE_FILE, AtomicCheckpoint

        average = {"f_average": AVERAGE_FILE} if self._average() else {}
        return AtomicCheckpoint(dirname=str(checkpoint_dir), f_criterion=None, f_pickle=None,
                                **average, **kwargs)  # fmt: skip

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

    def _check_count(self, n: int, y: Any, kind: str, needed: str) -> None:
        """Raise ValueError unless ``X`` holds inputs (``n`` of ``kind``), one per label.

        For inputs scikit-learn's ``validate_data`` does not check (sequences, clips);
        ``needed`` says what ``fit`` needs ("at least one clip").
        """
        if not n:
            raise ValueError(f"{self.name}: X holds no {kind}; fit needs {needed}")
        if y is not None and len(y) != n:
            raise ValueError(f"{self.name}: {n} {kind} but {len(y)} labels")

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
        data: FitData,
        valid: tuple[np.ndarray, np.ndarray] | None,
        checkpoint_dir: str | os.PathLike | None,
    ) -> Any:
        """Return the skorch net: criterion, optimiser, split and callbacks from the parameters."""
        from skorch.callbacks import ProgressBar

        from ferengine_deep.mixing import BatchMixer
        from ferengine_deep.net import AveragedEarlyStopping, BF16Net

        split, n_train = self._split(len(data.inputs), valid)
        criterion, criterion_args = component("criterion", self.criterion)
        optimizer, optimizer_args = component("optimizer", self.optimizer)
        optimizer_args.update(self._optimizer_defaults)
        criterion_args.update(self.get_params_for("criterion"))
        optimizer_args.update(self.get_params_for("optimizer"))
        callbacks = self._schedule(split is not None, n_train)
        if self.patience and split is not None:
            callbacks.append(AveragedEarlyStopping(monitor="valid_loss", patience=self.patience,
                                                   load_best=True))  # fmt: skip
        if checkpoint_dir:
            callbacks.append(self._checkpoint(checkpoint_dir, monitor=None))
        verbose = runtime.current().verbose or 0
        if verbose:
            callbacks.append(ProgressBar())
        recipe = self._recipe()
        mixer = None
        if recipe["mixup"] or recipe["cutmix"]:
            mixer = BatchMixer(len(self.classes_), recipe["mixup"], recipe["cutmix"],
                               recipe["mix_prob"], self.seed)  # fmt: skip
        iterators = {}
        if data.collate is not None:
            iterators = {"iterator_train__collate_fn": data.collate[0],
                         "iterator_valid__collate_fn": data.collate[1]}  # fmt: skip
        return BF16Net(
            module=module,
            criterion=criterion,
            criterion__weight=self._class_weights(data.codes),
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
            bf16=data.bf16,
            mixer=mixer,
            sam=recipe["sam"],
            average=self._average(),
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
        self, net: Any, X: np.ndarray, targets: np.ndarray, checkpoint_dir: str | os.PathLike | None
    ) -> None:
        """Fit, or resume from the checkpoint folder up to ``max_epochs`` in total.

        ``targets``: class codes, or one target distribution per sample (N×K).
        """
        from ferengine_deep.net import AVERAGE_FILE

        saved = checkpoint_dir and os.path.isfile(os.path.join(checkpoint_dir, "params.pt"))
        if not saved:
            net.fit(X, targets)
            return
        average = self._average()
        if average and not os.path.isfile(os.path.join(checkpoint_dir, AVERAGE_FILE)):
            raise ValueError(
                f"{self.name}: {average[0]}: the checkpoint in {checkpoint_dir} holds no weight "
                "average to continue; resume with the settings it was saved with, or use a "
                "new checkpoint_dir"
            )
        net.initialize()
        net.load_params(checkpoint=self._checkpoint(checkpoint_dir))
        remaining = self.max_epochs - len(net.history)
        if remaining > 0:
            net.partial_fit(X, targets, epochs=remaining)

    # ---- prediction ---------------------------------------------------------------------

    def _forward(self, network: Callable[..., Any], batch: np.ndarray) -> Any:
        """Run ``network`` (the fitted one, or a method of it) on a batch of prepared inputs."""
        import torch

        return network(torch.from_numpy(batch))

    def _run(self, X: Any, method: str | None = None) -> np.ndarray:
        """Run the fitted network on inputs in batches; ``method``: one of its methods instead.

        Returns an N×K array (no row for no input).
        """
        import torch

        check_is_fitted(self, "module_")
        inputs = self._inputs(X, "X")
        network = self.module_ if method is None else getattr(self.module_, method)
        batches = self._prediction_batches
        step = max(len(inputs), 1) if batches is None else batches * self.batch_size
        out = []
        with torch_threads(), torch.inference_mode():
            for start in range(0, len(inputs), step):
                out.append(self._forward(network, inputs[start : start + step]).float().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.classes_)), np.float32)

    def _logits(self, X: Any) -> np.ndarray:
        return self._run(X)

    @property
    def n_parameters_(self) -> int:
        """Number of learned weights of the network."""
        check_is_fitted(self, "module_")
        return int(sum(p.numel() for p in self.module_.parameters()))
