"""Keep the plugin surface, the docs and the README honest."""

import inspect
import re
import subprocess

import pytest

from ferengine import hookspecs

from .conftest import ROOT

HOOKS = [n for n, f in vars(hookspecs).items() if n.startswith("ferengine_register_")]


def test_hook_table_matches_kinds():
    assert sorted(HOOKS) == sorted(hookspecs.KIND_HOOKS.values())


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_signature(hook):
    sig = inspect.signature(getattr(hookspecs, hook))
    text = (ROOT / "docs" / "writing-plugins.md").read_text()
    assert f"{hook}() -> {sig.return_annotation}" in text


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_exercised_by_a_test(hook):
    kind = next(k for k, h in hookspecs.KIND_HOOKS.items() if h == hook)
    sources = "".join(
        p.read_text() for p in (ROOT / "tests").glob("test_*.py") if p.name != "test_docs.py"
    )
    assert hook in sources or f'"{kind}"' in sources, f"no test mentions {hook}"


def _readme_command(marker):
    out = subprocess.run(
        [
            "bash",
            "-c",
            f"source <(sed -n '/^readme_command()/,/^}}/p' .ci/run); readme_command {marker}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_ci_runs_the_readme_test_command():
    cmd = _readme_command("test-command")
    assert cmd.startswith("python3 -m venv .venv") and "pip install" in cmd and "pytest" in cmd


def test_readme_main_command_runs_the_benchmark():
    assert _readme_command("main-command").endswith("ferengine bench")


def _python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("page", ["README.md", "docs/quickstart.md", "docs/cookbook.md"])
def test_python_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = _python_blocks(ROOT / page)
    assert blocks
    for block in blocks:
        exec(compile(block, page, "exec"), {})
    assert (tmp_path / "model.fer").exists()
