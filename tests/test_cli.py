import json

import pytest
from click.testing import CliRunner

from ferengine.cli import main


def run(*args):
    result = CliRunner().invoke(main, list(args))
    return result


def all_commands(group=main, prefix=()):
    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if hasattr(cmd, "commands"):
            yield from all_commands(cmd, (*prefix, name))


@pytest.mark.parametrize("command", [(), *all_commands()], ids=lambda c: " ".join(c) or "main")
def test_every_command_has_help(command):
    result = run(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_plugins_table_lists_builtins():
    result = run("plugins")
    assert result.exit_code == 0, result.output
    for name in ("synthetic", "pixels", "logistic"):
        assert name in result.output


def test_plugins_json_and_kind_filter():
    rows = json.loads(run("plugins", "feature", "--json").output)
    assert {r["kind"] for r in rows} == {"feature"}
    pixels = next(r for r in rows if r["name"] == "pixels")
    assert set(pixels) >= {"kind", "name", "package", "version", "status"}
    assert pixels["status"] == "ok"


def test_plugins_show():
    result = run("plugins", "show", "classifier", "logistic")
    assert result.exit_code == 0, result.output
    assert "max_iter" in result.output and "1000" in result.output
    data = json.loads(run("plugins", "show", "feature", "pixels", "--json").output)
    assert data["parameters"]["interpolation"] == "area"


def test_plugins_bad_arguments_are_explained():
    result = run("plugins", "features")
    assert result.exit_code != 0 and "is not one of" in result.output
    result = run("plugins", "show", "feature", "pixel")
    assert result.exit_code != 0 and "did you mean 'pixels'" in result.output
    result = run("plugins", "show", "feature")
    assert result.exit_code != 0 and "usage" in result.output.lower()


def test_broken_and_unavailable_plugins_are_shown_with_reasons(make_dist, fresh_registry):
    make_dist(
        "fakeplug-broken",
        {"broken": "fakeplug_broken"},
        {"fakeplug_broken.py": "import not_a_real_module_xyz\n"},
    )
    src = (
        "import ferengine\n"
        "class Heavy:\n    '''Needs a missing library.'''\n    name = 'heavy'\n"
        "    requires = ('no_such_lib_q',)\n    extra = 'all'\n"
        "@ferengine.hookimpl\ndef ferengine_register_classifiers():\n    return [Heavy]\n"
    )
    make_dist("fakeplug-heavy", {"heavy": "fakeplug_heavy"}, {"fakeplug_heavy.py": src})
    rows = {r["name"]: r for r in json.loads(run("plugins", "--json").output)}
    assert rows["broken"]["status"] == "broken"
    assert "not_a_real_module_xyz" in rows["broken"]["reason"]
    assert rows["heavy"]["status"] == "unavailable"
    assert (
        "no_such_lib_q" in rows["heavy"]["reason"]
        and "fakeplug-heavy[all]" in rows["heavy"]["reason"]
    )
    assert rows["pixels"]["status"] == "ok"


@pytest.mark.slow
def test_bench_runs_a_limited_builtin_suite_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "quick"
    result = run("bench", "--limit", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "pixels(size=24) → logistic(C=0.1)" in result.output
    rows = json.loads((out / "results.json").read_text())
    assert len(rows) == 2 * 3  # 2 pipelines × 3 folds
    assert all(0 <= r["accuracy"] <= 1 for r in rows)
    assert (out / "results.csv").read_text().startswith("task,dataset,pipeline,")
    assert (out / "report.md").is_file() and list((out / "plots").glob("*.png"))
    again = run("bench", "--limit", "2", "--out", str(out))
    assert again.exit_code != 0 and "--resume" in again.output


@pytest.mark.slow
def test_bench_default_folder_is_dated_and_resume_finds_the_latest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = run("bench", "--limit", "1")
    assert first.exit_code == 0, first.output
    (folder,) = (tmp_path / "bench-results").glob("quick-*")
    again = run("bench", "--limit", "1", "--resume")
    assert again.exit_code == 0, again.output
    assert "0 tasks run, 3 resumed" in again.output
    assert list((tmp_path / "bench-results").glob("quick-*")) == [folder]
