"""Mixup and CutMix of training batches, with soft targets for the cross-entropy.

Mixup (Zhang et al. 2018) blends each input with another of the batch,
``λ·x_i + (1 − λ)·x_j``; CutMix (Yun et al. 2019) pastes a rectangle of ``x_j`` into
``x_i`` and sets ``λ`` to the share of ``x_i`` left. Either way the target becomes
``λ·onehot(y_i) + (1 − λ)·onehot(y_j)``, with ``λ ~ Beta(α, α)`` drawn once per batch
and ``j`` a random permutation of the batch, as in the papers and timm. With both
enabled, each mixed batch uses one of them, chosen with equal odds.

Every training batch gets probability rows as targets once mixing is on (a batch left
unmixed gets one-hot rows), so the loss is the same function of the targets across
batches: ``torch.nn.CrossEntropyLoss`` with probability targets computes
``−Σ_c w_c t_c log p_c`` per sample (``w_c`` the class weight, 1 without one) and
averages it over the batch. A mixed sample therefore weighs ``λ·w(y_i) + (1 − λ)·w(y_j)``
— the class weights apply to each class's share of the target — and the batch mean
divides by the batch size, not by the summed weights as torch does for class codes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class BatchMixer:
    """Mix a training batch by mixup or CutMix; return it with its soft targets.

    Parameters
    ----------
    n_classes : int
        Number of classes (width of the target rows).
    mixup, cutmix : float
        α of the Beta(α, α) distribution ``λ`` is drawn from, for each method; 0 turns
        the method off.
    prob : float
        Probability that a batch is mixed at all.
    seed : int
        Seed of the draws (λ, the method, the permutation, the CutMix box).
    """

    def __init__(
        self, n_classes: int, mixup: float = 0.0, cutmix: float = 0.0, prob: float = 1.0,
        seed: int = 0,
    ) -> None:  # fmt: skip
        self.n_classes = n_classes
        self.methods = [(name, float(alpha)) for name, alpha in (("mixup", mixup),
                        ("cutmix", cutmix)) if alpha > 0]  # fmt: skip
        self.prob = prob
        self.rng = np.random.default_rng((seed, 0x6D6978))  # its own stream beside augmentation

    def __call__(self, x: Any, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the (possibly mixed) inputs and their target rows (N×K, each summing to 1).

        Raises
        ------
        ValueError
            The inputs are not one tensor (mixup), or not N×C×H×W images (CutMix).
        """
        if y.ndim == 2:  # already distributions (targets="votes")
            targets = y.float()
        else:
            targets = torch.nn.functional.one_hot(y.long(), self.n_classes).float()
        if not self.methods or self.rng.random() >= self.prob:
            return x, targets
        name, alpha = self.methods[self.rng.integers(len(self.methods))]
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name}: needs each batch as one tensor, got {type(x).__name__}")
        lam = float(self.rng.beta(alpha, alpha))
        perm = torch.from_numpy(self.rng.permutation(len(x)))
        if name == "mixup":
            x = lam * x.float() + (1 - lam) * x[perm].float()
        else:
            x, lam = self._cut(x, perm, lam)
        return x, lam * targets + (1 - lam) * targets[perm]

    def _cut(self, x: torch.Tensor, perm: torch.Tensor, lam: float) -> tuple[torch.Tensor, float]:
        """Paste a box of area share ``1 − lam`` from the permuted batch; return the exact λ."""
        if x.ndim != 4:
            raise ValueError(f"cutmix: needs N×C×H×W image batches, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        ratio = np.sqrt(1.0 - lam)
        cut_h, cut_w = int(h * ratio), int(w * ratio)
        cy, cx = int(self.rng.integers(h)), int(self.rng.integers(w))
        top, bottom = np.clip([cy - cut_h // 2, cy + cut_h // 2], 0, h)
        left, right = np.clip([cx - cut_w // 2, cx + cut_w // 2], 0, w)
        x = x.clone()
        x[..., top:bottom, left:right] = x[perm][..., top:bottom, left:right]
        return x, 1.0 - (bottom - top) * (right - left) / (h * w)
