"""Checks every plugin kind shares: the hook contract, the interface, parameters, seeds, saving.

The hook contract and the kind's interface (base class, methods); ``get_params`` and
``clone``; determinism under a seed; persistence through ``ferengine.save`` and
``ferengine.load``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone, is_classifier

from ferengine.architectures import Architecture
from ferengine.errors import one_line
from ferengine.explain import Explainer
from ferengine.faces import Landmarker
from ferengine.labels import LabelSpacePlugin
from ferengine.models import PretrainedModel
from ferengine.pipeline import FERPipeline
from ferengine.plugin import Augmenter, DatasetPlugin, FaceDetector
from ferengine.registry import KINDS, Registry, accepts_var_keyword, check_class, parameters
from ferengine.sequences import ClipDataset
from ferengine.testing.catalogue import check
from ferengine.testing.data import AUGMENT_SIDE, check_faces
from ferengine.testing.exercise import ESTIMATOR_KINDS, fit, outputs, training_data
from ferengine.testing.explainer_checks import seeded_maps
from ferengine.testing.fixtures import registry_of
from ferengine.testing.results import SkipCheck
from ferengine.testing.target import PluginUnderTest

#: The ferengine base class each kind's hook asks for (the hook specifications say so).
_KIND_BASES: dict[str, type] = {
    "dataset": DatasetPlugin,
    "augmenter": Augmenter,
    "detector": FaceDetector,
    "landmarker": Landmarker,
    "architecture": Architecture,
    "label-space": LabelSpacePlugin,
    "model": PretrainedModel,
    "explainer": Explainer,
}
#: The methods the kinds without a base class need.
_KIND_METHODS = {
    "preprocessor": ("fit", "transform"),
    "feature": ("fit", "transform"),
    "classifier": ("fit", "predict"),
}
#: Parameters that seed a plugin's randomness, in the order they are looked for.
SEED_PARAMS = ("random_state", "seed")


@check()
def check_hook_conformance(plugin: PluginUnderTest) -> None:
    """Check the class is what its kind's hook accepts: kebab-case name, docstring, requires."""
    problem = check_class(plugin.kind, plugin.cls)
    if problem:
        raise AssertionError(problem)


@check()
def check_kind_interface(plugin: PluginUnderTest) -> None:
    """Check the class has its kind's base class (or methods), abstract methods implemented."""
    cls = plugin.cls
    base = _KIND_BASES.get(plugin.kind)
    if base is not None and not issubclass(cls, base):
        raise AssertionError(
            f"{cls.__qualname__} is not a subclass of {base.__module__}.{base.__qualname__}, "
            f"which the {plugin.kind} hook asks for"
        )
    missing = [m for m in _KIND_METHODS.get(plugin.kind, ()) if not callable(getattr(cls, m, None))]
    if missing:
        raise AssertionError(f"{cls.__qualname__} has no {' or '.join(missing)} method")
    abstract = sorted(getattr(cls, "__abstractmethods__", ()))
    if abstract:
        raise AssertionError(f"{cls.__qualname__} leaves abstract methods {abstract} unimplemented")
    if plugin.kind == "classifier" and not is_classifier(plugin.new()):
        raise AssertionError(
            f"{cls.__qualname__} is not a scikit-learn classifier (its estimator type tag is "
            "not 'classifier'): put ClassifierMixin before BaseEstimator in its bases"
        )


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(np.all(a == b)) if isinstance(a, np.ndarray) else bool(a == b)
    except Exception:
        return False


@check(*(k for k in KINDS if k != "label-space"))
def check_get_params_clone(plugin: PluginUnderTest) -> None:
    """Check ``get_params`` gives every constructor parameter unchanged; ``clone`` copies them."""
    cls = plugin.cls
    if not (issubclass(cls, BaseEstimator) or callable(getattr(cls, "get_params", None))):
        raise AssertionError(
            f"{cls.__qualname__} has no get_params: derive it from sklearn.base.BaseEstimator"
        )
    est = plugin.new()
    params = est.get_params(deep=False)
    named = set(parameters(cls))
    missing = sorted(named - set(params))
    if missing:
        raise AssertionError(
            f"get_params() lacks the constructor parameters {missing}: store each parameter "
            "under its own name in __init__"
        )
    extra = sorted(set(params) - named)
    if extra and not accepts_var_keyword(cls):
        raise AssertionError(f"get_params() returns {extra}, which the constructor does not take")
    changed = [p for p, v in plugin.params().items() if p in params and params[p] is not v]
    if changed:
        raise AssertionError(
            f"__init__ does not store {changed} unchanged (get_params returns other objects): "
            "validate and convert parameters in fit, not in __init__"
        )
    copy = clone(est)
    copied = copy.get_params(deep=False)
    differ = sorted(p for p in params if p not in copied or not _same(params[p], copied[p]))
    if differ:
        raise AssertionError(f"clone() does not reproduce the parameters {differ}")
    if copy.set_params(**params) is not copy:
        raise AssertionError("set_params must return the estimator")


def _seed_param(plugin: PluginUnderTest) -> str | None:
    params = plugin.new().get_params(deep=False) if hasattr(plugin.cls, "get_params") else {}
    return next((p for p in SEED_PARAMS if p in params), None)


def _seeded_output(plugin: PluginUnderTest, seed: dict[str, Any]) -> dict[str, np.ndarray]:
    if plugin.kind == "dataset":
        ds = plugin.new(**seed).load()
        if isinstance(ds, ClipDataset):  # every frame in clip order, and the clip lengths
            return {"images": ds.frames().images, "labels": ds.labels, "lengths": ds.lengths}
        return {"images": np.asarray(ds.images), "labels": np.asarray(ds.labels)}
    if plugin.kind == "augmenter":
        images = check_faces(AUGMENT_SIDE).images[:8]
        return {"augment": np.asarray(plugin.new().augment(images, np.random.default_rng(0)))}
    if plugin.kind == "explainer":
        return seeded_maps(plugin, seed)
    X, _ = training_data(plugin)
    return outputs(plugin.kind, fit(plugin, **seed), X)


def _differences(first: dict[str, np.ndarray], second: dict[str, np.ndarray]) -> list[str]:
    found = []
    for key, a in first.items():
        b = second[key]
        if a.shape != b.shape:
            found.append(f"{key} gives shapes {a.shape} and {b.shape}")
        elif a.dtype.kind in "fc" and not np.allclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True):
            found.append(f"{key} differs by up to {np.nanmax(np.abs(a - b)):.3g}")
        elif a.dtype.kind not in "fc" and not np.array_equal(a, b):
            found.append(f"{key} differs in {int(np.sum(a != b))} of {a.size} values")
    return found


@check("dataset", "preprocessor", "augmenter", "feature", "classifier", "explainer")
def check_seed_determinism(plugin: PluginUnderTest) -> None:
    """Check two runs under one seed (``random_state``/``seed``, an augmenter's rng) agree."""
    if plugin.kind == "augmenter":
        seed: dict[str, Any] = {}
        what = "two augment calls with generators seeded 0"
    else:
        param = _seed_param(plugin)
        if param is None:
            raise SkipCheck(f"{plugin.cls.__qualname__} takes no {' or '.join(SEED_PARAMS)}")
        value = plugin.params().get(param, plugin.new().get_params()[param])
        seed = {param: 0 if value is None else value}
        runs = {"dataset": "loads", "explainer": "explanations"}.get(plugin.kind, "fits")
        what = f"two {runs} with {param}={seed[param]!r}"
    found = _differences(_seeded_output(plugin, seed), _seeded_output(plugin, seed))
    if found:
        raise AssertionError(f"{what} disagree: {'; '.join(found)}")


def trusting(plugin: PluginUnderTest) -> Registry:
    """Return a registry whose plugin packages include the plugin's, for ``ferengine.load``.

    A plugin that is not registered (a class under development) gets a registry of the
    installed plugins plus its class.
    """
    registry = plugin.lookup()
    if plugin.cls.__module__.split(".")[0] in registry.plugin_packages():
        return registry
    return registry_of({plugin.kind: [plugin.cls]}, installed=True)


@check(*ESTIMATOR_KINDS)
def check_persistence(plugin: PluginUnderTest) -> None:
    """Check a fitted pipeline of the plugin gives the same output after ``save`` and ``load``."""
    from ferengine.persistence import load, save

    X, y = training_data(plugin)
    pipe = FERPipeline([(plugin.name, plugin.new())]).fit(X, y)
    before = outputs(plugin.kind, pipe, X)
    registry = trusting(plugin)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{plugin.name}.fer"
        try:
            save(pipe, path, registry=registry)
        except Exception as exc:
            raise AssertionError(
                f"ferengine.save of a fitted pipeline of it raised {type(exc).__name__}: "
                f"{one_line(exc, 300)}"
            ) from exc
        try:
            loaded = load(path, registry=registry)
        except Exception as exc:
            raise AssertionError(
                f"ferengine.load of its saved pipeline raised {type(exc).__name__}: "
                f"{one_line(exc, 300)}"
            ) from exc
    after = outputs(plugin.kind, loaded, X)
    found = [
        f"{key} differs after loading"
        + (f" (shapes {a.shape} and {after[key].shape})" if a.shape != after[key].shape else "")
        for key, a in before.items()
        if key not in after or not np.array_equal(a, after[key], equal_nan=a.dtype.kind in "fc")
    ]
    if found:
        raise AssertionError("; ".join(found) + ": saved state must be the whole fitted state")
