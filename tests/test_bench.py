"""The benchmark runner: suites, feature cache, resume, failures, backends, reports."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import ferengine
from ferengine.bench import RunOptions, SuiteError, load_suite, parse_suite, run_suite, write_report
from ferengine.bench.contrasts import mcnemar
from ferengine.bench.costs import count_parameters
from ferengine.bench.plots import pareto_front
from ferengine.evaluation import metrics

#: Name, seed, dataset and protocol of the tiny suites the benchmark tests run: two
#: subject-independent folds of 8 synthetic subjects' 32×32 faces.
TINY_HEAD = """
name = "tiny"
seed = 0
[datasets.synthetic]
name = "synthetic"
params = { n_subjects = 8, per_expression = 2, size = 32 }
[protocol]
kind = "subject-kfold"
folds = 2
"""
PIXELS_12 = '[[features]]\nname = "pixels"\nparams = { size = 12 }\n'
LOGISTIC = '[[classifiers]]\nname = "logistic"\nparams = { C = 0.1 }\n'
KNN = '[[classifiers]]\nname = "knn"\nparams = { n_neighbors = 3 }\n'
SVM_LINEAR = '[[classifiers]]\nname = "svm-linear"\n'
#: Two pixel sizes × logistic: add classifiers after it.
TINY = TINY_HEAD + '[[features]]\nname = "pixels"\ngrid = { size = [12, 16] }\n' + LOGISTIC


def tiny(extra=""):
    return parse_suite(TINY + extra, "tiny.toml", Path("."))


def scores(out):
    rows = json.loads((Path(out) / "results.json").read_text())
    return {(r["pipeline"], r["fold"]): r["accuracy"] for r in rows if r["status"] == "ok"}


# --- suites -----------------------------------------------------------------------------


def test_builtin_quick_suite_is_the_default_and_expands_its_grid():
    suite = load_suite()
    assert suite.name == "quick" and suite.protocol.kind == "subject-kfold"
    assert len(suite.combinations) == 4 * 4  # pixels, hog × 2 cells, lbp × 4 classifiers
    assert len({c.key for c in suite.combinations}) == len(suite.combinations)


def test_a_folder_named_like_a_builtin_suite_does_not_shadow_it(tmp_path, monkeypatch):
    (tmp_path / "quick").mkdir()  # a run's output folder, say
    monkeypatch.chdir(tmp_path)
    assert load_suite("quick").name == "quick"
    (tmp_path / "quick.toml").mkdir()
    with pytest.raises(SuiteError, match="quick.toml does not exist"):
        load_suite("quick.toml")


def test_grid_settings_become_separate_pipelines():
    suite = tiny(KNN)
    assert [c.label for c in suite.combinations] == [
        "pixels(size=12) → logistic(C=0.1)", "pixels(size=12) → knn(n_neighbors=3)",
        "pixels(size=16) → logistic(C=0.1)", "pixels(size=16) → knn(n_neighbors=3)",
    ]  # fmt: skip


DS = '[datasets.a]\nname = "synthetic"\n'
KNN_ONLY = '[[classifiers]]\nname = "knn"\n'


@pytest.mark.parametrize(
    "text,match",
    [
        ('name = "x"\n[protocol]\nkind = "x"', "datasets: Field required"),
        (DS + '[protocol]\nkind = "bootstrap"\n' + KNN_ONLY, "protocol.kind: Input should be"),
        (
            DS + "size = 3\n" + KNN_ONLY,
            "datasets.a.size: unknown key; parameters go in params = { size = ... }",
        ),
        (
            DS + "params = { sede = 1 }\n" + KNN_ONLY,
            "datasets.a.params.sede: unknown parameter of dataset 'synthetic'; "
            "did you mean 'seed'?",
        ),
        (
            DS + '[[features]]\nname = "hog"\ngrid = { cell = 6 }\n' + KNN_ONLY,
            "features[0].grid.cell: Input should be a valid list",
        ),
        (
            DS + '[[features]]\nname = "hog"\ngrid = { cel = [6] }\n' + KNN_ONLY,
            "features[0].grid.cel: unknown parameter of feature 'hog'; did you mean 'cell'?",
        ),
        (
            DS + '[protocol]\nkind = "cross-dataset"\ntrain = "a"\ntest = "b"\n' + KNN_ONLY,
            "protocol.test: 'b' is not a [datasets] key",
        ),
        (DS + "folds = 3", "datasets.a.folds: unknown key"),
        (
            DS + '[[classifiers]]\nname = "rigde"\n',
            "classifiers[0].name: no classifier plugin named 'rigde'",
        ),
        (
            DS + '[[classifiers]]\nname = "hog"\n',
            "classifiers[0].name: 'hog' is a feature; a classifier is expected here",
        ),
        (
            DS + '[[classifiers]]\nname = "knn"\nparams = { kk = 8 }\n',
            "classifiers[0].params.kk: unknown parameter of classifier 'knn'",
        ),
        (
            DS + '[[classifiers]]\nname = "knn"\nparams = { n_neighbors = 0 }\n',
            "classifiers[0].params.n_neighbors: The 'n_neighbors' parameter of classifier "
            "'knn' must be an int in the range [1, inf)",
        ),
        (
            DS + '[[pipelines]]\nsteps = ["hog", { name = "knn", params = { kk = 8 } }]\n',
            "pipelines[0].steps[1].params.kk: unknown parameter",
        ),
        (
            DS + '[[pipelines]]\nsteps = [{ name = "knn", n_neighbors = 3 }]\n',
            "pipelines[0].steps[0].n_neighbors: unknown key; "
            "parameters go in params = { n_neighbors = ... } (allowed: name, params)",
        ),
        (
            DS + '[[pipelines]]\nsteps = ["knn", "hog"]\n',
            "pipelines[0].steps[1].name: 'hog': the last step must be a classifier or a",
        ),
        (
            DS + '[preprocess]\nc = ["hog"]\n' + KNN_ONLY,
            "preprocess.c[0].name: 'hog' is a feature; a preprocessor is expected here",
        ),
        (
            DS + '[[features]]\nname = "hog"\n',
            "classifiers: [[features]] need at least one [[classifiers]] entry",
        ),
    ],
)
def test_malformed_suites_name_the_file_and_key(text, match):
    with pytest.raises(SuiteError) as info:
        parse_suite(text, "bad.toml", Path("."))
    assert f"bad.toml: {match}" in str(info.value)


def test_every_problem_of_a_suite_is_reported_at_once():
    text = (
        'seed = -1\n[datasets.a]\nname = "synthetc"\n'
        '[[features]]\nname = "concat"\nparams = { features = ["hgo", "lbp"] }\n'
        '[[classifiers]]\nname = "rigde"\n[[classifiers]]\nname = "knn"\nparams = { kk = 8 }\n'
    )
    with pytest.raises(SuiteError) as info:
        parse_suite(text, "suite.toml", Path("."))
    lines = str(info.value).splitlines()
    assert lines[0] == "suite.toml: 5 problems"
    assert [line.split(": ")[1] for line in lines[1:]] == [
        "seed", "datasets.a.name", "features[0].params.features[0]", "classifiers[0].name",
        "classifiers[1].params.kk",
    ]  # fmt: skip


@pytest.mark.parametrize("bad", ['name = "rigde"', 'name = "knn"\nparams = { kk = 8 }'])
def test_a_bad_suite_fails_before_running_a_single_task(tmp_path, monkeypatch, bad):
    from click.testing import CliRunner

    from ferengine.bench import execute, plan
    from ferengine.cli import main

    def refuse(*args, **kwargs):
        raise AssertionError("work started on a suite with errors")

    monkeypatch.setattr(plan, "cached_folds", refuse)
    monkeypatch.setattr(execute, "run_tasks", refuse)
    spec = tmp_path / "bad.toml"
    spec.write_text(TINY + f"[[classifiers]]\n{bad}\n")
    with pytest.raises(SuiteError, match=r"classifiers\[1\]\.(name|params\.kk)"):
        load_suite(spec)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["bench", str(spec), "--out", str(out)])
    assert result.exit_code != 0 and "classifiers[1]" in result.output
    assert not out.exists()


def test_unset_data_variable_asks_for_data_option(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_DATA_DIR", raising=False)
    suite = parse_suite('[datasets.f]\nname = "fer2013"\n'
                        'params = { path = "${NO_SUCH_DATA_DIR}/x" }\n'
                        '[[features]]\nname = "hog"\n[[classifiers]]\nname = "knn"',
                        "s.toml", tmp_path)  # fmt: skip
    with pytest.raises(SuiteError, match="--data f=PATH"):
        run_suite(suite, RunOptions(tmp_path / "out"))


# --- running, cache, resume ---------------------------------------------------------------


@pytest.mark.slow
def test_features_are_computed_once_per_fold_and_reused(tmp_path):
    out = tmp_path / "run"
    first = run_suite(tiny(KNN), RunOptions(out))
    assert (first.tasks, first.ran, first.failed) == (8, 8, 0)
    assert (first.cache_hits, first.cache_misses) == (0, 4)  # 2 feature settings × 2 folds
    write_report(out)
    rows = json.loads((out / "results.json").read_text())
    assert len(rows) == 8 and {r["cache"] for r in rows} == {"miss"}
    row = rows[0]
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "top2_accuracy", "chance",
                "fit_seconds", "predict_ms_per_image", "latency_ms_batch1", "throughput_per_s",
                "peak_rss_mb", "model_bytes", "n_parameters", "per_class", "confusion_matrix",
                "confusion_normalized"):  # fmt: skip
        assert row[key] is not None, key
    assert row["accuracy"] <= row["top2_accuracy"] and row["peak_rss_mb"] > 0
    assert np.allclose(np.sum(row["confusion_normalized"], axis=1), 1, atol=1e-3)
    assert sum(map(sum, row["confusion_matrix"])) == row["n"]

    resumed = run_suite(tiny(KNN), RunOptions(out, resume=True))
    assert (resumed.resumed, resumed.ran, resumed.cache_misses) == (8, 0, 0)

    # one more classifier on the finished grid: its 4 tasks run, no feature is recomputed
    grown = tiny(KNN + '[[classifiers]]\nname = "decision-tree"\n')
    more = run_suite(grown, RunOptions(out, resume=True))
    assert (more.resumed, more.ran, more.cache_hits, more.cache_misses) == (8, 4, 4, 0)
    write_report(out)
    assert len(json.loads((out / "results.json").read_text())) == 12


@pytest.mark.slow
def test_a_failing_combination_is_recorded_and_the_grid_goes_on(tmp_path):
    out = tmp_path / "run"
    # a valid parameter that fails at run time: more neighbours than training images
    bad = '[[classifiers]]\nname = "knn"\nparams = { n_neighbors = 500 }\n'
    summary = run_suite(tiny(bad), RunOptions(out))
    assert summary.failed == 4 and summary.ran == 8
    report = write_report(out).read_text()
    rows = json.loads((out / "results.json").read_text())
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 4 and all("n_neighbors" in r["error"] and "Traceback" in r["traceback"]
                                     for r in failed)  # fmt: skip
    assert "## Failed combinations" in report and "logistic" in report


@pytest.mark.slow
def test_parallel_loky_gives_the_same_numbers_as_serial(tmp_path):
    run_suite(tiny(KNN), RunOptions(tmp_path / "serial"))
    run_suite(tiny(KNN), RunOptions(tmp_path / "loky", jobs=2))
    for out in ("serial", "loky"):
        write_report(tmp_path / out)
    assert scores(tmp_path / "serial") == scores(tmp_path / "loky")


@pytest.mark.slow
def test_dask_cluster_of_two_workers_gives_the_same_numbers(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    run_suite(tiny(KNN), RunOptions(tmp_path / "loky"))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:  # fmt: skip
        options = RunOptions(
            tmp_path / "dask", jobs=2, backend="dask", scheduler=cluster.scheduler_address
        )
        summary = run_suite(tiny(KNN), options)
    assert summary.failed == 0
    for out in ("loky", "dask"):
        write_report(tmp_path / out)
    assert scores(tmp_path / "loky") == scores(tmp_path / "dask")


@pytest.mark.slow
def test_a_killed_run_leaves_valid_files_and_resumes_without_redoing_work(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY + (KNN + '[[classifiers]]\nname = "random-forest"\n'
                                'params = { n_estimators = 300 }\n'))  # fmt: skip
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ferengine.cli", "bench", str(spec), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "runs").glob("*.json"))) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    stored = list((out / "runs").glob("*.json"))
    assert 3 <= len(stored) < 12, "the run should be killed midway"
    for path in stored:
        assert json.loads(path.read_text())["status"] == "ok"  # complete files only
    summary = run_suite(load_suite(spec), RunOptions(out, resume=True))
    assert summary.resumed == len(stored) and summary.resumed + summary.ran == 12
    write_report(out)
    assert len(json.loads((out / "results.json").read_text())) == 12


@pytest.mark.slow
def test_cross_dataset_gives_a_rectangular_confusion_matrix(tmp_path):
    ds = ferengine.load_dataset("synthetic", n_subjects=6, per_expression=2, size=32, seed=3)
    folder = tmp_path / "ck"
    for i, (image, name) in enumerate(zip(ds.images, ds.label_names, strict=True)):
        name = "contempt" if name == "neutral" else name  # a class the fer7 model lacks
        (folder / name).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / name / f"S{i % 6:03d}_{i:04d}.png"), image)
    text = f"""
[datasets.train]
name = "synthetic"
params = {{ n_subjects = 8, per_expression = 2, size = 32 }}
[datasets.ck]
name = "image-folder"
params = {{ path = "{folder}", subject_regex = 'S(\\d+)_' }}
[protocol]
kind = "cross-dataset"
train = "train"
test = "ck"
contempt = "keep"
[[features]]
name = "hog"
[[classifiers]]
name = "svm-linear"
"""
    out = tmp_path / "run"
    assert run_suite(parse_suite(text, "x.toml", tmp_path), RunOptions(out)).failed == 0
    write_report(out)
    (row,) = json.loads((out / "results.json").read_text())
    matrix = np.asarray(row["confusion_matrix"])
    assert matrix.shape == (8, 7)  # true: fer7 + contempt; predicted: the model's fer7
    assert row["true_labels"] == [*row["labels"], "contempt"]
    assert matrix[row["labels"].index("neutral")].sum() == 0  # every neutral became contempt
    assert matrix.sum() == row["n"] == len(ds)
    assert "train→ck" in (out / "report.md").read_text()


# --- statistics and costs ----------------------------------------------------------------


def test_mcnemar_counts_discordant_images():
    def run(pred):
        return [{"repeat": 0, "fold": 0, "test_index": [0, 1, 2, 3, 4, 5],
                 "y_true": [0, 0, 0, 1, 1, 1], "y_pred": pred}]  # fmt: skip

    result = mcnemar(run([0, 0, 0, 1, 1, 1]), run([1, 1, 0, 1, 1, 0]))
    assert (result["b"], result["c"], result["n"]) == (3, 0, 6)
    assert result["p"] == pytest.approx(0.25)  # exact two-sided binomial, 3 of 3


def test_chi_square_matches_the_hand_computed_yates_statistic():
    """A right on 30 of 40, B on 20 of 40: χ² = N(|ad − bc| − N/2)² / (row and column sums)."""
    from scipy.stats import chi2

    from ferengine.bench.contrasts import chi_square

    def run(right):
        return [{"repeat": 0, "fold": 0, "test_index": list(range(40)), "y_true": [1] * 40,
                 "y_pred": [1] * right + [0] * (40 - right)}]  # fmt: skip

    result = chi_square(run(30), run(20))
    assert result["table"] == [[30, 10], [20, 20]]
    expected = 80 * (abs(30 * 20 - 10 * 20) - 40) ** 2 / (40 * 40 * 50 * 30)
    assert result["chi2"] == pytest.approx(expected) == pytest.approx(4.32)
    assert result["p"] == pytest.approx(chi2.sf(4.32, 1))
    assert chi_square(run(40), run(40)) == {"table": [[40, 0], [40, 0]], "chi2": 0.0, "p": 1.0}
    assert chi_square(run(30), [{**run(20)[0], "fold": 1}]) is None  # no shared sample


def test_preprocessing_chains_get_an_effect_table_with_both_tests(tmp_path):
    """Each chain's pipeline is paired with the same pipeline without preprocessing."""
    from ferengine.bench.contrasts import chi_square
    from ferengine.bench.report import leaderboards
    from ferengine.bench.store import ResultStore

    chains = '[preprocess]\nnone = []\neq = [{ name = "histeq" }]\n'
    suite = parse_suite(TINY_HEAD + chains + PIXELS_12 + LOGISTIC + KNN, "t.toml", Path("."))
    out = tmp_path / "run"
    text = _report_of(suite, out)
    [rows] = leaderboards(suite, list(ResultStore(out).records())).values()
    by_label = {r["pipeline"]: r for r in rows}
    assert "### Preprocessing effect" in text
    for clf in ("logistic(C=0.1)", "knn(n_neighbors=3)"):
        plain, blurred = (
            by_label[f"pixels(size=12) → {clf}"],
            by_label[f"[eq] pixels(size=12) → {clf}"],
        )
        test = mcnemar(plain["runs"], blurred["runs"])
        chi = chi_square(plain["runs"], blurred["runs"])
        delta = blurred["accuracy"] - plain["accuracy"]
        assert (
            f"| `pixels(size=12) → {clf}` | `eq` | {plain['accuracy']:.3f} | "
            f"{blurred['accuracy']:.3f} | {delta:+.3f} | "
            f"{test['p']:.3g} ({test['b']}, {test['c']}) | {chi['chi2']:.2f} | {chi['p']:.3g} |"
        ) in text
    assert "### Preprocessing effect" not in _report_of(tiny(), tmp_path / "plain")


def _report_of(suite, out):
    run_suite(suite, RunOptions(out))
    return write_report(out).read_text()


def test_pareto_front_keeps_points_nothing_beats():
    points = [(1.0, 0.5), (2.0, 0.7), (3.0, 0.6), (0.5, 0.4), (4.0, 0.9)]
    assert pareto_front(points) == [3, 0, 1, 4]


def test_parameter_count_of_a_linear_model():
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(np.random.default_rng(0).normal(size=(60, 5)),
                                     np.arange(60) % 3)  # fmt: skip
    assert count_parameters(model) == 3 * 5 + 3


def test_metrics_with_extra_true_classes_are_rectangular():
    out = metrics(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 0]), ("a", "b"), ("a", "b", "c"))
    assert out["confusion_matrix"] == [[1, 0], [0, 1], [1, 1]]
    assert out["accuracy"] == 0.5 and set(out["per_class"]) == {"a", "b"}


@pytest.mark.slow
def test_fused_features_reuse_their_cached_members_and_equal_a_direct_fit(tmp_path):
    fusion = ('[[features]]\nname = "concat"\nparams = { scale = "standard", features = ['
              '{ name = "pixels", params = { size = 12 } }, '
              '{ name = "hog", params = { n_jobs = 2 } }] }\n'
              '[[features]]\nname = "hog"\n')  # fmt: skip
    suite = tiny(fusion)
    out = tmp_path / "run"
    summary = run_suite(suite, RunOptions(out))
    # pixels 12 and 16, hog, concat: 4 fronts × 2 folds; members are shared (n_jobs aside)
    assert (summary.failed, summary.cache_misses) == (0, 8)
    from ferengine.bench.cache import FeatureCache
    from ferengine.bench.folds import make_folds

    fold = make_folds("synthetic", suite.datasets, suite.protocol, suite.seed)[0]
    combo = next(c for c in suite.combinations if c.front[-1]["name"] == "concat")
    record = next(r for r in map(json.loads, (p.read_text() for p in (out / "runs").glob("*")))
                  if r["combination"] == combo.key and r["fold"] == 0)  # fmt: skip
    cached = FeatureCache(out / "cache").get(record["feature_key"])
    ds = fold.train_side.load()
    direct = ferengine.pipeline(*combo.front).fit(ds.images[fold.train], ds.labels[fold.train])
    assert np.allclose(cached.test, direct.transform(ds.images[fold.test]), atol=1e-5)


@pytest.mark.slow
def test_resumed_runs_read_their_folds_without_loading_data(tmp_path, monkeypatch):
    out = tmp_path / "run"
    run_suite(tiny(), RunOptions(out))
    from ferengine.bench import folds

    def refuse(side):
        raise AssertionError(f"{side.ref.key} was loaded")

    monkeypatch.setattr(folds, "_read", refuse)
    folds._load.cache_clear()
    summary = run_suite(tiny(), RunOptions(out, resume=True))
    assert (summary.resumed, summary.ran) == (4, 0)


def test_features_of_a_saved_model_are_keyed_by_its_bytes_not_its_name(tmp_path):
    from ferengine.bench.keys import model_digests

    model = tmp_path / "m.fer"
    model.write_bytes(b"first")
    embedding = {"name": "cnn-embedding", "params": {"model": str(model)}}
    front = ({"name": "concat", "params": {"features": [embedding]}},)
    before = model_digests(front)
    model.write_bytes(b"retrained")
    after = model_digests(front)
    assert [name for name, _ in before] == [str(model)] and before != after
    gone = {"name": "cnn-embedding", "params": {"model": str(tmp_path / "gone")}}
    assert model_digests((gone,)) == [(str(tmp_path / "gone"), None)]
    assert model_digests(({"name": "hog", "params": {"cell": 6}},)) == []
    tuned = {"name": "cnn-embedding", "params": {"cnn_params": {"init": str(model)}}}
    assert model_digests((tuned,)) == after  # a network started from the file: its bytes too


@pytest.mark.parametrize(
    "path",
    sorted((Path(__file__).parents[1] / "benchmarks" / "suites").glob("*.toml"))
    + sorted((Path(ferengine.__file__).parent / "bench" / "suites").glob("*.toml")),
    ids=lambda p: p.name,
)
def test_shipped_suites_build_every_pipeline(path):
    suite = load_suite(path)
    assert suite.combinations
    for combo in suite.combinations:
        ferengine.pipeline(*combo.front, combo.classifier)  # every name and parameter valid
