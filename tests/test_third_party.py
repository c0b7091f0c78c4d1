"""A real third-party package, installed with pip, is a first-class peer of the built-ins."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import ferengine
from ferengine import registry
from ferengine.registry import Registry

from .conftest import ROOT

EXAMPLE = ROOT / "docs" / "examples" / "ferengine-example-plugin"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory):
    """pip-install the example plugin into a private folder; return that folder."""
    work = tmp_path_factory.mktemp("example")
    src = work / "src"
    shutil.copytree(EXAMPLE, src)
    target = work / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(src),
        ],
        check=True,
    )
    return target


@pytest.fixture
def example_registry(installed_example, monkeypatch):
    monkeypatch.syspath_prepend(str(installed_example))
    reg = Registry.from_entry_points(strict=True)
    saved = registry._default
    registry.set_registry(reg)
    yield reg
    registry.set_registry(saved)
    for mod in [m for m in sys.modules if m.startswith("ferengine_example")]:
        del sys.modules[mod]


def test_installed_plugin_is_discovered_and_described(example_registry):
    info = registry.info("feature", "block-means")
    assert info["package"] == "ferengine-example-plugin"
    assert info["version"] == "0.1.0"
    assert info["parameters"] == {"grid": 6}
    assert info["description"].startswith("Mean grey level")
    assert "pixels" in registry.names("feature")


@pytest.mark.slow
def test_installed_plugin_works_in_a_pipeline_and_round_trips(example_registry, small_ds, tmp_path):
    pipe = ferengine.pipeline(("block-means", {"grid": 4}), "logistic").fit(small_ds)
    features = pipe.named_steps["block-means"].transform(small_ds.images[:3])
    assert features.shape == (3, 16) and features.dtype == np.float32
    loaded = ferengine.load(ferengine.save(pipe, tmp_path / "m.fer"))
    np.testing.assert_array_equal(loaded.predict(small_ds.images), pipe.predict(small_ds.images))


@pytest.mark.slow
def test_cli_lists_the_installed_plugin(installed_example):
    env = dict(os.environ, PYTHONPATH=str(installed_example))
    out = subprocess.run(
        [sys.executable, "-m", "ferengine.cli", "plugins", "feature", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert '"name": "block-means"' in out
    assert '"package": "ferengine-example-plugin"' in out
