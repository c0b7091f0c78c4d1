"""The checks of :mod:`ferengine.testing`: each a named function of the plugin under test.

A check takes a :class:`~ferengine.testing.target.PluginUnderTest` and returns nothing
when the plugin passes; it raises :class:`AssertionError` naming the defect when the
plugin fails, :class:`~ferengine.testing.results.SkipCheck` with the reason when the
check does not apply, and any other exception the plugin raised is a failure too.
Checks register themselves with :func:`check`, for the kinds they apply to.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ferengine.registry import KINDS


@dataclass(frozen=True)
class Check:
    """One check: its name (what ``_expected_failed_checks`` keys name), kinds and function.

    Attributes
    ----------
    name : str
        The id shown in reports and test ids (``check_output_rows``,
        ``check_classifiers_train(readonly_memmap=True)``).
    base : str
        The name ``_expected_failed_checks`` uses (the id without its variant).
    func : callable
        ``func(plugin)``; raises on failure.
    kinds : tuple of str
        The kinds it applies to.
    """

    name: str
    base: str
    func: Callable[[Any], None]
    kinds: tuple[str, ...]

    @property
    def description(self) -> str:
        """First line of the check's docstring."""
        doc = inspect.getdoc(self.func) or ""
        return doc.splitlines()[0] if doc else ""

    def __call__(self, plugin: Any) -> None:
        """Run the check on ``plugin`` (raises on failure)."""
        self.func(plugin)


_CHECKS: list[Check] = []


def check(*kinds: str) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register the decorated function as a check of plugins of ``kinds`` (all if none given)."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown plugin kinds {sorted(unknown)}; expected some of {KINDS}")

    def register(func: Callable[[Any], None]) -> Callable[[Any], None]:
        _CHECKS.append(Check(func.__name__, func.__name__, func, tuple(kinds or KINDS)))
        return func

    return register


def registered_checks(kind: str) -> list[Check]:
    """Return ferengine's own checks of ``kind``, in the order they were defined."""
    return [c for c in _CHECKS if kind in c.kinds]
