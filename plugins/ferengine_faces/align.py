"""Landmark alignment: eye-line rotation, the spatial-normalisation crop, a similarity template.

Every method is one affine map from the input image to the output, so an image is
interpolated once. The landmarks come from a registered landmarker
(:class:`ferengine.faces.Landmarker`), whose layout names its eye points (and the
nose tip and mouth corners the "template" method needs).
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import ClassVar

import cv2
import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ferengine import registry
from ferengine.extractor import ImagePreprocessor
from ferengine.faces import (
    Landmarker,
    create_landmarker,
    eye_line_matrix,
    largest_face,
    plausible,
    whole_image,
)
from ferengine.imageops import SIZE, size_pair, to_grey, to_uint8

#: Canonical positions of the eye centres, nose tip and mouth corners (image's left
#: first), as fractions of the output width and height.
TEMPLATE = np.array([[0.30, 0.36], [0.70, 0.36], [0.50, 0.57], [0.34, 0.77], [0.66, 0.77]])
METHODS = ("spatial", "rotate", "template")
FALLBACKS = ("resize", "error")


def _homogeneous(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


def spatial_matrix(
    left: np.ndarray,
    right: np.ndarray,
    size: tuple[int, int],
    side: float = 1.7,
    above: float = 1.3,
    below: float = 3.2,
) -> np.ndarray:
    """Return the 2×3 map of the eye-levelled spatial-normalisation crop to ``size`` (h, w).

    With d the distance between the eye centres ``left`` and ``right`` and the eyes
    levelled about their midpoint, the crop spans ``side`` × d to each side of the
    midpoint, ``above`` × d above the eye line and ``below`` × d below it, scaled to
    the output size.
    """
    d = float(np.hypot(*(right - left)))
    mx, my = (left + right) / 2
    h, w = size
    sx, sy = w / (2 * side * d), h / ((above + below) * d)
    crop = np.array([[sx, 0.0, -sx * (mx - side * d)], [0.0, sy, -sy * (my - above * d)]])
    return (_homogeneous(crop) @ _homogeneous(eye_line_matrix(left, right)))[:2]


def template_matrix(anchors: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Return the 2×3 similarity (rotation, uniform scale, shift) onto :data:`TEMPLATE`.

    ``anchors`` are the five points of :data:`TEMPLATE`'s rows, in its order: the
    image's left and right eye centres, the nose tip, the left and right mouth corners.
    """
    h, w = size
    dst = (TEMPLATE * [w, h]).astype(np.float32)
    m, _ = cv2.estimateAffinePartial2D(np.asarray(anchors, np.float32), dst, method=cv2.LMEDS)
    if m is None:
        raise ValueError("no similarity maps these landmarks onto the template")
    return m


def _check_template_points(landmarker: Landmarker) -> None:
    if landmarker.nose_tip is None or landmarker.mouth_corners is None:
        raise ValueError(
            f"align: method 'template' needs a nose tip and mouth corners, which landmarker "
            f"{landmarker.name!r} (layout {landmarker.layout!r}) does not place"
        )


def template_anchors(landmarker: Landmarker, points: np.ndarray) -> np.ndarray:
    """Return the five :data:`TEMPLATE` points of one shape placed by ``landmarker``.

    Raises
    ------
    ValueError
        The landmarker's layout has no nose tip or mouth corners.
    """
    _check_template_points(landmarker)
    left, right = landmarker.eye_centres(points)
    others = points[[landmarker.nose_tip, *landmarker.mouth_corners]]
    return np.array([left, right, *others], dtype=np.float32)


class AlignFallbackWarning(UserWarning):
    """Images whose landmarks failed and were resized whole; ``indices`` lists them."""

    def __init__(self, indices: list[int], n_images: int) -> None:
        self.indices = indices
        super().__init__(
            f"align: {len(indices)} of {n_images} images had no plausible landmarks and were "
            f"resized whole (first: {indices[:5]})"
        )


class Align(ImagePreprocessor):
    """Align faces by their landmarks (a registered landmarker, ``dlib-68`` by default).

    Parameters
    ----------
    method : {"spatial", "rotate", "template"}
        "spatial": level the eye line and crop the spatial-normalisation box (``side``,
        ``above``, ``below`` times the inter-eye distance) to ``size``; "rotate": level
        the eye line about the eye midpoint and keep the image size; "template": the
        similarity transform that best maps eyes, nose tip and mouth corners onto a
        canonical template of ``size`` (landmarkers whose layout has them).
    size : int or (int, int)
        Output ``size×size`` or ``(height, width)`` ("spatial" and "template").
    side, above, below : float
        The spatial-normalisation box, in inter-eye distances.
    box : str
        Where the landmarker looks: the largest face a registered detector
        ("dlib-hog", "haar", …) finds in the image upscaled to ``min_size`` (none found
        counts as a failure), or "image", the whole image (dlib's landmarkers then
        always return a shape, so only implausible geometry counts as a failure).
    fallback : {"resize", "error"}
        When the landmarks fail (no face found, eyes crossed or tilted over 45°):
        resize the whole image to the output size, or raise. Fallbacks are reported by
        an :class:`AlignFallbackWarning` holding their indices.
    min_size : int
        Images are upscaled to at least this side for the detector.
    landmarker : str
        A registered landmarker (``ferengine plugins landmarker``).
    landmarker_params : dict, optional
        Its parameters (``{"model_path": ...}`` for another dlib model file, say).
    """

    name = "align"
    keeps_framing = False
    requires = ("dlib", "face_recognition_models")
    extra = "landmarks"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "method": [StrOptions(set(METHODS))],
        "size": SIZE,
        "side": [Interval(Real, 0, None, closed="neither")],
        "above": [Interval(Real, 0, None, closed="neither")],
        "below": [Interval(Real, 0, None, closed="neither")],
        "box": [str],
        "fallback": [StrOptions(set(FALLBACKS))],
        "min_size": [Interval(Integral, 1, None, closed="left")],
        "landmarker": [str],
        "landmarker_params": [None, dict],
    }

    def __init__(self, method: str = "spatial", size=48, side: float = 1.7, above: float = 1.3,
                 below: float = 3.2, box: str = "dlib-hog", fallback: str = "resize",
                 min_size: int = 96, landmarker: str = "dlib-68",
                 landmarker_params: dict | None = None) -> None:  # fmt: skip
        self.method = method
        self.size = size
        self.side = side
        self.above = above
        self.below = below
        self.box = box
        self.fallback = fallback
        self.min_size = min_size
        self.landmarker = landmarker
        self.landmarker_params = landmarker_params

    def _check_params(self) -> None:
        size_pair(self.size, "align: size")
        landmarker = self._landmarker()  # an unknown name fails at fit, not per image
        if self.method == "template":
            _check_template_points(landmarker)

    def _landmarker(self) -> Landmarker:
        return create_landmarker(self.landmarker, self.landmarker_params, "align")

    def matrix(
        self, landmarker: Landmarker, points: np.ndarray, shape: tuple[int, int]
    ) -> np.ndarray:
        """Return the 2×3 map from an image of ``shape`` (h, w) with these landmarks."""
        out = size_pair(self.size, "align: size")
        if self.method == "template":
            return template_matrix(template_anchors(landmarker, points), out)
        left, right = landmarker.eye_centres(points)
        if self.method == "rotate":
            return eye_line_matrix(left, right)
        return spatial_matrix(left, right, out, self.side, self.above, self.below)

    def _apply(self, X: np.ndarray) -> np.ndarray:
        self._validate_params()  # the parameters may have been set since fit
        self._check_params()
        landmarker = self._landmarker()
        oh, ow = size_pair(self.size, "align: size")
        greys = to_uint8(to_grey(X))
        detector = (
            None if self.box == "image" else registry.create("detector", self.box, mode="largest")
        )
        out, failed = [], []
        if X.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
            X = X.astype(np.float32)  # the dtypes OpenCV's warps and resizes take
        for i, image in enumerate(X):
            h, w = image.shape[:2]
            size = (w, h) if self.method == "rotate" else (ow, oh)
            face = (
                whole_image(greys[i].shape)
                if detector is None
                else largest_face(greys[i], detector, int(self.min_size))
            )
            points = None if face is None else landmarker.locate(greys[i], np.array([face]))[0]
            if points is not None and plausible(*landmarker.eye_centres(points), points, h, w):
                m = self.matrix(landmarker, points, (h, w))
                out.append(cv2.warpAffine(image, m, size, flags=cv2.INTER_LINEAR,
                                          borderMode=cv2.BORDER_REPLICATE))  # fmt: skip
                continue
            if self.fallback == "error":
                raise ValueError(f"align: image {i} has no plausible landmarks")
            failed.append(i)
            out.append(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
        if failed:
            warnings.warn(AlignFallbackWarning(failed, len(X)), stacklevel=2)
        return np.stack(out).reshape(len(X), *out[0].shape) if out else X
