"""Carry out a plan: feature jobs, then classifier jobs, on a joblib backend.

Tasks run serially (``--jobs 1``), in loky processes, or on a Dask cluster through
joblib's ``dask`` backend; results come back as each finishes, advancing a progress
bar per phase (none for a phase with nothing to do). The classifiers' bar shows the
best pipeline so far by the leaderboard's own statistic, the mean accuracy over its
folds (:class:`BestMean`). Workers catch every error into their result, so a failure
is a result here, never an exception.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import joblib
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from ferengine.bench.folds import Fold
from ferengine.bench.options import RunOptions
from ferengine.bench.plan import Plan
from ferengine.bench.suite import Suite, SuiteError
from ferengine.bench.tasks import ClassifyJob, classify, extract


def extract_features(plan: Plan, options: RunOptions, progress: Progress) -> dict[str, dict]:
    """Compute the plan's feature jobs, members before the features assembled from them.

    Returns
    -------
    dict
        The failed jobs' results (``error``, ``traceback``) by feature key.
    """
    broken: dict[str, dict[str, Any]] = {}
    bar = _bar(progress, "features", len(plan.features))  # one bar for both waves
    for wave in plan.waves():
        for result in run_tasks(progress, bar, extract, wave, options, plan.cache_root):
            if result["status"] != "ok":
                broken[result["key"]] = result
    return broken


def classify_all(
    jobs: list[ClassifyJob],
    cache_root: str,
    options: RunOptions,
    progress: Progress,
    console: Console,
    best: BestMean,
) -> list[dict[str, Any]]:
    """Fit, score and store every classifier job; print and return the failures.

    Each result goes into ``best``, whose leader the bar shows.
    """
    failures = []
    out = str(options.out)
    bar = _bar(progress, "classifiers", len(jobs))
    for result in run_tasks(progress, bar, classify, jobs, options, cache_root, out):
        best.add(result)
        if bar is not None:
            progress.update(bar, best=best.text())
        if result["status"] != "ok":
            failures.append(result)
            console.print(
                f"[red]failed[/red] {result['pipeline']} fold {result['fold']}: {result['error']}"
            )
    return failures


def run_tasks(
    progress: Progress,
    bar: TaskID | None,
    func: Callable[..., dict[str, Any]],
    items: list[Any],
    options: RunOptions,
    *args: Any,
) -> Iterable[dict[str, Any]]:
    """Yield ``func(item, *args)`` for every item as each finishes, advancing ``bar``."""
    if options.backend == "loky" and options.jobs == 1:
        results: Iterable[dict[str, Any]] = (func(item, *args) for item in items)
    else:
        results = joblib.Parallel(n_jobs=options.jobs, return_as="generator_unordered")(
            joblib.delayed(func)(item, *args) for item in items
        )
    for result in results:
        if bar is not None:
            progress.advance(bar)
        yield result


def _bar(progress: Progress, name: str, total: int) -> TaskID | None:
    """Add a bar of ``total`` steps; none when there is nothing to do (no stray "0/0")."""
    return progress.add_task(name, total=total, best="") if total else None


class BestMean:
    """The best pipeline so far by the leaderboard's statistic: mean accuracy over its folds.

    Parameters
    ----------
    suite : Suite
        The suite being run: its combinations are the pipelines.
    folds : dict
        Every tested dataset's folds (all repeats), as :func:`~ferengine.bench.plan.load_folds`
        returns them: how many results make a pipeline complete.
    stored : iterable of dict
        Records already in the store (a resumed run), counted like new results.
    """

    def __init__(
        self, suite: Suite, folds: dict[str, list[Fold]], stored: Iterable[dict[str, Any]] = ()
    ) -> None:
        self.expected = {(c.dataset, c.label): len(folds[c.dataset]) for c in suite.combinations}
        wanted = {c.key for c in suite.combinations}
        self.accuracies: dict[tuple[str, str], list[float]] = defaultdict(list)
        for record in stored:
            if record.get("combination") in wanted:
                self.add(record)

    def add(self, result: dict[str, Any]) -> None:
        """Count one task's result (a record, or what a worker returns); failures are skipped."""
        key = (result.get("dataset"), result.get("pipeline"))
        if result.get("status") == "ok" and result.get("accuracy") is not None:
            self.accuracies[key].append(float(result["accuracy"]))

    def leaders(self) -> dict[str, tuple[str, float, int, int]]:
        """Per dataset: the best pipeline, its mean accuracy, folds counted, folds expected."""
        found: dict[str, tuple[str, float, int, int]] = {}
        for (dataset, pipeline), scores in self.accuracies.items():
            mean = sum(scores) / len(scores)
            if dataset not in found or mean > found[dataset][1]:
                expected = self.expected.get((dataset, pipeline), len(scores))
                found[dataset] = (pipeline, mean, len(scores), expected)
        return found

    def text(self) -> str:
        """Return ``"best mean over folds 0.742 hog(cell=8) → svm(...)"`` (per dataset).

        A leader with folds still to come says so: ``"(2/3 folds)"``.
        """
        several = len({dataset for dataset, _ in self.expected}) > 1
        parts = []
        for dataset, (pipeline, mean, done, expected) in self.leaders().items():
            where = f"{dataset}: " if several else ""
            partial = f" ({done}/{expected} folds)" if done < expected else ""
            parts.append(f"{where}{mean:.3f}{partial} {pipeline}")
        return "best mean over folds " + "; ".join(parts) if parts else ""


@contextlib.contextmanager
def progress_bars(console: Console) -> Iterator[Progress]:
    """Show the phases' progress bars on ``console`` (left on screen when done)."""
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("{task.fields[best]}"),
        console=console, transient=False,
    )  # fmt: skip
    with progress:
        yield progress


@contextlib.contextmanager
def backend(options: RunOptions) -> Iterator[None]:
    """Set joblib's backend: loky processes, or a Dask cluster (given, or local).

    Raises
    ------
    SuiteError
        ``--backend dask`` without the ``distributed`` extra installed.
    """
    if options.backend == "loky":
        yield
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise SuiteError(
            "--backend dask needs the distributed extra: pip install 'ferengine[distributed]'"
        ) from exc
    with contextlib.ExitStack() as stack:
        if options.scheduler:
            stack.enter_context(Client(options.scheduler))
        else:
            cluster = stack.enter_context(LocalCluster(
                n_workers=options.jobs, threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=None,
            ))  # fmt: skip
            stack.enter_context(Client(cluster))
        stack.enter_context(joblib.parallel_config(backend="dask"))
        yield
