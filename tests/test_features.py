import numpy as np
import pytest

import ferengine
from ferengine import registry, splits

FAST = {
    "pixels": {"size": 24},
    "lbp": {},
    "hog": {"cell": 6},
    "gabor": {"wavelengths": (4.0, 8.0)},
    "bovw": {"words": 64, "max_descriptors": 20_000},
    "concat": {"features": ("hog", ("lbp", {"grid": 4}))},
}


def slow_bovw(names):
    """``names`` as parameters, BoVW's marked slow (its k-means takes most of the time)."""
    return [pytest.param(n, marks=pytest.mark.slow) if n == "bovw" else n for n in names]


def make(name, **params):
    return registry.create("feature", name, **params)


@pytest.fixture(scope="module")
def faces():
    return ferengine.load_dataset("synthetic", n_subjects=6, per_expression=1).images


@pytest.mark.parametrize("name", slow_bovw(sorted(FAST)))
def test_float32_matrix_deterministic_and_parallel_equal(name, faces):
    feature = make(name, **FAST[name]).fit(faces)
    out = feature.transform(faces)
    assert out.dtype == np.float32 and out.shape[0] == len(faces) and out.ndim == 2
    assert np.isfinite(out).all()
    again = make(name, **FAST[name]).fit(faces).transform(faces)
    assert np.array_equal(out, again)
    if "n_jobs" in feature.get_params():
        parallel = make(name, **FAST[name], n_jobs=2, batch_size=7).fit(faces).transform(faces)
        assert np.allclose(out, parallel, atol=1e-5)


@pytest.mark.parametrize("name", slow_bovw(["lbp", "hog", "gabor", "bovw"]))
def test_colour_images_are_described_by_their_grey_level(name, faces):
    rgb = np.repeat(faces[..., None], 3, axis=3)
    grey = make(name, **FAST[name]).fit(faces).transform(faces)
    colour = make(name, **FAST[name]).fit(rgb).transform(rgb)
    assert np.allclose(grey, colour, atol=1e-4)


def test_wrong_image_size_after_fit_is_named(faces):
    hog = make("hog").fit(faces)
    with pytest.raises(ValueError, match="add a 'resize' step"):
        hog.transform(faces[:, :40, :40])


# -- LBP ------------------------------------------------------------------------------------
@pytest.mark.parametrize("points,radius", [(8, 1), (8, 2), (16, 2), (4, 1.5)])
def test_lbp_codes_match_scikit_image(points, radius):
    from ferengine_classic.features.lbp import _lookup, lbp_codes
    from skimage import feature as skimage_feature

    images = np.random.default_rng(1).integers(0, 256, (5, 20, 17)).astype(np.uint8)
    ours = lbp_codes(images.astype(np.float32), points, radius)
    for method, ref_method in [("default", "default"), ("uniform", "uniform")]:
        table, _ = _lookup(points, method)
        ref = np.stack(
            [skimage_feature.local_binary_pattern(im, points, radius, ref_method) for im in images]
        )
        assert np.array_equal(table[ours], ref.astype(int)), method
    for method, ref_method in [("nri-uniform", "nri_uniform"), ("ror", "ror")]:
        table, _bins = _lookup(points, method)  # same partition of codes, labels may differ
        ref = np.stack(
            [skimage_feature.local_binary_pattern(im, points, radius, ref_method) for im in images]
        ).astype(int)
        pairs = set(zip(table[ours].ravel().tolist(), ref.ravel().tolist(), strict=True))
        assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})


def test_lbp_dimensions_and_norms(faces):
    base = make("lbp", grid=(3, 4)).fit(faces).transform(faces)
    assert base.shape[1] == 12 * 59
    cells = base.reshape(len(faces), 12, 59)
    assert np.allclose(cells.sum(axis=2), 1, atol=1e-5)  # l1 per cell
    l2 = make("lbp", grid=2, norm="l2").fit(faces).transform(faces).reshape(len(faces), 4, 59)
    assert np.allclose(np.linalg.norm(l2, axis=2), 1, atol=1e-5)
    multi = make("lbp", method="uniform", scales=[(8, 1), (16, 2)], grid=2)
    assert multi.fit(faces).transform(faces).shape[1] == 4 * (10 + 18)


# -- HOG ------------------------------------------------------------------------------------
@pytest.mark.parametrize("norm", ["L2-Hys", "L2", "L1", "L1-sqrt"])
def test_hog_block_norms(norm, faces):
    out = make("hog", cell=8, block=2, orientations=9, block_norm=norm).fit(faces).transform(faces)
    blocks = out.reshape(len(faces), 25, 36)  # (48/8 - 1)² blocks of 2×2 cells × 9 bins
    if norm in ("L2", "L2-Hys"):
        assert np.allclose(np.linalg.norm(blocks, axis=2), 1, atol=0.01)  # OpenCV adds an epsilon
    if norm == "L1":
        assert np.allclose(blocks.sum(axis=2), 1, atol=1e-4)
    if norm == "L1-sqrt":
        assert np.allclose((blocks**2).sum(axis=2), 1, atol=1e-4)
    if norm == "L2-Hys":  # clipped at 0.2 then renormalised: peaks lower than plain L2
        plain = make("hog", block_norm="L2").fit(faces).transform(faces)
        assert blocks.max() < plain.max()


def test_hog_responds_to_edge_orientation():
    vertical = np.zeros((1, 32, 32), np.uint8)
    vertical[:, :, 16:] = 255
    horizontal = vertical.transpose(0, 2, 1).copy()
    hog = make("hog", cell=8, block=1, block_norm="L1")
    v = hog.fit(vertical).transform(vertical).reshape(-1, 9).sum(axis=0)
    h = hog.transform(horizontal).reshape(-1, 9).sum(axis=0)
    assert v.argmax() != h.argmax()


# -- Gabor ----------------------------------------------------------------------------------
def test_gabor_dimensions_and_orientation_selectivity():
    gabor = make("gabor", orientations=4, wavelengths=(6.0,), grid=1)
    stripes = np.tile((np.sin(np.arange(48) * 2 * np.pi / 6) * 100 + 128), (48, 1))
    images = np.stack([stripes, stripes.T]).astype(np.uint8)  # vertical, horizontal stripes
    out = gabor.fit(images).transform(images)
    assert out.shape == (2, 4)
    assert out[0].argmax() == 0 and out[1].argmax() == 2  # θ = 0° and 90° filters
    pooled = make("gabor", orientations=2, wavelengths=(4.0, 8.0), grid=3, pool="mean-std")
    assert pooled.fit(images).transform(images).shape == (2, 2 * 2 * 9 * 2)


# -- BoVW -----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["hard", "soft", "vlad"])
def test_bovw_encodings(encoding, faces):
    bovw = make("bovw", words=16, encoding=encoding, pyramid=(1, 2), max_descriptors=5000)
    out = bovw.fit(faces).transform(faces)
    width = 16 * 5 * (128 if encoding == "vlad" else 1)
    assert out.shape == (len(faces), width)
    assert np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-4)
    assert bovw.codebook_.shape == (16, 128)


def test_bovw_opencv_sift_descriptor(faces):
    out = make("bovw", words=8, sizes=(16,), descriptor="sift", max_descriptors=2000)
    assert out.fit(faces[:6]).transform(faces[:6]).shape == (6, 8 * 21)


def test_bovw_refuses_too_few_descriptors(faces):
    with pytest.raises(ValueError, match="lower words"):
        make("bovw", words=5000, max_descriptors=100).fit(faces[:2])


# -- concat ---------------------------------------------------------------------------------
def test_concat_blocks_are_scaled_and_weighted(faces):
    hog = make("hog").fit(faces).transform(faces)
    lbp = make("lbp").fit(faces).transform(faces)
    both = make("concat", features=("hog", "lbp"), scale="l2", weights=(1.0, 2.0)).fit(faces)
    out = both.transform(faces)
    assert out.shape == (len(faces), hog.shape[1] + lbp.shape[1])
    assert np.allclose(np.linalg.norm(out[:, : hog.shape[1]], axis=1), 1, atol=1e-4)
    assert np.allclose(np.linalg.norm(out[:, hog.shape[1] :], axis=1), 2, atol=1e-4)
    standard = make("concat", features=["hog", ("lbp", {"grid": 3})]).fit(faces)
    assert standard.transform(faces).shape[1] == hog.shape[1] + 9 * 59
    with pytest.raises(ValueError, match="2 weights for 1 features"):
        make("concat", features=("hog",), weights=(1, 2)).fit(faces)


# -- every feature × a fast classifier beats chance on held-out subjects --------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", slow_bovw(["lbp", "hog", "gabor", "bovw", "concat"]))
def test_feature_with_a_fast_classifier_beats_chance(name, default_ds):
    train, test = splits.subject_kfold(default_ds, n_splits=4, seed=0)[0]  # unseen subjects
    model = ferengine.pipeline((name, FAST[name]), ("svm-linear", {"C": 1.0}))
    model.fit(default_ds.subset(train))
    accuracy = model.score(default_ds.subset(test))
    chance = 1 / len(default_ds.label_space)
    assert accuracy > chance + 0.15, f"{name}: {accuracy:.3f} vs chance {chance:.3f}"
