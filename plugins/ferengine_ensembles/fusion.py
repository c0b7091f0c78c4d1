"""``fusion``: late fusion of pipelines' class probabilities, on scikit-learn's ensembles."""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.ensemble import StackingClassifier, VotingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import cross_val_predict
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ferengine.classifier import ProbaClassifier
from ferengine.images import validate_images, validate_labelled_images
from ferengine.persistence import load
from ferengine.step_checks import require_probabilities
from ferengine.steps import build_model
from ferengine_ensembles import model_checks  # noqa: F401 (registers the load-time checks)

FUSIONS = ("average", "weighted", "max", "stacking")


class Fusion(ProbaClassifier):
    """Late fusion of several pipelines' class probabilities, on scikit-learn's ensembles.

    Parameters
    ----------
    members : list
        Each a saved model (a path, or a registered model's name such as "default")
        used as saved, or a pipeline to fit: a list of steps or a single classifier step.
        At least one.
    method : {"average", "weighted", "max", "stacking"}
        "average": soft voting (:class:`~sklearn.ensemble.VotingClassifier`);
        "weighted": soft voting weighted by each member's cross-fitted accuracy;
        "max": the element-wise maximum of the members' probabilities, renormalised;
        "stacking": a logistic regression on the members' cross-fitted probabilities
        (:class:`~sklearn.ensemble.StackingClassifier`, ``passthrough=False``).
    cv : int
        Number of stratified folds of the cross-fitted predictions ("weighted" and
        "stacking"), at least 2. Saved members are frozen
        (:class:`~sklearn.frozen.FrozenEstimator`): every fold predicts with them as saved.

    Attributes
    ----------
    ensemble_ : VotingClassifier or StackingClassifier
        The fitted ensemble; its ``estimators_`` are the members, fitted on ``y``
        encoded as ``0..K-1`` (a saved member keeps its own labels, the same classes).
    weights_ : ndarray of shape (n_members,)
        "weighted" only: each member's cross-fitted accuracy, its voting weight.
    classes_ : ndarray
        The training labels.
    """

    name = "fusion"
    _image_input = True
    step_params: ClassVar[dict[str, str]] = {"members": "members"}
    _parameter_constraints: ClassVar[dict] = {
        "members": [None, list, tuple],
        "method": [StrOptions(set(FUSIONS))],
        "cv": [Interval(Integral, 2, None, closed="left")],
    }
    _test_params: ClassVar[dict] = {"members": [["pixels", "logistic"]] * 2}

    def __init__(self, members: Any = None, method: str = "average", cv: int = 5) -> None:
        self.members = members
        self.method = method
        self.cv = cv

    def fit(self, X: Any, y: Any) -> Fusion:
        """Fit the members (saved ones are loaded, never refitted), then the fusion.

        Returns
        -------
        self

        Raises
        ------
        MissingProbabilitiesError
            A member has no ``predict_proba`` (checked before any member is fitted).
        """
        self._validate_params()
        if not self.members:
            raise ValueError(f"{self.name}: the 'members' parameter needs at least one member")
        X, y = self._training_inputs(X, y)
        self.classes_ = np.unique(y)
        members = [(f"member-{i}", self._member(m)) for i, m in enumerate(self.members)]
        for i, (_, member) in enumerate(members):  # every method fuses probabilities
            require_probabilities(member, f"{self.name} (method {self.method!r}): member {i}")
        if self.method == "stacking":
            self.ensemble_ = StackingClassifier(
                members,
                final_estimator=LogisticRegression(max_iter=1000),
                cv=self.cv,  # an int: StratifiedKFold for a classifier
                stack_method="predict_proba",
                passthrough=False,
            ).fit(X, y)
            return self
        weights = None
        if self.method == "weighted":
            self.weights_ = np.array(
                [accuracy_score(y, cross_val_predict(m, X, y, cv=self.cv)) for _, m in members]
            )
            weights = self.weights_.tolist()
        self.ensemble_ = VotingClassifier(
            members, voting="soft", weights=weights, flatten_transform=False
        ).fit(X, y)
        return self

    def _training_inputs(self, X: Any, y: Any) -> tuple[Any, np.ndarray]:
        """Return the validated training inputs (images) and labels."""
        return validate_labelled_images(self, X, y)

    def _inputs(self, X: Any) -> Any:
        """Return validated inputs (images) to predict."""
        return validate_images(self, X, reset=False)

    def _member(self, member: Any) -> Any:
        """Return a fresh estimator of a pipeline member, or a saved model frozen as loaded."""
        if not isinstance(member, str):
            return build_model(member)
        model = load(member)
        # scikit-learn's ensembles read the members' probability columns as the
        # training classes, in order: a saved model must have exactly those classes.
        if not np.array_equal(np.asarray(model.classes_), self.classes_):
            raise ValueError(
                f"{self.name}: member {member!r} predicts the classes "
                f"{np.asarray(model.classes_).tolist()}, the training labels are "
                f"{self.classes_.tolist()}"
            )
        return FrozenEstimator(model)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Fused class probabilities, columns in ``classes_`` order."""
        check_is_fitted(self, "ensemble_")
        X = self._inputs(X)
        if self.method == "max":
            # Hand-written: scikit-learn's VotingClassifier only averages; its
            # transform gives the members' probabilities, shape (members, N, K).
            fused = self.ensemble_.transform(X).max(axis=0)
            return fused / fused.sum(axis=1, keepdims=True)
        return self.ensemble_.predict_proba(X)
