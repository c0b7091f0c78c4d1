"""Planning a benchmark run, and features assembled from their members' cached features."""

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

import ferengine
from ferengine.bench import RunOptions, parse_suite, run_suite
from ferengine.bench.cache import FeatureCache
from ferengine.bench.folds import make_folds
from ferengine.bench.plan import make_plan, member_steps
from ferengine.bench.store import ResultStore
from ferengine.errors import InvalidPluginError
from ferengine.extractor import assembled_from
from ferengine.plugin_manager import load_entry_points
from ferengine.registry import Registry, get_registry, set_registry
from ferengine.steps import build_model


class RowStats(TransformerMixin, BaseEstimator):
    """Mean and spread of each image (a plugin only the private registry has)."""

    name = "row-stats"

    def fit(self, X, y=None):
        self.n_features_in_ = int(np.prod(np.shape(X)[1:]))
        return self

    def transform(self, X):
        flat = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
        return np.column_stack([flat.mean(axis=1), flat.std(axis=1)])


class Stack(TransformerMixin, BaseEstimator):
    """Member features side by side, each centred (a third-party assembled feature)."""

    name = "stack"
    step_params: ClassVar[dict[str, str]] = {"parts": "steps"}
    members_param: ClassVar[str] = "parts"

    def __init__(self, parts=("row-stats", ("pixels", {"size": 8}))):
        self.parts = parts

    def fit(self, X, y=None):
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None):
        self.parts_ = [build_model(part) for part in self.parts]
        return self.fit_blocks([part.fit_transform(X, y) for part in self.parts_])

    def fit_blocks(self, blocks):
        self.means_ = [block.mean(axis=0) for block in blocks]
        return self.fuse(blocks)

    def fuse(self, blocks):
        centred = [block - mean for block, mean in zip(blocks, self.means_, strict=True)]
        return np.hstack(centred).astype(np.float32)

    def transform(self, X):
        return self.fuse([part.transform(X) for part in self.parts_])


class HalfDeclared(Stack):
    """Declares members but cannot fuse cached blocks."""

    name = "half-declared"
    fuse = None


class _Plugins:
    @ferengine.hookimpl
    def ferengine_register_features(self):
        return [RowStats, Stack, HalfDeclared]


@pytest.fixture
def private():
    """A registry with the fake plugins, installed as the process-wide one (serial runs)."""
    loaded = load_entry_points()
    loaded.manager.register(_Plugins(), name="bench-plan-plugins")
    registry, previous = Registry(loaded), get_registry()
    set_registry(registry)
    yield registry
    set_registry(previous)


SUITE = """
name = "assembled"
[datasets.synthetic]
name = "synthetic"
params = {{ n_subjects = 8, per_expression = 2, size = 32 }}
[protocol]
kind = "subject-kfold"
folds = 2
[[features]]
name = "pixels"
params = {{ size = 8 }}
{features}
[[classifiers]]
name = "logistic"
params = {{ C = 0.1 }}
"""
STACK = '[[features]]\nname = "stack"\n'


def suite_of(registry, features=STACK):
    return parse_suite(SUITE.format(features=features), "s.toml", Path("."), registry)


def plan_of(suite, out, resume=False):
    folds = {"synthetic": make_folds("synthetic", suite.datasets, suite.protocol, suite.seed)}
    return make_plan(suite, folds, ResultStore(out), RunOptions(out, resume=resume))


# --- the declared protocol ------------------------------------------------------------------


def test_member_steps_come_from_the_declared_parameter_or_its_default(private):
    given = {"name": "stack", "params": {"parts": ["hog", ("lbp", {"grid": 2})]}}
    assert member_steps(given, private) == [
        {"name": "hog", "params": {}},
        {"name": "lbp", "params": {"grid": 2}},
    ]
    assert member_steps({"name": "stack", "params": {}}, private) == [
        {"name": "row-stats", "params": {}},
        {"name": "pixels", "params": {"size": 8}},
    ]
    concat = {"name": "feature:concat", "params": {}}  # concat declares it too
    assert [m["name"] for m in member_steps(concat, private)] == ["hog", "lbp"]


def test_other_steps_have_no_members(private):
    assert member_steps({"name": "hog", "params": {}}, private) == []
    installed = Registry(load_entry_points())  # without the fake plugins
    assert member_steps({"name": "stack", "params": {}}, installed) == []
    assert assembled_from(RowStats) is None


def test_a_half_declared_assembly_is_refused_by_name(private):
    with pytest.raises(InvalidPluginError, match="HalfDeclared sets members_param but lacks fuse"):
        member_steps({"name": "half-declared", "params": {}}, private)

    class Undeclared(Stack):
        """members_param names a parameter step_params does not list."""

        step_params: ClassVar[dict[str, str]] = {}

    with pytest.raises(InvalidPluginError, match="members_param is 'parts'; it must name a"):
        assembled_from(Undeclared)


# --- planning -----------------------------------------------------------------------------


def test_plan_shares_members_with_fronts_listed_on_their_own(private, tmp_path):
    plan = plan_of(suite_of(private), tmp_path / "run")
    # pixels(size=8) alone and as a member, row-stats, stack: 3 feature jobs per fold
    assert (plan.tasks, plan.resumed, len(plan.jobs)) == (4, 0, 4)
    assert (plan.cache_hits, plan.cache_misses) == (0, 6)
    direct, assembled = plan.waves()
    assert len(direct) == 4 and len(assembled) == 2
    assert all(len(job.members) == 2 for job in assembled)
    assert {m for job in assembled for m in job.members} == {job.key for job in direct}
    assert {job.meta["cache"] for job in plan.jobs} == {"miss"}
    assert plan.runnable({assembled[0].key}) == [
        job for job in plan.jobs if job.feature_key != assembled[0].key
    ]


def test_a_step_the_global_registry_lacks_is_planned_as_a_plain_front(private, tmp_path):
    suite = suite_of(private)
    set_registry(None)  # the fake plugins are gone: stack's job will fail and say why
    plan = plan_of(suite, tmp_path / "run")
    assert plan.cache_misses == 4 and not any(job.members for job in plan.features)


# --- running ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_third_party_assembled_feature_is_fused_from_cached_members(private, tmp_path):
    suite = suite_of(private)
    out = tmp_path / "run"
    summary = run_suite(suite, RunOptions(out))
    assert (summary.failed, summary.cache_hits, summary.cache_misses) == (0, 0, 6)
    cache = FeatureCache(out / "cache")
    records = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    combo = next(c for c in suite.combinations if c.front[-1]["name"] == "stack")
    (record,) = [r for r in records if r["combination"] == combo.key and r["fold"] == 0]
    entry = cache.get(record["feature_key"])
    assert len(entry.meta["fused_from"]) == 2
    assert all(key in cache for key in entry.meta["fused_from"])
    fold = make_folds("synthetic", suite.datasets, suite.protocol, suite.seed)[0]
    ds = fold.train_side.load()
    direct = ferengine.pipeline(*combo.front).fit(ds.images[fold.train], ds.labels[fold.train])
    assert np.allclose(entry.test, direct.transform(ds.images[fold.test]), atol=1e-4)

    # a second suite with the same fronts finds all of them in the shared cache
    again = run_suite(suite, RunOptions(tmp_path / "again", cache=out / "cache"))
    assert (again.cache_hits, again.cache_misses) == (4, 0)


@pytest.mark.slow
def test_resumed_plans_skip_stored_tasks_and_need_no_features(private, tmp_path):
    suite = suite_of(private)
    out = tmp_path / "run"
    run_suite(suite, RunOptions(out))
    plan = plan_of(suite, out, resume=True)
    assert (plan.tasks, plan.resumed, plan.jobs, plan.features) == (4, 4, [], [])
