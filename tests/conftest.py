"""Shared fixtures: small synthetic data, fresh registries, fake installed distributions."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

import ferengine
from ferengine import registry as reg

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def small_ds():
    """A small synthetic dataset (12 subjects × 7 expressions × 2 images, 32×32)."""
    return ferengine.load_dataset("synthetic", n_subjects=12, per_expression=2, size=32)


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
def fresh_registry():
    """Rebuild the process-wide registry from entry points for this test, then restore it."""
    saved = reg._default
    reg.set_registry(None)
    yield
    reg.set_registry(saved)


@pytest.fixture
def make_dist(tmp_path, monkeypatch):
    """Install a fake distribution (real ``.dist-info`` metadata + modules) on ``sys.path``.

    ``make_dist(name, entry_points={"ep": "module.path"}, modules={"pkg/mod.py": source})``
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def make(
        name: str, entry_points: dict[str, str], modules: dict[str, str], version: str = "1.0"
    ) -> Path:
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        eps = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
        (info / "entry_points.txt").write_text(f"[ferengine]\n{eps}\n")
        for rel, source in modules.items():
            path = site / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(source))
        return site

    yield make
    for mod in [m for m in sys.modules if m.startswith("fakeplug")]:
        del sys.modules[mod]


def shared_data_dir() -> Path | None:
    """Return the real-data folder (``FERENGINE_DATA`` or ``../shared/data``), if present."""
    env = os.environ.get("FERENGINE_DATA")
    path = Path(env) if env else ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None
