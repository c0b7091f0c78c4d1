"""Shared fixtures: small synthetic data, fresh registries, fake installed distributions.

The general ones come from ferengine's pytest plugin (:mod:`ferengine.testing.pytest_plugin`,
installed with the package): ``face_dataset``, ``plugin_registry`` and ``fake_package``.
This suite reaches them under its own names too: ``small_ds``, ``fresh_registry`` and
``make_dist``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import ferengine

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ("pytester",)


@pytest.fixture(scope="session")
def small_ds(face_dataset):
    """A small synthetic dataset (12 subjects × 7 expressions × 2 images, 32×32)."""
    return face_dataset


@pytest.fixture(scope="session")
def model_file(tmp_path_factory):
    """A saved pixels → logistic model (48×48 synthetic faces), for predict and evaluate."""
    ds = ferengine.load_dataset("synthetic", n_subjects=6, per_expression=2, size=48)
    path = tmp_path_factory.mktemp("model") / "pixels.fer"
    ferengine.save(ferengine.pipeline(("pixels", {"size": 24}), "logistic").fit(ds), path)
    return path


@pytest.fixture(scope="session")
def default_ds():
    """The synthetic dataset with its defaults."""
    return ferengine.load_dataset("synthetic")


@pytest.fixture
def fresh_registry(plugin_registry):
    """The process-wide registry rebuilt from entry points for this test, then restored."""
    return plugin_registry


@pytest.fixture
def make_dist(fake_package):
    """Install a fake distribution (real ``.dist-info`` metadata + modules) on ``sys.path``.

    ``make_dist(name, entry_points={"ep": "module.path"}, modules={"pkg/mod.py": source})``
    """
    return fake_package


def shared_data_dir() -> Path | None:
    """Return the real-data folder (``FERENGINE_DATA`` or ``../shared/data``), if present."""
    env = os.environ.get("FERENGINE_DATA")
    path = Path(env) if env else ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture
def one_thread():
    """Train on one torch thread (the machine's cores are shared)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
