"""Every built-in plugin of every kind passes ferengine.testing's checks.

The list comes from the registry itself, so a new built-in plugin is checked without
editing this file: ferengine's own checks for its kind and, for preprocessors, features
and classifiers, scikit-learn's estimator checks (see ``ferengine.testing``). A plugin
class tunes them with ``_test_params`` and ``_expected_failed_checks`` (xfail, with the
reason).
"""

import pytest

from ferengine import registry
from ferengine.registry import parameters
from ferengine.testing import parametrize_plugin_checks

#: Plugins whose checks take seconds each (XGBoost, torch training, k-means, dlib, forests,
#: meta-classifiers that fit several members, the shipped CNN): they run with the slow tests.
SLOW = {
    "classifier:xgboost", "classifier:cnn", "feature:cnn-embedding", "classifier:softmax-head",
    "feature:bovw", "preprocessor:align", "feature:landmarks", "classifier:random-forest",
    "classifier:extra-trees", "classifier:tta", "classifier:fusion", "classifier:cnn-tree",
    "model:default", "model:fer2013", "architecture:densenet",
}  # fmt: skip
#: Kinds whose built-ins declare scikit-learn ``_parameter_constraints`` for every parameter.
CONSTRAINED = ("preprocessor", "feature", "classifier", "detector", "landmarker")
#: Built-ins that do not declare them yet, with why; a test fails once one of them
#: declares them, so the entry is removed then.
UNDECLARED = {
    "feature:concat": "being restructured (features assembled from cached members)",
    "feature:cnn-embedding": "its parameters are a model path and cnn's parameters, "
    "which cnn checks when the embedding fits it",
}


def _builtins(slow=None):
    """Return `kind:name` of the built-ins: all, or only the slow ones or only the others."""
    found = []
    for rec in registry.records():
        name = f"{rec.kind}:{rec.name}"
        if rec.builtin and rec.cls is not None and (slow is None or (name in SLOW) == slow):
            found.append(name)
    return found


def test_every_kind_has_checked_builtins():
    assert {name.split(":")[0] for name in _builtins()} == set(registry.KINDS)


def test_slow_names_are_builtin_plugins():
    assert set(_builtins(slow=True)) == SLOW


@parametrize_plugin_checks(_builtins(slow=False))
def test_builtin_plugin(plugin, check):
    check(plugin)


@pytest.mark.slow
@parametrize_plugin_checks(_builtins(slow=True))
def test_slow_builtin_plugin(plugin, check):
    check(plugin)


@pytest.mark.parametrize("name", [n for n in _builtins() if n.split(":")[0] in CONSTRAINED])
def test_builtin_parameters_are_all_constrained(name):
    """Every parameter has a constraint (check_param_validation then checks fit enforces it)."""
    cls = registry.get_registry().get(*name.split(":"))
    declared = set(getattr(cls, "_parameter_constraints", None) or {})
    params = set(parameters(cls))
    if name in UNDECLARED:
        assert not declared >= params, (
            f"{name} now declares _parameter_constraints: remove it from UNDECLARED"
        )
    else:
        assert declared == params, (
            f"{name}: undeclared {params - declared}, unknown {declared - params}"
        )
