"""scikit-learn's estimator checks on every registered preprocessor, feature and classifier.

The list comes from the registry itself, so a new built-in plugin is checked
without editing this file. A plugin class may provide ``_test_params`` (a dict
of constructor parameters for a small, fast instance) and ``_expected_failed_checks``
(check name -> reason) for checks that cannot apply to image input.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from ferengine import registry

KINDS = ("preprocessor", "feature", "classifier")


def _instances():
    out = []
    for kind in KINDS:
        for name in registry.names(kind):
            rec = registry.get_registry().record(kind, name)
            if rec.status != "ok" or rec.package != "ferengine":
                continue
            out.append(rec.cls(**getattr(rec.cls, "_test_params", {})))
    return out


def _expected_failures(estimator):
    return dict(getattr(estimator, "_expected_failed_checks", {}))


def test_every_builtin_kind_is_covered():
    names = {type(e).name for e in _instances()}
    assert {"pixels", "logistic"} <= names


@parametrize_with_checks(_instances(), expected_failed_checks=_expected_failures)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
