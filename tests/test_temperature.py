"""``temperature``: temperature scaling on a held-out share of the training data.

scikit-learn's estimator checks run on it with every built-in (tests/test_plugin_checks.py).
"""

import numpy as np
import pytest
from ferengine_ensembles.model_checks import check_temperature
from ferengine_ensembles.temperature import held_out_nll, scaled
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.utils._param_validation import InvalidParameterError

import ferengine
from ferengine import registry
from ferengine.calibration import expected_calibration_error, negative_log_likelihood
from ferengine.errors import MissingProbabilitiesError
from ferengine.model_checks import FieldError


class EightyTwenty(ClassifierMixin, BaseEstimator):
    """Says class 0 with probability 0.8 for every sample."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.tile([0.8, 0.2], (len(X), 1))


def test_scaling_by_hand():
    # softmax(log p / 2) = √p / Σ√p: √0.8 / √0.2 = 2, so [2/3, 1/3]
    assert scaled(np.array([[0.8, 0.2]]), 2.0) == pytest.approx(np.array([[2 / 3, 1 / 3]]))
    assert scaled(np.array([[0.8, 0.2]]), 1.0) == pytest.approx(np.array([[0.8, 0.2]]))
    # T = 1/2 squares: 0.64 / (0.64 + 0.04)
    assert scaled(np.array([[0.8, 0.2]]), 0.5)[0, 0] == pytest.approx(0.64 / 0.68)


def test_the_fitted_temperature_by_hand():
    # 20 samples of class 0, 10 of class 1; holdout 0.3, stratified: 6 + 3 held out.
    # The classifier says [0.8, 0.2] always, so it is right on 2/3 of the held-out share;
    # the likelihood is highest when the scaled top probability is 2/3:
    # 0.8^(1/T) / (0.8^(1/T) + 0.2^(1/T)) = 2/3  ⇔  4^(1/T) = 2  ⇔  T = 2.
    X, y = np.zeros((30, 3)), np.array([0] * 20 + [1] * 10)
    model = registry.create("classifier", "temperature", estimator=EightyTwenty(), holdout=0.3)
    model.fit(X, y)
    assert model.temperature_ == pytest.approx(2.0, rel=1e-4)
    # held-out NLL at T = 1: −(6 ln 0.8 + 3 ln 0.2) / 9; at T = 2: −(6 ln 2/3 + 3 ln 1/3) / 9
    assert model.nll_before_ == pytest.approx(-(6 * np.log(0.8) + 3 * np.log(0.2)) / 9)
    assert model.nll_after_ == pytest.approx(-(6 * np.log(2 / 3) + 3 * np.log(1 / 3)) / 9)
    assert model.predict_proba(X[:1]) == pytest.approx(np.array([[2 / 3, 1 / 3]]), rel=1e-4)


def test_held_out_nll_is_the_mean_negative_log_likelihood():
    log_p = np.log(np.array([[0.7, 0.3], [0.4, 0.6]]))
    assert held_out_nll(log_p, np.array([0, 0]), 1.0) == pytest.approx(
        -(np.log(0.7) + np.log(0.4)) / 2
    )


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(900, 20, n_informative=8, n_classes=4, random_state=0)
    return X[:600], y[:600], X[600:], y[600:]


def test_scaling_a_forest_keeps_its_predictions_and_improves_its_calibration(data):
    X, y, X_test, y_test = data
    # a forest of 200 trees averages votes: under-confident, so T < 1 sharpens it
    forest = ("random-forest", {"n_estimators": 200, "random_state": 0})
    model = registry.create("classifier", "temperature", estimator=forest).fit(X, y)
    inner = model.estimator_.predict_proba(X_test)
    scaled_proba = model.predict_proba(X_test)
    assert np.array_equal(model.predict(X_test), model.classes_[inner.argmax(axis=1)])
    assert model.temperature_ < 1 and model.nll_after_ < model.nll_before_
    assert np.allclose(scaled_proba.sum(axis=1), 1)
    assert negative_log_likelihood(scaled_proba, y_test) < negative_log_likelihood(inner, y_test)
    assert expected_calibration_error(scaled_proba, y_test) < expected_calibration_error(
        inner, y_test
    )


def test_the_temperature_minimises_the_held_out_nll(data):
    X, y, _, _ = data
    model = registry.create("classifier", "temperature", estimator="logistic").fit(X, y)
    grid = np.exp(np.linspace(-3, 3, 601))
    held = np.setdiff1d(np.arange(len(y)), model._split(np.unique(y, return_inverse=True)[1])[0])
    log_p = np.log(np.clip(model._inner_proba(X[held]), 1e-300, None))
    best = grid[np.argmin([held_out_nll(log_p, y[held], t) for t in grid])]
    assert model.temperature_ == pytest.approx(best, rel=0.02)


def test_a_saved_model_loads_and_predicts_the_same(data, tmp_path):
    X, y, X_test, _ = data
    model = registry.create("classifier", "temperature", estimator="logistic").fit(X, y)
    again = ferengine.load(ferengine.save(model, tmp_path / "t.fer"))
    assert again.temperature_ == model.temperature_
    assert np.allclose(again.predict_proba(X_test), model.predict_proba(X_test))


def test_the_load_check_refuses_a_bad_temperature(data):
    X, y, _, _ = data
    model = registry.create("classifier", "temperature", estimator="logistic").fit(X, y)
    check_temperature(model)
    model.temperature_ = -1.0
    with pytest.raises(FieldError, match="temperature_"):
        check_temperature(model)


def test_parameters_and_missing_probabilities_are_refused_before_fitting(data):
    X, y, _, _ = data
    with pytest.raises(InvalidParameterError, match="'holdout' parameter of Temperature"):
        registry.create("classifier", "temperature", estimator="logistic", holdout=1.0).fit(X, y)
    with pytest.raises(MissingProbabilitiesError, match="temperature's estimator needs class"):
        registry.create("classifier", "temperature", estimator="svm-linear").fit(X, y)
    with pytest.raises(ValueError, match="both need at least one"):
        registry.create("classifier", "temperature", estimator="logistic", holdout=0.99).fit(
            X[:20], y[:20]
        )
