import hashlib

import numpy as np
import pytest
from sklearn.model_selection import cross_val_score

import ferengine
from ferengine import splits


def test_defaults_give_twenty_subjects_with_every_expression(default_ds):
    ds = default_ds
    assert ds.images.dtype == np.uint8 and ds.images.shape[1:] == (48, 48)
    assert ds.label_space.name == "fer7"
    subjects = np.unique(ds.subjects)
    assert len(subjects) >= 20
    for s in subjects:
        assert set(ds.where(subject=s).labels.tolist()) == set(range(7))


def test_deterministic_and_stable_when_growing():
    a = ferengine.load_dataset("synthetic", n_subjects=3, per_expression=1, seed=5)
    b = ferengine.load_dataset("synthetic", n_subjects=3, per_expression=1, seed=5)
    c = ferengine.load_dataset("synthetic", n_subjects=4, per_expression=1, seed=5)
    d = ferengine.load_dataset("synthetic", n_subjects=3, per_expression=1, seed=6)
    assert np.array_equal(a.images, b.images)
    assert np.array_equal(a.images, c.images[: len(a)])
    assert not np.array_equal(a.images, d.images)


def test_images_vary_within_a_class_and_size_is_honoured():
    ds = ferengine.load_dataset("synthetic", n_subjects=2, per_expression=2, size=64)
    assert ds.images.shape[1:] == (64, 64)
    happy = ds.where(label="happy").images.astype(float)
    assert np.abs(happy[0] - happy[1]).mean() > 2  # not copies


#: SHA-256 of the uint8 images ``synthetic`` rendered (opencv 4.14.0, numpy 2.4.6) before
#: its view was made explicit (issue 20): refactors of the renderer must keep every pixel.
#: A library upgrade that changes them is a rendering change: say so in CHANGELOG.md.
PINNED = [
    ({"n_subjects": 2, "per_expression": 2},
     "6a4bc64cffa8433de23e47f60033eefa17c6a9edf92c4d089dac7682540048f5"),
    ({"n_subjects": 3, "per_expression": 1, "size": 64, "seed": 7, "intensity": (0.2, 1.4)},
     "a68952f7f43fa312a6dfe3550c2c6449cd9f7da032239f71a5d81a94f0db9aab"),
    ({"n_subjects": 1, "per_expression": 1, "size": 16, "seed": 11},
     "c878e08b5e0b768860dd57725e6c7efef47535fd459e8971342b02c871344c30"),
    ({"n_subjects": 1, "per_expression": 1, "size": 100, "seed": 2},
     "1c73311ab9aac7b4cc024760930a0cd6d0f25c5b97fe628fce46a1232509a7d1"),
]  # fmt: skip


@pytest.mark.parametrize(("params", "digest"), PINNED)
def test_rendering_is_pinned(params, digest):
    images = ferengine.load_dataset("synthetic", **params).images
    assert hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest() == digest


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_subjects": 0}, "n_subjects"),
        ({"size": 8}, "at least 16"),
        ({"intensity": (0.9, 0.1)}, "intensity"),
    ],
)
def test_bad_parameters(params, message):
    with pytest.raises(ValueError, match=message):
        ferengine.load_dataset("synthetic", **params)


@pytest.mark.slow
def test_learnable_but_not_trivial(default_ds):
    """A simple pipeline lands well above chance and well below 100 % across subjects."""
    ds = default_ds
    pipe = ferengine.pipeline(("pixels", {"size": 24}), "logistic")
    scores = cross_val_score(pipe, ds.images, ds.labels, cv=splits.subject_kfold(ds, 4))
    chance = 1 / 7
    assert scores.mean() > 2 * chance, scores
    assert scores.mean() < 0.8, scores
