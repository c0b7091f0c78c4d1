"""Plan a benchmark run: its tasks, the features they need, and what is already done.

A *task* is one combination of the suite on one fold. It needs the features of the
combination's front (preprocessing + feature steps) on that fold: a
:class:`~ferengine.bench.tasks.FeatureJob` keyed by :func:`~ferengine.bench.keys.feature_key`,
shared by every task with the same front and fold. Planning computes nothing: it decides
which tasks are already stored (``--resume``), which feature jobs the others need,
which of those the cache holds, and which fronts are assembled from their members'
cached features — those whose last step declares
:class:`~ferengine.extractor.AssembledFeature`.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferengine.bench.cache import FeatureCache
from ferengine.bench.folds import Fold, cached_folds
from ferengine.bench.keys import feature_key
from ferengine.bench.options import RunOptions
from ferengine.bench.store import ResultStore
from ferengine.bench.suite import Combination, DatasetRef, Suite
from ferengine.bench.tasks import ClassifyJob, FeatureJob
from ferengine.errors import FerengineError
from ferengine.extractor import assembled_from
from ferengine.registry import Registry, get_registry, parameters
from ferengine.steps import StepBuilder, StepSpec

Front = tuple[dict[str, Any], ...]


@dataclass
class Plan:
    """What a run will do: made by :func:`make_plan`, run by :mod:`~ferengine.bench.execute`.

    Attributes
    ----------
    tasks : int
        Combination × fold tasks of the suite.
    resumed : int
        Tasks already stored, skipped.
    jobs : list of ClassifyJob
        The tasks to run; ``meta["cache"]`` says whether their features were cached.
    features : list of FeatureJob
        Feature jobs the cache lacks, in the order to compute them (those computed
        from images, then those assembled from their members).
    cache_hits : int
        Feature jobs the tasks need that the cache holds.
    cache_root : str
        The feature cache folder.
    """

    tasks: int
    resumed: int
    jobs: list[ClassifyJob]
    features: list[FeatureJob]
    cache_hits: int
    cache_root: str

    @property
    def cache_misses(self) -> int:
        """Feature jobs to compute."""
        return len(self.features)

    def waves(self) -> tuple[list[FeatureJob], list[FeatureJob]]:
        """Feature jobs computed from images, then those assembled from their members."""
        return [j for j in self.features if not j.members], [j for j in self.features if j.members]

    def runnable(self, broken: Container[str]) -> list[ClassifyJob]:
        """Return the tasks whose features did not fail (``broken``: failed feature keys)."""
        return [job for job in self.jobs if job.feature_key not in broken]


def load_folds(suite: Suite, datasets: dict[str, DatasetRef], out: Path) -> dict[str, list[Fold]]:
    """Return the folds of every tested dataset key, stored under ``out/folds``."""
    keys = dict.fromkeys(c.dataset for c in suite.combinations)
    return {k: cached_folds(k, datasets, suite.protocol, suite.seed, out / "folds") for k in keys}


def make_plan(
    suite: Suite,
    folds: dict[str, list[Fold]],
    store: ResultStore,
    options: RunOptions,
    registry: Registry | None = None,
) -> Plan:
    """Plan every combination × fold of ``suite`` not already in ``store``.

    ``registry`` is where a front's last step is looked up to find whether it is
    assembled from members (default: the process-wide registry, which workers use).
    """
    pairs = [(combo, fold) for combo in suite.combinations for fold in folds[combo.dataset]]
    todo = [(c, f) for c, f in pairs if not (options.resume and store.finished(task_name(c, f)))]
    features: dict[str, FeatureJob] = {}
    jobs = [
        _classify_job(combo, fold, _add_front(features, fold, combo.front, registry), suite.seed)
        for combo, fold in todo
    ]
    missing, hits = _to_compute(jobs, features, FeatureCache(options.cache_root()))
    computed = {job.key for job in missing}
    for job in jobs:
        job.meta["cache"] = "miss" if job.feature_key in computed else "hit"
    return Plan(len(pairs), len(pairs) - len(todo), jobs, missing, hits, options.cache_root())


def task_name(combo: Combination, fold: Fold) -> str:
    """Name of a task in the results store: ``<combination key>-r<repeat>-f<fold>``."""
    return f"{combo.key}-r{fold.repeat}-f{fold.index}"


def member_steps(step: Any, registry: Registry | None = None) -> list[dict[str, Any]]:
    """Member steps (as tables) of a step whose plugin is an assembled feature, else ``[]``.

    The plugin class is looked up in ``registry``; when it declares
    :class:`~ferengine.extractor.AssembledFeature`, its members are the step's
    ``members_param`` parameter, or that parameter's default. A step the registry cannot
    build has no members here: its feature job fails and records why.
    """
    spec = StepSpec.parse(step)
    if spec.name is None:  # an estimator instance (Python only): computed as it is
        return []
    registry = registry or get_registry()
    try:
        cls = registry.get(*StepBuilder(registry).resolve(spec.name))
    except FerengineError:
        return []
    param = assembled_from(cls)
    if param is None:
        return []
    members = spec.params.get(param, parameters(cls)[param])
    return [StepSpec.parse(member).to_dict() for member in members]


def _add_front(
    features: dict[str, FeatureJob], fold: Fold, front: Front, registry: Registry | None
) -> str:
    """Add the feature job of ``front`` on ``fold`` (and its members') unless known; its key."""
    key = feature_key(fold, front)
    if key in features:
        return key
    members = []
    for step in member_steps(front[-1], registry) if front else []:
        member = (*front[:-1], step)
        member_key = feature_key(fold, member)
        features.setdefault(member_key, FeatureJob(member_key, fold, member))
        members.append(member_key)
    features[key] = FeatureJob(key, fold, front, tuple(members))
    return key


def _classify_job(combo: Combination, fold: Fold, key: str, seed: int) -> ClassifyJob:
    combination = {
        "key": combo.key,
        "dataset": combo.dataset,
        "label": combo.label,
        "front": list(combo.front),
        "classifier": combo.classifier,
    }
    return ClassifyJob(task_name(combo, fold), key, fold, combination, seed=seed + fold.repeat)


def _to_compute(
    jobs: list[ClassifyJob], features: dict[str, FeatureJob], cache: FeatureCache
) -> tuple[list[FeatureJob], int]:
    """Feature jobs missing from the cache (members of missing assembled ones included), hits."""
    direct = dict.fromkeys(job.feature_key for job in jobs)
    missing = [features[key] for key in direct if key not in cache]
    members = dict.fromkeys(m for job in missing for m in job.members if m not in direct)
    missing += [features[key] for key in members if key not in cache]
    return missing, len(direct) + len(members) - len(missing)
