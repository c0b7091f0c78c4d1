"""Load-time checks of this package's classifiers that hold fitted arrays or other estimators.

Each module defining a checked class imports this one, so the checks are
registered whenever skops has imported the class to rebuild a model (and, for
the XGBoost state check, when :func:`ferengine.load` resolves the class before
skops rebuilds anything). They are registered by qualified name because the
defining modules import this one. Each compares what the classifier's own
prediction code combines (class codes of the wrapped estimator, support-vector
tables, booster sizes), so that a loaded model either predicts or is refused.
"""

from __future__ import annotations

import json
from typing import Any

from ferengine.model_checks import FieldError, register_check
from ferengine.model_checks.fields import array, classes, codes, equal, in_range, integer, number
from ferengine.model_checks.state import register_state_check
from ferengine.model_checks.xgboost_models import sanitize_booster

_PACKAGE = "ferengine_classic.classifiers"


@register_check(f"{_PACKAGE}.weighting.WrappedClassifier")
def check_wrapped(est: Any) -> None:
    """Check the wrapped estimator predicts the codes ``0 … len(classes_)-1`` of ``classes_``."""
    if not hasattr(est, "estimator_"):
        return
    codes(est.estimator_, "classes_", len(classes(est)))


@register_check(f"{_PACKAGE}.svm.SVMLinear")
@register_check(f"{_PACKAGE}.svm.SVMRBF")
@register_check(f"{_PACKAGE}.mlp.MLP")
def check_wrapped_width(est: Any) -> None:
    """Check the wrapped estimator reads the classifier's input features."""
    if hasattr(est, "estimator_"):
        equal("estimator_.n_features_in_", est.estimator_.n_features_in_, "n_features_in_",
              integer(est, "n_features_in_", 1))  # fmt: skip


@register_check(f"{_PACKAGE}.kernel_svm.SVMKernel")
def check_kernel_svm(est: Any) -> None:
    """Kept training rows, their norms and positions against the SVM's Gram-matrix width."""
    if not hasattr(est, "estimator_"):
        return
    n_fit = integer(est, "n_fit_", 1)
    n_features = integer(est, "n_features_in_", 1)
    index = array(est, "fit_index_", ndim=1, kind="i")
    in_range(index, "fit_index_", 0, n_fit)
    array(est, "support_vectors_", shape=(len(index), n_features), kind="f", finite=True)
    array(est, "support_sq_norms_", shape=(len(index),), kind="f", finite=True)
    if number(est, "gamma_") <= 0:
        raise FieldError("gamma_", f"= {est.gamma_} is not positive")
    integer(est, "block_size", 1)
    equal("estimator_.n_features_in_", est.estimator_.n_features_in_, "n_fit_", n_fit)


# XGBoost.__setstate__ hands booster_ to libxgboost's parser: check and re-encode it first.
register_state_check(f"{_PACKAGE}.boosting.XGBoost", "booster_")(sanitize_booster)


@register_check(f"{_PACKAGE}.boosting.XGBoost")
def check_xgboost(est: Any) -> None:
    """Check the booster reads ``n_features_in_`` features and scores every class."""
    if not hasattr(est, "booster_"):
        return
    booster = est.booster_
    n_classes = len(classes(est, at_least=2))
    equal("booster_.num_features()", booster.num_features(), "n_features_in_",
          integer(est, "n_features_in_", 1))  # fmt: skip
    params = json.loads(booster.save_config())["learner"]["learner_model_param"]
    groups = int(params["num_class"])
    equal("booster_ num_class", groups, "classes scored", 0 if n_classes == 2 else n_classes)
    integer(est, "best_iteration_", 0, booster.num_boosted_rounds())
