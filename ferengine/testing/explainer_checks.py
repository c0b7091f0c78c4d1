"""The checks of explainer plugins: maps of the faces' shape, targets honoured, early refusals.

Explainers are run on small fitted models of two families: a hand-crafted pipeline
(``pixels → logistic``) and, where torch is installed, a tiny ``cnn``
(:func:`check_models`). Each check runs on the models the explainer
:meth:`~ferengine.explain.Explainer.supports`; on the others it checks the refusal.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from typing import Any

import numpy as np

from ferengine.errors import UnsupportedModelError, one_line
from ferengine.explain import Explanation
from ferengine.pipeline import pipeline
from ferengine.testing.catalogue import check
from ferengine.testing.data import _installed, check_faces
from ferengine.testing.results import SkipCheck
from ferengine.testing.target import PluginUnderTest

#: Faces each check explains (check faces: 32×32 grey).
EXPLAIN_FACES = 4
#: The tiny ``cnn`` of the checks: a few seconds of training on the check faces.
TINY_CNN = {"module__width": 4, "max_epochs": 3, "batch_size": 32, "lr": 3e-3,
            "validation_fraction": 0.0, "bf16": False}  # fmt: skip


@cache
def check_models() -> dict[str, Any]:
    """Return the fitted models explainers are checked on, by description (shared: do not alter).

    ``"pixels → logistic"`` always; ``"hog → decision-tree"`` (features that draw
    themselves, a tree's importances) when both are installed; ``"cnn"`` (a tiny one)
    when torch is installed and the ``cnn`` classifier available. All are fitted on the
    check faces (:func:`~ferengine.testing.data.check_faces`).
    """
    faces = check_faces()
    registry = _installed()
    models = {
        "pixels → logistic": pipeline(("pixels", {"size": 16}), "logistic", registry=registry)
    }
    if {"hog", "decision-tree"} <= set(registry.names("feature") + registry.names("classifier")):
        models["hog → decision-tree"] = pipeline(
            "hog", ("decision-tree", {"random_state": 0}), registry=registry
        )
    if importlib.util.find_spec("torch") is not None and "cnn" in registry.names(
        "classifier", available_only=True
    ):
        models["cnn"] = pipeline(("cnn", TINY_CNN), registry=registry)
    return {name: model.fit(faces) for name, model in models.items()}


def _faces() -> np.ndarray:
    return check_faces().images[:EXPLAIN_FACES]


def _supported(plugin: PluginUnderTest) -> dict[str, Any]:
    """Return the check models the explainer supports; skip the check when there is none."""
    explainer = plugin.new()
    found, refused = {}, []
    for name, model in check_models().items():
        reason = explainer.supports(model)
        if reason is None:
            found[name] = model
        else:
            refused.append(f"{name}: {reason}")
    if not found:
        raise SkipCheck(f"it supports none of the check models ({'; '.join(refused)})")
    return found


def _explained(plugin: PluginUnderTest, name: str, model: Any) -> Explanation:
    return plugin.memo(f"explained:{name}", lambda: plugin.new().explain(model, _faces()))


@check("explainer")
def check_explainer_supports(plugin: PluginUnderTest) -> None:
    """Check ``supports`` gives None or a reason, and ``explain`` refuses the models it refuses."""
    explainer = plugin.new()
    for name, model in check_models().items():
        reason = explainer.supports(model)
        if reason is None:
            continue
        if not isinstance(reason, str) or not reason.strip():
            raise AssertionError(
                f"supports({name}) returned {reason!r}; return None, or why the model cannot be "
                "explained"
            )
        try:
            explainer.explain(model, _faces())
        except UnsupportedModelError as exc:
            if plugin.name not in str(exc):
                raise AssertionError(
                    f"explain on {name} raised {one_line(exc)!r}, which does not name the "
                    f"method {plugin.name!r}"
                ) from exc
        else:
            raise AssertionError(
                f"supports({name}) says {reason!r}, but explain on it raised nothing"
            )


@check("explainer")
def check_explainer_maps(plugin: PluginUnderTest) -> None:
    """Check ``explain`` returns an Explanation: one finite float H×W map per face, its classes."""
    faces = _faces()
    for name, model in _supported(plugin).items():
        found = _explained(plugin, name, model)
        if not isinstance(found, Explanation):
            raise AssertionError(
                f"explain on {name} returned {type(found).__name__}, not an Explanation"
            )
        n = len(faces)
        maps = np.asarray(found.maps)
        problems = []
        if maps.shape != faces.shape[:3] or maps.dtype.kind != "f":
            problems.append(f"maps are {maps.dtype} {maps.shape}, not float {faces.shape[:3]}")
        elif not np.isfinite(maps).all():
            problems.append("maps hold NaN or infinite values")
        if found.method != plugin.name:
            problems.append(f"method is {found.method!r}, not the plugin's name {plugin.name!r}")
        classes = len(np.asarray(model.classes_))
        if np.asarray(found.probabilities).shape != (n, classes):
            problems.append(
                f"probabilities have shape {np.shape(found.probabilities)}, not ({n}, {classes})"
            )
        predicted = np.asarray(model.predict_proba(faces)).argmax(axis=1)
        if not np.array_equal(found.predicted, predicted) or not np.array_equal(
            found.targets, predicted
        ):
            problems.append(
                f"predicted {np.asarray(found.predicted).tolist()} and targets "
                f"{np.asarray(found.targets).tolist()} are not the model's predicted classes "
                f"{predicted.tolist()} (target=None explains each face's prediction)"
            )
        if problems:
            raise AssertionError(f"on {name}: " + "; ".join(problems))


@check("explainer")
def check_explainer_target(plugin: PluginUnderTest) -> None:
    """Check a target class, by name or by label, is the class every map explains."""
    faces = _faces()
    for name, model in _supported(plugin).items():
        found = _explained(plugin, name, model)
        column = (int(found.predicted[0]) + 1) % len(found.classes)
        wanted = found.classes[column]
        label = np.asarray(model.classes_)[column].item()
        for target in (wanted, label):
            other = plugin.new().explain(model, faces, target=target)
            if not (np.asarray(other.targets) == column).all():
                raise AssertionError(
                    f"on {name}: target={target!r} explained the columns "
                    f"{np.asarray(other.targets).tolist()}, not {column} ({wanted!r}) for every "
                    "face"
                )


@check("explainer")
def check_explainer_rows_independent(plugin: PluginUnderTest) -> None:
    """Check a face explained alone gets the map it gets in a batch."""
    faces = _faces()
    for name, model in _supported(plugin).items():
        batch = np.asarray(_explained(plugin, name, model).maps)
        alone = np.concatenate([plugin.new().explain(model, faces[i : i + 1]).maps
                                for i in range(len(faces))])  # fmt: skip
        scale = max(1e-12, float(np.abs(batch).max()))
        close = np.isclose(alone, batch, rtol=1e-3, atol=1e-4 * scale)
        if not close.all():
            rows = np.unique(np.nonzero(~close)[0]).tolist()
            raise AssertionError(
                f"on {name}: the maps of faces {rows} differ when they are explained alone; "
                "a face's map must depend on that face and the model only"
            )


def seeded_maps(plugin: PluginUnderTest, seed: dict[str, Any]) -> dict[str, np.ndarray]:
    """Return the maps of the check faces under ``seed`` (for ``check_seed_determinism``)."""
    name, model = next(iter(_supported(plugin).items()))
    return {f"maps on {name}": np.asarray(plugin.new(**seed).explain(model, _faces()).maps)}
