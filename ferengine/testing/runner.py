"""Run a plugin's checks: all at once (:func:`check_plugin`) or one pytest case each."""

from __future__ import annotations

import unittest
from collections.abc import Callable, Iterable
from typing import Any

from ferengine.errors import FerengineError, one_line
from ferengine.registry import Registry, missing_requirements
from ferengine.testing import (  # noqa: F401  (they register checks)
    common_checks,
    explainer_checks,
    kind_checks,
)
from ferengine.testing.catalogue import Check, registered_checks
from ferengine.testing.estimator_checks import sklearn_checks
from ferengine.testing.results import CheckResult, PluginCheckError, SkipCheck
from ferengine.testing.target import PluginUnderTest, resolve


def _missing(plugin: PluginUnderTest) -> list[str]:
    """Return the plugin's missing ``requires`` modules.

    None when ``requires`` is malformed, which the hook conformance check reports.
    """
    requires = getattr(plugin.cls, "requires", ())
    if not isinstance(requires, tuple | list) or not all(isinstance(m, str) for m in requires):
        return []
    return missing_requirements(plugin.cls)


def plugin_checks(plugin: PluginUnderTest) -> list[Check]:
    """Return the checks that apply to the plugin: ferengine's for its kind, scikit-learn's."""
    return registered_checks(plugin.kind) + sklearn_checks(plugin)


def describe_failure(exc: BaseException) -> str:
    """Return a failed check's message: an assertion's text, else the exception type and text."""
    if isinstance(exc, AssertionError) and str(exc):
        return one_line(exc)
    return f"raised {type(exc).__name__}: {one_line(exc)}"


def run_check(check: Check, plugin: PluginUnderTest) -> CheckResult:
    """Run one check and return its result (exceptions become failures, skips skips)."""
    try:
        check(plugin)
    except unittest.SkipTest as exc:  # SkipCheck, and scikit-learn's checks' skips
        return CheckResult(check.name, "skipped", str(exc))
    except Exception as exc:
        return CheckResult(check.name, "failed", describe_failure(exc), exc)
    return CheckResult(check.name, "passed")


def check_plugin(
    plugin: Any, kind: str | None = None, *, registry: Registry | None = None
) -> list[CheckResult]:
    """Run every check that applies to a plugin and raise if any fails.

    The checks are :mod:`ferengine.testing`'s own for the plugin's kind (hook
    conformance, outputs, determinism under a seed, persistence, …) and, for
    preprocessors, features and classifiers, scikit-learn's estimator checks (through
    an image adapter for ``_image_input`` estimators). Checks the class lists in
    ``_expected_failed_checks`` (check name -> reason) are not run.

    Parameters
    ----------
    plugin : type, object or str
        A plugin class (instantiated with its ``_test_params``), an instance (cloned),
        or a registered name (``"feature:hog"``, or ``"hog"`` with ``kind``).
    kind : str, optional
        The plugin kind, when neither the registry nor the class's base says it.
    registry : Registry, optional
        Where names are looked up and which plugin packages ``ferengine.load`` trusts
        (default: the process-wide registry).

    Returns
    -------
    list of CheckResult
        One per check: passed, skipped (with the reason) or expected (not run).

    Raises
    ------
    PluginCheckError
        Naming the plugin (``feature 'hog' (package ferengine)``) and every failed
        check with its defect.
    SkipCheck
        The plugin's ``requires`` modules are missing here (a :class:`unittest.SkipTest`).
    """
    target = resolve(plugin, kind, registry)
    missing = _missing(target)
    if missing:
        raise SkipCheck(f"{target} needs {', '.join(missing)}, which is not installed")
    expected = target.expected_failures()
    results = []
    for check in plugin_checks(target):
        if check.base in expected or check.name in expected:
            reason = expected.get(check.name, expected.get(check.base, ""))
            results.append(CheckResult(check.name, "expected", reason))
        else:
            results.append(run_check(check, target))
    failures = [r for r in results if r.status == "failed"]
    if failures:
        raise PluginCheckError(str(target), failures, len(results))
    return results


def _case_runner(check: Check) -> Callable[[PluginUnderTest], None]:
    """Return ``check`` as pytest runs it: skips are ``pytest.skip``, failures name the plugin."""

    def run(plugin: PluginUnderTest) -> None:
        import pytest

        result = run_check(check, plugin)
        if result.status == "skipped":
            pytest.skip(result.detail)
        if result.status == "failed":
            raise PluginCheckError(str(plugin), [result], 1) from result.error

    run.__name__ = check.name
    run.__qualname__ = check.name
    run.__doc__ = check.func.__doc__
    return run


def plugin_cases(plugins: Iterable[Any], registry: Registry | None = None) -> list[Any]:
    """Return ``pytest.param(plugin, check)`` for every plugin and check, with readable ids.

    ``plugins`` as :func:`parametrize_plugin_checks` takes them.
    A plugin that cannot be used here (a missing dependency, an unavailable registered
    name) gives one skipped case saying why.
    """
    import pytest

    cases = []
    for item in plugins:
        plugin, kind = item if isinstance(item, tuple) else (item, None)
        try:
            target = resolve(plugin, kind, registry)
        except FerengineError as exc:  # unavailable or conflicting registered name
            skip = pytest.mark.skip(reason=one_line(exc))
            cases.append(pytest.param(None, None, id=str(plugin), marks=skip))
            continue
        missing = _missing(target)
        if missing:
            reason = f"{target} needs {', '.join(missing)}, which is not installed"
            cases.append(
                pytest.param(target, None, id=target.id, marks=pytest.mark.skip(reason=reason))
            )
            continue
        expected = target.expected_failures()
        for check in plugin_checks(target):
            reason = expected.get(check.name, expected.get(check.base))
            marks = [pytest.mark.xfail(reason=reason)] if reason is not None else []
            cases.append(
                pytest.param(
                    target, _case_runner(check), id=f"{target.id}-{check.name}", marks=marks
                )
            )
    return cases


def parametrize_plugin_checks(plugins: Iterable[Any], *, registry: Registry | None = None) -> Any:
    """Return a pytest parametrize decorator: one test case per plugin and check.

    Like scikit-learn's ``parametrize_with_checks``: the decorated test takes ``plugin``
    and ``check`` and calls ``check(plugin)``. Ids read ``feature:hog-check_output_rows``;
    checks the plugin lists in ``_expected_failed_checks`` are marked ``xfail`` with
    its reason; a plugin that cannot be used here is one skipped case.

    Parameters
    ----------
    plugins : iterable
        Plugin classes, instances or registered names (``"feature:hog"``), or
        ``(plugin, kind)`` pairs where the kind cannot be inferred (a transformer that
        derives from no ferengine base class may be a feature or a preprocessor).
    registry : Registry, optional
        Where names are looked up (default: the process-wide registry).

    Examples
    --------
    >>> from ferengine.testing import parametrize_plugin_checks
    >>> @parametrize_plugin_checks(["feature:dct", Ridge, (Blocks, "feature")])  # doctest: +SKIP
    ... def test_my_plugins(plugin, check):
    ...     check(plugin)
    """
    import pytest

    return pytest.mark.parametrize("plugin, check", plugin_cases(plugins, registry))
