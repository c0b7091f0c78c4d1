"""Keep the plugin surface, the docs and the README honest."""

import inspect
import json
import pkgutil
import re
import subprocess
import sys
import tomllib

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from ferengine import get_label_space, hookspecs, registry
from ferengine.cli import main
from ferengine.testing.fixtures import FakePackages

from .conftest import ROOT

HOOKS = [n for n, f in vars(hookspecs).items() if n.startswith("ferengine_register_")]


def test_hook_table_matches_kinds():
    assert sorted(HOOKS) == sorted(hookspecs.KIND_HOOKS.values())


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_signature(hook):
    sig = inspect.signature(getattr(hookspecs, hook))
    text = (ROOT / "docs" / "writing-plugins.md").read_text()
    assert f"{hook}() -> {sig.return_annotation}" in text


#: A minimal plugin of every kind, written as a third-party package writes it, and how
#: the test uses it. A kind added to ``hookspecs.KIND_HOOKS`` fails the test below until
#: it gets an entry here.
FAKE_HEADER = """
import numpy as np
import ferengine
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
"""
FAKE_PLUGINS = {
    "dataset": ("""
class Plugin(ferengine.DatasetPlugin):
    \"""Two blank faces.\"""
    name = "fake-dataset"
    def load(self):
        space = ferengine.get_label_space("fer7")
        return ferengine.FaceDataset(np.zeros((2, 4, 4), np.uint8), [0, 1], space)
""", lambda p: len(p.load()) == 2),
    "preprocessor": ("""
class Plugin(TransformerMixin, BaseEstimator):
    \"""Invert grey levels.\"""
    name = "fake-preprocessor"
    def fit(self, X, y=None):
        return self
    def transform(self, X):
        return 255 - X
""", lambda p: p.fit_transform(np.zeros((1, 2, 2)))[0, 0, 0] == 255),
    "augmenter": ("""
class Plugin(ferengine.Augmenter):
    \"""Mirror images left-right.\"""
    name = "fake-augmenter"
    def augment(self, images, rng):
        return images[:, :, ::-1].copy()
""", lambda p: p.augment(np.arange(4).reshape(1, 1, 4), None).ravel().tolist() == [3, 2, 1, 0]),
    "feature": ("""
class Plugin(TransformerMixin, BaseEstimator):
    \"""Mean pixel value.\"""
    name = "fake-feature"
    def fit(self, X, y=None):
        return self
    def transform(self, X):
        return X.reshape(len(X), -1).mean(axis=1, keepdims=True)
""", lambda p: p.fit_transform(np.full((3, 2, 2), 7.0)).tolist() == [[7.0]] * 3),
    "classifier": ("""
class Plugin(ClassifierMixin, BaseEstimator):
    \"""Always the first class.\"""
    name = "fake-classifier"
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self
    def predict(self, X):
        return np.full(len(X), self.classes_[0])
""", lambda p: p.fit(np.zeros((2, 1)), [4, 2]).predict(np.zeros((3, 1))).tolist() == [2] * 3),
    "detector": ("""
class Plugin(ferengine.FaceDetector):
    \"""The centre quarter of every image is a face.\"""
    name = "fake-detector"
    def __init__(self, mode="all", max_side=None):
        self.mode = mode
        self.max_side = max_side
    def _find(self, grey):
        h, w = grey.shape
        return [(w / 4, h / 4, w / 2, h / 2, 1.0)]
""", lambda p: [f.box for f in p.detect(np.zeros((40, 80), np.uint8))] == [(20, 10, 40, 20)]),
    "landmarker": ("""
from ferengine.faces import Landmarker

class Plugin(Landmarker):
    \"""The box's corners, as eyes.\"""
    name = "fake-landmarker"
    n_points = 2
    layout = "fake-2"
    left_eye = (0,)
    right_eye = (1,)
    def _locate(self, grey, box):
        x, y, w, h = box
        return np.array([[x, y], [x + w, y]], float)
""", lambda p: p.locate(np.zeros((9, 9), np.uint8), np.array([(1, 2, 3, 4)])).tolist()
        == [[[1, 2], [4, 2]]]),
    "architecture": ("""
from ferengine.architectures import Architecture

class Plugin(Architecture):
    \"""Pixels straight into the head.\"""
    name = "fake-architecture"
    def build(self, n_classes, in_channels, size):
        from torch import nn
        return nn.Flatten(), nn.Linear(in_channels * size * size, n_classes)
""", lambda p: p.build(3, 1, 4)[1].in_features == 16),
    "label-space": ("""
from ferengine.labels import LabelSpacePlugin

class Plugin(LabelSpacePlugin):
    \"""Yes or no.\"""
    name = "fake-label-space"
    names = ("yes", "no")
""", lambda p: get_label_space("fake-label-space").index("no") == 1),
    "model": ("""
from ferengine.models import ModelCard, PretrainedModel

class Plugin(PretrainedModel):
    \"""Weights that are not shipped.\"""
    name = "fake-model"
    card = ModelCard(package="fakeplug_model", file="m.fer", label_space="fer7",
                     classes=("a", "b"), input_size=(8, 8), channels=1, normalization="",
                     preprocessing="", training_data="", licence="")
""", lambda p: p.card.image_shape == (8, 8)),
    "explainer": ("""
from ferengine.explain import Explainer

class Plugin(Explainer):
    \"""Every pixel counts the same.\"""
    name = "fake-explainer"
    def _maps(self, model, faces, targets, probabilities):
        return np.ones(faces.shape[:3])
""", lambda p: "has no predict_proba" in p.supports(object())),
}  # fmt: skip


@pytest.mark.parametrize("kind", registry.KINDS)
def test_every_kind_works_from_a_fake_installed_package(kind, make_dist, fresh_registry):
    if kind not in FAKE_PLUGINS:
        pytest.fail(f"no fake {kind} plugin: add one to FAKE_PLUGINS in {__name__}")
    source, use = FAKE_PLUGINS[kind]
    hook = hookspecs.KIND_HOOKS[kind]
    module = f"fakeplug_{kind.replace('-', '_')}"
    register = f"\n@ferengine.hookimpl\ndef {hook}():\n    return [Plugin]\n"
    make_dist(module.replace("_", "-"), {kind: module},
              {f"{module}.py": FAKE_HEADER + source + register})  # fmt: skip
    name = f"fake-{kind}"
    plugin = registry.create(kind, name)
    assert type(plugin).__module__ == module and use(plugin)
    assert registry.info(kind, name)["package"] == module.replace("_", "-")
    listed = CliRunner().invoke(main, ["plugins", kind, "--json"])
    assert listed.exit_code == 0, listed.output
    assert {"name": name, "status": "ok"}.items() <= next(
        row for row in json.loads(listed.output) if row["name"] == name
    ).items()


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


@pytest.mark.slow
@pytest.mark.parametrize("page", ["README.md", "docs/quickstart.md", "docs/cookbook.md"])
def test_python_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = _python_blocks(ROOT / page)
    assert blocks
    for block in blocks:
        exec(compile(block, page, "exec"), {})
    assert (tmp_path / "model.fer").exists()


# -- Code blocks: real files, runnable plugin pages -----------------------------------------

#: A fenced block: language, optional ``title="path"``, body. A title on a plugin page
#: names a file of that page's example package; elsewhere it names a file of this
#: repository, which the block must reproduce exactly.
FENCE = re.compile(r'^```([\w-]*)(?: title="([^"]+)")?\n(.*?)^```$', flags=re.S | re.M)
PLUGIN_PAGES = sorted((ROOT / "docs" / "plugins").glob("*.md"))


def _fenced(path):
    return FENCE.findall(path.read_text())


def test_every_kind_has_a_plugin_page():
    assert sorted(p.stem for p in PLUGIN_PAGES) == sorted(registry.KINDS)


@pytest.mark.slow
@pytest.mark.parametrize("page", PLUGIN_PAGES, ids=lambda p: p.stem)
def test_plugin_page_example_package_installs_and_runs(page, tmp_path, monkeypatch, fresh_registry):
    """Write the page's example package, install it as pip would, run the page's Python."""
    blocks = _fenced(page)
    files = {title: body for _, title, body in blocks if title}
    pyproject = [t for t in files if t.endswith("/pyproject.toml")]
    assert len(pyproject) == 1, f"{page.name}: one titled pyproject.toml block, got {pyproject}"
    for needs in re.findall(r"<!-- needs: (.+?) -->", page.read_text()):
        for module in needs.split(","):
            pytest.importorskip(module.strip())
    for title, body in files.items():
        (tmp_path / title).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / title).write_text(body)
    project = tomllib.loads(files[pyproject[0]])["project"]
    folder = (tmp_path / pyproject[0]).parent
    # What `pip install -e` leaves: the project folder on sys.path, its metadata beside it.
    package = FakePackages(folder)
    package(project["name"], project["entry-points"]["ferengine"], {}, project["version"])
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("FERENGINE_STRICT_PLUGINS", "1")  # any problem of the package raises
    monkeypatch.chdir(tmp_path)
    runnable = [body for lang, title, body in blocks if lang == "python" and not title]
    assert runnable, f"{page.name} has no Python block to run"
    namespace = {}
    try:
        for i, body in enumerate(runnable):
            exec(compile(body, f"{page.name}, Python block {i + 1}", "exec"), namespace)
    finally:
        packages = {p.parent.name for p in folder.glob("*/__init__.py")}
        for module in [m for m in sys.modules if m.split(".")[0] in packages]:
            del sys.modules[module]


# -- The site: home page, nav, tables, highlighting, API reference ---------------------------

DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "examples" not in p.relative_to(DOCS).parts)


class _MkdocsLoader(yaml.SafeLoader):
    """mkdocs.yml as data: ``!!python/name:`` tags (superfences' formatters) read as None."""


_MkdocsLoader.add_multi_constructor("tag:yaml.org,2002:python/", lambda *_: None)


def _nav_pages():
    def walk(items):
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            yield from walk(value) if isinstance(value, list) else [value]

    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_MkdocsLoader)
    return list(walk(config["nav"]))


def _outside_fences(path):
    """Yield ``(line number, line)`` of a Markdown file outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def test_every_page_is_in_the_nav_once():
    nav = _nav_pages()
    assert sorted(nav) == sorted(str(p.relative_to(DOCS)) for p in PAGES)


def test_home_page_links_every_page():
    home = (DOCS / "index.md").read_text()
    linked = set(re.findall(r"\]\(([^)#]+\.md)", home))
    missing = [page for page in _nav_pages() if page != "index.md" and page not in linked]
    assert not missing, f"docs/index.md does not link {missing}"


def test_home_page_lists_every_command():
    home = (DOCS / "index.md").read_text()
    missing = [name for name in main.commands if f"`ferengine {name}`" not in home]
    assert not missing, f"docs/index.md does not list the command(s) {missing}"
    listed = set(re.findall(r"`ferengine ([a-z][a-z-]*)", home))
    assert listed <= set(main.commands), f"docs/index.md lists {listed - set(main.commands)}"


@pytest.mark.parametrize("page", [*PAGES, ROOT / "README.md"], ids=lambda p: p.name)
def test_tables_have_no_escaped_or_code_pipes(page):
    """``\\|`` shows its backslash on the site; a pipe in a table's code span splits the cell
    on a forge (GitHub). Rephrase instead (``--backend NAME``)."""
    bad = [
        f"{page.name}:{n}: {line.strip()}"
        for n, line in _outside_fences(page)
        if "\\|" in line
        or (line.lstrip().startswith("|") and any("|" in c for c in re.findall(r"`[^`]*`", line)))
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("page", [*PAGES, ROOT / "README.md"], ids=lambda p: p.name)
def test_code_blocks_name_their_language_and_include_nothing(page):
    """Every fence names a language (so it is highlighted) and holds its code itself:
    ``--8<--`` includes are invisible where the Markdown is read on a forge or in an editor."""
    text = page.read_text()
    opening = re.findall(r"^```(.*)$", text, flags=re.M)[::2]
    bare = sum(not re.match(r"[\w-]+", fence) for fence in opening)
    assert bare == 0, f"{page.name}: {bare} fence(s) without a language"
    assert "--8<--" not in text


@pytest.mark.parametrize(
    "page", [p for p in [*PAGES, ROOT / "README.md"] if p.parent.name != "plugins"], ids=str
)
def test_titled_blocks_reproduce_their_file(page):
    for _, title, body in _fenced(page):
        if title:
            path = ROOT / title
            assert path.is_file(), f"{page.name}: a block is titled {title!r}, not a file"
            assert body == path.read_text(), f"{page.name}: the block of {title} differs from it"


def _reference_targets():
    text = "\n".join(p.read_text() for p in (DOCS / "reference").rglob("*.md"))
    return set(re.findall(r"^::: ([\w.]+)$", text, flags=re.M))


def test_api_reference_documents_every_public_module():
    import ferengine

    modules = {"ferengine"} | {
        m.name
        for m in pkgutil.walk_packages(ferengine.__path__, "ferengine.")
        if not any(part.startswith("_") for part in m.name.split("."))
        and m.name.split(".")[-1] != "cli"  # the commands: docs/cli.md
    }
    missing = sorted(modules - _reference_targets())
    assert not missing, f"add to docs/reference/: {', '.join(missing)}"


def test_api_reference_documents_every_builtin_plugin():
    targets = _reference_targets()
    missing = [
        f"{rec.kind} {rec.name}: {rec.module}.{rec.cls.__qualname__}"
        for rec in registry.records()
        if rec.cls is not None
        and rec.builtin
        and f"{rec.module}.{rec.cls.__qualname__}" not in targets
    ]
    assert not missing, "add to docs/reference/builtins/<kind>.md:\n" + "\n".join(missing)
