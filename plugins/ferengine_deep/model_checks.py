"""Load-time checks of this package's classifiers that hold fitted arrays.

Each module defining a checked class imports this one, so the checks are
registered whenever skops has imported the class to rebuild a model. They are
registered by qualified name because the defining modules import this one.
Each compares what the classifier's own prediction code combines (classes,
input size, standardisation statistics), so that a loaded model either
predicts or is refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ferengine.model_checks import FieldError, register_check
from ferengine.model_checks.fields import array, classes, integer

_PACKAGE = "ferengine_deep"

#: Largest input side a saved ``cnn`` may declare: every image is resized to it at
#: predict time, so a tampered ``size_`` would otherwise set the memory of each batch.
MAX_CNN_SIZE = 1024
#: Most frames a clip network may resample every clip to (``frames``), for the same reason.
MAX_CLIP_FRAMES = 1024


@register_check(f"{_PACKAGE}.embedding.SoftmaxHead")
@register_check(f"{_PACKAGE}.temporal.SequenceClassifier")
def check_softmax_head(est: Any) -> None:
    """Standardisation statistics of the head's input features (softmax and temporal heads)."""
    if not hasattr(est, "mean_"):
        return
    classes(est)
    n_features = integer(est, "n_features_in_", 1)
    array(est, "mean_", shape=(n_features,), kind="f", finite=True)
    scale = array(est, "scale_", shape=(n_features,), kind="f", finite=True)
    if np.any(scale <= 0):
        i = int(np.flatnonzero(scale <= 0)[0])
        raise FieldError(f"scale_[{i}]", f"= {scale[i]} is not positive")


@register_check(f"{_PACKAGE}.base.LogitsClassifier")
def check_logits(est: Any) -> None:
    """Check a fitted network's classes are distinct (its output layer has one unit each)."""
    if hasattr(est, "module_"):
        classes(est)


@register_check(f"{_PACKAGE}.estimator.CNN")
def check_cnn(est: Any) -> None:
    """Check the input side the network resizes every image to."""
    if hasattr(est, "module_"):
        integer(est, "size_", 1, MAX_CNN_SIZE + 1)


@register_check(f"{_PACKAGE}.clip_nets.ClipNetClassifier")
def check_clip_net(est: Any) -> None:
    """Check the frame side and the resampled clip length every clip is brought to."""
    if hasattr(est, "module_"):
        integer(est, "size_", 1, MAX_CNN_SIZE + 1)
        if est.frames is not None:
            integer(est, "frames", 1, MAX_CLIP_FRAMES + 1)


@register_check(f"{_PACKAGE}.onnx_export.OnnxClassifier")
def check_onnx(est: Any) -> None:
    """Check the input side, the classes and the graph (see ``onnx_export.graph_problem``).

    Without the ``onnx`` extra the graph is left unchecked here: it cannot run either,
    and building its session checks it first.
    """
    if not hasattr(est, "onnx_model_"):
        return
    n_classes = len(classes(est))
    size = integer(est, "size_", 1, MAX_CNN_SIZE + 1)
    from ferengine_deep.onnx_export import graph_problem

    try:
        problem = graph_problem(est.onnx_model_, size, n_classes)
    except ImportError:  # pragma: no cover - the onnx extra is not installed
        return
    if problem:
        raise FieldError("onnx_model_", problem)
