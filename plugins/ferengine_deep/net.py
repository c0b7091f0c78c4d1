"""skorch glue of the ``cnn`` estimator: bfloat16 autocast, checkpoints, batch assembly."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from skorch import NeuralNetClassifier
from skorch.callbacks import Checkpoint, LRScheduler

from ferengine.fileio import atomic_path
from ferengine_deep import augment as aug


class BF16Net(NeuralNetClassifier):
    """skorch's classifier with optional bfloat16 autocast around the forward pass.

    The loss is computed in float32.
    """

    def __init__(self, *args: Any, bf16: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bf16 = bf16

    def infer(self, x: Any, **fit_params: Any) -> torch.Tensor:
        """Forward pass, autocast to bfloat16 when enabled."""
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            out = super().infer(x, **fit_params)
        return out.float()


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
    """Stack (image, label) samples into a channels-last uint8 batch.

    With augmenters (training batches only), the batch is augmented first.
    """

    def __init__(self, augmenters: list, rng: np.random.Generator) -> None:
        self.augmenters = augmenters
        self.rng = rng

    def __call__(self, samples: list[tuple[np.ndarray, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the (images, labels) tensors of a batch."""
        images = np.stack([s[0] for s in samples])  # N×1×S×S uint8
        if self.augmenters:
            images = aug.apply(self.augmenters, images[:, 0], self.rng)[:, None]
        x = torch.from_numpy(np.ascontiguousarray(images)).contiguous(
            memory_format=torch.channels_last
        )
        y = torch.as_tensor(np.asarray([s[1] for s in samples]), dtype=torch.int64)
        return x, y
