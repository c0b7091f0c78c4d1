"""Issue 16, benchmark folders: damaged records and history, two runs on one folder."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ferengine.bench import RunOptions, parse_suite, run_suite
from ferengine.bench.lock import OWNER_NAME, folder_lock
from ferengine.cli import main
from ferengine.errors import DamagedFileWarning

SUITE = """
name = "tiny"
[datasets.synthetic]
name = "synthetic"
params = { n_subjects = 4, per_expression = 1, size = 24 }
[protocol]
kind = "subject-kfold"
folds = 2
[[features]]
name = "pixels"
params = { size = 8 }
[[classifiers]]
name = "knn"
params = { n_neighbors = 1 }
"""
DAMAGE = {
    "empty": b"",
    "truncated": b'{"task": "x", "status": "o',
    "not an object": b"[1, 2]",
    "not UTF-8": b"\xff\xfe\x00",
}


@pytest.fixture
def finished(tmp_path):
    """A finished run of the tiny suite (2 tasks) in tmp_path/run."""
    out = tmp_path / "run"
    assert run_suite(parse_suite(SUITE, "tiny.toml", tmp_path), RunOptions(out)).ran == 2
    return out


def resume(out):
    return run_suite(parse_suite(SUITE, "tiny.toml", out.parent), RunOptions(out, resume=True))


def corrupt(path):
    return sorted(p.name for p in path.parent.glob(f"{path.name}.corrupt-*"))


# --- item 11: damaged runs/<task>.json and run.json ----------------------------------------


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_record_is_moved_aside_and_its_task_runs_again(finished, damage):
    record = sorted((finished / "runs").glob("*.json"))[0]
    record.write_bytes(DAMAGE[damage])
    with pytest.warns(DamagedFileWarning, match=f"{record}.*moved to {record.name}.corrupt-"):
        summary = resume(finished)
    assert (summary.resumed, summary.ran, summary.failed) == (1, 1, 0)
    assert json.loads(record.read_text())["status"] == "ok"  # written again
    assert len(corrupt(record)) == 1


def test_a_damaged_history_is_moved_aside_and_starts_again(finished):
    history = finished / "run.json"
    history.write_text(history.read_text()[:40])
    with pytest.warns(DamagedFileWarning, match="run.json is damaged .*not valid JSON"):
        summary = resume(finished)
    assert summary.resumed == 2
    assert len(json.loads(history.read_text())) == 1  # a new history: this run
    assert len(corrupt(history)) == 1


@pytest.mark.slow
def test_bench_report_warns_in_one_line_per_damaged_file_and_writes_the_report(finished):
    record = sorted((finished / "runs").glob("*.json"))[0]
    record.write_bytes(b"")
    (finished / "run.json").write_bytes(b"")
    result = CliRunner().invoke(main, ["bench", "report", str(finished)])
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warned) == 2 and result.stderr.count("\n") == 2
    assert f"{record} is damaged (empty file)" in warned[0]
    assert "run.json is damaged (empty file)" in warned[1]
    rows = json.loads((finished / "results.json").read_text())
    assert len(rows) == 1  # the other task is missing until a --resume runs it again
    assert corrupt(record) and corrupt(finished / "run.json")


def test_damaged_stored_folds_are_made_again(finished):
    (folds,) = (finished / "folds").glob("*.npz")
    folds.write_bytes(folds.read_bytes()[:50])
    with pytest.warns(DamagedFileWarning, match="unreadable folds"):
        assert resume(finished).resumed == 2


# --- item 12: one bench per results folder -------------------------------------------------


def bench(spec, out, *options):
    cmd = [sys.executable, "-m", "ferengine.cli", "bench", str(spec), "--out", str(out)]
    return subprocess.Popen(
        [*cmd, *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_a_second_bench_on_a_held_folder_names_the_holder_and_exits(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(SUITE)
    out = tmp_path / "run"
    with folder_lock(out):
        note = json.loads((out / OWNER_NAME).read_text())
        assert note["pid"] == os.getpid() and note["host"] and note["started"]
        proc = bench(spec, out)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1
        (line,) = err.strip().splitlines()
        assert f"{out} is in use by another ferengine bench (pid {os.getpid()} on " in line
        assert "--wait" in line
        assert not (out / "runs").exists()

        waiting = bench(spec, out, "--wait")
        deadline = time.time() + 120
        while "waiting for" not in (line := waiting.stdout.readline()) and line:
            assert time.time() < deadline
        assert f"pid {os.getpid()}" in line
        time.sleep(0.5)
        assert waiting.poll() is None and not (out / "runs").exists()  # still waiting
    _, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert len(list((out / "runs").glob("*.json"))) == 2
    assert not (out / OWNER_NAME).exists()  # removed by the holder when it finished


@pytest.mark.slow
def test_two_real_benches_on_one_folder_run_each_task_once(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(SUITE)
    out = tmp_path / "run"
    procs = [bench(spec, out, "--resume", "--wait") for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    history = json.loads((out / "run.json").read_text())
    assert sorted((h["ran"], h["resumed"]) for h in history) == [(0, 2), (2, 0)]


def test_the_wait_option_is_documented():
    docs = (Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md").read_text()
    assert "`--wait`" in docs and OWNER_NAME in docs
