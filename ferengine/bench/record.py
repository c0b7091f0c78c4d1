"""Record a run in its results folder: the suite, failed tasks, the history, the report.

Workers store each finished task themselves (:func:`~ferengine.bench.tasks.classify`);
this module writes what the run as a whole leaves: ``suite.toml``, the records of tasks
whose features failed, one entry of ``run.json`` per invocation, and ``report.md`` when
the results changed.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ferengine
from ferengine.bench.options import RunOptions
from ferengine.bench.plan import Plan
from ferengine.bench.report import write_report
from ferengine.bench.store import ResultStore, read_history
from ferengine.bench.suite import Suite, SuiteError
from ferengine.bench.tasks import ClassifyJob
from ferengine.fileio import write_atomic


@dataclass
class RunSummary:
    """What one invocation did."""

    tasks: int = 0
    resumed: int = 0
    ran: int = 0
    failed: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    seconds: float = 0.0
    failures: list[dict[str, Any]] = field(default_factory=list)
    suite_changed: bool = True
    explanations_changed: int = 0  # datasets whose explanations (explain/*/index.json) changed

    @property
    def report_stale(self) -> bool:
        """Whether the stored report may differ from what the results now say."""
        return self.ran > 0 or self.suite_changed or self.explanations_changed > 0

    @classmethod
    def of(
        cls, plan: Plan, failures: list[dict[str, Any]], suite_changed: bool, seconds: float
    ) -> RunSummary:
        """Summarise a carried-out plan (every planned task ran, ``failures`` failed)."""
        return cls(
            tasks=plan.tasks, resumed=plan.resumed, ran=len(plan.jobs), failed=len(failures),
            cache_hits=plan.cache_hits, cache_misses=plan.cache_misses, seconds=seconds,
            failures=failures, suite_changed=suite_changed,
        )  # fmt: skip


def open_store(out: Path, resume: bool) -> ResultStore:
    """Return the results store of ``out``.

    Raises
    ------
    SuiteError
        ``out`` already holds results and ``resume`` is False.
    """
    store = ResultStore(out)
    if len(store) and not resume:
        raise SuiteError(
            f"{out} already holds {len(store)} results; pass --resume to continue that run "
            "or choose another --out"
        )
    return store


def store_suite(out: Path, suite: Suite) -> bool:
    """Write the suite's text to ``out/suite.toml``; return whether it differs from before."""
    previous = out / "suite.toml"
    changed = not previous.is_file() or previous.read_text() != suite.text
    write_atomic(previous, suite.text)
    return changed


def record_broken(
    store: ResultStore, jobs: list[ClassifyJob], broken: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Store a failed record for every task whose features failed; return the failures."""
    failures = []
    for job in jobs:
        if job.feature_key in broken:
            result = broken[job.feature_key]
            store.write(_failed_record(job, result))
            failures.append(
                {"task": job.task, "pipeline": job.combination["label"], "error": result["error"]}
            )
    return failures


def _failed_record(job: ClassifyJob, result: dict[str, Any]) -> dict[str, Any]:
    return {
        "task": job.task, "combination": job.combination["key"],
        "dataset": job.combination["dataset"], "pipeline": job.combination["label"],
        "steps": [*job.combination["front"], job.combination["classifier"]],
        "repeat": job.fold.repeat, "fold": job.fold.index, "status": "failed",
        "error": f"feature step failed: {result['error']}", "traceback": result["traceback"],
    }  # fmt: skip


def log_run(out: Path, options: RunOptions, summary: RunSummary) -> None:
    """Append this invocation to ``run.json`` (history of runs into this folder)."""
    path = out / "run.json"
    history = read_history(path, "a new history starts with this run") or []
    history.append({
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": f"{platform.node()} {platform.machine()} {platform.processor()}".strip(),
        "python": platform.python_version(), "ferengine": ferengine.__version__,
        "backend": options.backend, "jobs": options.jobs, "resume": options.resume,
        "tasks": summary.tasks, "resumed": summary.resumed, "ran": summary.ran,
        "failed": summary.failed, "cache_hits": summary.cache_hits,
        "cache_misses": summary.cache_misses, "seconds": round(summary.seconds, 2),
    })  # fmt: skip
    write_atomic(path, json.dumps(history, indent=2))


def refresh_report(out: Path, summary: RunSummary) -> Path:
    """Write ``out/report.md`` (and report.html, the results files) unless current; return its path.

    A resume that ran nothing on an unchanged suite keeps the stored report (unless a page
    is missing: a run stored before report.html existed gets one).
    """
    report = out / "report.md"
    if summary.report_stale or not report.is_file() or not (out / "report.html").is_file():
        report = write_report(out)
    return report
