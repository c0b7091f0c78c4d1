"""A face detector: a centred square, for pictures already framed on one face."""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval

from ferengine import FaceDetector


class CentreSquare(FaceDetector):
    """A centred square: for pictures already framed on one face (kiosks, ID photos).

    Parameters
    ----------
    share : float
        Side of the square, as a share of the image's shorter side.
    mode : {"all", "largest"}
        Return every face or only the largest.
    max_side : int or None
        Images with a longer side are shrunk to it for detection.
    """

    name = "centre-square"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **FaceDetector._parameter_constraints,
        "share": [Interval(Real, 0, 1, closed="right")],
    }

    def __init__(self, share: float = 0.8, mode: str = "all", max_side: int | None = 1024):
        self.share = share
        self.mode = mode
        self.max_side = max_side

    def _find(self, grey: np.ndarray) -> list[tuple[float, float, float, float, None]]:
        height, width = grey.shape
        side = self.share * min(height, width)
        return [((width - side) / 2, (height - side) / 2, side, side, None)]
