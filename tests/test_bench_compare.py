"""``ferengine bench compare``: two runs' pipelines matched, differences tested."""

import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from ferengine.bench import RunOptions, SuiteError, run_suite
from ferengine.bench.compare import compare_runs
from ferengine.bench.store import ResultStore
from ferengine.cli import main

from .test_bench import KNN, tiny


@pytest.fixture(scope="module")
def run_a(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "a"
    run_suite(tiny(KNN), RunOptions(out))
    return out


def _worsen(out, pipeline_start):
    """Make a pipeline's stored predictions wrong on every sample it got right."""
    store = ResultStore(out)
    for record in list(store.records()):
        if record.get("status") != "ok" or not record["pipeline"].startswith(pipeline_start):
            continue
        y_true, y_pred = np.asarray(record["y_true"]), np.asarray(record["y_pred"])
        right = np.flatnonzero(y_true == y_pred)
        y_pred[right] = (y_true[right] + 1) % 7
        record["y_pred"] = y_pred.tolist()
        record["accuracy"] = float(np.mean(y_true == y_pred))
        store.write(record)


def test_compare_finds_a_pipeline_made_worse(run_a, tmp_path):
    run_b = tmp_path / "b"
    shutil.copytree(run_a, run_b)
    _worsen(run_b, "pixels(size=12) → logistic")
    found = compare_runs(run_a, run_b)
    assert len(found.rows) == 4 and not found.only_a and not found.only_b
    by_name = {row["pipeline"]: row for row in found.rows}
    worse = by_name["pixels(size=12) → logistic(C=0.1)"]
    assert worse["accuracy_b"] == 0 and worse["delta"] == -worse["accuracy_a"] < 0
    test = worse["mcnemar"]
    assert test["c"] == 0 and test["b"] >= 8 and test["p"] < 0.01
    chi = worse["chi_square"]
    assert chi["table"][1] == [0, test["n"]] and chi["table"][0][0] == test["b"]
    assert chi["p"] < 0.05 and same_chi(by_name)["p"] == 1.0
    same = by_name["pixels(size=16) → knn(n_neighbors=3)"]
    assert same["delta"] == 0 and same["mcnemar"]["b"] == same["mcnemar"]["c"] == 0
    assert same["mcnemar"]["p"] == 1.0
    text = found.markdown()
    assert "| synthetic | pixels(size=12) → logistic(C=0.1) |" in text
    assert f"**{test['p']:.3g}**" in text and "| χ² p |" in text


def same_chi(rows):
    return rows["pixels(size=16) → knn(n_neighbors=3)"]["chi_square"]


def test_pipelines_in_one_run_only_are_listed(run_a, tmp_path):
    run_b = tmp_path / "b"
    run_suite(tiny(), RunOptions(run_b))  # logistic only: no knn rows
    found = compare_runs(run_a, run_b)
    assert {p for _, p in found.only_a} == {"pixels(size=12) → knn(n_neighbors=3)",
                                             "pixels(size=16) → knn(n_neighbors=3)"}  # fmt: skip
    assert not found.only_b and len(found.rows) == 2
    assert all(row["delta"] == 0 for row in found.rows)  # same seed, same folds


def test_cli_compare_prints_and_writes_markdown(run_a, tmp_path):
    out = tmp_path / "compare.md"
    result = CliRunner().invoke(main, ["bench", "compare", str(run_a), str(run_a),
                                       "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "pixels(size=12) → logistic(C=0.1)" in result.output
    assert "+0.0000" in out.read_text()
    bad = CliRunner().invoke(main, ["bench", "compare", str(run_a)])
    assert bad.exit_code == 2 and "usage: ferengine bench compare RUN_A RUN_B" in bad.output
    missing = CliRunner().invoke(main, ["bench", "compare", str(run_a), str(tmp_path)])
    assert missing.exit_code == 1
    assert "is not a benchmark results folder (no suite.toml in it)" in missing.output


def test_compare_refuses_a_folder_without_results(tmp_path):
    with pytest.raises(SuiteError, match="no suite.toml"):
        compare_runs(tmp_path, tmp_path)
