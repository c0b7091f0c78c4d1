"""report.html: one self-contained page, escaped, every row; sorted by a click in Chromium.

The fast tests render hand-made leaderboards with :func:`write_html`; the slow ones run
a tiny suite and open its report in the system's headless Chromium (Debian's
``chromium``, which .ci/run installs; never a downloaded browser) through Playwright.
"""

import os
import shutil
import stat
from html.parser import HTMLParser

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.figure import Figure

from ferengine.bench import RunOptions, parse_suite, run_suite, write_report
from ferengine.bench.columns import COLUMNS
from ferengine.bench.report import leaderboards
from ferengine.bench.report_html import write_html
from ferengine.bench.store import ResultStore
from ferengine.bench.suite import load_suite
from ferengine.bench.uncertainty import Interval

from .test_bench import KNN, LOGISTIC, PIXELS_12, TINY_HEAD

HOSTILE = "<script>alert(1)</script>"
LABELS = ["angry", "happy", "neutral"]
SUITE = (
    TINY_HEAD
    + PIXELS_12
    + LOGISTIC
    + KNN
    + f"""
[[pipelines]]
name = "{HOSTILE}"
steps = [{{ name = "pixels", params = {{ size = 16 }} }}, "logistic"]
[[pipelines]]
name = "broken"
steps = [{{ name = "pixels", params = {{ size = 16 }} }},
         {{ name = "knn", params = {{ n_neighbors = 500 }} }}]
"""
)


class Page(HTMLParser):
    """What a page holds: tags with their attributes, leaderboard rows' pipeline cells."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.leaderboard_rows, self._in_board, self._cell = [], [], False, 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table" and "leaderboard" in attrs.get("class", ""):
            self._in_board = True
        elif tag == "tr" and self._in_board:
            self._cell = 0
        elif tag == "td" and self._in_board:
            self._cell += 1
            if self._cell == 2:
                self.leaderboard_rows.append(attrs["data-v"])

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_board = False


def _row(rank, pipeline, accuracy, **extra):
    row = {
        "rank": rank, "pipeline": pipeline, "combination": f"c{rank}", "folds": 2,
        "labels": LABELS, "true_labels": LABELS, "sample": "image", "runs": [],
        "accuracy": accuracy, "accuracy_sd": 0.01, "macro_f1": accuracy - 0.05,
        "macro_f1_sd": 0.02, "fit_seconds": 0.5 * rank, "fit_seconds_sd": 0.1,
        "predict_ms_per_image": 0.1 / rank, "predict_ms_per_image_sd": 0.0, "chance": 0.34,
        "chance_sd": 0.0, "n_parameters": 0 if "knn" in pipeline else 100 * rank,
        "n_parameters_sd": 0.0, "ece": None, "ece_sd": 0.0,
        "intervals": {"accuracy": Interval(accuracy - 0.1, accuracy + 0.1)},
        "calibration_note": None,
        "per_class_f1": dict(zip(LABELS, (0.5, 0.6, 0.7), strict=True)),
        "confusion": np.eye(3, dtype=int).tolist(),
    }  # fmt: skip
    if rank > 1:
        row["mcnemar"] = {"b": 4, "c": 1, "n": 30, "p": 0.375}
    return {**row, **extra}


@pytest.fixture
def hand_made(tmp_path):
    """A results folder with a suite, a plot, and hand-made leaderboards and records."""
    suite = parse_suite(SUITE, "tiny.toml", tmp_path, check_plugins=False)
    rows = [
        _row(1, "pixels → logistic", 0.9, novel_score=0.85, novel_score_sd=0.02),
        _row(2, HOSTILE, 0.8),
        _row(3, "pixels → knn", 0.7, ece=0.05),
    ]
    records = [
        {"dataset": "synthetic", "status": "ok", "repeat": 0, "fold": 0,
         "n": 30, "dup_exact": 3, "dup_near": 5, "n_dedup": 22, "dedupe": "none",
         "dedupe_dropped": 0},
        {"dataset": "synthetic", "status": "failed", "pipeline": "broken", "repeat": 0,
         "fold": 1, "error": "ValueError: n_neighbors <= n_samples_fit",
         "traceback": "Traceback (most recent call last):\n  <b>boom</b>"},
    ]  # fmt: skip
    fig = Figure(figsize=(1, 1))
    fig.subplots().plot([0, 1])
    (tmp_path / "plots").mkdir()
    fig.savefig(tmp_path / "plots" / "synthetic-accuracy-latency.png")
    return suite, {"synthetic": rows}, records, tmp_path


def test_report_html_is_one_file_that_fetches_nothing(hand_made):
    suite, boards, records, out = hand_made
    old = os.umask(0o022)
    try:
        path = write_html(suite, boards, records, out)
    finally:
        os.umask(old)
    assert path == out / "report.html"
    assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044  # world-readable, as report.md
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert not any(tag in ("link", "iframe", "object", "embed") for tag, _ in page.tags)
    for tag, attrs in page.tags:
        assert not (tag == "script" and "src" in attrs), attrs
        assert attrs.get("src", "data:").startswith("data:"), (tag, attrs)
        assert attrs.get("href", "#").startswith("#"), (tag, attrs)
    assert "http://" not in text and "https://" not in text and "//cdn" not in text
    images = [a["src"] for tag, a in page.tags if tag == "img"]
    assert len(images) == 1 and images[0].startswith("data:image/png;base64,iVBOR")
    csp = [a["content"] for tag, a in page.tags if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]


def test_report_html_escapes_names_and_tracebacks(hand_made):
    text = write_html(*hand_made).read_text(encoding="utf-8")
    page = Page(text)
    assert HOSTILE not in text and "<b>boom</b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&lt;b&gt;boom&lt;/b&gt;" in text
    assert [tag for tag, _ in page.tags].count("script") == 1  # the page's own sorter
    assert HOSTILE in page.leaderboard_rows  # read back as text, unchanged


def test_report_html_holds_every_row_and_the_figures_that_exist(hand_made):
    suite, boards, records, out = hand_made
    text = write_html(suite, boards, records, out).read_text(encoding="utf-8")
    assert Page(text).leaderboard_rows == [r["pipeline"] for r in boards["synthetic"]]
    assert "novel_score" in text  # a new averaged figure gets a column before a name
    assert "0.850" in text and "[0.800, 1.000]" in text  # figure, interval
    shown = {c.header for c in COLUMNS if c.header in text}
    assert "plurality acc." not in shown and "ECE" in shown  # no row has vote figures
    assert "kNN shows 0" in text and "McNemar" in text and "b counts" in text  # the key
    assert "exact copies" in text and '<td class="num">22</td>' in text  # counts per fold
    assert "<details><summary><code>broken</code>" in text  # failures folded
    assert "pooled over folds" in text  # the confusion counts say how they were summed
    assert "name = &quot;tiny&quot;" in text  # the suite as run, escaped


# --- a real run, and Chromium ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny suite run (a hostile pipeline name, a failing one, #1 explained), its report."""
    out = tmp_path_factory.mktemp("bench") / "run"
    explain = "[report.explain]\ntop = 1\nfaces = 8\npairs = 2\n"
    explain += "params = { patch = 8, stride = 8 }\n"
    suite = parse_suite(SUITE + explain, "tiny.toml", out.parent)
    summary = run_suite(suite, RunOptions(out))
    assert summary.failed == 2  # the broken pipeline, on both folds
    write_report(out)
    return out


@pytest.mark.slow
def test_a_run_writes_report_html_with_every_leaderboard_row(tiny_run):
    rows = leaderboards(load_suite(tiny_run / "suite.toml"), list(ResultStore(tiny_run).records()))
    text = (tiny_run / "report.html").read_text(encoding="utf-8")
    assert Page(text).leaderboard_rows == [r["pipeline"] for r in rows["synthetic"]]
    assert HOSTILE not in text and "n_neighbors" in text
    assert "What the top pipelines look at" in text and "cannot be read" not in text
    assert ": mean map per class" in text  # #1's saliency picture, embedded
    images = [a["src"] for tag, a in Page(text).tags if tag == "img"]
    assert len(images) >= 6 and all(src.startswith("data:image/png;base64,") for src in images)
    result = CliRunner().invoke(_bench_cmd(), ["report", str(tiny_run)])
    assert result.exit_code == 0, result.output
    assert f"browse: {(tiny_run / 'report.html').resolve().as_uri()}" in result.output


def _bench_cmd():
    from ferengine.bench.cli import bench_cmd

    return bench_cmd


def _chromium():
    """Return the system's Chromium; skip without one (fail in CI, where .ci/run installs it)."""
    found = os.environ.get("FERENGINE_CHROMIUM") or next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None
    )
    if found:
        return found
    why = "no chromium binary on PATH (apt-get install chromium, or set FERENGINE_CHROMIUM)"
    if os.environ.get("CI"):
        pytest.fail(f"{why}; .ci/run installs Debian's chromium before the tests")
    pytest.skip(why)


@pytest.mark.slow
@pytest.mark.browser
def test_report_html_loads_cleanly_and_sorts_in_chromium(tiny_run, tmp_path):
    if os.environ.get("CI"):
        from playwright.sync_api import sync_playwright  # the dev extra: must be there in CI
    else:
        sync_playwright = pytest.importorskip(
            "playwright.sync_api", reason="playwright (the dev extra) is not installed"
        ).sync_playwright
    binary = _chromium()
    rows = leaderboards(load_suite(tiny_run / "suite.toml"), list(ResultStore(tiny_run).records()))
    rows = rows["synthetic"]
    # distinct timings of 3 pipelines: one of the two click orders differs from the rank's
    assert len({r["predict_ms_per_image"] for r in rows}) == len(rows) == 3
    problems, dialogs = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=binary)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto((tiny_run / "report.html").resolve().as_uri())
            page.wait_for_load_state("load")

            def order():
                return page.locator("table.leaderboard tbody tr td:nth-child(2)").all_inner_texts()

            assert order() == [r["pipeline"] for r in rows]  # rank order, as written
            header = page.locator("table.leaderboard thead th", has_text="ms/image (batch)")
            header.locator("button").click()  # lower is better: fastest first
            fastest = [r["pipeline"] for r in sorted(rows, key=lambda r: r["predict_ms_per_image"])]
            assert order() == fastest
            assert header.get_attribute("aria-sort") == "ascending"
            header.locator("button").click()  # again: reversed
            assert order() == fastest[::-1]
            assert header.get_attribute("aria-sort") == "descending"
            page.locator("table.leaderboard thead th").first.locator("button").click()
            assert order() == [r["pipeline"] for r in rows]  # back to the rank
            shot = tmp_path / "report-html.png"
            page.screenshot(path=shot, full_page=True)
        finally:
            browser.close()
    assert problems == [] and dialogs == []  # no error, and the hostile name ran no script
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
