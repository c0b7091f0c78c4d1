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


# --- faces whose class one region decides (the explainer tests) ---------------------------

BAR_SIZE = 48
#: The dark bar that makes a face "happy" (rows, columns), and the mouth region around it.
BAR = (slice(33, 39), slice(12, 36))
MOUTH = (slice(27, 45), slice(6, 42))
#: A CNN small enough to learn the bar in seconds.
TINY_CNN = {"module__width": 8, "max_epochs": 8, "lr": 3e-3, "batch_size": 32,
            "validation_fraction": 0.0, "bf16": False}  # fmt: skip


@pytest.fixture(scope="session")
def bar_data():
    """140 synthetic faces: even rows get the mouth bar and class happy, odd rows sad."""
    import numpy as np

    ds = ferengine.load_dataset("synthetic", n_subjects=10, per_expression=2, size=BAR_SIZE,
                                seed=3)  # fmt: skip
    images = ds.images.copy()
    bar = np.arange(len(images)) % 2 == 0
    images[bar, BAR[0], BAR[1]] = 15
    space = ferengine.get_label_space("fer7")
    labels = np.where(bar, space.index("happy"), space.index("sad"))
    return ferengine.FaceDataset(images, labels, space)


@pytest.fixture(scope="session")
def hog_model(bar_data):
    """HOG → logistic regression, fitted perfectly on :func:`bar_data`."""
    model = ferengine.pipeline(("hog", {"cell": 8}), "logistic").fit(bar_data)
    assert model.score(bar_data) == 1.0
    return model


@pytest.fixture(scope="session")
def cnn_model(bar_data):
    """A tiny CNN fitted perfectly on :func:`bar_data` (one torch thread)."""
    pytest.importorskip("torch")
    from ferengine import runtime

    with runtime.options(threads=1):  # a shared machine: one thread trains fastest
        model = ferengine.pipeline(("cnn", TINY_CNN)).fit(bar_data)
    assert model.score(bar_data) == 1.0
    return model


def write_image_folder(root, data):
    """Write ``data`` as an image-folder dataset: Training/ and PublicTest/, class folders."""
    import cv2

    for i, (image, label) in enumerate(zip(data.images, data.label_names, strict=True)):
        split = "PublicTest" if i % 4 == 0 else "Training"
        folder = root / split / label
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i:03d}.png"), image)
