"""Carry out a plan: feature jobs, then classifier jobs, on a joblib backend.

Tasks run serially (``--jobs 1``), in loky processes, or on a Dask cluster through
joblib's ``dask`` backend; results come back as each finishes, advancing a progress
bar per phase that shows the best accuracy so far. Workers catch every error into
their result, so a failure is a result here, never an exception.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import joblib
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ferengine.bench.options import RunOptions
from ferengine.bench.plan import Plan
from ferengine.bench.suite import SuiteError
from ferengine.bench.tasks import ClassifyJob, classify, extract


def extract_features(plan: Plan, options: RunOptions, progress: Progress) -> dict[str, dict]:
    """Compute the plan's feature jobs, members before the features assembled from them.

    Returns
    -------
    dict
        The failed jobs' results (``error``, ``traceback``) by feature key.
    """
    broken: dict[str, dict[str, Any]] = {}
    for wave in plan.waves():
        for result in run_tasks(progress, "features", extract, wave, options, plan.cache_root):
            if result["status"] != "ok":
                broken[result["key"]] = result
    return broken


def classify_all(
    jobs: list[ClassifyJob],
    cache_root: str,
    options: RunOptions,
    progress: Progress,
    console: Console,
) -> list[dict[str, Any]]:
    """Fit, score and store every classifier job; print and return the failures."""
    failures = []
    out = str(options.out)
    for result in run_tasks(progress, "classifiers", classify, jobs, options, cache_root, out):
        if result["status"] != "ok":
            failures.append(result)
            console.print(
                f"[red]failed[/red] {result['pipeline']} fold {result['fold']}: {result['error']}"
            )
    return failures


def run_tasks(
    progress: Progress,
    name: str,
    func: Callable[..., dict[str, Any]],
    items: list[Any],
    options: RunOptions,
    *args: Any,
) -> Iterable[dict[str, Any]]:
    """Yield ``func(item, *args)`` for every item as each finishes, advancing a bar."""
    bar = progress.add_task(name, total=len(items), best="")
    best: tuple[float, str] = (-1.0, "")
    if options.backend == "loky" and options.jobs == 1:
        results: Iterable[dict[str, Any]] = (func(item, *args) for item in items)
    else:
        results = joblib.Parallel(n_jobs=options.jobs, return_as="generator_unordered")(
            joblib.delayed(func)(item, *args) for item in items
        )
    for result in results:
        if result.get("accuracy") is not None and result["accuracy"] > best[0]:
            best = (result["accuracy"], result["pipeline"])
            progress.update(bar, best=f"best so far {best[0]:.3f} {best[1]}")
        progress.advance(bar)
        yield result


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
