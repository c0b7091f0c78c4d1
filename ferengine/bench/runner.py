"""Run a benchmark suite: features once per fold into the cache, then every classifier.

Phase 1 computes each distinct (dataset, fold, front steps) once — a grid of F
feature settings × C classifiers costs F extractions, not F × C — and phase 2 fits
every classifier on the cached matrices. Both phases run in parallel through
joblib (loky processes, or a Dask cluster through joblib's ``dask`` backend);
finished tasks are stored one file each, so an interrupted run resumes where it
stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import ferengine
from ferengine.bench.cache import FeatureCache, cache_key
from ferengine.bench.folds import Fold, cached_folds
from ferengine.bench.lock import folder_lock
from ferengine.bench.store import ResultStore, read_history
from ferengine.bench.suite import DatasetRef, Suite, SuiteError
from ferengine.bench.tasks import ClassifyJob, FeatureJob, classify, extract
from ferengine.fileio import write_atomic
from ferengine.persistence import model_path
from ferengine.registry import info
from ferengine.steps import StepSpec

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

    @property
    def report_stale(self) -> bool:
        """Whether the stored report may differ from what the results now say."""
        return self.ran > 0 or self.suite_changed


def run_suite(suite: Suite, options: RunOptions, console: Console | None = None) -> RunSummary:
    """Run every combination × fold of ``suite`` not already stored, then write the report.

    The results folder is locked for the whole run (:func:`~ferengine.bench.lock.folder_lock`).

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
    if options.backend not in BACKENDS:
        raise SuiteError(f"--backend must be one of {BACKENDS}, got {options.backend!r}")
    if options.jobs < 1:
        raise SuiteError(f"--jobs must be at least 1, got {options.jobs}")
    unknown = set(options.data) - set(suite.datasets)
    if unknown:
        raise SuiteError(
            f"--data names {sorted(unknown)}; the suite's datasets are {sorted(suite.datasets)}"
        )
    datasets = {k: ref.resolved(options.data.get(k)) for k, ref in suite.datasets.items()}
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
    store = ResultStore(out)
    if len(store) and not options.resume:
        raise SuiteError(
            f"{out} already holds {len(store)} results; pass --resume to continue that run "
            "or choose another --out"
        )
    with console.status("loading datasets and folds"):
        folds = {
            key: cached_folds(key, datasets, suite.protocol, suite.seed, out / "folds")
            for key in dict.fromkeys(c.dataset for c in suite.combinations)
        }
    summary = RunSummary()
    previous = out / "suite.toml"
    summary.suite_changed = not previous.is_file() or previous.read_text() != suite.text
    write_atomic(out / "suite.toml", suite.text)
    features: dict[str, FeatureJob] = {}
    jobs: list[ClassifyJob] = []
    for combo in suite.combinations:
        for fold in folds[combo.dataset]:
            summary.tasks += 1
            task = f"{combo.key}-r{fold.repeat}-f{fold.index}"
            if options.resume and store.finished(task):
                summary.resumed += 1
                continue
            key = _feature_key(fold, combo.front)
            if key not in features:
                members = [(*combo.front[:-1], step) for step in fusion_members(combo.front)]
                for front in members:
                    member = _feature_key(fold, front)
                    features.setdefault(member, FeatureJob(member, fold, front))
                keys = tuple(_feature_key(fold, front) for front in members)
                features[key] = FeatureJob(key, fold, combo.front, keys)
            combination = {
                "key": combo.key,
                "dataset": combo.dataset,
                "label": combo.label,
                "front": list(combo.front),
                "classifier": combo.classifier,
            }
            jobs.append(ClassifyJob(task, key, fold, combination, seed=suite.seed + fold.repeat))
    cache_root = str(options.cache or out / "cache")
    cache = FeatureCache(cache_root)
    direct = dict.fromkeys(job.feature_key for job in jobs)
    missing_direct = [features[key] for key in direct if key not in cache]
    members = dict.fromkeys(m for job in missing_direct for m in job.members if m not in direct)
    missing = missing_direct + [features[key] for key in members if key not in cache]
    summary.cache_hits = len(direct) + len(members) - len(missing)
    summary.cache_misses = len(missing)
    broken: dict[str, dict[str, Any]] = {}
    with _progress(console) as progress, _backend(options):
        # members of fused features first, so each is computed once and then reused
        waves = ([j for j in missing if not j.members], [j for j in missing if j.members])
        for wave in waves:
            for result in _run(progress, "features", extract, wave, options, cache_root):
                if result["status"] != "ok":
                    broken[result["key"]] = result
        computed = {job.key for job in missing}
        for job in jobs:
            job.meta["cache"] = "miss" if job.feature_key in computed else "hit"
        runnable = [job for job in jobs if job.feature_key not in broken]
        for job in jobs:
            if job.feature_key in broken:
                _store_failed(store, job, broken[job.feature_key])
                summary.failures.append(
                    {
                        "task": job.task,
                        "pipeline": job.combination["label"],
                        "error": broken[job.feature_key]["error"],
                    }
                )
        for result in _run(
            progress, "classifiers", classify, runnable, options, cache_root, str(out)
        ):
            if result["status"] != "ok":
                summary.failures.append(result)
                console.print(
                    f"[red]failed[/red] {result['pipeline']} fold {result['fold']}: "
                    f"{result['error']}"
                )
    summary.ran = len(jobs)
    summary.failed = len(summary.failures)
    summary.seconds = time.perf_counter() - start
    _log_run(out, options, summary)
    return summary


def fusion_members(front: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """Member features of a front ending in ``concat`` (as step tables), else ``[]``."""
    if not front or StepSpec.parse(front[-1]).bare != "concat":
        return []
    last = StepSpec.parse(front[-1])
    members = last.params.get("features")
    if members is None:  # concat's default features, as its plugin declares them
        members = info("feature", last.name or "concat")["parameters"]["features"]
    return [StepSpec.parse(step).to_dict() for step in members]


def _feature_key(fold: Fold, front: tuple[dict[str, Any], ...]) -> str:
    """Cache key of a front on a fold; ``n_jobs`` is left out (it never changes features)."""
    test = fold.test_side
    front = tuple(_without_n_jobs(step) for step in front)
    parts = [
        "features", ferengine.__version__,
        fold.train_side.ref.describe(),
        test.ref.describe(), None if test.space is None else test.space.names,
        test.contempt, test.table,
        fold.train, fold.test, list(front),
    ]  # fmt: skip
    digests = _model_digests(front)
    return cache_key([*parts, digests] if digests else parts)


def _model_digests(step: Any) -> list[tuple[str, str | None]]:
    """Content hashes of the saved models a front reads (``model`` parameters, any depth).

    A model named by path or as "default" can change under the same name (a retrained
    file), so its bytes, not its name, key the features computed from it.
    """
    if isinstance(step, list | tuple):
        return [d for v in step for d in _model_digests(v)]
    if not isinstance(step, dict):
        return []
    found = [d for k, v in step.items() if k != "model" for d in _model_digests(v)]
    model = step.get("model")
    if isinstance(model, str):
        try:
            digest: str | None = hashlib.sha256(model_path(model).read_bytes()).hexdigest()
        except OSError:
            digest = None  # missing: the feature job fails and names the file
        found.insert(0, (model, digest))
    return found


def _without_n_jobs(step: Any) -> Any:
    if isinstance(step, dict):
        return {k: _without_n_jobs(v) for k, v in step.items() if k != "n_jobs"}
    if isinstance(step, list | tuple):
        return [_without_n_jobs(v) for v in step]
    return step


def _store_failed(store: ResultStore, job: ClassifyJob, result: dict[str, Any]) -> None:
    store.write({
        "task": job.task, "combination": job.combination["key"],
        "dataset": job.combination["dataset"], "pipeline": job.combination["label"],
        "steps": [*job.combination["front"], job.combination["classifier"]],
        "repeat": job.fold.repeat, "fold": job.fold.index, "status": "failed",
        "error": f"feature step failed: {result['error']}", "traceback": result["traceback"],
    })  # fmt: skip


@contextlib.contextmanager
def _progress(console: Console) -> Iterator[Progress]:
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("{task.fields[best]}"),
        console=console, transient=False,
    )  # fmt: skip
    with progress:
        yield progress


@contextlib.contextmanager
def _backend(options: RunOptions) -> Iterator[None]:
    """Set joblib's backend: loky processes, or a Dask cluster (given, or local)."""
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
            client = stack.enter_context(Client(options.scheduler))
        else:
            cluster = stack.enter_context(LocalCluster(
                n_workers=options.jobs, threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=None,
            ))  # fmt: skip
            client = stack.enter_context(Client(cluster))
        stack.enter_context(joblib.parallel_config(backend="dask"))
        del client
        yield


def _run(
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


def line_printer(console: Console) -> Callable[[str], None]:
    """Return a function printing plain text on ``console`` as one unwrapped line."""
    return lambda text: console.print(text, soft_wrap=True, markup=False, highlight=False)


def _log_run(out: Path, options: RunOptions, summary: RunSummary) -> None:
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
