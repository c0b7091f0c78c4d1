"""Run a benchmark suite: plan, execute, record.

:mod:`~ferengine.bench.plan` decides what to do — every combination × fold task not
already stored, the features each needs (each distinct front once per fold, so a grid
of F feature settings × C classifiers costs F extractions, not F × C), which of them the
cache holds, and which are assembled from their members' cached features;
:mod:`~ferengine.bench.execute` computes the missing features and then fits every
classifier on them, in parallel through joblib (loky processes, or a Dask cluster);
:mod:`~ferengine.bench.record` stores the suite, failures and the run history. Each
finished task is stored in a file of its own, so an interrupted run resumes where it
stopped. With ``[report.explain]`` (or ``--explain-top``), the top pipelines of each
leaderboard are then explained (:mod:`~ferengine.bench.explanations`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from ferengine.bench.execute import (
    BestMean,
    backend,
    classify_all,
    extract_features,
    progress_bars,
)
from ferengine.bench.explanations import explain_leaders
from ferengine.bench.lock import folder_lock
from ferengine.bench.options import RunOptions
from ferengine.bench.plan import load_folds, make_plan
from ferengine.bench.record import RunSummary, log_run, open_store, record_broken, store_suite
from ferengine.bench.suite import DatasetRef, Suite


def run_suite(suite: Suite, options: RunOptions, console: Console | None = None) -> RunSummary:
    """Run every combination × fold of ``suite`` not already stored.

    Then, when ``options.explain(suite)`` asks for it (``[report.explain]``,
    ``--explain-top``), explain the top pipelines of each leaderboard
    (:func:`~ferengine.bench.explanations.explain_leaders`). The results folder is
    locked for the whole run
    (:func:`~ferengine.bench.lock.folder_lock`); write the report afterwards with
    :func:`~ferengine.bench.report.write_report`.

    Raises
    ------
    SuiteError
        Bad options or data paths, or an output folder holding another run without
        ``resume``.
    FolderBusyError
        Another process is running into the same folder and ``options.wait`` is False.
    """
    console = console or Console(quiet=True)
    start = time.perf_counter()
    datasets = options.datasets(suite)
    with folder_lock(options.out, options.wait, line_printer(console)):
        return _run_locked(suite, options, console, datasets, start)


def _run_locked(
    suite: Suite,
    options: RunOptions,
    console: Console,
    datasets: dict[str, DatasetRef],
    start: float,
) -> RunSummary:
    out = Path(options.out)
    store = open_store(out, options.resume)
    with console.status("loading datasets and folds"):
        folds = load_folds(suite, datasets, out)
    suite_changed = store_suite(out, suite)
    plan = make_plan(suite, folds, store, options)
    best = BestMean(suite, folds, store.records() if plan.resumed else ())
    with progress_bars(console) as progress, backend(options):
        broken = extract_features(plan, options, progress)
        failures = record_broken(store, plan.jobs, broken)
        failures += classify_all(
            plan.runnable(broken), plan.cache_root, options, progress, console, best
        )
    settings = options.explain(suite)
    explained = 0 if settings is None else explain_leaders(suite, folds, out, settings,
                                                           line_printer(console))  # fmt: skip
    summary = RunSummary.of(plan, failures, suite_changed, time.perf_counter() - start)
    summary.explanations_changed = explained
    log_run(out, options, summary)
    return summary


def line_printer(console: Console) -> Callable[[str], None]:
    """Return a function printing plain text on ``console`` as one unwrapped line."""
    return lambda text: console.print(text, soft_wrap=True, markup=False, highlight=False)
