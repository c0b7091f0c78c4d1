"""Checks of XGBoost boosters: the tree arrays libxgboost walks without bounds checks.

Two steps. Before skops rebuilds a model, a booster's saved bytes (UBJSON) are
decoded in Python (:mod:`ferengine.model_checks.ubjson`), every tree is
checked, and libxgboost is handed the validated model re-encoded
(:func:`sanitize_booster`): its own UBJSON parser crashes the interpreter on a
damaged buffer. After loading, the booster libxgboost built is read back as JSON
and checked again (:func:`check_booster`), since at prediction libxgboost
follows child indices and reads ``split_indices`` features unchecked.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ferengine.model_checks import FieldError, register_check
from ferengine.model_checks.fields import (
    check_array,
    check_integer,
    equal,
    in_range,
    in_range_at,
)
from ferengine.model_checks.ubjson import decode, encode

_TREE_ARRAYS = ("left_children", "right_children", "parents", "split_indices",
                "split_conditions", "default_left", "split_type")  # fmt: skip


@register_check("xgboost.core.Booster")
def check_booster(booster: Any) -> None:
    """Check every tree of a loaded booster (as libxgboost holds it)."""
    check_booster_model(json.loads(bytes(booster.save_raw("json"))))


def sanitize_booster(raw: bytes) -> bytes:
    """Return saved booster bytes (UBJSON or JSON) checked and re-encoded.

    The model is decoded in Python, checked, and encoded again (UBJSON as XGBoost
    writes it, or JSON for a JSON model), so libxgboost parses well-formed bytes only.

    Raises
    ------
    FieldError
        The bytes are not a well-formed booster, or a tree is inconsistent.
    """
    is_json = bytes(raw[:2]) == b'{"'
    try:
        model = json.loads(raw) if is_json else decode(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise FieldError("", f"is not a readable XGBoost model: {exc}") from None
    check_booster_model(model)
    return json.dumps(model, separators=(",", ":")).encode() if is_json else encode(model)


def check_booster_model(model: Any) -> None:
    """Check a booster's model (its JSON document): parameters and every tree.

    Raises
    ------
    FieldError
        Naming the field (``trees[3].left_children[0]``, ...).
    """
    try:
        _check_model(model)
    except FieldError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise FieldError("", f"has an unexpected layout: {type(exc).__name__}: {exc}") from None


def _check_model(model: dict[str, Any]) -> None:
    learner = model["learner"]
    params = learner["learner_model_param"]
    n_features = check_integer(int(params["num_feature"]), "num_feature", 1)
    n_groups = max(check_integer(int(params["num_class"]), "num_class", 0, 1 << 20), 1)
    check_integer(int(params.get("num_target", "1")), "num_target", 1, 2)
    base = np.asarray(json.loads(params.get("base_score", "0")), dtype=float)
    check_array(base, "base_score", finite=True)
    booster = learner["gradient_booster"]
    if booster["name"] != "gbtree":
        raise FieldError("gradient_booster", f"is {booster['name']!r}, expected 'gbtree'")
    trees_model = booster["model"]
    trees = trees_model["trees"]
    if not isinstance(trees, list):
        raise FieldError("trees", "is not a list")
    info = np.asarray(trees_model["tree_info"])
    equal("len(tree_info)", len(info), "the number of trees", len(trees))
    if len(info):
        in_range(check_array(info, "tree_info", kind="i"), "tree_info", 0, n_groups)
    indptr = check_array(np.asarray(trees_model.get("iteration_indptr", [0, len(trees)])),
                         "iteration_indptr", ndim=1, kind="i")  # fmt: skip
    if not (len(indptr) and indptr[0] == 0 and indptr[-1] == len(trees)
            and np.all(np.diff(indptr) >= 0)):  # fmt: skip
        raise FieldError("iteration_indptr", "does not split the trees into rounds")
    equal("gbtree_model_param.num_trees", int(trees_model["gbtree_model_param"]["num_trees"]),
          "the number of trees", len(trees))  # fmt: skip
    for t, tree in enumerate(trees):
        _check_tree(tree, f"trees[{t}]", n_features)


def _check_tree(tree: dict[str, Any], name: str, n_features: int) -> None:
    """One tree: every internal node's children in range, each node reached once."""
    param = tree["tree_param"]
    n = check_integer(int(param["num_nodes"]), f"{name}.num_nodes", 1)
    if int(param.get("size_leaf_vector", 1)) > 1:
        raise FieldError(f"{name}.size_leaf_vector", "> 1: vector leaves are not read")
    equal(f"{name}.num_feature", int(param["num_feature"]), "num_feature", n_features)
    arrays = {}
    for key in _TREE_ARRAYS:
        arrays[key] = check_array(np.asarray(tree[key]), f"{name}.{key}", shape=(n,))
    check_array(np.asarray(tree["base_weights"]), f"{name}.base_weights", shape=(n,))
    if len(tree.get("categories", [])) or np.any(arrays["split_type"] != 0):
        raise FieldError(f"{name}.split_type", "holds categorical splits, which are not read")
    left = check_array(arrays["left_children"], f"{name}.left_children", kind="i")
    right = check_array(arrays["right_children"], f"{name}.right_children", kind="i")
    internal = np.flatnonzero(left != -1)
    for key, child in (("left_children", left), ("right_children", right)):
        in_range_at(child, internal, f"{name}.{key}", 1, n)
    features = check_array(arrays["split_indices"], f"{name}.split_indices", kind="i")
    in_range_at(features, internal, f"{name}.split_indices", 0, n_features)
    conditions = check_array(arrays["split_conditions"], f"{name}.split_conditions", kind="if")
    check_array(conditions, f"{name}.split_conditions", finite=True)
    reached = np.zeros(n, dtype=np.int64)  # a tree: each node below the root has one parent
    np.add.at(reached, left[internal], 1)
    np.add.at(reached, right[internal], 1)
    if reached[0] or np.any(reached > 1):
        node = 0 if reached[0] else int(np.flatnonzero(reached > 1)[0])
        raise FieldError(f"{name}", f"node {node} has {reached[node]} parents: not a tree")
