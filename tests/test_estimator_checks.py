"""scikit-learn's estimator checks on every registered preprocessor, feature and classifier.

The list comes from the registry itself, so a new built-in plugin is checked
without editing this file. A plugin class may provide ``_test_params`` (a dict
of constructor parameters for a small, fast instance) and ``_expected_failed_checks``
(check name -> reason) for checks that cannot apply.

Plugins that take images (``_image_input = True``) are checked through a
subclass that turns the checks' N×D tables into N×16×16 images (each row tiled)
and flattens image output; everything else — parameters, fitting, validation,
dtypes, pickling, determinism — is the plugin's own code.
"""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

from ferengine import registry

KINDS = ("preprocessor", "feature", "classifier")
#: Plugins whose checks take seconds each (XGBoost, torch, k-means, dlib, forests): they
#: run with the slow tests, the others with every test run.
SLOW = {"xgboost", "cnn", "cnn-embedding", "softmax-head", "bovw", "align", "landmarks",
        "random-forest", "extra-trees"}  # fmt: skip
SIDE = 16
#: Built-ins that do not declare scikit-learn ``_parameter_constraints`` yet, with why; a
#: test fails once one of them declares them, so the entry is removed then.
UNDECLARED = {"concat": "being restructured (features assembled from cached members)"}
#: Packages left out of the parameter-validation checks: the torch estimators route
#: prefixed parameters (``module__width``) skorch-style, which scikit-learn's
#: check_param_validation (one constraint per fixed parameter) cannot express.
PREFIX_ROUTED = ("ferengine_deep",)


def _as_images(X):
    if hasattr(X, "toarray"):  # sparse: let the plugin refuse it
        return X
    X = np.asarray(X)
    if X.ndim != 2 or X.dtype.kind not in "uifbcO" or not X.size:
        return X
    return np.stack([np.resize(row, SIDE * SIDE).reshape(SIDE, SIDE) for row in X])


def _flat(out):
    return out.reshape(len(out), -1) if isinstance(out, np.ndarray) and out.ndim > 2 else out


_ADAPTERS = {}
_IMAGE_METHODS = ("transform", "predict", "predict_proba", "decision_function")


def _table_input(cls, self, X):
    """Check a table's width like sklearn does, then tile it into images."""
    X = X if hasattr(X, "toarray") else np.asarray(X)
    width = getattr(self, "n_features_in_", None)  # unfitted: the plugin raises
    if X.ndim == 2 and width is not None and X.shape[1] != width:
        raise ValueError(
            f"X has {X.shape[1]} features, but {cls.__name__} is expecting "
            f"{width} features as input"
        )
    return _as_images(X)


def _wrap(cls, method):
    base = getattr(cls, method)

    def wrapped(self, X, *args, **kw):
        return _flat(base(self, _table_input(cls, self, X), *args, **kw))

    wrapped.__name__ = method
    return wrapped


def _table_adapter(cls):
    """A subclass of an image plugin that sklearn's table-based checks can drive.

    Only the methods the plugin has are wrapped, so a classifier stays a classifier
    and a transformer a transformer in sklearn's eyes.
    """
    if cls in _ADAPTERS:
        return _ADAPTERS[cls]

    def fit(self, X, y=None, **kw):
        X = X if hasattr(X, "toarray") else np.asarray(X)
        width = X.shape[1] if X.ndim == 2 else None
        cls.fit(self, _as_images(X), y, **kw)
        if width is not None:
            self.n_features_in_ = width
        return self

    methods = {"fit": fit}
    methods.update({m: _wrap(cls, m) for m in _IMAGE_METHODS if hasattr(cls, m)})
    if hasattr(cls, "transform"):
        methods["fit_transform"] = lambda self, X, y=None, **kw: self.fit(X, y, **kw).transform(X)
    name = f"Table{cls.__name__}"
    adapted = type(name, (cls,), methods)
    adapted.__module__ = __name__
    adapted.__qualname__ = name
    globals()[name] = adapted  # picklable by reference, as sklearn's pickling check needs
    _ADAPTERS[cls] = adapted
    return adapted


def _instances(slow=None):
    """Instances of the built-in plugins; only the slow ones or the others if ``slow`` is set."""
    out = []
    for kind in KINDS:
        for name in registry.names(kind):
            rec = registry.get_registry().record(kind, name)
            if rec.status != "ok" or rec.package != "ferengine":
                continue
            if slow is not None and (name in SLOW) != slow:
                continue
            cls = _table_adapter(rec.cls) if getattr(rec.cls, "_image_input", False) else rec.cls
            out.append(cls(**getattr(rec.cls, "_test_params", {})))
    return out


def _expected_failures(estimator):
    return dict(getattr(estimator, "_expected_failed_checks", {}))


def test_every_builtin_kind_is_covered():
    names = {type(e).name for e in _instances()}
    assert {"pixels", "logistic", "hog", "lbp", "svm-linear", "clahe"} <= names


def test_slow_names_are_builtin_plugins():
    assert {type(e).name for e in _instances(slow=True)} == SLOW


@parametrize_with_checks(_instances(slow=False), expected_failed_checks=_expected_failures)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks(_instances(slow=True), expected_failed_checks=_expected_failures)
def test_sklearn_compatible_slow_estimator(estimator, check):
    check(estimator)


def _constraints(cls):
    return getattr(cls, "_parameter_constraints", None)


def _declared(estimator):
    cls = type(estimator)  # or its table adapter, a subclass
    routed = any(c.__module__.startswith(PREFIX_ROUTED) for c in cls.__mro__)
    return cls.name not in UNDECLARED and not routed


def test_undeclared_constraints_are_listed_with_a_reason():
    names = {type(e).name: type(e) for e in _instances()}
    assert set(UNDECLARED) <= set(names)
    for name in UNDECLARED:
        declared = _constraints(names[name]) or {}
        assert not set(declared) >= set(names[name]().get_params(deep=False)), (
            f"{name} now declares _parameter_constraints: remove it from UNDECLARED"
        )


@pytest.mark.parametrize("estimator", [e for e in _instances() if _declared(e)], ids=repr)
def test_parameters_are_validated_by_their_constraints(estimator):
    """Every parameter has a constraint, and fit raises InvalidParameterError naming it.

    scikit-learn's own check: it sets each parameter to a value of no accepted type, then to
    an invalid value of each accepted type, and expects fit (and fit_transform,
    fit_predict) to name the parameter and the class.
    """
    check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize("kind", ["detector", "landmarker"])
def test_detector_and_landmarker_parameters_are_all_constrained(kind):
    for name in registry.names(kind):
        rec = registry.get_registry().record(kind, name)
        if rec.status != "ok" or rec.package != "ferengine":
            continue
        params = set(rec.cls().get_params(deep=False))
        assert set(_constraints(rec.cls) or {}) == params, name
