"""A preprocessor: stretch each image's grey levels to the full 0–255 range."""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval

from ferengine.extractor import ImagePreprocessor


class ContrastStretch(ImagePreprocessor):
    """Stretch each image so its ``low`` and ``high`` percentiles become 0 and 255.

    Evens out exposure between photos; uint8 images give uint8 images, anything else
    float32 on the 0–255 scale, colour kept (one stretch for all channels).

    Parameters
    ----------
    low : float
        Percentile of the grey levels mapped to 0.
    high : float
        Percentile of the grey levels mapped to 255; above ``low``.
    """

    name = "contrast-stretch"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "low": [Interval(Real, 0, 100, closed="both")],
        "high": [Interval(Real, 0, 100, closed="both")],
    }

    def __init__(self, low: float = 2.0, high: float = 98.0) -> None:
        self.low = low
        self.high = high

    def _apply(self, images: np.ndarray) -> np.ndarray:
        if not self.low < self.high:
            raise ValueError(f"contrast-stretch: low {self.low} must be below high {self.high}")
        x = np.asarray(images, dtype=np.float32)
        flat = x.reshape(len(x), -1)
        lo, hi = np.percentile(flat, [self.low, self.high], axis=1)
        span = np.where(hi > lo, hi - lo, 1.0).astype(np.float32)
        shape = (-1,) + (1,) * (x.ndim - 1)
        out = np.clip((x - lo.reshape(shape)) / span.reshape(shape) * 255, 0, 255)
        if images.dtype == np.uint8:
            return np.round(out).astype(np.uint8)
        return out.astype(np.float32)
