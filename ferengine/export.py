"""Export a saved model to another runtime's form (``ferengine export``).

A fitted step exports itself: a classifier that can offers

``export(format, *, quantize=None, calibration=None) -> estimator``

returning a fitted estimator that takes the same inputs and predicts the same classes
(``ferengine_deep``'s ``cnn``: ``format="onnx"``, an ONNX graph on onnxruntime,
optionally quantised to int8 on ``calibration`` images). :func:`export_model` asks a
model's final step, puts what it returns in that step's place and keeps the steps
before it, so the result is saved, loaded and predicted with like any model. The core
knows no format and imports no plugin: formats and their checks belong to the steps.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from ferengine.dataset import FaceDataset
from ferengine.errors import UnsupportedModelError
from ferengine.registry import Registry


def export_model(
    model: Any,
    format: str = "onnx",
    *,
    quantize: str | None = None,
    calibration: Any = None,
    registry: Registry | None = None,
) -> Any:
    """Return ``model`` with its final step exported to ``format``.

    Parameters
    ----------
    model : str, Path or fitted pipeline
        A model file, a registered model's name ("default"), or a fitted model.
    format : str
        The form the final step exports to ("onnx" for a ``cnn``).
    quantize : str, optional
        Quantisation of the exported step ("int8"), if the step offers it.
    calibration : array-like, optional
        Images the quantisation calibrates on (:func:`calibration_images`).
    registry : Registry, optional
        Where a model name is looked up and whose plugins a file may use.

    Returns
    -------
    Pipeline or estimator
        A copy of the model whose final step is the exported one.

    Raises
    ------
    UnsupportedModelError
        The final step cannot be exported (it has no ``export`` method).
    ValueError
        The step refuses ``format`` or ``quantize``, or ``quantize`` lacks ``calibration``.
    """
    from ferengine.persistence import load

    source = str(model) if isinstance(model, str | Path) else type(model).__name__
    fitted = load(model, registry) if isinstance(model, str | Path) else model
    steps = getattr(fitted, "steps", None)
    name, final = steps[-1] if steps else ("", fitted)
    exporter = getattr(final, "export", None)
    if not callable(exporter):
        step = f"final step {name!r} ({type(final).__name__})" if steps else type(final).__name__
        raise UnsupportedModelError(
            f"{source}: {step} cannot be exported to {format}: only torch image classifiers "
            "(cnn, with any zoo architecture) export"
        )
    exported = exporter(format, quantize=quantize, calibration=calibration)
    if not steps:
        return exported
    out = copy.copy(fitted)  # the loaded model keeps its own steps
    out.steps = [*steps[:-1], (name, exported)]
    return out


def calibration_images(
    dataset: FaceDataset, n: int, split: str = "Training", seed: int = 0
) -> np.ndarray:
    """Return ``n`` images drawn at random from a dataset's ``split`` (all images without splits).

    Quantisation calibrates on them: never on test images.

    Raises
    ------
    ValueError
        ``n`` < 1, or the dataset holds no image of ``split``.
    """
    if n < 1:
        raise ValueError(f"calibration needs at least 1 image, got n={n}")
    pool = np.arange(len(dataset.images))
    if dataset.splits is not None:
        pool = np.flatnonzero(dataset.splits == split)
        if not len(pool):
            raise ValueError(
                f"{dataset.source}: no {split} images to calibrate on (splits: "
                f"{sorted(set(dataset.splits.tolist()))})"
            )
    pick = np.sort(np.random.default_rng(seed).choice(pool, min(n, len(pool)), replace=False))
    return np.asarray(dataset.images[pick])
