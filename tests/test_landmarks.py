"""The dlib-landmark geometry feature: shapes, determinism, parameters, plausible points."""

import pickle

import numpy as np
import pytest

pytest.importorskip("dlib")

from ferengine_classic.features.landmarks import (
    ANGLES,
    DISTANCES,
    RATIOS,
    Landmarks,
    geometry,
    normalise,
)

import ferengine

from .conftest import shared_data_dir

N_DEFAULT = 136 + len(DISTANCES) + 2 * len(ANGLES) + len(RATIOS)


@pytest.fixture(scope="module")
def synth():
    return ferengine.load_dataset("synthetic", n_subjects=4, per_expression=1)


@pytest.fixture(scope="module")
def fitted(synth):
    return Landmarks().fit(synth.images)


def test_shapes_and_dtype(synth, fitted):
    F = fitted.transform(synth.images)
    assert F.shape == (len(synth.images), N_DEFAULT) == (len(synth.images), 178)
    assert F.dtype == np.float32 and np.isfinite(F).all()
    assert fitted.n_features_out_ == N_DEFAULT


@pytest.mark.parametrize(
    ("parts", "width"),
    [
        (("coords",), 136),
        (("distances",), len(DISTANCES)),
        (("angles",), 2 * len(ANGLES)),
        (("ratios",), len(RATIOS)),
        ("ratios", len(RATIOS)),
    ],
)
def test_parts_select_groups(synth, parts, width):
    assert Landmarks(parts=parts).fit_transform(synth.images[:3]).shape == (3, width)


def test_parts_order_is_output_order(synth, fitted):
    X = synth.images[:5]
    full = fitted.transform(X)
    swapped = Landmarks(parts=("ratios", "coords")).fit(X).transform(X)
    np.testing.assert_array_equal(swapped, np.hstack([full[:, -len(RATIOS) :], full[:, :136]]))


def test_deterministic(synth, fitted):
    a = fitted.transform(synth.images)
    b = fitted.transform(synth.images)
    c = Landmarks().fit(synth.images).transform(synth.images)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


@pytest.mark.slow
def test_parallel_equals_serial(synth, fitted):
    X = np.concatenate([synth.images] * 2)
    par = Landmarks(n_jobs=2, batch_size=8).fit(X)
    np.testing.assert_array_equal(par.transform(X), fitted.transform(X))


def test_landmarks_shape_and_coordinates(synth, fitted):
    P = fitted.landmarks(synth.images)
    assert P.shape == (len(synth.images), 68, 2) and P.dtype == np.float32
    assert np.isfinite(P).all()
    np.testing.assert_array_equal(Landmarks().landmarks(synth.images), P)  # no fit needed
    # in input pixel coordinates: a 2× larger image gives about 2× the coordinates
    big = np.repeat(np.repeat(synth.images[:4], 2, axis=1), 2, axis=2)
    P2 = Landmarks().landmarks(big)
    assert np.median(np.abs(P2 - (2 * P[:4] + 0.5))) < 1.5


def test_any_size_and_float_input(synth, fitted):
    X = synth.images[:4]
    np.testing.assert_array_equal(fitted.transform(X.astype(np.float64)), fitted.transform(X))
    assert fitted.transform(np.repeat(np.repeat(X, 2, axis=1), 2, axis=2)).shape == (4, 178)
    z = X.astype(np.float32)
    z = (z - z.mean(axis=(1, 2), keepdims=True)) / z.std(axis=(1, 2), keepdims=True)
    assert np.isfinite(fitted.transform(z)).all()  # rescaled per image for dlib
    mixed = np.concatenate([X[:2].astype(np.float32), z[2:]])  # each image converted alone
    np.testing.assert_array_equal(fitted.transform(mixed)[:2], fitted.transform(X[:2]))
    np.testing.assert_array_equal(fitted.transform(mixed)[2:], fitted.transform(z[2:]))


def test_detector_box_falls_back_to_whole_image():
    noise = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    np.testing.assert_array_equal(
        Landmarks(box="dlib-hog").landmarks(noise), Landmarks().landmarks(noise)
    )


def test_pickle_holds_no_dlib_object(fitted, synth):
    blob = pickle.dumps(fitted)
    assert len(blob) < 10_000
    np.testing.assert_array_equal(
        pickle.loads(blob).transform(synth.images[:3]), fitted.transform(synth.images[:3])
    )


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"parts": ("coords", "bogus")}, "parts"),
        ({"parts": ()}, "parts"),
        ({"parts": ("coords", "coords")}, "parts"),
        ({"box": "face"}, "box"),
        ({"parts": ("coords", "ratios"), "landmarker": "dlib-5"}, "ibug-68"),
        ({"min_size": 0}, "min_size"),
        ({"min_size": 9.5}, "min_size"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_parameter_raises(synth, params, name):
    with pytest.raises(ValueError, match=name):
        Landmarks(**params).fit(synth.images[:2])
    with pytest.raises(ValueError, match=name):
        Landmarks(**params).landmarks(synth.images[:2])


def test_missing_model_file(synth, tmp_path):
    with pytest.raises(FileNotFoundError, match="dlib-68: no shape predictor"):
        Landmarks(landmarker_params={"model_path": str(tmp_path / "none.dat")}).fit(
            synth.images[:2]
        )


def test_other_landmarker_gives_its_coordinates(synth):
    five = Landmarks(parts=("coords",), landmarker="dlib-5").fit(synth.images[:3])
    assert five.landmarks(synth.images[:3]).shape == (3, 5, 2)
    assert five.transform(synth.images[:3]).shape == (3, 10)


def test_geometry_invariant_to_similarity_transforms(fitted, synth):
    P = fitted.landmarks(synth.images).astype(np.float64)
    t = 0.4
    R = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    moved = 3.0 * P @ R.T + np.array([100.0, -50.0])
    np.testing.assert_allclose(geometry(moved), geometry(P), atol=1e-4)
    Q = normalise(P)
    left, right = Q[:, 36:42].mean(axis=1), Q[:, 42:48].mean(axis=1)
    np.testing.assert_allclose(left[:, 1], right[:, 1], atol=1e-9)  # eye line horizontal
    assert (right[:, 0] > left[:, 0]).all()
    np.testing.assert_allclose(np.sqrt((Q**2).sum(axis=2).mean(axis=1)), 1.0)


# -- real face crops ---------------------------------------------------------------------
def _ckplus(data, n=50):
    cv2 = pytest.importorskip("cv2")
    files = sorted((data / "ckplus48").glob("*/*.png"))
    if not files:
        pytest.skip(f"../shared/data not found: no CK+48 images under {data / 'ckplus48'}")
    step = max(1, len(files) // n)
    return np.stack([cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files[::step][:n]])


def _fer2013(data, n=50):
    path = data / "fer2013" / "fer2013.csv.gz"
    if not path.is_file():
        pytest.skip(f"../shared/data not found: no FER2013 CSV at {path}")
    images = ferengine.load_dataset("fer2013", path=path, usage="PublicTest").images
    return images[:: len(images) // n][:n]


@pytest.mark.slow
@pytest.mark.parametrize("source", ["ckplus48", "fer2013"])
def test_plausible_points_on_real_crops(source):
    data = shared_data_dir()
    if data is None:
        pytest.skip("../shared/data not found: set FERENGINE_DATA to the real-data folder")
    images = _ckplus(data) if source == "ckplus48" else _fer2013(data)
    h, w = images.shape[1:3]
    P = Landmarks().landmarks(images)
    size = np.array([w - 1, h - 1])

    def inside(points, tol):
        return ((points >= -tol) & (points <= size + tol)).all(axis=(1, 2))

    # these crops cut the chin: the jaw line (0–16) may end a few pixels outside them
    inside_all = inside(P, 0.1 * min(h, w)) & inside(P[:, 17:], 1.0)
    left, right = P[:, 36:42].mean(axis=1), P[:, 42:48].mean(axis=1)
    mouth = P[:, 48:68].mean(axis=1)
    upright = (left[:, 1] < mouth[:, 1]) & (right[:, 1] < mouth[:, 1])
    ok = inside_all & upright & (left[:, 0] < right[:, 0])
    assert ok.mean() >= 0.9, f"{source}: only {ok.mean():.0%} of {len(images)} crops plausible"
