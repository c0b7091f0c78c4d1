"""Test-time augmentation and late fusion of several pipelines."""

from __future__ import annotations

from typing import Any, ClassVar

import cv2
import numpy as np
from sklearn.ensemble import StackingClassifier, VotingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import cross_val_predict
from sklearn.utils.validation import check_is_fitted

from ferengine.images import validate_images, validate_labelled_images
from ferengine.steps import build_model
from ferengine_deep import model_checks  # noqa: F401 (registers the load-time checks)
from ferengine_deep.base import ProbaClassifier
from ferengine_deep.estimator import CNN

TTA_MODES = ("flip", "ten-crop")
FUSIONS = ("average", "weighted", "max", "stacking")


def views(images: np.ndarray, mode: str, crop: int) -> list[np.ndarray]:
    """Return the test-time views of a batch: itself and its mirror, or ten crops.

    Ten-crop: the four corner crops and the centre crop of side ``crop``, each
    scaled back to the input size, and their mirrors.
    """
    if mode == "flip":
        return [images, images[:, :, ::-1]]
    h, w = images.shape[1:3]
    if not 0 < crop <= min(h, w):
        raise ValueError(f"tta: crop must be in 1..{min(h, w)}, got {crop}")
    corners = [(0, 0), (0, w - crop), (h - crop, 0), (h - crop, w - crop),
               ((h - crop) // 2, (w - crop) // 2)]  # fmt: skip
    out = []
    for top, left in corners:
        window = images[:, top : top + crop, left : left + crop]
        scaled = np.stack(
            [cv2.resize(np.ascontiguousarray(im), (w, h), interpolation=cv2.INTER_LINEAR)
             for im in window]
        )  # fmt: skip
        out += [scaled, scaled[:, :, ::-1]]
    return out


class TTA(ProbaClassifier):
    """Average a classifier's probabilities over flipped or cropped views of each image.

    Parameters
    ----------
    estimator : step or list of steps
        The classifier (or pipeline) on images, fitted on the plain training images.
    mode : {"flip", "ten-crop"}
        Views at prediction time.
    crop : int
        Side of the ten crops (for 48×48 faces, 42 or 44).
    """

    name = "tta"
    _image_input = True
    step_params: ClassVar[dict[str, str]] = {"estimator": "pipeline"}
    _test_params: ClassVar[dict] = {"estimator": {"name": "cnn", "params": CNN._test_params}}
    _expected_failed_checks = CNN._expected_failed_checks  # it wraps a cnn

    def __init__(self, estimator: Any = None, mode: str = "flip", crop: int = 42) -> None:
        self.estimator = estimator
        self.mode = mode
        self.crop = crop

    def fit(self, X: Any, y: Any) -> TTA:
        """Fit the wrapped classifier.

        Returns
        -------
        self
        """
        if self.mode not in TTA_MODES:
            raise ValueError(f"tta: mode must be one of {TTA_MODES}, got {self.mode!r}")
        X, y = validate_labelled_images(self, X, y, flat_ok=False)
        self.estimator_ = build_model(self.estimator or "cnn").fit(X, y)
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Mean class probabilities over the views."""
        check_is_fitted(self, "estimator_")
        X = validate_images(self, X, reset=False, flat_ok=False)
        return np.mean([self.estimator_.predict_proba(v) for v in views(X, self.mode, self.crop)],
                       axis=0)  # fmt: skip


class Fusion(ProbaClassifier):
    """Late fusion of several pipelines' class probabilities, on scikit-learn's ensembles.

    Parameters
    ----------
    members : list
        Each a saved model (a path, or a registered model's name such as "default")
        used as saved, or a pipeline to fit: a list of steps or a single classifier step.
    method : {"average", "weighted", "max", "stacking"}
        "average": soft voting (:class:`~sklearn.ensemble.VotingClassifier`);
        "weighted": soft voting weighted by each member's cross-fitted accuracy;
        "max": the element-wise maximum of the members' probabilities, renormalised;
        "stacking": a logistic regression on the members' cross-fitted probabilities
        (:class:`~sklearn.ensemble.StackingClassifier`, ``passthrough=False``).
    cv : int
        Number of stratified folds of the cross-fitted predictions ("weighted" and
        "stacking"). Saved members are frozen (:class:`~sklearn.frozen.FrozenEstimator`):
        every fold predicts with them as saved.

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
        """
        if self.method not in FUSIONS:
            raise ValueError(f"fusion: method must be one of {FUSIONS}, got {self.method!r}")
        if not self.members:
            raise ValueError("fusion: give at least one member")
        X, y = validate_labelled_images(self, X, y)
        self.classes_ = np.unique(y)
        members = [(f"member-{i}", self._member(m)) for i, m in enumerate(self.members)]
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

    def _member(self, member: Any) -> Any:
        """Return a fresh estimator of a pipeline member, or a saved model frozen as loaded."""
        if not isinstance(member, str):
            return build_model(member)
        from ferengine.persistence import load

        model = load(member)
        # scikit-learn's ensembles read the members' probability columns as the
        # training classes, in order: a saved model must have exactly those classes.
        if not np.array_equal(np.asarray(model.classes_), self.classes_):
            raise ValueError(
                f"fusion: member {member!r} predicts the classes "
                f"{np.asarray(model.classes_).tolist()}, the training labels are "
                f"{self.classes_.tolist()}"
            )
        return FrozenEstimator(model)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Fused class probabilities, columns in ``classes_`` order."""
        check_is_fitted(self, "ensemble_")
        X = validate_images(self, X, reset=False)
        if self.method == "max":
            # Hand-written: scikit-learn's VotingClassifier only averages; its
            # transform gives the members' probabilities, shape (members, N, K).
            fused = self.ensemble_.transform(X).max(axis=0)
            return fused / fused.sum(axis=1, keepdims=True)
        return self.ensemble_.predict_proba(X)
