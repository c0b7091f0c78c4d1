"""Feature explainers of hand-crafted pipelines: where each feature column lies on the face,
linear weights and XGBoost's SHAP values and tree importances mapped there, and the
features' own views (HOG glyphs, LBP codes, landmark geometry).

The placement tests change one patch of an image (keeping its mean) and check that the columns the
feature says lie far from the patch do not change (but for one factor shared by all of
them: BoVW normalises the whole vector), and that the columns which change most lie at
the patch.
"""

import numpy as np
import pytest

import ferengine
from ferengine import registry
from ferengine.errors import UnsupportedModelError
from ferengine.explain.feature_maps import column_maps, feature_path
from ferengine.explain.stats import region_share

from .conftest import BAR_SIZE as SIZE
from .conftest import MOUTH

PATCH = 8


def _columns_far_from(regions, top, left, margin):
    bottom, right = top + PATCH, left + PATCH
    return ((regions[:, 1] <= top - margin) | (regions[:, 0] >= bottom + margin)
            | (regions[:, 3] <= left - margin) | (regions[:, 2] >= right + margin))  # fmt: skip


@pytest.mark.parametrize(
    "feature, params, margin",
    [
        ("hog", {"cell": 8}, 8),  # OpenCV: votes spread to the next cell
        ("hog", {"cell": 6, "block": (2, 3)}, 6),
        ("hog", {"cell": 8, "block_norm": "L2"}, 8),  # scikit-image's column order
        ("lbp", {"grid": 5}, 2),
        ("lbp", {"scales": [(8, 1), (16, 2)], "grid": (4, 6)}, 3),
        ("gabor", {"wavelengths": (4.0, 8.0), "grid": 4}, 15),  # kernels reach 3 σ
        ("bovw", {"words": 8, "sizes": [8], "step": 4, "pyramid": [1, 2, 4]}, 8),
        ("pixels", {"size": 24}, 2),
        ("concat", {"features": ["hog", ("lbp", {"grid": 4})]}, 8),
    ],
)
def test_feature_columns_are_placed_where_they_look(feature, params, margin, bar_data):
    rng = np.random.default_rng(0)
    extractor = registry.create("feature", feature, **params).fit(bar_data.images[:40])
    regions = extractor.pixel_regions()
    width = extractor.transform(bar_data.images[:1]).shape[1]
    assert regions.shape == (width, 4)
    assert (regions[:, 0] < regions[:, 1]).all() and (regions[:, 2] < regions[:, 3]).all()
    assert regions.min() >= 0 and regions[:, 1].max() <= SIZE and regions[:, 3].max() <= SIZE
    blank = np.full((1, SIZE, SIZE), 120, np.uint8)
    before = extractor.transform(blank)[0].astype(np.float64)
    for top, left in [(4, 30), (20, 8), (36, 36)]:
        half = rng.integers(-60, 61, (PATCH, PATCH // 2))
        texture = np.concatenate([half, -half], axis=1)  # mean kept: Gabor centres images
        patched = blank.copy()
        patched[0, top : top + PATCH, left : left + PATCH] = 120 + texture
        change = extractor.transform(patched)[0] - before
        far = _columns_far_from(regions, top, left, margin)
        assert far.any()
        # Far columns keep their values, up to one factor for a vector normalised as a whole.
        ratio = (before[far] + change[far]) / np.where(before[far] == 0, 1, before[far])
        nonzero = before[far] != 0
        tolerance = 1e-6 * (1 + np.abs(change).max())  # float32 round-off (Gabor's FFTs)
        assert np.allclose(change[far][~nonzero], 0, atol=tolerance)
        assert np.allclose(ratio[nonzero], np.median(ratio[nonzero]), rtol=1e-4, atol=1e-6)
        # ...and the columns that change most are at the patch.
        top_changed = np.argsort(-np.abs(change))[:5]
        assert not far[top_changed].any(), regions[top_changed]


def test_landmark_geometry_has_no_fixed_place(bar_data):
    pytest.importorskip("dlib")
    landmarks = registry.create("feature", "landmarks").fit(bar_data.images[:2])
    assert not callable(getattr(landmarks, "pixel_regions", None))
    model = ferengine.pipeline("landmarks", "logistic").fit(bar_data.images[:20],
                                                           bar_data.labels[:20])  # fmt: skip
    reason = registry.create("explainer", "feature-weights").supports(model)
    assert reason == (
        "its feature 'landmarks' does not place its columns on the image (pixel_regions)"
    )


def test_column_maps_spread_each_value_over_its_box():
    regions = np.array([[0, 2, 0, 2], [0, 2, 0, 2], [2, 4, 1, 3], [-1, 9, 3, 4]])
    maps = column_maps(np.array([[1.0, 3.0, 2.0, 4.0]]), regions, (4, 4))
    assert maps.shape == (1, 4, 4) and maps.dtype == np.float32
    assert np.allclose(maps[0, :2, :2], 1.0)  # 1 + 3 over 4 pixels
    assert np.allclose(maps[0, 2:, 1:3], 0.5)  # 2 over 4 pixels
    assert np.allclose(maps[0, :, 3], 1.0)  # 4 over its 4 pixels inside the frame
    assert np.isclose(maps.sum(), 10.0)
    with pytest.raises(ValueError, match="3 boxes for 4 feature columns"):
        column_maps(np.ones((1, 4)), regions[:3], (4, 4))


# -- feature-weights -------------------------------------------------------------------------


def test_linear_weights_add_up_to_the_class_score(hog_model, bar_data):
    faces = bar_data.images[:6]
    explainer = registry.create("explainer", "feature-weights")
    happy = explainer.explain(hog_model, faces, target="happy")
    sad = explainer.explain(hog_model, faces, target="sad")
    logistic = hog_model.steps[-1][1]  # two classes: one row of weights, for "sad"
    margin = hog_model.decision_function(faces) - logistic.intercept_[0]
    assert np.allclose(sad.maps.sum(axis=(1, 2)), margin, rtol=1e-4)
    assert np.allclose(happy.maps, -sad.maps)


def test_weights_find_the_region_that_decides_the_class(hog_model, bar_data):
    happy = bar_data.images[bar_data.labels == bar_data.label_space.index("happy")][:10]
    mask = np.zeros((SIZE, SIZE), bool)
    mask[MOUTH] = True
    found = registry.create("explainer", "feature-weights").explain(hog_model, happy, "happy")
    assert min(region_share(m, mask) for m in found.maps) > 0.5


def test_weights_of_a_calibrated_linear_svm_through_a_resize(bar_data):
    model = ferengine.pipeline(("resize", {"size": 32}), ("lbp", {"grid": 4}),
                               ("svm-linear", {"calibration": "sigmoid", "cv": 2}))  # fmt: skip
    model.fit(bar_data)
    found = registry.create("explainer", "feature-weights").explain(model, bar_data.images[:3])
    assert found.maps.shape == (3, SIZE, SIZE) and found.maps.any()
    svm = model.steps[-1][1]
    assert svm.coef_.shape == (1, 4 * 4 * 59)
    folds = svm.estimator_.calibrated_classifiers_
    assert np.allclose(svm.coef_, np.mean([f.estimator.coef_ for f in folds], axis=0))


def test_xgboost_shap_values_add_up_to_the_margin(bar_data):
    pytest.importorskip("xgboost")
    import xgboost as xgb

    data = bar_data.images[:60], np.arange(60) % 3  # three classes
    model = ferengine.pipeline(("hog", {"cell": 12}), ("xgboost", {"n_estimators": 20,
                               "validation_fraction": 0.0})).fit(*data)  # fmt: skip
    faces = bar_data.images[60:64]
    found = registry.create("explainer", "feature-weights").explain(model, faces, target=1)
    booster = model.steps[-1][1].booster_
    columns = xgb.DMatrix(model.steps[0][1].transform(faces))
    margin = booster.predict(columns, output_margin=True)[:, 1]
    bias = booster.predict(columns, pred_contribs=True)[:, 1, -1]
    assert np.allclose(found.maps.sum(axis=(1, 2)), margin - bias, atol=1e-4)


# -- importances -----------------------------------------------------------------------------


def test_tree_importances_are_one_map_for_every_face(bar_data):
    model = ferengine.pipeline(("hog", {"cell": 8}), ("random-forest", {"n_estimators": 30,
                               "random_state": 0})).fit(bar_data)  # fmt: skip
    found = registry.create("explainer", "importances").explain(model, bar_data.images[:4])
    assert np.allclose(found.maps, found.maps[:1])
    assert np.isclose(found.maps[0].sum(), 1.0, rtol=1e-4)  # importances sum to 1
    mask = np.zeros((SIZE, SIZE), bool)
    mask[MOUTH] = True
    assert region_share(found.maps[0], mask) > 0.6


def test_importances_refuse_a_model_without_them(hog_model, bar_data):
    with pytest.raises(UnsupportedModelError) as caught:
        registry.create("explainer", "importances").explain(hog_model, bar_data.images[:1])
    assert str(caught.value) == (
        "explainer 'importances' cannot explain the model hog → logistic: its classifier "
        "'logistic' has no feature importances (feature_importances_)"
    )


# -- feature-view ----------------------------------------------------------------------------


@pytest.mark.parametrize("feature", ["hog", "lbp", "concat"])
def test_feature_views_draw_on_the_face(feature, bar_data):
    model = ferengine.pipeline(feature, "logistic").fit(bar_data)
    face = bar_data.images[:1]
    found = registry.create("explainer", "feature-view").explain(model, face)
    view = found.maps[0]
    assert view.shape == (SIZE, SIZE) and view.min() >= 0 and view.max() > 0
    flat = registry.create("explainer", "feature-view").explain(
        model, np.full_like(face, 120))  # fmt: skip
    if feature == "lbp":  # a flat face is one pattern everywhere (but at the border)
        assert np.ptp(flat.maps[0, 2:-2, 2:-2]) == 0
    else:  # no gradient: no HOG glyph
        assert not flat.maps[0].any()


def test_landmark_view_draws_the_points(bar_data):
    pytest.importorskip("dlib")
    extractor = registry.create("feature", "landmarks")
    face = bar_data.images[:1]
    view = extractor.feature_view(face)[0]
    points = np.round(extractor.landmarks(face)[0]).astype(int)
    inside = (points >= 0).all(axis=1) & (points < SIZE).all(axis=1)
    x, y = points[inside].T
    assert (view[y, x] > 0.5).mean() > 0.9
    assert (view > 0).mean() < 0.5  # lines and points, not the whole face


# -- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "steps, method, reason",
    [
        ([("crop", {"size": 40}), "hog", "logistic"], "feature-weights",
         "its step 'crop' moves the face in the image"),
        ([("hog", {"cell": 8}), ("svm-kernel", {"calibration": "sigmoid"})], "feature-weights",
         "its classifier 'svm-kernel' has no feature weights (coef_)"),
        ([("pixels", {"size": 16}), "logistic"], "feature-view",
         "its feature 'pixels' draws no view (feature_view)"),
        ([("hog", {"cell": 8}), "svm-linear"], "feature-weights", "calibrate it"),
    ],
)  # fmt: skip
def test_feature_explainers_say_why_they_refuse(steps, method, reason, bar_data):
    model = ferengine.pipeline(*steps).fit(bar_data)
    with pytest.raises(UnsupportedModelError, match=f"explainer {method!r} cannot explain") as e:
        registry.create("explainer", method).explain(model, bar_data.images[:1])
    assert reason in str(e.value)


def test_a_cnn_has_no_feature_step(cnn_model):
    assert feature_path(cnn_model) == "it is not a pipeline of a feature and a classifier"
