"""Face boxes and landmarkers: what detectors, landmarkers, ``align`` and ``predict`` share.

A *box* is ``(x, y, width, height)`` in whole pixels of the image it was found in.
A :class:`Landmarker` places a fixed set of points in each box of an image; its
class attributes say how the points are numbered, so that code written for any
landmarker (``align``'s eye line, say) finds the points it needs.

This module belongs to the core so that plugins use it without importing each other.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import cv2
import numpy as np
from sklearn.base import BaseEstimator

from ferengine import registry
from ferengine.imageops import as_grey
from ferengine.plugin import FaceDetector

__all__ = [
    "Box",
    "Landmarker",
    "create_landmarker",
    "eye_line_matrix",
    "iou_matrix",
    "landmarks_fit",
    "largest_face",
    "plausible",
    "upscaled",
    "whole_image",
]

Box = tuple[int, int, int, int]


def iou_matrix(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> np.ndarray:
    """Return the intersection-over-union of every box of ``a`` with every box of ``b``."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    A, B = np.asarray(a, dtype=float)[:, None], np.asarray(b, dtype=float)[None]
    w = np.clip(np.minimum(A[..., 0] + A[..., 2], B[..., 0] + B[..., 2])
                - np.maximum(A[..., 0], B[..., 0]), 0, None)  # fmt: skip
    h = np.clip(np.minimum(A[..., 1] + A[..., 3], B[..., 1] + B[..., 3])
                - np.maximum(A[..., 1], B[..., 1]), 0, None)  # fmt: skip
    inter = w * h
    return inter / (A[..., 2] * A[..., 3] + B[..., 2] * B[..., 3] - inter)


def whole_image(shape: tuple[int, ...]) -> Box:
    """Return the box covering a whole image of ``shape`` (height, width, ...)."""
    return 0, 0, int(shape[1]), int(shape[0])


def upscaled(img: np.ndarray, scale: float) -> tuple[np.ndarray, float, float]:
    """Return ``img`` enlarged by ``scale`` (bilinear) and the exact x and y factors.

    Sides are rounded to whole pixels, so the factors differ slightly from ``scale``;
    an image with ``scale`` ≤ 1 is returned unchanged with factors 1.
    """
    if scale <= 1:
        return img, 1.0, 1.0
    h, w = img.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    big = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
    return big, big.shape[1] / w, big.shape[0] / h


def largest_face(grey: np.ndarray, detector: FaceDetector, min_size: int) -> Box | None:
    """Return the largest face ``detector`` finds in ``grey``, or None when it finds none.

    The image is upscaled so that its shorter side is at least ``min_size`` first
    (detectors miss small faces); the box is mapped back to ``grey``'s pixels. The
    detector's own ordering (largest first) makes the choice.
    """
    big, sx, sy = upscaled(grey, min_size / min(grey.shape[:2]))
    faces = detector.detect(big)
    if not faces:
        return None
    x, y, bw, bh = faces[0].box
    return round(x / sx), round(y / sy), max(1, round(bw / sx)), max(1, round(bh / sy))


def eye_line_matrix(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Return the 2×3 rotation about the eye midpoint that makes the eye line horizontal.

    ``left`` and ``right`` are the (x, y) centres of the image's left and right eye.
    """
    dx, dy = right - left
    centre = (float((left[0] + right[0]) / 2), float((left[1] + right[1]) / 2))
    return cv2.getRotationMatrix2D(centre, float(np.degrees(np.arctan2(dy, dx))), 1.0)


def plausible(
    left: np.ndarray, right: np.ndarray, points: np.ndarray, height: int, width: int
) -> bool:
    """Return whether a shape looks like a face: eyes apart, inside the image, tilt < 45°.

    ``left`` and ``right`` are its eye centres, ``points`` all its landmarks.
    """
    dx, dy = right - left
    d = float(np.hypot(dx, dy))
    inside = all(0 <= p[0] < width and 0 <= p[1] < height for p in (left, right))
    return (
        bool(np.isfinite(points).all())
        and inside
        and dx > 0
        and abs(dy) < dx
        and (0.1 * min(height, width) < d < 0.9 * width)
    )


def landmarks_fit(landmarker: Landmarker, points: np.ndarray, box: Box,
                  keypoints: np.ndarray | None = None) -> bool:  # fmt: skip
    """Return whether one face's landmarks fit the face its detector found.

    A landmarker always places its points, even on a profile or a hand; the fit is
    trusted when the shape is :func:`plausible` within the box widened by half its side,
    its eye distance is 20–80 % of the box width, and — when the detector placed eye
    keypoints (BlazeFace: the image's left eye first, right eye second) — each eye
    centre lies within a quarter of the eye distance of the detector's eye.
    """
    x, y, w, h = box
    left, right = landmarker.eye_centres(points)
    shifted = [p - (x - w / 2, y - h / 2) for p in (left, right, points)]
    if not plausible(*shifted, 2 * h, 2 * w):
        return False
    d = float(np.hypot(*(right - left)))
    if not 0.2 * w <= d <= 0.8 * w:
        return False
    if keypoints is None or len(keypoints) < 2:
        return True
    tolerance = 0.25 * d
    return bool(np.hypot(*(left - keypoints[0])) <= tolerance
                and np.hypot(*(right - keypoints[1])) <= tolerance)  # fmt: skip


def create_landmarker(name: str, params: dict | None, owner: str) -> Landmarker:
    """Create the registered landmarker ``name`` for the estimator ``owner``'s parameters.

    Raises
    ------
    ValueError
        Naming ``owner``'s ``landmarker`` or ``landmarker_params`` when the name is
        unknown or a parameter is not the landmarker's (with the registry's suggestions).
    """
    return registry.create_for(owner, "landmarker", "landmarker", name, params)


class Landmarker(BaseEstimator, ABC):
    """Place facial landmarks in face boxes: the ``landmarker`` plugin kind.

    Subclasses set ``name`` (kebab-case), a docstring, the point layout below and
    implement :meth:`_locate` on one 8-bit grey image and one box; :meth:`locate`
    converts the image and loops over the boxes. Models loaded from files belong in a
    per-process table, not on the instance, which must stay picklable and cheap to clone.

    Attributes
    ----------
    n_points : int
        Points per face.
    layout : str
        Name of the point numbering (``"ibug-68"`` for the iBUG 300-W 68 points);
        code that needs particular points checks it.
    left_eye, right_eye : tuple of int
        Indices of the points of the image's left and right eye (their mean is the
        eye centre), so any landmarker gives an eye line.
    nose_tip : int or None
        Index of the nose tip, if the layout has one.
    mouth_corners : (int, int) or None
        Indices of the image's left and right mouth corner, if the layout has them.
    """

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()
    n_points: ClassVar[int]
    layout: ClassVar[str]
    left_eye: ClassVar[tuple[int, ...]]
    right_eye: ClassVar[tuple[int, ...]]
    nose_tip: ClassVar[int | None] = None
    mouth_corners: ClassVar[tuple[int, int] | None] = None

    @abstractmethod
    def _locate(self, grey: np.ndarray, box: Box) -> np.ndarray:
        """Return the ``(n_points, 2)`` points (x, y) of the face in ``box`` of an 8-bit image."""

    def locate(self, grey: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Return the landmarks of each face box of one image, in its pixel coordinates.

        Parameters
        ----------
        grey : ndarray of shape (height, width) or (height, width, channels)
            The image; colour and non-8-bit images are converted as detectors convert them.
        boxes : array-like of shape (n_boxes, 4)
            ``(x, y, width, height)`` of each face; :func:`whole_image` for a crop.

        Returns
        -------
        ndarray of shape (n_boxes, n_points, 2), float64
            (x, y) of each point, x to the right and y down from the centre of the
            top-left pixel.
        """
        image = as_grey(grey)
        boxes = np.asarray(boxes).reshape(-1, 4)
        out = np.empty((len(boxes), self.n_points, 2), dtype=np.float64)
        for i, box in enumerate(boxes):
            x, y, w, h = (int(v) for v in box)
            if w < 1 or h < 1:
                raise ValueError(f"{self.name}: box {i} {tuple(box)} has no area")
            out[i] = self._locate(image, (x, y, w, h))
        return out

    @classmethod
    def eye_centres(cls, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the centres (x, y) of the image's left and right eye of one shape or a batch."""
        points = np.asarray(points)
        left = points[..., list(cls.left_eye), :].mean(axis=-2)
        right = points[..., list(cls.right_eye), :].mean(axis=-2)
        return left, right
