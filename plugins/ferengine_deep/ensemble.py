"""Test-time augmentation and late fusion of several pipelines."""

from __future__ import annotations

from typing import Any, ClassVar

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from ferengine.images import validate_images, validate_labelled_images
from ferengine.steps import build_model
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
    """Late fusion of several pipelines' class probabilities.

    Parameters
    ----------
    members : list
        Each a saved model (path, or "default") used as fitted, or a pipeline to fit:
        a list of steps or a single classifier step.
    method : {"average", "weighted", "max", "stacking"}
        Mean of the probabilities; mean weighted by each member's accuracy on the
        calibration images; element-wise maximum; or a logistic regression on the
        concatenated probabilities of the calibration images.
    validation_fraction : float
        For "weighted" and "stacking" with members to fit: the stratified share of
        the training images held out for calibration (members fit on the rest).
        When every member is saved, all of ``fit``'s images calibrate.
    seed : int
        Seed of the split.
    """

    name = "fusion"
    _image_input = True
    step_params: ClassVar[dict[str, str]] = {"members": "members"}
    _test_params: ClassVar[dict] = {"members": [["pixels", "logistic"]] * 2}

    def __init__(self, members: Any = None, method: str = "average",
                 validation_fraction: float = 0.2, seed: int = 0) -> None:  # fmt: skip
        self.members = members
        self.method = method
        self.validation_fraction = validation_fraction
        self.seed = seed

    def fit(self, X: Any, y: Any) -> Fusion:
        """Fit (or load) the members, then the fusion weights or meta-learner.

        Returns
        -------
        self
        """
        from ferengine.persistence import load

        if self.method not in FUSIONS:
            raise ValueError(f"fusion: method must be one of {FUSIONS}, got {self.method!r}")
        if not self.members:
            raise ValueError("fusion: give at least one member")
        X, y = validate_labelled_images(self, X, y)
        self.classes_ = np.unique(y)
        saved = [isinstance(m, str) for m in self.members]
        calibrate = self.method in ("weighted", "stacking")
        if all(saved) or not calibrate:
            fit_rows = cal_rows = np.arange(len(y))
        else:
            fit_rows, cal_rows = train_test_split(
                np.arange(len(y)), test_size=self.validation_fraction, stratify=y,
                random_state=self.seed)  # fmt: skip
        self.members_ = [load(m) if is_saved else build_model(m).fit(X[fit_rows], y[fit_rows])
                         for m, is_saved in zip(self.members, saved, strict=True)]  # fmt: skip
        if calibrate:
            probas = self._probas(X[cal_rows])
            if self.method == "weighted":
                self.weights_ = np.array([np.mean(self.classes_[p.argmax(axis=1)] == y[cal_rows])
                                          for p in probas])  # fmt: skip
            else:
                self.meta_ = LogisticRegression(max_iter=1000).fit(np.hstack(probas), y[cal_rows])
        return self

    def _probas(self, X: np.ndarray) -> list[np.ndarray]:
        """Every member's probabilities, columns aligned to ``classes_``."""
        out = []
        for member in self.members_:
            proba = np.zeros((len(X), len(self.classes_)))
            columns = np.searchsorted(self.classes_, np.asarray(member.classes_))
            proba[:, columns] = member.predict_proba(X)
            out.append(proba)
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        """Fused class probabilities, columns in ``classes_`` order."""
        check_is_fitted(self, "members_")
        probas = self._probas(validate_images(self, X, reset=False))
        if self.method == "stacking":
            return self.meta_.predict_proba(np.hstack(probas))
        if self.method == "max":
            fused = np.max(probas, axis=0)
            return fused / fused.sum(axis=1, keepdims=True)
        weights = self.weights_ if self.method == "weighted" else np.ones(len(probas))
        return np.average(probas, axis=0, weights=weights)
