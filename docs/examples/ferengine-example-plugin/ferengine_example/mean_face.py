"""A landmarker: five points at their mean positions in the face box."""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval

from ferengine.faces import Landmarker

#: (x, y) of each point as a share of the box's width and height.
MEAN_FACE = np.array([[0.30, 0.38], [0.70, 0.38], [0.50, 0.58], [0.35, 0.78], [0.65, 0.78]])


class MeanFace5(Landmarker):
    """Eyes, nose tip and mouth corners at their mean positions in the face box.

    Parameters
    ----------
    eye_height : float
        Height of the eyes, as a share of the box's height from its top.
    """

    name = "mean-face-5"
    n_points = 5
    layout = "mean-face-5"
    left_eye = (0,)
    right_eye = (1,)
    nose_tip = 2
    mouth_corners = (3, 4)
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "eye_height": [Interval(Real, 0, 1, closed="neither")],
    }

    def __init__(self, eye_height: float = 0.38) -> None:
        self.eye_height = eye_height

    def _locate(self, grey: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        self._validate_params()
        x, y, width, height = box
        shares = MEAN_FACE.copy()
        shares[:2, 1] = self.eye_height
        return shares * [width, height] + [x, y]
