"""Keep the plugin surface, the docs and the README honest."""

import inspect
import json
import re
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

from ferengine import get_label_space, hookspecs, registry
from ferengine.cli import main

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
