"""Geometric preprocessing: resize and crop."""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import cv2
import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ferengine.extractor import ImagePreprocessor
from ferengine.imageops import SIZE, size_pair
from ferengine.images import INTERPOLATION


class Resize(ImagePreprocessor):
    """Resize every image to a fixed size (OpenCV); the dtype is kept.

    Parameters
    ----------
    size : int or (int, int)
        Output ``size×size`` or ``(height, width)``.
    interpolation : {"area", "linear", "cubic", "nearest", "lanczos"}
        OpenCV interpolation ("area" is best for shrinking).
    """

    name = "resize"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "size": SIZE,
        "interpolation": [StrOptions(set(INTERPOLATION))],
    }

    def __init__(self, size=48, interpolation: str = "area") -> None:
        self.size = size
        self.interpolation = interpolation

    def _check_params(self) -> None:
        size_pair(self.size, "resize: size")

    def _apply(self, X: np.ndarray) -> np.ndarray:
        h, w = size_pair(self.size, "resize: size")
        if X.shape[1:3] == (h, w):
            return X
        src = X if X.dtype in (np.uint8, np.float32) else X.astype(np.float32)
        flags = INTERPOLATION[self.interpolation]
        return np.stack([cv2.resize(img, (w, h), interpolation=flags) for img in src]).reshape(
            (len(X), h, w, *X.shape[3:])
        )


class Crop(ImagePreprocessor):
    """Crop a fixed region: a centred window or an explicit box.

    ``box`` keeps an explicit region; otherwise ``size`` keeps a centred window
    of that many pixels; otherwise ``fraction`` keeps that share of each side,
    centred. ``box`` and ``size`` cannot be combined.

    Parameters
    ----------
    size : int or (int, int), optional
        Centred crop of ``size×size`` or ``(height, width)`` pixels.
    fraction : float
        Centred crop keeping this share (0–1] of the height and of the width,
        when neither ``size`` nor ``box`` is given.
    box : (int, int, int, int), optional
        ``(x, y, width, height)`` of the region to keep.
    """

    name = "crop"
    keeps_framing = False
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "size": [None, *SIZE],
        "fraction": [Interval(Real, 0, 1, closed="right")],
        "box": [None, "array-like"],
    }

    def __init__(self, size=None, fraction: float = 0.9, box=None) -> None:
        self.size = size
        self.fraction = fraction
        self.box = box

    def _check_params(self) -> None:
        if self.size is not None and self.box is not None:
            raise ValueError("crop: give size or box, not both")
        if self.size is not None:
            size_pair(self.size, "crop: size")
        if self.box is not None:
            box = tuple(self.box)
            if len(box) != 4 or min(box) < 0 or min(box[2:]) < 1:
                raise ValueError(f"crop: box must be (x, y, width, height), got {self.box!r}")

    def _region(self, h: int, w: int) -> tuple[int, int, int, int]:
        if self.box is not None:
            x, y, bw, bh = (int(v) for v in self.box)
        else:
            if self.size is not None:
                bh, bw = size_pair(self.size, "crop: size")
            else:
                bh, bw = max(1, round(h * self.fraction)), max(1, round(w * self.fraction))
            y, x = (h - bh) // 2, (w - bw) // 2
        if x < 0 or y < 0 or x + bw > w or y + bh > h:
            raise ValueError(
                f"crop: region x={x}, y={y}, width={bw}, height={bh} does not fit in {h}×{w} images"
            )
        return x, y, bw, bh

    def _apply(self, X: np.ndarray) -> np.ndarray:
        x, y, bw, bh = self._region(X.shape[1], X.shape[2])
        return np.ascontiguousarray(X[:, y : y + bh, x : x + bw])
