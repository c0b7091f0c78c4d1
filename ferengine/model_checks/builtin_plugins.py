"""Checks of the built-in plugin classifiers that hold fitted arrays or other estimators.

They are registered by qualified name, so this module imports no plugin: a
check applies once skops has imported the class to rebuild a model. Each
compares what the classifier's own prediction code combines — class codes of
wrapped estimators, support-vector tables, booster sizes, member classes —
so that a loaded model either predicts or is refused.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ferengine.model_checks import FieldError, register_check
from ferengine.model_checks.fields import (
    array,
    check_array,
    classes,
    codes,
    equal,
    in_range,
    integer,
    number,
)
from ferengine.model_checks.state import register_state_check
from ferengine.model_checks.xgboost_models import sanitize_booster

_CLASSIC = "ferengine_classic.classifiers"
_DEEP = "ferengine_deep"


@register_check(f"{_CLASSIC}.weighting.WrappedClassifier")
def check_wrapped(est: Any) -> None:
    """Check the wrapped estimator predicts the codes ``0 … len(classes_)-1`` of ``classes_``."""
    if not hasattr(est, "estimator_"):
        return
    codes(est.estimator_, "classes_", len(classes(est)))


@register_check(f"{_CLASSIC}.svm.SVMLinear")
@register_check(f"{_CLASSIC}.svm.SVMRBF")
@register_check(f"{_CLASSIC}.mlp.MLP")
def check_wrapped_width(est: Any) -> None:
    """Check the wrapped estimator reads the classifier's input features."""
    if hasattr(est, "estimator_"):
        equal("estimator_.n_features_in_", est.estimator_.n_features_in_, "n_features_in_",
              integer(est, "n_features_in_", 1))  # fmt: skip


@register_check(f"{_CLASSIC}.kernel_svm.SVMKernel")
def check_kernel_svm(est: Any) -> None:
    """Kept training rows, their norms and positions against the SVM's Gram-matrix width."""
    if not hasattr(est, "estimator_"):
        return
    n_fit = integer(est, "n_fit_", 1)
    n_features = integer(est, "n_features_in_", 1)
    index = array(est, "fit_index_", ndim=1, kind="i")
    in_range(index, "fit_index_", 0, n_fit)
    array(est, "support_vectors_", shape=(len(index), n_features), kind="f", finite=True)
    array(est, "support_sq_norms_", shape=(len(index),), kind="f", finite=True)
    if number(est, "gamma_") <= 0:
        raise FieldError("gamma_", f"= {est.gamma_} is not positive")
    integer(est, "block_size", 1)
    equal("estimator_.n_features_in_", est.estimator_.n_features_in_, "n_fit_", n_fit)


# XGBoost.__setstate__ hands booster_ to libxgboost's parser: check and re-encode it first.
register_state_check(f"{_CLASSIC}.boosting.XGBoost", "booster_")(sanitize_booster)


@register_check(f"{_CLASSIC}.boosting.XGBoost")
def check_xgboost(est: Any) -> None:
    """Check the booster reads ``n_features_in_`` features and scores every class."""
    if not hasattr(est, "booster_"):
        return
    booster = est.booster_
    n_classes = len(classes(est, at_least=2))
    equal("booster_.num_features()", booster.num_features(), "n_features_in_",
          integer(est, "n_features_in_", 1))  # fmt: skip
    params = json.loads(booster.save_config())["learner"]["learner_model_param"]
    groups = int(params["num_class"])
    equal("booster_ num_class", groups, "classes scored", 0 if n_classes == 2 else n_classes)
    integer(est, "best_iteration_", 0, booster.num_boosted_rounds())


@register_check(f"{_DEEP}.embedding.SoftmaxHead")
def check_softmax_head(est: Any) -> None:
    """Standardisation statistics of the head's input features."""
    if not hasattr(est, "mean_"):
        return
    classes(est)
    n_features = integer(est, "n_features_in_", 1)
    array(est, "mean_", shape=(n_features,), kind="f", finite=True)
    scale = array(est, "scale_", shape=(n_features,), kind="f", finite=True)
    if np.any(scale <= 0):
        i = int(np.flatnonzero(scale <= 0)[0])
        raise FieldError(f"scale_[{i}]", f"= {scale[i]} is not positive")


@register_check(f"{_DEEP}.base.LogitsClassifier")
def check_logits(est: Any) -> None:
    """Check a fitted network's classes are distinct (its output layer has one unit each)."""
    if hasattr(est, "module_"):
        classes(est)


#: Largest input side a saved ``cnn`` may declare: every image is resized to it at
#: predict time, so a tampered ``size_`` would otherwise set the memory of each batch.
MAX_CNN_SIZE = 1024


@register_check(f"{_DEEP}.estimator.CNN")
def check_cnn(est: Any) -> None:
    """Check the input side the network resizes every image to."""
    if hasattr(est, "module_"):
        integer(est, "size_", 1, MAX_CNN_SIZE + 1)


@register_check(f"{_DEEP}.ensemble.TTA")
def check_tta(est: Any) -> None:
    """Check the averaged classifier's classes are the model's."""
    if hasattr(est, "estimator_"):
        _same_classes(est, est.estimator_, "estimator_.classes_")


@register_check(f"{_DEEP}.ensemble.Fusion")
def check_fusion(est: Any) -> None:
    """Each member's classes are among the model's; weights and meta-learner fit the members."""
    if not hasattr(est, "members_"):
        return
    labels = _sorted_classes(est)
    members = est.members_
    if not isinstance(members, list) or not members:
        raise FieldError("members_", "is not a non-empty list")
    for i, member in enumerate(members):
        inner = check_array(np.asarray(member.classes_), f"members_[{i}].classes_", ndim=1)
        if not np.isin(inner, labels).all():
            raise FieldError(
                f"members_[{i}].classes_", f"= {inner.tolist()} are not all in classes_"
            )
    if est.method == "weighted":
        weights = array(est, "weights_", shape=(len(members),), kind="if", finite=True)
        if np.any(weights < 0):  # all zero (no member right) is the fitted model's own state
            raise FieldError("weights_", f"= {weights.tolist()} holds a negative weight")
    if est.method == "stacking":
        meta = est.meta_
        equal("meta_.n_features_in_", meta.n_features_in_, "members × classes",
              len(members) * len(labels))  # fmt: skip
        _same_classes(est, meta, "meta_.classes_")


@register_check(f"{_DEEP}.tree.CNNTree")
def check_cnn_tree(est: Any) -> None:
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
