"""Multinomial logistic regression, the minimal linear classifier."""

from __future__ import annotations

from sklearn.linear_model import LogisticRegression

from ferengine_classic.classifiers.weighting import SchemeClassWeight, with_schemes


class Logistic(SchemeClassWeight, LogisticRegression):
    """Multinomial logistic regression (scikit-learn's LogisticRegression) on feature vectors.

    All parameters are those of :class:`sklearn.linear_model.LogisticRegression`;
    ``max_iter`` defaults to 1000 because image features converge slowly, and
    ``class_weight`` also takes "max-ratio".
    """

    name = "logistic"
    _parameter_constraints = with_schemes(LogisticRegression._parameter_constraints)

    def __init__(
        self,
        penalty="deprecated",
        *,
        C=1.0,
        l1_ratio=0.0,
        dual=False,
        tol=1e-4,
        fit_intercept=True,
        intercept_scaling=1,
        class_weight=None,
        random_state=None,
        solver="lbfgs",
        max_iter=1000,
        verbose=0,
        warm_start=False,
        n_jobs=None,
    ) -> None:
        super().__init__(
            penalty=penalty,
            C=C,
            l1_ratio=l1_ratio,
            dual=dual,
            tol=tol,
            fit_intercept=fit_intercept,
            intercept_scaling=intercept_scaling,
            class_weight=class_weight,
            random_state=random_state,
            solver=solver,
            max_iter=max_iter,
            verbose=verbose,
            warm_start=warm_start,
            n_jobs=n_jobs,
        )
