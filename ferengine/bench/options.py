"""How to run a suite: the ``ferengine bench`` options, checked before any work."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ferengine.bench.suite import DatasetRef, ExplainSettings, Suite, SuiteError

#: joblib backends a run can use.
BACKENDS = ("loky", "dask")


@dataclass
class RunOptions:
    """How to run a suite (the ``ferengine bench`` options)."""

    out: Path
    jobs: int = 1
    backend: str = "loky"
    scheduler: str | None = None
    resume: bool = False
    cache: Path | None = None
    data: dict[str, str] = field(default_factory=dict)
    wait: bool = False  # another run holds ``out``: wait for it (True) or raise (False)
    explain_top: int | None = None  # explain this many top pipelines (0: none; None: the suite's)

    def cache_root(self) -> str:
        """Return the feature cache folder: ``cache``, or ``OUT/cache``."""
        return str(self.cache or Path(self.out) / "cache")

    def datasets(self, suite: Suite) -> dict[str, DatasetRef]:
        """Check the options against ``suite`` and return its datasets with paths resolved.

        Raises
        ------
        SuiteError
            An unknown backend, fewer than one job, a ``--data`` key the suite lacks, or
            a dataset path that does not resolve.
        """
        if self.backend not in BACKENDS:
            raise SuiteError(f"--backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.jobs < 1:
            raise SuiteError(f"--jobs must be at least 1, got {self.jobs}")
        unknown = set(self.data) - set(suite.datasets)
        if unknown:
            raise SuiteError(
                f"--data names {sorted(unknown)}; the suite's datasets are {sorted(suite.datasets)}"
            )
        if self.explain_top is not None and self.explain_top < 0:
            raise SuiteError(f"--explain-top must be 0 or more, got {self.explain_top}")
        return {k: ref.resolved(self.data.get(k)) for k, ref in suite.datasets.items()}

    def explain(self, suite: Suite) -> ExplainSettings | None:
        """Return how the report explains the top pipelines, or None when it does not.

        ``explain_top`` overrides the suite's ``[report.explain] top`` (0 turns it off);
        given for a suite without that table, it explains with the defaults of
        :class:`~ferengine.bench.suite.ExplainSettings`.
        """
        if self.explain_top is None:
            return suite.explain
        if self.explain_top == 0:
            return None
        return replace(suite.explain or ExplainSettings(), top=self.explain_top)
