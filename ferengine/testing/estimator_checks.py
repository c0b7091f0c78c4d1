"""scikit-learn's estimator checks for plugins, with an adapter for estimators that take images.

scikit-learn's checks feed N×D tables. A plugin that takes images (``_image_input =
True``) is checked through a subclass, made by :func:`table_adapter`, that turns the
checks' tables into N×16×16 images (each row tiled) and flattens image output;
everything else — parameters, fitting, validation, dtypes, pickling, determinism — is
the plugin's own code. :func:`sklearn_checks` lists scikit-learn's checks of a plugin
(preprocessors, features and classifiers) and ``check_param_validation``, scikit-learn's
check that every parameter has a constraint that ``fit`` enforces (detectors and
landmarkers too, through adapters whose ``fit`` calls ``detect`` or ``locate``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.utils.estimator_checks import check_param_validation as sklearn_param_validation
from sklearn.utils.estimator_checks import estimator_checks_generator

from ferengine.registry import accepts_var_keyword, parameters
from ferengine.testing.catalogue import Check, check
from ferengine.testing.data import PHOTO_BOX, photo
from ferengine.testing.results import SkipCheck
from ferengine.testing.target import PluginUnderTest

#: Kinds scikit-learn's estimator checks apply to.
SKLEARN_KINDS = ("preprocessor", "feature", "classifier")
#: Side of the images a table row becomes.
SIDE = 16
_IMAGE_METHODS = ("transform", "predict", "predict_proba", "decision_function")
_ADAPTERS: dict[type, type] = {}


def _as_images(X: Any) -> Any:
    if hasattr(X, "toarray"):  # sparse: let the plugin refuse it
        return X
    X = np.asarray(X)
    if X.ndim != 2 or X.dtype.kind not in "uifbcO" or not X.size:
        return X
    return np.stack([np.resize(row, SIDE * SIDE).reshape(SIDE, SIDE) for row in X])


def _flat(out: Any) -> Any:
    return out.reshape(len(out), -1) if isinstance(out, np.ndarray) and out.ndim > 2 else out


def _table_input(cls: type, self: Any, X: Any) -> Any:
    """Check a table's width like scikit-learn does, then tile it into images."""
    X = X if hasattr(X, "toarray") else np.asarray(X)
    width = getattr(self, "n_features_in_", None)  # unfitted: the plugin raises
    if X.ndim == 2 and width is not None and X.shape[1] != width:
        raise ValueError(
            f"X has {X.shape[1]} features, but {cls.__name__} is expecting "
            f"{width} features as input"
        )
    return _as_images(X)


def _wrap(cls: type, method: str) -> Any:
    base = getattr(cls, method)

    def wrapped(self: Any, X: Any, *args: Any, **kw: Any) -> Any:
        return _flat(base(self, _table_input(cls, self, X), *args, **kw))

    wrapped.__name__ = method
    return wrapped


def _publish(cls: type, prefix: str, methods: dict[str, Any]) -> type:
    """Return a subclass of ``cls`` with ``methods``, importable from this module (for pickling)."""
    name = f"{prefix}{cls.__name__}"
    while name in globals():  # another plugin's class of the same name
        name += "_"
    adapted = type(name, (cls,), methods)
    adapted.__module__ = __name__
    adapted.__qualname__ = name
    globals()[name] = adapted  # picklable by reference, as scikit-learn's pickling check needs
    return adapted


def table_adapter(cls: type) -> type:
    """Return a subclass of an image plugin that scikit-learn's table-based checks can drive.

    Only the methods the plugin has are wrapped, so a classifier stays a classifier
    and a transformer a transformer in scikit-learn's eyes.

    Parameters
    ----------
    cls : type
        A preprocessor, feature or classifier class taking images.
    """
    if cls in _ADAPTERS:
        return _ADAPTERS[cls]

    def fit(self: Any, X: Any, y: Any = None, **kw: Any) -> Any:
        X = X if hasattr(X, "toarray") else np.asarray(X)
        width = X.shape[1] if X.ndim == 2 else None
        cls.fit(self, _as_images(X), y, **kw)
        if width is not None:
            self.n_features_in_ = width
        return self

    methods: dict[str, Any] = {"fit": fit}
    methods.update({m: _wrap(cls, m) for m in _IMAGE_METHODS if hasattr(cls, m)})
    if hasattr(cls, "transform"):
        methods["fit_transform"] = lambda self, X, y=None, **kw: self.fit(X, y, **kw).transform(X)
    _ADAPTERS[cls] = _publish(cls, "Table", methods)
    return _ADAPTERS[cls]


def _call_adapter(cls: type, kind: str) -> type:
    """Return a subclass whose ``fit`` runs a detector's ``detect`` or a landmarker's ``locate``."""
    if cls in _ADAPTERS:
        return _ADAPTERS[cls]

    def fit(self: Any, X: Any = None, y: Any = None) -> Any:
        if kind == "detector":
            self.detect(photo())
        else:
            self.locate(photo(), np.array([PHOTO_BOX]))
        return self

    _ADAPTERS[cls] = _publish(cls, "Fit", {"fit": fit})
    return _ADAPTERS[cls]


def sklearn_estimator(plugin: PluginUnderTest) -> Any:
    """Return an unfitted instance scikit-learn's checks can drive (adapted if it takes images)."""
    est = plugin.new()
    if getattr(plugin.cls, "_image_input", False):
        return table_adapter(plugin.cls)(**est.get_params(deep=False))
    return est


def check_id(func: Any) -> tuple[str, str]:
    """Return the id (with its variant's keywords) and base name of a scikit-learn check."""
    if isinstance(func, partial):
        base = func.func.__name__
        kw = ",".join(f"{k}={getattr(v, '__name__', v)}" for k, v in func.keywords.items())
        return (f"{base}({kw})" if kw else base), base
    return func.__name__, func.__name__


def _run(check_func: Any, plugin: PluginUnderTest) -> None:
    check_func(sklearn_estimator(plugin))


def sklearn_checks(plugin: PluginUnderTest) -> list[Check]:
    """Return scikit-learn's estimator checks of a preprocessor, feature or classifier plugin.

    The list depends on the estimator's tags, so an instance is made here; one that
    cannot be made gives a single failing check, ``check_sklearn_instance``.
    """
    if plugin.kind not in SKLEARN_KINDS:
        return []
    try:
        est = sklearn_estimator(plugin)
    except Exception as exc:

        def fail(_: PluginUnderTest, exc: Exception = exc) -> None:
            raise exc

        return [Check("check_sklearn_instance", "check_sklearn_instance", fail, (plugin.kind,))]
    checks = []
    for _, func in estimator_checks_generator(est, legacy=True, mark=None):
        name, base = check_id(func)
        checks.append(Check(name, base, partial(_run, func), (plugin.kind,)))
    return checks


def unchecked_constraints(cls: type) -> str:
    """Return why ``check_param_validation`` does not apply to a class, or an empty string.

    It applies when the class declares ``_parameter_constraints`` itself (or a base of
    its own package does), or when those it inherits from ferengine's or scikit-learn's
    base classes cover all its parameters (``FaceDetector``'s cover ``mode`` and
    ``max_side`` only).
    """
    constraints = getattr(cls, "_parameter_constraints", None) or {}
    if not constraints:
        return f"{cls.__qualname__} declares no _parameter_constraints"
    own = any(
        vars(k).get("_parameter_constraints")
        and k.__module__.split(".")[0] not in ("ferengine", "sklearn")
        for k in cls.__mro__
    )
    uncovered = sorted(set(parameters(cls)) - set(constraints))
    if not own and uncovered:
        return (
            f"{cls.__qualname__} declares no _parameter_constraints of its own ({uncovered} "
            f"have none; its base class's cover {sorted(constraints)})"
        )
    return ""


@check("preprocessor", "feature", "classifier", "detector", "landmarker")
def check_param_validation(plugin: PluginUnderTest) -> None:
    """Check every parameter has a constraint that ``fit`` enforces (``check_param_validation``)."""
    est = plugin.new()
    reason = unchecked_constraints(plugin.cls)
    if reason:
        raise SkipCheck(reason)
    if accepts_var_keyword(plugin.cls):
        raise SkipCheck(
            "parameters routed through **kwargs (module__width, …) have no fixed names for "
            "scikit-learn's check_param_validation"
        )
    if plugin.kind in ("detector", "landmarker"):
        est = _call_adapter(plugin.cls, plugin.kind)(**est.get_params(deep=False))
    elif getattr(plugin.cls, "_image_input", False):
        est = sklearn_estimator(plugin)
    sklearn_param_validation(type(est).__name__, clone(est))
