import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import ferengine
from ferengine import splits
from ferengine.errors import InvalidPluginError, UnknownPluginError


def test_step_forms_build_a_real_sklearn_pipeline():
    pipe = ferengine.pipeline(("feature:pixels", {"size": 16}), StandardScaler(), "logistic")
    assert isinstance(pipe, Pipeline)
    assert [name for name, _ in pipe.steps] == ["pixels", "standardscaler", "logistic"]
    assert pipe.named_steps["pixels"].size == 16
    assert pipe.get_params()["pixels__size"] == 16


def test_duplicate_step_names_are_made_unique():
    pipe = ferengine.pipeline(StandardScaler(), StandardScaler(), "logistic")
    assert [n for n, _ in pipe.steps] == ["standardscaler", "standardscaler-2", "logistic"]


def test_bad_steps_are_explained():
    with pytest.raises(UnknownPluginError, match="did you mean feature:pixels"):
        ferengine.pipeline("pixel", "logistic")
    with pytest.raises(
        UnknownPluginError, match="no classifier plugin named 'logistik'; did you mean 'logistic'"
    ):
        ferengine.pipeline("pixels", "classifier:logistik")
    with pytest.raises(InvalidPluginError, match="tuple step"):
        ferengine.pipeline(("pixels", 3))
    with pytest.raises(InvalidPluginError, match="at least one step"):
        ferengine.pipeline()


@pytest.mark.slow
def test_fit_score_and_subject_independent_cv(default_ds):
    ds = default_ds
    pipe = ferengine.pipeline(("pixels", {"size": 24}), "logistic")
    folds = splits.subject_kfold(ds, n_splits=3)
    scores = cross_val_score(pipe, ds.images, ds.labels, cv=folds)
    assert scores.mean() > 1.5 / 7
    train, test = folds[0]
    pipe.fit(ds.images[train], ds.labels[train])
    proba = pipe.predict_proba(ds.images[test])
    assert proba.shape == (len(test), 7)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)


@pytest.mark.slow
def test_grid_search_over_plugin_parameters(small_ds):
    pipe = ferengine.pipeline("pixels", "logistic")
    grid = GridSearchCV(
        pipe,
        {"pixels__size": [8, 16], "logistic__C": [0.1, 1.0]},
        cv=splits.subject_kfold(small_ds, 3),
    )
    grid.fit(small_ds.images, small_ds.labels)
    assert set(grid.best_params_) == {"pixels__size", "logistic__C"}


@pytest.mark.slow
def test_labels_as_names_or_codes(small_ds):
    names = small_ds.label_names
    by_name = ferengine.pipeline(("pixels", {"size": 16}), "logistic", label_space="fer7")
    by_name.fit(small_ds.images, names)
    by_code = ferengine.pipeline(("pixels", {"size": 16}), "logistic").fit(
        small_ds.images, small_ds.labels
    )
    assert np.array_equal(by_name.predict(small_ds.images), by_code.predict(small_ds.images))
    assert by_name.classes_.tolist() == list(range(7))
    assert set(by_name.predict_names(small_ds.images[:5])) <= set(small_ds.label_space.names)
    assert by_name.score(small_ds.images, names) == by_code.score(small_ds.images, small_ds.labels)
    # Without a label space names pass straight through, as in scikit-learn.
    raw = ferengine.pipeline(("pixels", {"size": 16}), "logistic").fit(small_ds.images, names)
    assert raw.predict(small_ds.images[:3]).dtype == object


@pytest.mark.slow
def test_fit_on_a_face_dataset_records_its_label_space(small_ds):
    pipe = ferengine.pipeline(("pixels", {"size": 16}), "logistic").fit(small_ds)
    assert pipe.label_space_ is small_ds.label_space
    assert 0 < pipe.score(small_ds) <= 1
    with pytest.raises(ValueError, match="needs a label space"):
        ferengine.pipeline("pixels", LogisticRegression(max_iter=1000)).fit(
            small_ds.images, small_ds.labels
        ).predict_names(small_ds.images)
