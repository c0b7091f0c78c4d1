"""Sharpness-aware minimisation (SAM; Foret, Kleiner, Mobahi & Neyshabur, ICLR 2021).

SAM looks for weights whose whole neighbourhood has a low loss. Each step takes two
forward/backward passes: the first gives the gradient ``g`` at the weights ``w``; the
weights move to ``w + ρ·g/‖g‖`` (the first-order worst point within radius ``ρ``); the
second pass gives the gradient there; the weights move back to ``w`` and the base
optimiser steps with that second gradient. torch has no SAM, so these few lines do it;
:class:`ferengine_deep.net.BF16Net` runs them inside skorch's training step, so any base
optimiser (Adam, SGD…) and any learning-rate schedule work unchanged.

Batch normalisation keeps the running statistics of the first pass only: the second
pass sees the same batch at perturbed weights, and counting it would weigh each batch
twice (as in the reference implementation's ``disable_running_stats``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch.nn.modules.batchnorm import _BatchNorm


@contextmanager
def ascent(parameters: Iterable[torch.nn.Parameter], rho: float) -> Iterator[None]:
    """Move the weights to ``w + ρ·g/‖g‖`` (their current gradients ``g``); restore on exit.

    Parameters without a gradient (frozen layers) stay where they are.
    """
    params = [p for p in parameters if p.grad is not None]
    with torch.no_grad():
        norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
        steps = [p.grad * (rho / (norm + 1e-12)) for p in params]
        torch._foreach_add_(params, steps)
    try:
        yield
    finally:
        with torch.no_grad():
            torch._foreach_sub_(params, steps)


@contextmanager
def frozen_statistics(module: torch.nn.Module) -> Iterator[None]:
    """Keep the batch-norm running statistics of ``module`` unchanged inside the block."""
    norms = [m for m in module.modules() if isinstance(m, _BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
