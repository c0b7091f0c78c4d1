"""``tta``: test-time augmentation, probabilities averaged over views of each image."""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

import cv2
import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ferengine.classifier import ProbaClassifier
from ferengine.images import validate_images, validate_labelled_images
from ferengine.step_checks import require_probabilities
from ferengine.steps import build_model
from ferengine_ensembles import model_checks  # noqa: F401 (registers the load-time checks)
from ferengine_ensembles.params import STEP

TTA_MODES = ("flip", "ten-crop")


def views(images: np.ndarray, mode: str, crop: int) -> list[np.ndarray]:
    """Return the test-time views of a batch: itself and its mirror, or ten crops.

    Ten-crop: the four corner crops and the centre crop of side ``crop``, each
    scaled back to the input size, and their mirrors.
    """
    if mode == "flip":
        return [images, images[:, :, ::-1]]
    h, w = images.shape[1:3]
    if not 0 < crop <= min(h, w):
        raise ValueError(f"tta: crop must be in 1..{min(h, w)} for {h}×{w} images, got {crop}")
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
    estimator : step or list of steps, optional
        The classifier (or pipeline) on images, fitted on the plain training images and
        asked for ``predict_proba`` on each view. Default: the registered ``cnn``
        classifier (the deep extra).
    mode : {"flip", "ten-crop"}
        Views at prediction time.
    crop : int
        Side of the ten crops (for 48×48 faces, 42 or 44); at most the images' shorter side.

    Attributes
    ----------
    estimator_ : estimator
        The fitted classifier.
    classes_ : ndarray
        Its classes.
    """

    name = "tta"
    _image_input = True
    step_params: ClassVar[dict[str, str]] = {"estimator": "pipeline"}
    _parameter_constraints: ClassVar[dict] = {
        "estimator": [None, *STEP],
        "mode": [StrOptions(set(TTA_MODES))],
        "crop": [Interval(Integral, 1, None, closed="left")],
    }
    _test_params: ClassVar[dict] = {"estimator": ["pixels", "logistic"]}
    _expected_failed_checks: ClassVar[dict] = {
        "check_classifiers_train": "the check's tables, tiled into images, are not mirror "
        "images of themselves: the flipped view is noise to a pixel classifier, so training "
        "accuracy falls below the check's 0.83",
    }

    def __init__(self, estimator: Any = None, mode: str = "flip", crop: int = 42) -> None:
        self.estimator = estimator
        self.mode = mode
        self.crop = crop

    def fit(self, X: Any, y: Any) -> TTA:
        """Fit the wrapped classifier on the training images.

        Returns
        -------
        self

        Raises
        ------
        MissingProbabilitiesError
            The classifier has no ``predict_proba`` (checked before it is fitted).
        """
        self._validate_params()
        X, y = validate_labelled_images(self, X, y, flat_ok=False)
        self.estimator_ = build_model("cnn" if self.estimator is None else self.estimator)
        require_probabilities(self.estimator_, "tta's estimator")
        self.estimator_.fit(X, y)
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Mean class probabilities over the views, columns in ``classes_`` order."""
        check_is_fitted(self, "estimator_")
        X = validate_images(self, X, reset=False, flat_ok=False)
        return np.mean([self.estimator_.predict_proba(v) for v in views(X, self.mode, self.crop)],
                       axis=0)  # fmt: skip
