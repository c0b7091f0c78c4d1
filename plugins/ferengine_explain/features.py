"""Explainers of hand-crafted pipelines read from their feature and classifier.

``feature-view`` draws what the feature computes (HOG's cell orientations, LBP's codes,
the landmark geometry); ``feature-weights`` spreads a linear model's (or XGBoost's)
per-column contributions to the target class over the pixels each column describes;
``importances`` does the same with a tree model's feature importances. All three go
through :mod:`ferengine.explain.feature_maps`, which says what the feature and the
classifier must offer (``feature_view``, ``pixel_regions``, ``coef_`` or
``feature_contributions``, ``feature_importances_``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ferengine.explain import Explainer
from ferengine.explain.feature_maps import (
    FeaturePath,
    column_maps,
    contributions,
    feature_path,
    path_or_raise,
    to_face_frame,
)

__all__ = ["FeatureView", "FeatureWeights", "Importances"]


def _regions(path: FeaturePath) -> np.ndarray | None:
    method = getattr(path.feature, "pixel_regions", None)
    return method() if callable(method) else None


def _split(explainer: Explainer, model: Any) -> FeaturePath | str:
    """Return the model's :class:`FeaturePath`, or why it has none or no probabilities."""
    return Explainer.supports(explainer, model) or feature_path(model)


def _placed(path: FeaturePath | str) -> str | None:
    """Why the feature's columns cannot be placed on the face, or None when they can."""
    if isinstance(path, str):
        return path
    if _regions(path) is None:
        return (
            f"its feature {path.feature_name!r} does not place its columns on the image "
            "(pixel_regions)"
        )
    return None


class _ColumnMaps(Explainer):
    """Maps made of one value per feature column, spread over the column's pixels."""

    def _values(self, path: FeaturePath, X: np.ndarray, targets: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _maps(self, model: Any, faces: np.ndarray, targets: np.ndarray,
              probabilities: np.ndarray) -> np.ndarray:  # fmt: skip
        path = path_or_raise(model)
        images = path.feature_input(faces)
        values = self._values(path, path.columns(images), targets)
        maps = column_maps(values, _regions(path), images.shape[1:3])
        return to_face_frame(maps, faces.shape[1:3])


class FeatureWeights(_ColumnMaps):
    """Linear weights × feature values (or TreeSHAP values) of the target class, on the face.

    For a pipeline of image steps, one feature that places its columns on the image
    (HOG, LBP, Gabor, BoVW, pixels, concat of those) and a classifier whose class score
    splits over its input columns — a linear model's ``coef_[c, j] × x_j`` (logistic,
    svm-linear, any scikit-learn linear classifier), or XGBoost's exact per-column SHAP
    values of the class margin — each column's share of the target class's score is
    spread evenly over the pixels the column describes (a HOG cell, an LBP grid cell, a
    pyramid cell). A map sums to the class score less its intercept, in the feature's
    frame: positive where the face's features speak for the class, negative where they
    speak against it. Kernel SVMs, kNN and trees other than XGBoost have no such split
    (occlusion explains them).
    """

    name = "feature-weights"
    shows = (
        "share of the target class's linear score (weight × feature value, or XGBoost's "
        "SHAP value) of the feature columns describing the pixel"
    )

    def supports(self, model: Any) -> str | None:
        """Need placed feature columns and a classifier whose scores split over them."""
        path = _split(self, model)
        reason = _placed(path)
        if reason is not None:
            return reason
        classifier = path.classifier
        if getattr(classifier, "coef_", None) is None and not callable(
            getattr(classifier, "feature_contributions", None)
        ):
            return (
                f"its classifier {path.name_of(classifier)!r} has no feature weights (coef_) "
                "or per-column contributions (occlusion explains it)"
            )
        return None

    def _values(self, path: FeaturePath, X: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return contributions(path.classifier, X)[np.arange(len(X)), targets]


class Importances(_ColumnMaps):
    """A tree model's feature importances, on the face: where the model looks, for any face.

    For the pipelines ``feature-weights`` takes, with a classifier that has
    ``feature_importances_`` (decision tree, random forest, extra trees: mean impurity
    decrease; XGBoost: mean gain), each column's importance is spread over the pixels
    it describes. The map is the model's, not the face's: the same for every face and
    every class (``feature-weights`` gives XGBoost's per-face, per-class view).
    """

    name = "importances"
    shows = (
        "the classifier's importance of the feature columns describing the pixel (the same "
        "for every face and class)"
    )

    def supports(self, model: Any) -> str | None:
        """Need placed feature columns and a classifier with ``feature_importances_``."""
        path = _split(self, model)
        reason = _placed(path)
        if reason is None and getattr(path.classifier, "feature_importances_", None) is None:
            reason = (
                f"its classifier {path.name_of(path.classifier)!r} has no feature importances "
                "(feature_importances_)"
            )
        return reason

    def _values(self, path: FeaturePath, X: np.ndarray, targets: np.ndarray) -> np.ndarray:
        importances = np.asarray(path.classifier.feature_importances_, dtype=np.float64)
        return np.broadcast_to(importances, (len(X), len(importances)))


class FeatureView(Explainer):
    """What the feature computes, drawn on each face: HOG glyphs, LBP codes, landmark geometry.

    For a pipeline of image steps, a feature that draws itself (``feature_view``: HOG's
    cell orientation histograms as star glyphs, LBP's per-pixel pattern bins, the
    landmarks and the distances measured between them; the first such member of a
    concat) and a classifier. The map does not depend on the class: it shows what the
    classifier is given to decide from, not what it decided.
    """

    name = "feature-view"
    shows = "what the feature computes at the pixel, drawn by the feature (class-independent)"

    def supports(self, model: Any) -> str | None:
        """Need a feature with a ``feature_view`` behind framing-keeping image steps."""
        path = _split(self, model)
        if isinstance(path, str):
            return path
        if not callable(getattr(path.feature, "feature_view", None)):
            return f"its feature {path.feature_name!r} draws no view (feature_view)"
        return None

    def _maps(self, model: Any, faces: np.ndarray, targets: np.ndarray,
              probabilities: np.ndarray) -> np.ndarray:  # fmt: skip
        path = path_or_raise(model)
        maps = np.asarray(path.feature.feature_view(path.feature_input(faces)), np.float32)
        return to_face_frame(maps, faces.shape[1:3])
