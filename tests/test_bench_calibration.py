"""Confidence intervals and calibration in a benchmark run: records, report.md, terminal."""

import csv
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from ferengine.bench import load_suite
from ferengine.bench.report import leaderboards
from ferengine.bench.store import ResultStore
from ferengine.bench.uncertainty import bootstrap_intervals, point_estimates
from ferengine.calibration import calibration_metrics
from ferengine.cli import main

from .test_bench import LOGISTIC, PIXELS_12, SVM_LINEAR, TINY_HEAD

SUITE = (
    TINY_HEAD
    + PIXELS_12
    + LOGISTIC
    + SVM_LINEAR
    + """[[classifiers]]
name = "temperature"
params = { estimator = { name = "logistic", params = { C = 0.1 } } }
"""
)
INTERVAL = r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished run of the suite through the command line, and what it printed."""
    folder = tmp_path_factory.mktemp("calibration")
    spec = folder / "suite.toml"
    spec.write_text(SUITE)
    out = folder / "out"
    result = CliRunner().invoke(main, ["bench", str(spec), "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = list(ResultStore(out).records())
    boards = leaderboards(load_suite(out / "suite.toml"), records)
    return out, result.output, records, boards["synthetic"]


def test_records_keep_probabilities_subjects_and_calibration_figures(run):
    _, _, records, _ = run
    compared_ece = 0
    for record in records:
        assert len(record["test_subjects"]) == len(record["y_true"])
        if "svm-linear" in record["pipeline"]:
            assert "proba" not in record and record.get("ece") is None
            assert "has no predict_proba" in record["calibration_note"]
            continue
        proba = np.asarray(record["proba"])
        assert proba.shape == (len(record["y_true"]), 7)
        assert np.allclose(proba.sum(axis=1), 1, atol=1e-3)  # four significant digits
        again = calibration_metrics(proba, np.asarray(record["y_true"]))
        # the figures come from full precision; the stored digits give the same NLL and
        # Brier, and the same ECE unless rounding made two top classes tie (the top class
        # of these classifiers is their prediction)
        keys = ["nll", "brier"]
        if np.array_equal(proba.argmax(axis=1), record["y_pred"]):
            keys.append("ece")
            compared_ece += 1
        for key in keys:
            assert again[key] == pytest.approx(record[key], abs=2e-3)
    assert compared_ece >= 2


def test_intervals_are_around_the_leaderboard_figures(run):
    _, _, _, rows = run
    for row in rows:
        points = point_estimates(row["runs"])
        for key in ("accuracy", "macro_f1"):
            assert points[key] == pytest.approx(row[key])
            interval = row["intervals"][key]
            assert interval.low <= row[key] <= interval.high
            assert interval == bootstrap_intervals(row["runs"])[key]


def test_report_shows_intervals_calibration_columns_and_reliability_diagrams(run):
    out, _, _, rows = run
    report = (out / "report.md").read_text()
    header = next(line for line in report.splitlines() if line.startswith("| # | pipeline"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    ece = cells.index("ECE")
    assert cells[ece - 1 : ece + 3] == ["top-2", "ECE", "NLL", "Brier"]
    acc, f1 = cells.index("accuracy [95 % CI]"), cells.index("macro-F1 [95 % CI]")
    for row in rows:
        line = next(x for x in report.splitlines() if f"`{row['pipeline']}`" in x and "|" in x)
        values = [c.strip() for c in line.strip("|").split("|")]
        assert re.fullmatch(INTERVAL, values[acc]) and re.fullmatch(INTERVAL, values[f1])
        assert values[acc].startswith(f"{row['accuracy']:.3f} {row['intervals']['accuracy']}")
        if "svm-linear" in row["pipeline"]:
            assert values[ece : ece + 3] == ["–", "–", "–"]
        else:
            assert values[ece].startswith(f"{row['ece']:.3f}")
    svm = next(r for r in rows if "svm-linear" in r["pipeline"])
    no_proba = f"No ECE, NLL or Brier for #{svm['rank']} `{svm['pipeline']}`: no class "
    assert no_proba + "probabilities: " in report
    assert "bootstrap 95 % (percentile, 2,000 resamples of the test subjects" in report
    diagrams = re.findall(r"\(plots/(synthetic-reliability-\d+\.png)\)", report)
    assert len(diagrams) == 2  # logistic and temperature; svm-linear has no probabilities
    assert all((out / "plots" / name).stat().st_size > 1000 for name in diagrams)
    with (out / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    assert {"ece", "nll", "brier"} <= set(table[0])
    assert "proba" not in json.loads((out / "results.json").read_text())[0]


def test_overlapping_intervals_are_noted_in_the_report_and_the_terminal(run):
    out, printed, _, rows = run
    report = (out / "report.md").read_text()
    best = rows[0]["intervals"]["accuracy"]
    close = [r for r in rows[1:] if r["intervals"]["accuracy"].overlaps(best)]
    for text in (report, " ".join(printed.split())):
        assert ("Intervals overlap: not separable at 95 %" in text) == bool(close)
        for row in close:
            assert f"#{row['rank']}" in text.split("not separable at 95 %")[1]


def test_terminal_leaderboard_shows_intervals_and_ece(run):
    _, printed, _, rows = run
    assert "accuracy [95 % CI]" in printed and "ECE" in printed
    for row in rows:
        assert f"{row['accuracy']:.3f} {row['intervals']['accuracy']}" in printed
    svm = next(line for line in printed.splitlines() if "svm-linear" in line and "│" in line)
    cells = [c.strip() for c in svm.split("│")]
    assert cells[cells.index("pixels(size=12) → svm-linear") + 3] == "–"  # its ECE
