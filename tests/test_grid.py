"""Grid pooling (ferengine_classic.features.grid) when the grid is finer than the image."""

import warnings

import numpy as np
from ferengine_classic.features.grid import cell_means

import ferengine


def test_a_grid_finer_than_the_maps_repeats_pixels_instead_of_dividing_by_zero():
    maps = np.arange(15, dtype=float).reshape(3, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        means = cell_means(maps, 6, 2).reshape(6, 2)
    np.testing.assert_allclose(means[:, 0], [0.5, 0.5, 5.5, 5.5, 10.5, 10.5])  # 2 cells a row
    np.testing.assert_allclose(cell_means(maps, 3, 1).ravel(), maps.mean(axis=1))


def test_gabor_on_images_smaller_than_its_grid_gives_finite_features_silently():
    images = np.random.default_rng(0).integers(0, 256, (4, 12, 12)).astype(np.uint8)
    gabor = ferengine.registry.create("feature", "gabor", grid=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = gabor.fit_transform(images)
    assert np.isfinite(out).all()
