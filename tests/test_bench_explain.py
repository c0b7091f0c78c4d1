"""Benchmark reports explain their top pipelines: per-class saliency and a mistakes gallery."""

import json
import re
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from ferengine.bench import RunOptions, SuiteError, parse_suite, run_suite, write_report
from ferengine.bench import explanations as bench_explanations
from ferengine.cli import main

from .conftest import BAR, MOUTH, write_image_folder
from .test_bench import KNN, LOGISTIC, PIXELS_12, SVM_LINEAR, TINY_HEAD

EXPLAIN = "[report.explain]\ntop = 3\nfaces = 24\npairs = 2\nparams = { patch = 8, stride = 8 }\n"
SUITE = TINY_HEAD + PIXELS_12 + LOGISTIC + SVM_LINEAR + KNN


def index_of(out, dataset):
    return json.loads((Path(out) / "explain" / dataset / "index.json").read_text())


def links(report):
    return re.findall(r"\]\((explain/[^)]+)\)", report)


@pytest.fixture(scope="module")
def explained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "run"
    summary = run_suite(parse_suite(SUITE + EXPLAIN, "tiny.toml", Path(".")), RunOptions(out))
    assert summary.failed == 0 and summary.explanations_changed == 1
    write_report(out)
    return out


def test_the_top_pipelines_get_pictures_that_the_report_shows(explained_run):
    index = index_of(explained_run, "synthetic")
    assert len(index["entries"]) == 3 and index["method"] == "occlusion"
    done = [e for e in index["entries"] if e["status"] == "ok"]
    assert {e["pipeline"] for e in done} == {"pixels(size=12) → logistic(C=0.1)",
                                             "pixels(size=12) → knn(n_neighbors=3)"}  # fmt: skip
    report = (explained_run / "report.md").read_text()
    shown = links(report)
    for entry in done:
        folder = explained_run / entry["folder"]
        picture = cv2.imread(str(folder / "class_saliency.png"))
        assert picture is not None and picture.shape[0] > 100
        assert f"{entry['folder']}/class_saliency.png" in shown
        assert entry["faces"] == 24 and (entry["repeat"], entry["fold"]) == (0, 0)
        # deterministic steps: the refitted model is the benchmarked one, face for face
        assert entry["agree"] == entry["faces"]
        assert sum(row["faces"] for row in entry["classes"]) == entry["faces"]
        gallery = json.loads((folder / "gallery.json").read_text())
        assert gallery["errors"] == entry["gallery"]["errors"] > 0  # 7 classes, 24 faces
        assert 1 <= len(gallery["pairs"]) <= 2
        for pair in gallery["pairs"]:
            assert f"{entry['folder']}/{pair['image']}" in shown
    assert shown and all((explained_run / link).is_file() for link in shown)
    assert "| class | faces | peak (row, col) | top-10 % share | upper | middle | lower |" in report
    assert "of repeat 0 fold 0" in report


def test_a_classifier_without_probabilities_is_skipped_with_the_reason(explained_run):
    (entry,) = [e for e in index_of(explained_run, "synthetic")["entries"] if e["status"] != "ok"]
    assert entry["status"] == "skipped" and entry["pipeline"] == "pixels(size=12) → svm-linear"
    assert "explainer 'occlusion' needs class probabilities" in entry["reason"]
    assert "'svm-linear'" in entry["reason"] and "has no predict_proba" in entry["reason"]
    report = (explained_run / "report.md").read_text()
    assert f"Not explained (skipped): {entry['reason']}" in report
    assert not list((explained_run / "explain" / "synthetic").glob("*svm-linear*"))


def test_a_resumed_run_reuses_the_pictures(explained_run, monkeypatch):
    before = (explained_run / "explain" / "synthetic" / "index.json").read_text()

    def refit(*args, **kwargs):
        raise AssertionError("explained again instead of reusing the stored pictures")

    monkeypatch.setattr(bench_explanations, "_explain", refit)
    suite = parse_suite(SUITE + EXPLAIN, "tiny.toml", Path("."))
    summary = run_suite(suite, RunOptions(explained_run, resume=True))
    assert summary.ran == 0 and summary.explanations_changed == 0 and not summary.report_stale
    assert (explained_run / "explain" / "synthetic" / "index.json").read_text() == before
    # --explain-top overrides the suite's top; fewer rows is a new index, the report is stale
    summary = run_suite(suite, RunOptions(explained_run, resume=True, explain_top=1))
    assert summary.explanations_changed == 1 and summary.report_stale
    assert len(index_of(explained_run, "synthetic")["entries"]) == 1


def test_the_mean_map_of_happy_faces_lies_on_the_bar_that_makes_them_happy(tmp_path, bar_data):
    write_image_folder(tmp_path / "data", bar_data)
    text = f"""
[datasets.bars]
name = "image-folder"
params = {{ path = "{tmp_path / "data"}" }}
[protocol]
kind = "holdout"
test_size = 0.25
[[features]]
name = "hog"
params = {{ cell = 8 }}
[[classifiers]]
name = "logistic"
[report.explain]
top = 1
faces = 100
"""
    out = tmp_path / "run"
    run_suite(parse_suite(text, "bars.toml", tmp_path), RunOptions(out))
    (entry,) = index_of(out, "bars")["entries"]
    assert entry["status"] == "ok" and entry["faces"] == entry["n_test"] == 35  # every test face
    happy = next(row for row in entry["classes"] if row["class"] == "happy")
    assert happy["faces"] > 10
    # the bar (rows 33–38) lies in the lower third of the 48-pixel face
    assert happy["bands"]["lower"] > 0.5 > happy["bands"]["upper"]
    assert MOUTH[0].start <= happy["peak"][0] < MOUTH[0].stop
    assert BAR[1].start - 8 <= happy["peak"][1] < BAR[1].stop + 8


def test_clip_datasets_are_skipped_and_a_damaged_index_is_reported(tmp_path):
    hog = '{ name = "frame-features", params = { feature = { name = "hog" } } }'
    text = f"""
[datasets.clips]
name = "synthetic-sequences"
params = {{ n_subjects = 4, clips_per_class = 1, size = 16, frames = [6, 8] }}
[protocol]
kind = "subject-holdout"
test_size = 0.25
[[pipelines]]
name = "mean-pooled"
steps = [{hog}, {{ name = "temporal-pool", params = {{ pooling = "mean" }} }}, "logistic"]
"""
    out = tmp_path / "run"
    run_suite(parse_suite(text, "clips.toml", tmp_path), RunOptions(out, explain_top=1))
    index = index_of(out, "clips")
    assert index["entries"] == [] and "clips of video frames" in index["skipped"]
    write_report(out)
    assert f"Not explained: {index['skipped']}." in (out / "report.md").read_text()
    (out / "explain" / "clips" / "index.json").write_text("[1, 2")  # a damaged index
    write_report(out)  # still written, saying so
    assert (
        "explain/clips/index.json cannot be read (JSONDecodeError"
        in (out / "report.md").read_text()
    )


@pytest.mark.parametrize(
    "table,match",
    [
        ("[report]\nexplain = { top = 0 }", "tiny.toml: report.explain.top: Input should be "
                                            "greater than or equal to 1"),
        ("[report.explain]\nfaces = -3", "report.explain.faces: Input should be greater"),
        ("[report.explain]\nmethod = \"occlusio\"", "report.explain.method: no explainer plugin "
                                                    "named 'occlusio'; did you mean 'occlusion'?"),
        ("[report.explain]\nparams = { patchh = 3 }",
         "report.explain.params.patchh: unknown parameter of explainer 'occlusion'"),
        ("[report]\nexplian = {}", "report.explian: unknown key; did you mean 'explain'?"),
    ],
)  # fmt: skip
def test_a_bad_explain_option_names_its_key(table, match):
    with pytest.raises(SuiteError, match=re.escape(match)):
        parse_suite(SUITE + table, "tiny.toml", Path("."))


def test_a_negative_explain_top_is_refused_before_any_work(tmp_path):
    suite = parse_suite(SUITE, "tiny.toml", Path("."))
    with pytest.raises(SuiteError, match="--explain-top must be 0 or more, got -1"):
        run_suite(suite, RunOptions(tmp_path / "run", explain_top=-1))
    result = CliRunner().invoke(main, ["bench", "--explain-top", "-1", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--explain-top" in result.output


def test_bench_report_explains_a_stored_run_afterwards(tmp_path):
    out = tmp_path / "copy"
    text = SUITE.replace('[[classifiers]]\nname = "svm-linear"\n', "")  # no [report.explain]
    run_suite(parse_suite(text, "tiny.toml", Path(".")), RunOptions(out))
    result = CliRunner().invoke(main, ["bench", "report", str(out), "--explain-top", "1"])
    assert result.exit_code == 0, result.output
    (entry,) = index_of(out, "synthetic")["entries"]
    assert entry["status"] == "ok" and entry["faces"] == min(200, entry["n_test"])  # defaults
    assert f"{entry['folder']}/class_saliency.png" in links((out / "report.md").read_text())
