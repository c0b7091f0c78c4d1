import numpy as np
import pytest

from ferengine import registry

RNG = np.random.default_rng(0)
GREY = RNG.integers(0, 256, (6, 40, 36)).astype(np.uint8)
RGB = RNG.integers(0, 256, (6, 40, 36, 3)).astype(np.uint8)


def make(name, **params):
    return registry.create("preprocessor", name, **params)


@pytest.mark.parametrize("images", [GREY, RGB], ids=["grey", "rgb"])
@pytest.mark.parametrize(
    "name,params",
    [
        ("grey", {}),
        ("resize", {"size": 24}),
        ("crop", {"size": (20, 18)}),
        ("histeq", {}),
        ("clahe", {"clip_limit": 3.0, "tile_grid": 4}),
        ("standardize", {"sigma": 3.125}),
        ("pixel-normalize", {}),
    ],
)
def test_batch_in_batch_out_and_deterministic(name, params, images):
    step = make(name, **params).fit(images)
    out = step.transform(images)
    assert len(out) == len(images)
    assert np.array_equal(out, make(name, **params).fit(images).transform(images))
    assert np.isfinite(out.astype(np.float64)).all()


def test_grey_keeps_uint8_and_drops_channels():
    out = make("grey").fit_transform(RGB)
    assert out.shape == RGB.shape[:3] and out.dtype == np.uint8


def test_resize_and_crop_shapes():
    assert make("resize", size=(30, 20)).fit_transform(GREY).shape == (6, 30, 20)
    assert make("resize", size=24).fit_transform(RGB).shape == (6, 24, 24, 3)
    assert make("crop", fraction=0.5).fit_transform(GREY).shape == (6, 20, 18)
    out = make("crop", box=(2, 3, 10, 12)).fit_transform(GREY)
    assert np.array_equal(out, GREY[:, 3:15, 2:12])


def test_crop_too_large_names_region():
    with pytest.raises(ValueError, match="does not fit in 40×36"):
        make("crop", size=50).fit(GREY).transform(GREY)


def test_standardize_hits_target_sigma():
    out = make("standardize", sigma=3.125).fit_transform(GREY)
    assert np.allclose(out.mean(axis=(1, 2)), 0, atol=1e-4)
    assert np.allclose(out.std(axis=(1, 2)), 3.125, rtol=1e-4)


def test_pixel_normalize_uses_training_statistics():
    step = make("pixel-normalize").fit(GREY)
    assert step.mean_.shape == GREY.shape[1:]
    train = step.transform(GREY)
    assert np.allclose(train.mean(axis=0), 0, atol=1e-4)
    other = step.transform(GREY[:2] // 2)  # uses the stored statistics, not the batch's
    assert not np.allclose(other.mean(axis=0), 0, atol=1e-2)
    with pytest.raises(ValueError, match="fitted on 40×36"):
        step.transform(GREY[:, :20])


def test_histogram_equalisation_spreads_a_low_contrast_image():
    dull = (100 + RNG.integers(0, 10, (2, 32, 32))).astype(np.uint8)
    for name in ("histeq", "clahe"):
        out = make(name).fit_transform(dull)
        assert np.ptp(out) > 5 * np.ptp(dull), name


@pytest.mark.parametrize(
    "name,params,word",
    [
        ("clahe", {"clip_limit": 0}, "clip_limit"),
        ("clahe", {"tile_grid": (0, 2)}, "tile_grid"),
        ("resize", {"size": 0}, "size"),
        ("resize", {"interpolation": "bogus"}, "interpolation"),
        ("crop", {"fraction": 1.5}, "fraction"),
        ("crop", {"size": 10, "box": (0, 0, 5, 5)}, "size or box"),
        ("standardize", {"sigma": -1}, "sigma"),
    ],
)
def test_bad_parameters_are_named(name, params, word):
    with pytest.raises(ValueError, match=word):
        make(name, **params).fit(GREY)


def test_flat_vectors_are_refused_with_a_hint():
    with pytest.raises(ValueError, match="batch of images"):
        make("clahe").fit(GREY.reshape(6, -1))
