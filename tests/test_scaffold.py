"""`ferengine new-plugin`: the generated package of every kind is complete and passes its tests."""

import os
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path

import pytest
from click.testing import CliRunner

from ferengine.cli import main
from ferengine.hookspecs import KIND_HOOKS
from ferengine.registry import KINDS, check_class
from ferengine.scaffold import ScaffoldError, new_plugin, plugin_names, supported_kinds

MAIN_KINDS = (
    "feature",
    "classifier",
    "preprocessor",
    "dataset",
    "detector",
    "augmenter",
    "landmarker",
    "label-space",
)


def test_every_main_kind_is_supported_in_registry_order():
    kinds = supported_kinds()
    assert set(MAIN_KINDS) <= set(kinds)
    assert list(kinds) == [k for k in KINDS if k in kinds]


@pytest.fixture
def generated(tmp_path, monkeypatch):
    """Generate a package of a kind and make it importable without installing it."""
    made = []

    def make(kind):
        name = f"scaffold-{kind}"
        target = new_plugin(name, kind, tmp_path)
        monkeypatch.syspath_prepend(str(target))
        made.append(plugin_names(name).package)
        return target

    yield make
    for mod in [m for m in sys.modules if m.split(".")[0] in made]:
        del sys.modules[mod]


@pytest.mark.parametrize("kind", MAIN_KINDS)
def test_generated_package_compiles_and_its_hook_returns_the_plugin(kind, generated):
    names = plugin_names(f"scaffold-{kind}")
    target = generated(kind)
    sources = sorted(target.rglob("*.py"))
    assert {p.relative_to(target).parts[0] for p in sources} == {names.package, "tests"}
    for path in sources:
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
    project = tomllib.loads((target / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["name"] == names.dist
    assert project["project"]["entry-points"]["ferengine"] == {
        names.plugin: f"{names.package}.hooks"
    }
    assert any(d.startswith("ferengine>=") for d in project["project"]["dependencies"])
    assert project["project"]["optional-dependencies"]  # the example extra
    test_source = (target / "tests" / f"test_{names.package}.py").read_text(encoding="utf-8")
    assert "parametrize_plugin_checks" in test_source
    assert f"pip install -e {names.dist}" in (target / "README.md").read_text(encoding="utf-8")

    hooks = __import__(f"{names.package}.hooks", fromlist=["hooks"])
    (cls,) = getattr(hooks, KIND_HOOKS[kind])()
    assert cls.__name__ == names.cls
    assert cls.name == names.plugin
    assert check_class(kind, cls) == ""


def test_names_derive_from_the_distribution_name():
    names = plugin_names("ferengine-grey-cells")
    assert (names.plugin, names.package, names.cls) == ("grey-cells", "grey_cells", "GreyCells")
    assert plugin_names("mean-face-5").cls == "MeanFace5"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Grey_Cells", "kebab-case"),
        ("grey--cells", "kebab-case"),
        ("5-cells", "starting with a letter"),
        ("ferengine-5-cells", "must start with a letter"),
        ("class", "Python keyword"),
        ("numpy", "'numpy' is already importable"),
        ("pixels", "package ferengine already registers the feature 'pixels'"),
        ("ferengine-hog", "already registers the feature 'hog'"),
    ],
)
def test_bad_names_are_refused_with_the_reason(name, message, tmp_path):
    with pytest.raises(ScaffoldError, match=message):
        new_plugin(name, "feature", tmp_path)
    assert not (tmp_path / name).exists()


def test_an_existing_folder_is_never_overwritten(tmp_path):
    (tmp_path / "scaffold-taken").mkdir()
    (tmp_path / "scaffold-taken" / "keep.txt").write_text("mine")
    with pytest.raises(ScaffoldError, match=r"scaffold-taken already exists.*never overwrites"):
        new_plugin("scaffold-taken", "feature", tmp_path)
    assert [p.name for p in (tmp_path / "scaffold-taken").iterdir()] == ["keep.txt"]


def test_a_kind_without_template_is_refused(tmp_path):
    with pytest.raises(ScaffoldError, match="--kind 'model'.*feature"):
        new_plugin("scaffold-model", "model", tmp_path)


def test_cli_writes_the_package_and_lists_the_kinds(tmp_path):
    runner = CliRunner()
    help_text = runner.invoke(main, ["new-plugin", "--help"]).output
    assert ", ".join(supported_kinds()) in " ".join(help_text.split())
    result = runner.invoke(
        main, ["new-plugin", "scaffold-cli", "--kind", "detector", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "scaffold-cli" / "scaffold_cli" / "detector.py").is_file()
    again = runner.invoke(
        main, ["new-plugin", "scaffold-cli", "--kind", "detector", "--out", str(tmp_path)]
    )
    assert again.exit_code == 1
    assert "already exists" in again.output and "Traceback" not in again.output


def _clean_env():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return dict(env, FERENGINE_STRICT_PLUGINS="1")


def _run(args, cwd):
    done = subprocess.run(args, cwd=cwd, env=_clean_env(), capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(map(str, args))}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_new_plugin_then_pip_install_e_then_pytest_passes_in_a_fresh_venv(tmp_path):
    _run(
        [sys.executable, "-m", "ferengine.cli", "new-plugin", "demo", "--kind", "feature"], tmp_path
    )
    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=False)
    python = fresh / "bin" / "python"
    # The fresh venv sees ferengine and its dependencies through a .pth file that adds this
    # interpreter's site-packages as a site directory: offline and fast, and unlike
    # --system-site-packages (which would add the base Python's packages, not this venv's)
    # it also runs that folder's .pth files, so ferengine's editable install is found.
    purelib = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path
    )
    ours = sysconfig.get_path("purelib")
    (Path(purelib.strip()) / "outer-site.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n"
    )
    _run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", "demo"],
        tmp_path,
    )
    where = _run([python, "-c", "import demo; print(demo.__file__)"], tmp_path / "venv")
    assert str(tmp_path / "demo") in where  # the editable install, not a copy
    out = _run([python, "-m", "pytest", "-p", "no:cacheprovider", "demo"], tmp_path)
    assert " passed" in out and "failed" not in out


@pytest.mark.slow
@pytest.mark.parametrize("kind", MAIN_KINDS)
def test_every_kind_passes_its_own_tests_once_installed(kind, tmp_path):
    target = new_plugin(f"scaffold-{kind}", kind, tmp_path)
    site = tmp_path / "site"
    _run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", site, target],
        tmp_path,
    )  # fmt: skip
    env = dict(_clean_env(), PYTHONPATH=str(site))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", target],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
