"""Gradient-boosted trees (XGBoost, hist method)."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from ferengine_classic.classifiers import model_checks  # noqa: F401 (registers the load-time checks)
from ferengine_classic.classifiers.weighting import CLASS_WEIGHT, prepare_fit

_POSITIVE_INT = [Interval(Integral, 1, None, closed="left")]
_FRACTION = [Interval(Real, 0, 1, closed="right")]
_NON_NEGATIVE = [Interval(Real, 0, None, closed="left")]


class XGBoost(ClassifierMixin, BaseEstimator):
    """Gradient-boosted trees (XGBoost, ``hist``), multi-class probabilities, early stopping.

    The fitted booster is kept as ``booster_`` and saved in XGBoost's own binary
    format (UBJSON) inside the model file, so loading it runs no pickle.

    Parameters
    ----------
    n_estimators : int
        Maximum boosting rounds.
    max_depth : int
        Depth of each tree.
    learning_rate : float
        Shrinkage per round, in (0, 1].
    subsample, colsample_bytree : float
        Row and column sampling per tree, in (0, 1].
    min_child_weight, reg_lambda : float
        Regularisation, as in XGBoost.
    max_bin : int
        Histogram bins per feature.
    validation_fraction : float
        Share of the training set (stratified) held out for early stopping, in [0, 1); 0
        disables it.
    early_stopping_rounds : int
        Stop when the validation log-loss has not improved for this many rounds.
    class_weight : {None, "balanced", "max-ratio"} or dict
        Per-class weights, applied as sample weights.
    n_jobs : int, optional
        XGBoost threads (None: all cores).
    random_state : int
        Seed of sampling and of the validation split.

    Attributes
    ----------
    booster_ : xgboost.Booster
        The trained trees.
    best_iteration_ : int
        The last boosting round used to predict (early stopping's best).
    feature_importances_ : ndarray of shape (n_features,)
        Each column's mean gain over the splits that use it (XGBoost's "gain"), in the
        rounds used to predict, normalised to sum 1.
    """

    name = "xgboost"
    _expected_failed_checks = {  # noqa: RUF012
        "check_sample_weight_equivalence_on_dense_data": (
            "row subsampling and histogram binning: weights differ from repeated rows"
        ),
    }
    requires = ("xgboost",)
    extra = "xgboost"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "n_estimators": _POSITIVE_INT,
        "max_depth": [Interval(Integral, 0, None, closed="left")],
        "learning_rate": _FRACTION,
        "subsample": _FRACTION,
        "colsample_bytree": _FRACTION,
        "min_child_weight": _NON_NEGATIVE,
        "reg_lambda": _NON_NEGATIVE,
        "max_bin": [Interval(Integral, 2, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "early_stopping_rounds": _POSITIVE_INT,
        "class_weight": CLASS_WEIGHT,
        "n_jobs": [None, Integral],
        "random_state": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_estimators: int = 500,
        max_depth: int = 6,
        learning_rate: float = 0.1,
        subsample: float = 0.8,
        colsample_bytree: float = 0.5,
        min_child_weight: float = 1.0,
        reg_lambda: float = 1.0,
        max_bin: int = 256,
        validation_fraction: float = 0.1,
        early_stopping_rounds: int = 20,
        class_weight=None,
        n_jobs: int | None = None,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.max_bin = max_bin
        self.validation_fraction = validation_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> XGBoost:
        """Fit on an N×D feature matrix and labels.

        Returns
        -------
        self
        """
        X, codes, weights = prepare_fit(self, X, y, sample_weight)
        import xgboost as xgb

        if weights is not None and not np.asarray(weights).sum() > 0:
            raise ValueError("xgboost: sample weights must contain at least one non-zero number")
        n_classes = len(self.classes_)
        params = {
            "tree_method": "hist",
            "max_depth": self.max_depth,
            "eta": self.learning_rate,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "lambda": self.reg_lambda,
            "max_bin": self.max_bin,
            "seed": self.random_state,
            "nthread": self.n_jobs or 0,
            **(
                {"objective": "multi:softprob", "num_class": n_classes, "eval_metric": "mlogloss"}
                if n_classes > 2
                else {"objective": "binary:logistic", "eval_metric": "logloss"}
            ),
        }
        evals, stop = [], None
        idx = np.arange(len(codes))
        counts = np.bincount(codes)
        can_split = self.validation_fraction * len(codes) >= n_classes and counts.min() >= 2
        if self.validation_fraction > 0 and can_split:
            idx, val = train_test_split(
                idx, test_size=self.validation_fraction, stratify=codes,
                random_state=self.random_state,
            )  # fmt: skip
            w_val = None if weights is None else np.asarray(weights)[val]
            evals = [(xgb.DMatrix(X[val], codes[val], weight=w_val), "validation")]
            stop = self.early_stopping_rounds
        w_fit = None if weights is None else np.asarray(weights)[idx]
        train = xgb.DMatrix(X[idx], codes[idx], weight=w_fit)
        self.booster_ = xgb.train(
            params, train, self.n_estimators, evals=evals,
            early_stopping_rounds=stop, verbose_eval=False,
        )  # fmt: skip
        self.best_iteration_ = int(getattr(self.booster_, "best_iteration", self.n_estimators - 1))
        gains = self.booster_[: self.best_iteration_ + 1].get_score(importance_type="gain")
        importances = np.zeros(X.shape[1])
        for key, gain in gains.items():
            importances[int(key[1:])] = gain  # keys are "f0", "f1"… without feature names
        self.feature_importances_ = importances / max(importances.sum(), 1e-300)
        return self

    def feature_contributions(self, X: Any) -> np.ndarray:
        """Split each class's margin over the input columns (XGBoost's exact TreeSHAP).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Feature vectors.

        Returns
        -------
        ndarray of shape (n_samples, n_classes, n_features)
            Each column's SHAP value for each class's margin (log-odds; for two classes
            the second class's, and its negation for the first). A row sums to the
            margin less the bias (the model's mean margin).
        """
        import xgboost as xgb

        check_is_fitted(self, "booster_")
        X = validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
        values = self.booster_.predict(
            xgb.DMatrix(X), pred_contribs=True, iteration_range=(0, self.best_iteration_ + 1)
        )[..., :-1]  # the last column is the bias
        return np.stack([-values, values], axis=1) if values.ndim == 2 else values

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in ``classes_`` order."""
        check_is_fitted(self, "booster_")
        X = validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
        out = self.booster_.inplace_predict(X, iteration_range=(0, self.best_iteration_ + 1))
        out = np.asarray(out, dtype=np.float64)
        return np.column_stack([1 - out, out]) if out.ndim == 1 else out

    def predict(self, X: Any) -> np.ndarray:
        """Predict class labels."""
        best = self.predict_proba(X).argmax(axis=1)
        return self.classes_[best]

    # XGBoost's Booster is saved as its own UBJSON bytes, never pickled.
    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        if "booster_" in state:
            state = {**state, "booster_": bytes(self.booster_.save_raw("ubj"))}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("booster_"), bytes | bytearray):
            import xgboost as xgb

            booster = xgb.Booster()
            booster.load_model(bytearray(state["booster_"]))
            state = {**state, "booster_": booster}
        super().__setstate__(state)
