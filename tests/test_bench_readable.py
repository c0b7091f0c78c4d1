"""Benchmark output a newcomer can read: what is shown, what it means, who drew which bar.

One tiny suite (4 pipelines, 2 folds, a few seconds) runs once through the CLI, with
the terminal and per-class row caps lowered so that the "N of M shown" notes appear.
"""

import os
import re
import stat
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.backends.backend_agg import FigureCanvasAgg

from ferengine.bench import cli, plots, report
from ferengine.bench.columns import MCNEMAR, key_items
from ferengine.bench.execute import BestMean
from ferengine.bench.report import leaderboards
from ferengine.bench.store import ResultStore
from ferengine.bench.suite import load_suite, parse_suite

from .test_bench import KNN, TINY

SUITE = TINY + KNN


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Run the tiny suite via ``ferengine bench``; the output, folder, figures drawn, boards."""
    folder = tmp_path_factory.mktemp("readable")
    spec = folder / "tiny.toml"
    spec.write_text(SUITE)
    out = folder / "out"
    figures = {}
    save = plots._save

    def keep(fig, path):
        figures[Path(path).name] = fig
        return save(fig, path)

    old = os.umask(0o022)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(cli, "TERMINAL_ROWS", 3)
            mp.setattr(report, "TOP_PER_CLASS", 2)
            mp.setattr(plots, "_save", keep)
            result = CliRunner().invoke(cli.bench_cmd, [str(spec), "--out", str(out)])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    records = list(ResultStore(out).records())
    boards = leaderboards(load_suite(out / "suite.toml"), records)
    return result.output, out, figures, boards["synthetic"]


def test_the_terminal_leaderboard_says_how_many_pipelines_it_shows(run):
    output, _, _, rows = run
    assert "3 of 4 pipelines shown; all in report.md and report.html" in output
    for row in rows[:3]:
        assert row["pipeline"] in output  # whole names, not cut short
    assert "ms/image (batch)" in output  # the header report.md's key explains


def test_the_progress_shows_the_leaderboards_top_mean_and_no_empty_bar(run):
    output, _, _, rows = run
    found = re.findall(r"best mean over folds (\d\.\d{3}) (.+?)\s*$", output, re.MULTILINE)
    assert found, output
    value, pipeline = found[-1]
    assert value == f"{rows[0]['accuracy']:.3f}" and pipeline == rows[0]["pipeline"]
    assert "0/0" not in output and len(re.findall(r"^features ", output, re.MULTILINE)) == 1


def test_best_mean_ranks_by_the_mean_over_folds_and_names_partial_ones():
    suite = parse_suite(SUITE, "tiny.toml", Path("."))
    folds = {"synthetic": [object(), object()]}
    best = BestMean(suite, folds)
    a, b = (c.label for c in suite.combinations[:2])
    for pipeline, accuracy in ((a, 0.9), (a, 0.1), (b, 0.6)):
        best.add({"dataset": "synthetic", "pipeline": pipeline, "status": "ok",
                  "accuracy": accuracy})  # fmt: skip
    best.add({"dataset": "synthetic", "pipeline": a, "status": "failed", "accuracy": None})
    assert best.text() == f"best mean over folds 0.600 (1/2 folds) {b}"  # a's mean is 0.5
    best.add({"dataset": "synthetic", "pipeline": b, "status": "ok", "accuracy": 0.2})
    assert best.text() == f"best mean over folds 0.500 {a}"


def test_report_md_starts_with_the_key_shared_with_report_html(run):
    _, out, _, rows = run
    md = (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    key, board = md.index("## Key to the columns"), md.index("## synthetic")
    assert key < md.index("| run finished") < board
    header = next(line for line in md[board:].splitlines() if line.startswith("| # |"))
    heads = [h.strip() for h in header.strip("|").split("|")]
    items = dict(key_items({"synthetic": rows}, "image"))
    assert heads == list(items)  # every column has a line in the key, and no other
    for term, meaning in items.items():
        assert f"- **{term}**: {meaning}." in md[key:board]
        assert meaning.replace("'", "&#x27;") in page  # the same words in report.html
    assert "kNN shows 0" in items["parameters"] and "b counts" in items[MCNEMAR[0]]
    assert "batch size 1" in items["ms/image (1)"] and "peak" in items["peak MB"].lower()


def test_report_md_says_which_rows_and_counts_it_shows(run):
    _, out, _, _ = run
    md = (out / "report.md").read_text()
    assert "### Per-class F1 (mean over folds; top 2 of 4 pipelines; all in report.html)" in md
    table = md.split("### Per-class F1")[1].split("###")[0]
    assert len([line for line in table.splitlines() if line.startswith("| ")]) == 1 + 2
    assert "summed over the 2 folds' test sets, each test image counted once" in md


def test_plots_name_pipelines_and_say_how_confusions_were_pooled(run):
    _, _, figures, rows = run
    legend = [t.get_text() for t in figures["synthetic-per-class-f1.png"].axes[0]
              .get_legend().get_texts()]  # fmt: skip
    assert legend == [f"#{r['rank']} {r['pipeline']}" for r in rows[: report.TOP_F1]]
    front = [t.get_text() for t in figures["synthetic-accuracy-latency.png"].axes[0]
             .get_legend().get_texts()][2:]  # fmt: skip
    assert front and all(re.fullmatch(r"#\d+ .+ → .+", name) for name in front)
    title = figures["synthetic-confusion-1.png"].axes[0].get_title()
    assert title == f"#1 {rows[0]['pipeline']}\ncounts summed over 2 folds"


@pytest.mark.parametrize(
    "low,high",  # the first three collided with matplotlib's own labels
    [(0.0013, 0.0017), (0.0008, 0.00088), (0.0005, 0.0075), (0.12, 0.95), (0.21, 0.24),
     (0.2, 0.201), (0.002, 80), (1e-4, 1e5)],
)  # fmt: skip
def test_log_axis_labels_are_plain_and_do_not_collide(tmp_path, monkeypatch, low, high):
    figures, save = [], plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or save(fig, path))
    xs = np.geomspace(low, high, 9)
    rows = [{"predict_ms_per_image": float(x), "accuracy": 0.5 + 0.01 * i, "rank": 9 - i,
             "pipeline": f"p{i}"} for i, x in enumerate(xs)]  # fmt: skip
    plots.accuracy_latency(rows, "t", tmp_path / "a.png")
    fig = figures[0]
    FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    labels = [t for t in ax.get_xticklabels(minor=False) + ax.get_xticklabels(minor=True)
              if t.get_text() and lo <= t.get_position()[0] <= hi]  # fmt: skip
    assert len(labels) >= 2
    assert all(re.fullmatch(r"[\d.e+-]+", t.get_text()) for t in labels)  # "0.2", not "2×10⁻¹"
    boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: b.x0)
    assert all(a.x1 < b.x0 for a, b in pairwise(boxes))


def test_report_files_are_world_readable(run):
    _, out, _, _ = run
    names = ["report.md", "report.html", "results.csv", "results.json", "suite.toml", "run.json"]
    files = [out / n for n in names] + sorted((out / "plots").iterdir())
    files += [p for p in (out / "cache").rglob("*")]  # the shareable feature cache too
    for path in files:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), f"{path}: {oct(mode)}"
