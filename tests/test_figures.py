"""Figures are drawn on matplotlib Figure objects: the user's backend is never switched."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys
from pathlib import Path

import pytest

import matplotlib

matplotlib.use("svg")  # the user's choice, which ferengine must not change
out = Path(sys.argv[1])

from plugins_under_test import draw

draw(out)
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
"""


def _run(tmp_path, body):
    (tmp_path / "plugins_under_test.py").write_text(textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], check=True, env=env, timeout=300)


@pytest.mark.slow
def test_a_bench_report_keeps_the_backend(tmp_path):
    _run(
        tmp_path,
        """
        from tests.test_bench import tiny
        from ferengine.bench import RunOptions, run_suite, write_report

        def draw(out):
            run_suite(tiny(), RunOptions(out / "run"))
            write_report(out / "run")
            assert list((out / "run").rglob("*.png")), "no figure drawn"
        """,
    )


@pytest.mark.slow
def test_cnn_training_curves_keep_the_backend(tmp_path):
    _run(
        tmp_path,
        """
        from ferengine_deep.curves import write_curves

        def draw(out):
            history = [{"epoch": 1, "train_loss": 1.0, "valid_loss": 1.2, "valid_acc": 0.3},
                       {"epoch": 2, "train_loss": 0.8, "valid_loss": 1.0, "valid_acc": 0.4}]
            csv, png = write_curves(history, out / "curves")
            assert png.stat().st_size > 0 and csv.read_text().startswith("epoch,")
        """,
    )
