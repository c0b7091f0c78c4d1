"""skorch glue of the ``cnn`` estimator: bfloat16 autocast, training recipes, checkpoints, batches.

The recipes (see :class:`BF16Net`): mixup / CutMix (:mod:`ferengine_deep.mixing`),
sharpness-aware minimisation (:mod:`ferengine_deep.sam`) and weight averaging (an
exponential moving average or SWA, torch's :class:`~torch.optim.swa_utils.AveragedModel`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from copy import deepcopy
from typing import Any

import numpy as np
import torch
from skorch import NeuralNetClassifier
from skorch.callbacks import Checkpoint, EarlyStopping, LRScheduler
from skorch.dataset import unpack_data
from skorch.utils import TeeGenerator, to_tensor
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn

from ferengine.fileio import atomic_path
from ferengine_deep import augment as aug
from ferengine_deep import sam as sharpness
from ferengine_deep.mixing import BatchMixer

#: Checkpoint file of the weight average, beside skorch's ``params.pt``.
AVERAGE_FILE = "average.pt"


class BF16Net(NeuralNetClassifier):
    """skorch's classifier with bfloat16 autocast and the training recipes of ``cnn``.

    The loss is computed in float32.

    Parameters
    ----------
    bf16 : bool
        bfloat16 autocast around the forward pass.
    mixer : BatchMixer, optional
        Mixes every training batch (mixup / CutMix) and gives it soft targets.
    sam : float, optional
        Radius ρ of sharpness-aware minimisation: two passes per step.
    average : ("ema", decay) or ("swa", first_epoch), optional
        Weight average kept beside the trained weights (``average_``, a torch
        ``AveragedModel``): an exponential moving average updated after every step, or
        the equal average of the weights at the end of each epoch from ``first_epoch``
        on. It is a skorch module, so checkpoints save it (``average.pt``) and resuming
        continues it. Once it holds weights, validation runs on it.
    """

    def __init__(self, *args: Any, bf16: bool = False, mixer: BatchMixer | None = None,
                 sam: float | None = None, average: tuple[str, float] | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)
        self.bf16 = bf16
        self.mixer = mixer
        self.sam = sam
        self.average = average

    # ---- weight averaging ---------------------------------------------------------------

    def initialize_module(self) -> BF16Net:
        """Build the module and, with ``average``, its averaged copy ``average_``."""
        super().initialize_module()
        if self.average is not None:
            kind, value = self.average
            ema = get_ema_multi_avg_fn(value) if kind == "ema" else None
            # buffers (batch-norm statistics) are averaged too; SWA's are recomputed at the end
            self.average_ = AveragedModel(self.module_, multi_avg_fn=ema, use_buffers=True)
            self.average_.requires_grad_(False)
        return self

    def get_all_learnable_params(self) -> Iterator[tuple[str, torch.nn.Parameter]]:
        """Yield the trained modules' parameters, never the weight average's."""
        averaged = {id(p) for p in self.average_.parameters()} if self._averaging() else set()
        for name, param in super().get_all_learnable_params():
            if id(param) not in averaged:
                yield name, param

    def _averaging(self) -> bool:
        return self.average is not None and getattr(self, "average_", None) is not None

    def _averaged(self) -> bool:
        """Tell whether the weight average holds weights yet."""
        return self._averaging() and int(self.average_.n_averaged) > 0

    def run_single_epoch(self, iterator: Any, training: bool, prefix: str, step_fn: Any,
                         **fit_params: Any) -> None:  # fmt: skip
        """Run skorch's epoch; after a training one, add its weights to an SWA average."""
        super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        swa = training and self._averaging() and self.average[0] == "swa"
        if swa and len(self.history) >= self.average[1]:  # the current epoch's row is recorded
            self.average_.update_parameters(self.module_)

    def fitted_module(self, X: Any, y: Any) -> torch.nn.Module:
        """Return the network the estimator keeps: the weight average if any, else the trained.

        An SWA average gets its batch-norm statistics recomputed on the training
        batches (``torch.optim.swa_utils.update_bn``).
        """
        if not self._averaged():
            return self.module_
        module = self.average_.module
        if self.average[0] == "swa":
            batches = self.get_iterator(self.get_dataset(X, y), training=True)
            update_bn((unpack_data(batch)[0] for batch in batches), module)
        return module

    # ---- steps --------------------------------------------------------------------------

    def infer(self, x: Any, **fit_params: Any) -> torch.Tensor:
        """Forward pass (skorch's), autocast to bfloat16 when enabled.

        In evaluation (validation), the weight average runs once it holds weights.
        """
        module = self.module_
        if not module.training and self._averaged():
            module = self.average_.module
        x = to_tensor(x, device=self.device)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            if isinstance(x, Mapping):
                out = module(**self._merge_x_and_fit_params(x, fit_params))
            else:
                out = module(x, **fit_params)
        return out.float()

    def train_step(self, batch: Any, **fit_params: Any) -> dict[str, Any]:
        """One optimiser step: mix the batch, one pass (two with SAM), step, update the EMA."""
        if self.mixer is not None:
            x, y = unpack_data(batch)
            batch = self.mixer(x, y)
        if self.sam is None:
            step = super().train_step(batch, **fit_params)
        else:
            step = self._sam_step(batch, **fit_params)
        if self._averaging() and self.average[0] == "ema":
            self.average_.update_parameters(self.module_)
        return step

    def _sam_step(self, batch: Any, **fit_params: Any) -> dict[str, Any]:
        """Run skorch's ``train_step`` with SAM's second pass at the perturbed weights."""
        accumulator = self.get_train_step_accumulator()

        def step_fn() -> torch.Tensor:
            self._zero_grad_optimizer()
            step = self.train_step_single(batch, **fit_params)  # gradient at w
            accumulator.store_step(step)
            params = [p for _, p in self.get_all_learnable_params()]
            with sharpness.ascent(params, self.sam), sharpness.frozen_statistics(self.module_):
                self._zero_grad_optimizer()
                self.train_step_single(batch, **fit_params)  # gradient at w + ε
            self.notify("on_grad_computed", batch=batch, training=True,
                        named_parameters=TeeGenerator(self.get_all_learnable_params()))  # fmt: skip
            return step["loss"]

        self._step_optimizer(step_fn)
        return accumulator.get_step()


class AveragedEarlyStopping(EarlyStopping):
    """skorch's ``EarlyStopping``, which also keeps and restores the net's weight average."""

    def on_train_begin(self, net: Any, **kwargs: Any) -> None:
        """Reset, forgetting any kept average."""
        super().on_train_begin(net, **kwargs)
        self.best_average_ = None

    def on_epoch_end(self, net: Any, **kwargs: Any) -> None:
        """Keep the average's weights when the monitored score improved."""
        best = self.best_epoch_
        try:
            super().on_epoch_end(net, **kwargs)  # raises KeyboardInterrupt to stop
        finally:
            if self.load_best and self.best_epoch_ != best and net._averaging():
                self.best_average_ = deepcopy(net.average_.state_dict())

    def on_train_end(self, net: Any, **kwargs: Any) -> None:
        """Restore the best epoch's weights, the average's with them."""
        restore = (self.load_best and self.best_epoch_ != net.history[-1, "epoch"]
                   and self.best_model_weights_ is not None)  # fmt: skip
        super().on_train_end(net, **kwargs)
        if restore and self.best_average_ is not None:
            net.average_.load_state_dict(self.best_average_)


class AtomicCheckpoint(Checkpoint):
    """skorch's ``Checkpoint``, each file written atomically (:mod:`ferengine.fileio`).

    skorch writes ``params.pt`` and its siblings in place: a run killed while saving
    would leave half a file that the next ``fit`` resumes from. Here a save either
    completes or leaves the previous epoch's files as they were.
    """

    def _save_params(self, f: Any, net: Any, f_name: str, log_name: str) -> None:
        if not isinstance(f, str | os.PathLike):  # a file object: skorch's own way
            super()._save_params(f, net, f_name, log_name)
            return
        try:
            with atomic_path(f) as tmp:
                net.save_params(**{f_name: str(tmp), "use_safetensors": self.use_safetensors})
        except Exception as exc:  # as skorch: a failed save is reported, training goes on
            self._sink(f"Unable to save {log_name} to {f}, {type(exc).__name__}: {exc}",
                       net.verbose)  # fmt: skip


class ResumableLRScheduler(LRScheduler):
    """skorch's ``LRScheduler`` that resumes per-batch schedules where they stopped.

    skorch restarts a scheduler at ``last_epoch = epochs trained - 1`` when a fit
    resumes; a schedule stepped every batch (one-cycle) counts batches, so it would
    restart near its beginning. This one resumes it at the batch count instead.
    """

    def _get_scheduler(self, net: Any, policy: Any, **kwargs: Any) -> Any:
        if self.step_every == "batch" and net.history and "last_epoch" not in kwargs:
            kwargs["last_epoch"] = self.batch_idx_ - 1
        return super()._get_scheduler(net, policy, **kwargs)


class Collate:
    """Stack (image, target) samples into a channels-last uint8 batch and its targets.

    With augmenters (training batches only), the batch is augmented first.
    """

    def __init__(self, augmenters: list, rng: np.random.Generator) -> None:
        self.augmenters = augmenters
        self.rng = rng

    def __call__(self, samples: list[tuple[np.ndarray, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the (images, targets) tensors of a batch."""
        images = np.stack([s[0] for s in samples])  # N×1×S×S uint8
        if self.augmenters:
            images = aug.apply(self.augmenters, images[:, 0], self.rng)[:, None]
        x = torch.from_numpy(np.ascontiguousarray(images)).contiguous(
            memory_format=torch.channels_last
        )
        y = np.asarray([s[1] for s in samples])
        # class codes, or one target distribution per sample (targets="votes")
        y = torch.as_tensor(y, dtype=torch.float32 if y.ndim == 2 else torch.int64)
        return x, y
