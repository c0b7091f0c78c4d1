"""Checks of torch networks rebuilt on load.

ferengine's deep classifiers save a network as a ``{name: array}`` state dict and
rebuild it from their own parameters (``_new_module``); torch's strict
``load_state_dict`` already refuses missing, unexpected or wrongly shaped
arrays (:func:`ferengine.load` reports that as a damaged file). What remains is
the values: every weight and buffer must be finite.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ferengine.model_checks import FieldError, register_check
from ferengine.model_checks.fields import all_finite


@register_check("torch.nn.modules.module.Module")
def check_module(module: Any) -> None:
    """Every floating-point parameter and buffer of a network is finite."""
    import torch

    named = [*module.named_parameters(), *module.named_buffers()]
    for name, tensor in named:
        if not isinstance(tensor, torch.Tensor):
            raise FieldError(name, f"is a {type(tensor).__name__}, not a tensor")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            all_finite(tensor.detach().cpu().numpy().astype(np.float64), name)
