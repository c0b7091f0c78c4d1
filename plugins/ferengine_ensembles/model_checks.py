"""Load-time checks of the meta-classifiers, which hold other estimators.

Each module defining a checked class imports this one, so the checks are
registered whenever skops has imported the class to rebuild a model. They are
registered by qualified name because the defining modules import this one.
Each compares what the classifier's own prediction code combines (the classes
of the wrapped classifier, of the members, of the node models), so that a
loaded model either predicts or is refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ferengine.model_checks import FieldError, register_check
from ferengine.model_checks.fields import array, check_array, classes, equal, in_range

_PACKAGE = "ferengine_ensembles"


@register_check(f"{_PACKAGE}.tta.TTA")
def check_tta(est: Any) -> None:
    """Check the averaged classifier's classes are the model's."""
    if hasattr(est, "estimator_"):
        _same_classes(est, est.estimator_, "estimator_.classes_")


@register_check(f"{_PACKAGE}.clip_fusion.ClipFrames")
def check_clip_frames(est: Any) -> None:
    """Check the still-image classifier's classes are the model's."""
    if hasattr(est, "estimator_"):
        _same_classes(est, est.estimator_, "estimator_.classes_")


@register_check(f"{_PACKAGE}.temperature.Temperature")
def check_temperature(est: Any) -> None:
    """Check the temperature is a positive number and the classifier's classes are the model's.

    The classifier, fitted on part of the training samples, may lack a class of
    ``classes_`` (its column is then 0), never have one more.
    """
    if not hasattr(est, "estimator_"):
        return
    labels = _sorted_classes(est)
    temperature = getattr(est, "temperature_", None)
    if not isinstance(temperature, float) or not np.isfinite(temperature) or temperature <= 0:
        raise FieldError("temperature_", f"= {temperature!r} is not a positive finite float")
    inner = check_array(np.asarray(est.estimator_.classes_), "estimator_.classes_", ndim=1)
    if not np.isin(inner, labels).all() or len(np.unique(inner)) != len(inner):
        raise FieldError("estimator_.classes_", "are not distinct classes of classes_")


@register_check(f"{_PACKAGE}.fusion.Fusion")
def check_fusion(est: Any) -> None:
    """Check the members predict the model's classes and the weights or meta-learner fit them.

    Members the ensemble fitted hold the codes ``0 … K-1`` of ``classes_`` (scikit-learn
    encodes the labels); a saved member, frozen, holds ``classes_`` themselves.
    """
    if not hasattr(est, "ensemble_"):
        return
    labels = _sorted_classes(est)
    ensemble = est.ensemble_
    _same_classes(est, ensemble, "ensemble_.classes_")
    members = ensemble.estimators_
    if not isinstance(members, list) or not members:
        raise FieldError("ensemble_.estimators_", "is not a non-empty list")
    encoded = np.arange(len(labels))
    for i, member in enumerate(members):
        name = f"ensemble_.estimators_[{i}].classes_"
        inner = check_array(np.asarray(member.classes_), name, ndim=1)
        if not np.array_equal(inner, labels) and not np.array_equal(inner, encoded):
            raise FieldError(name, f"= {inner.tolist()[:20]} are neither classes_ nor their codes")
    if est.method == "weighted":
        weights = array(est, "weights_", shape=(len(members),), kind="if", finite=True)
        if np.any(weights < 0):  # all zero (no member right) is the fitted model's own state
            raise FieldError("weights_", f"= {weights.tolist()} holds a negative weight")
    if est.method == "stacking":
        meta = ensemble.final_estimator_
        per_member = 1 if len(labels) == 2 else len(labels)  # scikit-learn drops one of two
        equal("ensemble_.final_estimator_.n_features_in_", meta.n_features_in_,
              "members × classes", len(members) * per_member)  # fmt: skip
        if not np.array_equal(np.asarray(meta.classes_), encoded):
            raise FieldError("ensemble_.final_estimator_.classes_", "are not the codes of classes_")


@register_check(f"{_PACKAGE}.tree.ClassifierTree")
def check_classifier_tree(est: Any) -> None:
    """Every internal node of the class tree has a model predicting its children's indices."""
    if not hasattr(est, "nodes_"):
        return
    labels = set(classes(est).tolist())
    if not isinstance(est.tree_, list) or not isinstance(est.nodes_, dict):
        raise FieldError("tree_", "is not a class tree with node models")
    missing = [leaf for leaf in est._leaves(est.tree_) if leaf not in labels]
    if missing:
        raise FieldError("tree_", f"has leaves {missing[:5]} outside classes_")
    for path, children in est._internal(est.tree_):
        model = est.nodes_.get(path)
        if model is None:
            raise FieldError(f"nodes_[{path!r}]", "is missing")
        node_codes = check_array(np.asarray(model.classes_), f"nodes_[{path!r}].classes_",
                                 ndim=1, kind="i")  # fmt: skip
        in_range(node_codes, f"nodes_[{path!r}].classes_", 0, len(children))


def _sorted_classes(est: Any) -> np.ndarray:
    labels = classes(est)
    if labels.dtype.kind != "O" and not np.all(labels[:-1] < labels[1:]):
        raise FieldError("classes_", "are not sorted")
    return labels


def _same_classes(est: Any, inner: Any, name: str) -> None:
    if not np.array_equal(np.asarray(inner.classes_), classes(est)):
        raise FieldError(name, "differ from classes_")
