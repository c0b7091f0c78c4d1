import numpy as np
import pytest
from sklearn.datasets import make_classification

import ferengine
from ferengine import registry

NAMES = [
    "logistic", "svm-linear", "svm-rbf", "svm-kernel", "decision-tree", "random-forest",
    "extra-trees", "xgboost", "knn", "mlp",
]  # fmt: skip
WEIGHTED = [n for n in NAMES if n != "knn"]
FAST = {"random-forest": {"n_estimators": 30}, "extra-trees": {"n_estimators": 30}}


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=400, n_features=20, n_informative=8, n_classes=3, weights=[0.7, 0.2, 0.1],
        random_state=0,
    )  # fmt: skip
    return X.astype(np.float32), y


def slow_xgboost(names):
    """``names`` as parameters, XGBoost's marked slow (its fits dominate this module's time)."""
    return [pytest.param(n, marks=pytest.mark.slow) if n == "xgboost" else n for n in names]


def make(name, **params):
    return registry.create("classifier", name, **{**FAST.get(name, {}), **params})


def test_all_classifiers_registered():
    assert set(NAMES) <= set(registry.get_registry().names("classifier", available_only=True))


@pytest.mark.parametrize("name", slow_xgboost(NAMES))
def test_fit_predict_and_probabilities(name, data):
    X, y = data
    params = {"calibration": "sigmoid"} if name.startswith("svm") else {}
    clf = make(name, **params).fit(X[:300], y[:300])
    assert clf.score(X[300:], y[300:]) > 0.6
    proba = clf.predict_proba(X[300:])
    assert proba.shape == (100, 3)
    assert np.allclose(proba.sum(axis=1), 1, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", slow_xgboost(WEIGHTED))
def test_max_ratio_class_weights_favour_the_rare_class(name, data):
    X, y = data
    seed = {"random_state": 0} if "random_state" in make(name).get_params() else {}
    plain = make(name, **seed).fit(X, y).predict(X)
    weighted = make(name, class_weight="max-ratio", **seed).fit(X, y)
    assert weighted.get_params()["class_weight"] == "max-ratio"  # the parameter is kept
    assert (weighted.predict(X) == 2).sum() >= (plain == 2).sum()


def test_unknown_class_weight_scheme_is_refused(data):
    X, y = data
    with pytest.raises(ValueError, match="class_weight"):
        make("decision-tree", class_weight="loudest").fit(X, y)


@pytest.mark.slow
def test_xgboost_early_stopping_and_safe_save(data, tmp_path):
    X, y = data
    clf = make("xgboost", n_estimators=400, learning_rate=0.3, early_stopping_rounds=5)
    clf.fit(X, y)
    assert clf.best_iteration_ < 399
    model = ferengine.pipeline(("pixels", {}), clf)  # a pipeline holding a fitted booster
    model.fit(X, y)
    path = ferengine.save(model, tmp_path / "xgb.zip")
    again = ferengine.load(path)
    assert np.array_equal(again.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize(
    "name,params",
    [
        ("svm-linear", {}),
        ("svm-linear", {"calibration": "isotonic"}),
        ("svm-rbf", {"calibration": "sigmoid"}),
        ("svm-kernel", {"calibration": "sigmoid"}),
        ("random-forest", {}),
        ("mlp", {}),
        ("knn", {}),
    ],
)
def test_saved_and_loaded_classifier_predicts_the_same(name, params, data, tmp_path):
    X, y = data
    clf = make(name, **params).fit(X, y)
    again = ferengine.load(ferengine.save(clf, tmp_path / f"{name}.zip"))
    assert np.array_equal(again.predict(X), clf.predict(X))


@pytest.mark.parametrize("kernel", ["rbf", "linear", "poly"])
def test_svm_kernel_matches_libsvm_computing_the_kernel_itself(kernel, data):
    from sklearn.svm import SVC

    X, y = data
    X = X.astype(np.float64)
    ours = make("svm-kernel", kernel=kernel, gamma=0.05, C=2.0, block_size=64).fit(X[:300], y[:300])
    ref = SVC(kernel=kernel, gamma=0.05, C=2.0, coef0=1.0).fit(X[:300], y[:300])
    assert np.array_equal(ours.predict(X[300:]), ref.predict(X[300:]))
    assert np.allclose(ours.decision_function(X[300:]), ref.decision_function(X[300:]), atol=1e-6)
    assert len(ours.support_vectors_) == len(ref.support_)  # only support vectors are kept
