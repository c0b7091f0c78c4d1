"""How to run a suite: the ``ferengine bench`` options, checked before any work."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ferengine.bench.suite import DatasetRef, Suite, SuiteError

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
        return {k: ref.resolved(self.data.get(k)) for k, ref in suite.datasets.items()}
