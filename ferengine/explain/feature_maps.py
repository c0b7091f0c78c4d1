"""Place a hand-crafted feature's columns on the face they describe.

The feature explainers (``feature-view``, ``feature-weights``, ``importances``) explain a
pipeline of image steps, one feature and a classifier through what the feature and
the classifier say of themselves, by three duck-typed methods a plugin may implement:

``feature.pixel_regions()``
    For each output column, the box of pixels it describes, as an int array of shape
    ``(n_features_out_, 4)`` of ``(top, bottom, left, right)`` (bottom and right
    exclusive) in the frame of the images the feature was fitted on; ``None`` when
    the columns have no fixed place (landmark geometry). HOG, LBP, Gabor, BoVW,
    pixels and concat implement it.
``feature.feature_view(images)``
    What the feature computes, drawn as one H×W map per image (HOG's cell
    orientations, LBP's codes, the landmark geometry).
``classifier.feature_contributions(X)``
    Each class's score split over the input columns: an array of shape
    ``(n_samples, n_classes, n_features)`` whose sum over the last axis is the class's
    score less a per-class constant. Any classifier with a linear ``coef_`` gets it
    from :func:`contributions` without implementing it.

This module holds what the three share: splitting a fitted pipeline into those parts
(:func:`feature_path`), running faces to the feature's input or the classifier's
input, and spreading per-column values over their boxes (:func:`column_maps`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ferengine.explain.base import describe_model
from ferengine.extractor import ImagePreprocessor
from ferengine.step_checks import plugin_of

__all__ = ["FeaturePath", "column_maps", "contributions", "feature_path", "to_face_frame"]

#: scikit-learn transformers allowed between the feature and the classifier: they scale
#: each column on its own, so a classifier input column is still the feature's column.
COLUMNWISE = ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler")


@dataclass
class FeaturePath:
    """A fitted pipeline split into image steps, one feature, column scalers and a classifier."""

    before: list[Any]
    feature: Any
    between: list[Any]
    classifier: Any

    def feature_input(self, faces: np.ndarray) -> np.ndarray:
        """Return the faces as the feature sees them (after the image steps)."""
        images = faces
        for step in self.before:
            images = step.transform(images)
        return np.asarray(images)

    def columns(self, images: np.ndarray) -> np.ndarray:
        """Return the classifier's input for images from :meth:`feature_input`."""
        X = self.feature.transform(images)
        for step in self.between:
            X = step.transform(X)
        return np.asarray(X, dtype=np.float64)

    @property
    def feature_name(self) -> str:
        """The feature's plugin name (``"hog"``)."""
        return _name(self.feature)

    @staticmethod
    def name_of(step: Any) -> str:
        """Return a step's plugin name (``"svm-linear"``)."""
        return _name(step)


def _name(step: Any) -> str:
    return plugin_of(step)[1]


def feature_path(model: Any) -> FeaturePath | str:
    """Split a fitted pipeline into :class:`FeaturePath` parts, or say why it cannot be.

    The pipeline must be image preprocessors that keep the face's framing (their
    ``keeps_framing``; resize and the intensity steps do, ``crop`` and ``align`` move
    the face), one feature, optionally column-wise scikit-learn scalers, and a
    classifier.

    Returns
    -------
    FeaturePath or str
        The parts, or one clause saying why the model has none (for
        :meth:`~ferengine.explain.Explainer.supports`).
    """
    steps = getattr(model, "steps", None)
    if not isinstance(steps, list) or len(steps) < 2:
        return "it is not a pipeline of a feature and a classifier"
    estimators = [s for _, s in steps if s is not None and s != "passthrough"]
    *transforms, classifier = estimators
    before: list[Any] = []
    while transforms and isinstance(transforms[0], ImagePreprocessor):
        step = transforms.pop(0)
        if not getattr(step, "keeps_framing", True):
            return (
                f"its step {_name(step)!r} moves the face in the image, so feature columns "
                "cannot be placed on the input face (occlusion explains such pipelines)"
            )
        before.append(step)
    if not transforms:
        return f"it has no feature step before its classifier {_name(classifier)!r}"
    feature, *between = transforms
    for step in between:
        if type(step).__name__ not in COLUMNWISE:
            return (
                f"its step {_name(step)!r} between the feature {_name(feature)!r} and the "
                "classifier mixes feature columns (only column-wise scalers are followed)"
            )
    return FeaturePath(before, feature, between, classifier)


def path_or_raise(model: Any) -> FeaturePath:
    """Return :func:`feature_path` of a model an explainer's ``supports`` accepted."""
    path = feature_path(model)
    if isinstance(path, str):  # supports() refused it; explain() never gets here
        raise ValueError(f"cannot split {describe_model(model)}: {path}")
    return path


def contributions(classifier: Any, X: np.ndarray) -> np.ndarray:
    """Return each class's score split over the input columns: (n, n_classes, n_features).

    The classifier's own ``feature_contributions`` when it has one; otherwise, for a
    linear model, ``coef_[c] * x`` (a binary model's one row of weights scores its
    second class, and its negation the first).

    Raises
    ------
    ValueError
        The classifier has neither ``feature_contributions`` nor ``coef_``.
    """
    own = getattr(classifier, "feature_contributions", None)
    if callable(own):
        return np.asarray(own(X), dtype=np.float64)
    coef = getattr(classifier, "coef_", None)
    if coef is None:
        raise ValueError(f"{_name(classifier)!r} has no feature weights (coef_)")
    coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    if coef.shape[0] == 1:
        coef = np.concatenate([-coef, coef])
    return X[:, None, :] * coef[None]


def column_maps(values: np.ndarray, regions: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Spread per-column values over the columns' pixel boxes: (n, D) -> (n, H, W) float32.

    Each column's value is divided evenly among the pixels of its box, so a map sums
    to the sum of its row of ``values`` (what a linear score's columns add up to).
    Columns with the same box are summed first: a map costs one pass per distinct box.

    Parameters
    ----------
    values : ndarray of shape (n, D)
        A value per column, per face.
    regions : ndarray of shape (D, 4), int
        ``(top, bottom, left, right)`` of each column's box, bottom and right exclusive.
    shape : (int, int)
        The frame's height and width.
    """
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    regions = np.asarray(regions, dtype=np.intp)
    if regions.shape != (values.shape[1], 4):
        raise ValueError(
            f"pixel_regions gives {len(regions)} boxes for {values.shape[1]} feature columns"
        )
    h, w = shape
    boxes, which = np.unique(regions, axis=0, return_inverse=True)
    totals = np.zeros((len(values), len(boxes)))
    np.add.at(totals.T, which.ravel(), values.T)
    maps = np.zeros((len(values), h, w))
    for (top, bottom, left, right), total in zip(boxes, totals.T, strict=True):
        top, left = max(int(top), 0), max(int(left), 0)
        bottom, right = min(int(bottom), h), min(int(right), w)
        if bottom > top and right > left:
            maps[:, top:bottom, left:right] += (total / ((bottom - top) * (right - left)))[
                :, None, None
            ]
    return maps.astype(np.float32)


def to_face_frame(maps: np.ndarray, face_shape: tuple[int, int]) -> np.ndarray:
    """Resize maps made in the feature's frame to the faces' height and width.

    A ``resize`` step before the feature makes its frame another size than the face
    crops; the maps are stretched back (values per pixel kept, not their sums).
    """
    h, w = face_shape
    if maps.shape[1:] == (h, w):
        return maps
    return np.stack([cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) for m in maps])
