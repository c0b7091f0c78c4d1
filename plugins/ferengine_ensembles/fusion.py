"""``fusion``: late fusion of pipelines' class probabilities, on scikit-learn's ensembles."""

from __future__ import annotations

from numbers import Integral, Real
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
from ferengine.persistence import load, read_manifest
from ferengine.splits import held_out_share
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
    holdout : float, optional
        "weighted" and "stacking" only: instead of cross-fitting, fit the members once on
        the training data without a stratified held-out share of this size
        (:func:`ferengine.splits.held_out_share`, seed ``random_state``) and learn the
        weights or the stacking model on the members' predictions for that share — one
        fit per member, the way to fuse members that take hours to train. A saved member
        must have been trained without the same share (``[train] hold_out`` and
        ``hold_out_seed`` of its spec, as its file records), or the fusion refuses it:
        a member that saw the share would be overrated.
    random_state : int
        Seed of the held-out share.

    Attributes
    ----------
    ensemble_ : VotingClassifier or StackingClassifier
        The fitted ensemble; its ``estimators_`` are the members, fitted on ``y``
        encoded as ``0..K-1`` (a saved member keeps its own labels, the same classes).
    weights_ : ndarray of shape (n_members,)
        "weighted" only: each member's cross-fitted (or held-out) accuracy, its voting
        weight.
    stacker_ : LogisticRegression
        "stacking" with ``holdout``: the model fitted on the members' held-out
        probabilities (concatenated, member by member).
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
        "holdout": [None, Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    }
    _test_params: ClassVar[dict] = {"members": [["pixels", "logistic"]] * 2}

    def __init__(
        self,
        members: Any = None,
        method: str = "average",
        cv: int = 5,
        holdout: float | None = None,
        random_state: int = 0,
    ) -> None:
        self.members = members
        self.method = method
        self.cv = cv
        self.holdout = holdout
        self.random_state = random_state

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
        if self.holdout is not None and self.method not in ("weighted", "stacking"):
            raise ValueError(
                f"{self.name}: holdout={self.holdout} learns weights or a stacking model; "
                f"method {self.method!r} learns neither (use 'weighted' or 'stacking')"
            )
        for stale in ("ensemble_", "members_", "stacker_", "weights_"):  # from an earlier fit
            self.__dict__.pop(stale, None)
        X, y = self._training_inputs(X, y)
        self.classes_ = np.unique(y)
        rows = None if self.holdout is None else held_out_share(y, self.holdout, self.random_state)
        n_fit = None if rows is None else len(rows[0])
        members = [(f"member-{i}", self._member(m, n_fit)) for i, m in enumerate(self.members)]
        for i, (_, member) in enumerate(members):  # every method fuses probabilities
            require_probabilities(member, f"{self.name} (method {self.method!r}): member {i}")
        if rows is not None:
            return self._fit_held_out(members, X, y, *rows)
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

    def _fit_held_out(
        self,
        members: list[tuple[str, Any]],
        X: Any,
        y: np.ndarray,
        fit: np.ndarray,
        held: np.ndarray,
    ) -> Fusion:
        """Fit the members without the held-out share, the fusion on their predictions for it."""
        fitted = [(name, m.fit(X[fit], y[fit])) for name, m in members]
        probas = [m.predict_proba(X[held]) for _, m in fitted]
        if self.method == "stacking":
            self.stacker_ = LogisticRegression(max_iter=1000).fit(np.hstack(probas), y[held])
        else:
            self.weights_ = np.array([accuracy_score(y[held], self.classes_[p.argmax(1)])
                                      for p in probas])  # fmt: skip
        self.members_ = [m for _, m in fitted]
        return self

    def _member(self, member: Any, n_fit: int | None = None) -> Any:
        """Return a fresh estimator of a pipeline member, or a saved model frozen as loaded."""
        if not isinstance(member, str):
            return build_model(member)
        if n_fit is not None:
            self._check_held_out(member, n_fit)
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

    def _check_held_out(self, member: str, n_fit: int) -> None:
        """Refuse a saved member whose training did not leave out the fusion's share."""
        try:
            training = (read_manifest(member).get("info") or {}).get("training") or {}
        except (OSError, ValueError) as exc:
            raise ValueError(f"{self.name}: member {member!r}: {exc}") from exc
        train = (training.get("spec") or {}).get("train") or {}
        held = (train.get("hold_out"), train.get("hold_out_seed", 0))
        fix = (f"train it from a spec with [train] hold_out = {self.holdout} and "
               f"hold_out_seed = {self.random_state}")  # fmt: skip
        if held != (self.holdout, self.random_state):
            raise ValueError(
                f"{self.name}: member {member!r} records hold_out={held[0]}, "
                f"hold_out_seed={held[1]}; fusion holdout={self.holdout}, random_state="
                f"{self.random_state} needs a member that never saw the held-out share: {fix}"
            )
        if training.get("n_train") not in (n_fit, 2 * n_fit):  # 2×: trained with mirrors
            raise ValueError(
                f"{self.name}: member {member!r} was fitted on {training.get('n_train')} "
                f"images, the fusion's training data without its held-out share has {n_fit}: "
                "not the same training split"
            )

    def predict_proba(self, X: Any) -> np.ndarray:
        """Fused class probabilities, columns in ``classes_`` order."""
        check_is_fitted(self, ("ensemble_", "members_"), all_or_any=any)
        X = self._inputs(X)
        if hasattr(self, "members_"):  # fitted with a held-out share
            probas = [m.predict_proba(X) for m in self.members_]
            if self.method == "stacking":
                return self.stacker_.predict_proba(np.hstack(probas))
            return np.average(np.stack(probas), axis=0, weights=self.weights_)
        if self.method == "max":
            # Hand-written: scikit-learn's VotingClassifier only averages; its
            # transform gives the members' probabilities, shape (members, N, K).
            fused = self.ensemble_.transform(X).max(axis=0)
            return fused / fused.sum(axis=1, keepdims=True)
        return self.ensemble_.predict_proba(X)
