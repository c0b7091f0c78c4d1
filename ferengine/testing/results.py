"""What running a plugin's checks gives: a result per check, and the error naming every failure."""

from __future__ import annotations

import unittest
from dataclasses import dataclass, field

from ferengine.errors import FerengineError, one_line

#: Longest message kept per failed check in :class:`PluginCheckError` (the rest is cut).
MESSAGE_LIMIT = 600


class SkipCheck(unittest.SkipTest):
    """A check does not apply to this plugin (or cannot run here); the message says why.

    A subclass of :class:`unittest.SkipTest`, which pytest reports as a skip, as it does
    for scikit-learn's checks.
    """


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one plugin.

    Attributes
    ----------
    check : str
        The check's name (``"check_output_rows"``, ``"check_fit2d_1sample"``…).
    status : {"passed", "failed", "skipped", "expected"}
        ``"expected"``: the plugin lists the check in ``_expected_failed_checks``, so it
        was not run.
    detail : str
        Why it failed or was skipped; empty when it passed.
    error : BaseException or None
        What a failed check raised (its traceback shows where).
    """

    check: str
    status: str
    detail: str = ""
    error: BaseException | None = field(default=None, repr=False, compare=False)


class PluginCheckError(AssertionError, FerengineError):
    """A plugin failed checks of :mod:`ferengine.testing`; the message names it and each defect.

    Attributes
    ----------
    plugin : str
        The plugin, as ``feature 'hog' (package ferengine)``.
    failures : list of CheckResult
        Every failed check, not only the first.
    """

    def __init__(self, plugin: str, failures: list[CheckResult], n_checks: int) -> None:
        self.plugin = plugin
        self.failures = failures
        lines = [f"{plugin} failed {len(failures)} of {n_checks} checks:"]
        lines += [f"  {r.check}: {one_line(r.detail, MESSAGE_LIMIT)}" for r in failures]
        super().__init__("\n".join(lines))
