"""Face detectors: OpenCV Haar cascades, dlib HOG, dlib MMOD CNN, and ``none``.

Each finds faces on an 8-bit grey image (:class:`ferengine.FaceDetector` converts
the input and maps boxes back). Detector models are loaded once per process
(:mod:`ferengine_faces.dlib_models`), never stored on the estimator, which must stay
picklable and cheap to clone.
"""

from __future__ import annotations

import collections
import functools
import os
import threading
from numbers import Integral, Real
from typing import Any, ClassVar

import cv2
import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ferengine.plugin import FaceDetector
from ferengine_faces.dlib_models import dlib_model_file, hog_detector, mmod_detector

#: OpenCV's frontal-face cascades by short name (files in ``cv2.data.haarcascades``).
CASCADES = {
    "default": "haarcascade_frontalface_default.xml",
    "alt": "haarcascade_frontalface_alt.xml",
    "alt2": "haarcascade_frontalface_alt2.xml",
}
MMOD_FILE = "mmod_human_face_detector.dat"
#: Cards of the learned models the detectors run.
HAAR_WEIGHTS = "OpenCV's Haar cascades (cv2.data.haarcascades), Intel License Agreement (BSD-style)"
HOG_WEIGHTS = "dlib's HOG face detector, built into dlib (Boost Software License 1.0)"
MMOD_WEIGHTS = (
    "dlib's mmod_human_face_detector.dat from the PyPI package face_recognition_models "
    "(CC0 1.0, trained by Davis King on public images)"
)

Found = list[tuple[float, float, float, float, float | None]]

#: One call at a time per shared model: OpenCV's cascades and dlib's detectors keep
#: scratch buffers in the model object, which ``predict``'s worker threads share.
_LOCKS: dict[str, threading.Lock] = collections.defaultdict(threading.Lock)
_UPSAMPLE = [Interval(Integral, 0, None, closed="left")]


@functools.cache
def _read_cascade(file: str) -> Any:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + file)
    if cascade.empty():
        raise FileNotFoundError(f"haar: OpenCV could not read its {file}")
    return cascade


class HaarDetector(FaceDetector):
    """OpenCV's Viola-Jones Haar cascade (frontal faces).

    Parameters
    ----------
    cascade : {"default", "alt", "alt2"}
        Which of OpenCV's frontal-face cascades.
    scale_factor : float
        Image pyramid step (> 1; smaller finds more faces, slower).
    min_neighbors : int
        Overlapping detections a face needs (higher: fewer false faces).
    min_size : int
        Smallest face side searched, in pixels of the (possibly shrunk) image.
    equalize : bool
        Equalise the histogram first (the cascade already normalises each window's
        contrast; global equalisation can hurt on large uniform backgrounds).
    mode : {"all", "largest"}
        Return every face or only the largest.
    max_side : int or None
        Images with a longer side are shrunk to it for detection.
    """

    name = "haar"
    weights = HAAR_WEIGHTS
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **FaceDetector._parameter_constraints,
        "cascade": [StrOptions(set(CASCADES))],
        "scale_factor": [Interval(Real, 1, None, closed="neither")],
        "min_neighbors": [Interval(Integral, 0, None, closed="left")],
        "min_size": [Interval(Integral, 1, None, closed="left")],
        "equalize": ["boolean"],
    }

    def __init__(self, cascade: str = "default", scale_factor: float = 1.1,
                 min_neighbors: int = 5, min_size: int = 30, equalize: bool = False,
                 mode: str = "all", max_side: int | None = 1024) -> None:  # fmt: skip
        self.cascade = cascade
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size
        self.equalize = equalize
        self.mode = mode
        self.max_side = max_side

    def _find(self, grey: np.ndarray) -> Found:
        image = cv2.equalizeHist(grey) if self.equalize else grey
        with _LOCKS[self.cascade]:
            boxes, _, weights = _read_cascade(CASCADES[self.cascade]).detectMultiScale3(
                image, scaleFactor=float(self.scale_factor), minNeighbors=int(self.min_neighbors),
                minSize=(int(self.min_size), int(self.min_size)), outputRejectLevels=True,
            )  # fmt: skip
        weights = np.ravel(weights)
        return [(*map(float, box), float(wt)) for box, wt in zip(boxes, weights, strict=True)]


def _dlib_rects(found: Any, scores: Any) -> Found:
    return [(r.left(), r.top(), r.right() - r.left() + 1, r.bottom() - r.top() + 1, float(s))
            for r, s in zip(found, scores, strict=True)]  # fmt: skip


class DlibHOGDetector(FaceDetector):
    """dlib's HOG + linear SVM frontal face detector.

    Parameters
    ----------
    upsample : int
        Times the image is doubled before detection (finds faces down to about 40 px
        at 1, 80 px at 0).
    threshold : float
        Added to the detector's decision threshold (negative finds more faces).
    mode : {"all", "largest"}
    max_side : int or None
    """

    name = "dlib-hog"
    weights = HOG_WEIGHTS
    requires = ("dlib",)
    extra = "landmarks"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **FaceDetector._parameter_constraints,
        "upsample": _UPSAMPLE,
        "threshold": [Interval(Real, None, None, closed="neither")],
    }

    def __init__(self, upsample: int = 1, threshold: float = 0.0, mode: str = "all",
                 max_side: int | None = 1024) -> None:  # fmt: skip
        self.upsample = upsample
        self.threshold = threshold
        self.mode = mode
        self.max_side = max_side

    def _find(self, grey: np.ndarray) -> Found:
        with _LOCKS["dlib-hog"]:
            found, scores, _ = hog_detector().run(grey, int(self.upsample), float(self.threshold))
        return _dlib_rects(found, scores)


class DlibMMODDetector(FaceDetector):
    """dlib's MMOD CNN face detector (model from ``face_recognition_models``).

    More robust to pose and light than HOG, and about ten times slower on a CPU.

    Parameters
    ----------
    upsample : int
        Times the image is doubled before detection.
    model_path : str, optional
        The ``mmod_human_face_detector.dat`` file (default: the packaged one).
    mode : {"all", "largest"}
    max_side : int or None
    """

    name = "dlib-mmod"
    weights = MMOD_WEIGHTS
    requires = ("dlib", "face_recognition_models")
    extra = "landmarks"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **FaceDetector._parameter_constraints,
        "upsample": _UPSAMPLE,
        "model_path": [None, str, os.PathLike],
    }

    def __init__(self, upsample: int = 0, model_path: str | None = None, mode: str = "all",
                 max_side: int | None = 800) -> None:  # fmt: skip
        self.upsample = upsample
        self.model_path = model_path
        self.mode = mode
        self.max_side = max_side

    def _find(self, grey: np.ndarray) -> Found:
        path = str(self.model_path or dlib_model_file(MMOD_FILE))
        with _LOCKS[path]:
            found = mmod_detector(path)(grey, int(self.upsample))
        return _dlib_rects([d.rect for d in found], [d.confidence for d in found])


class NoDetector(FaceDetector):
    """Treat each image as one already-cropped face (for FER datasets' crops).

    Detectors fail on 48×48 crops; this one returns the whole image as the face.
    """

    name = "none"

    def __init__(self, mode: str = "all", max_side: int | None = None) -> None:
        self.mode = mode
        self.max_side = max_side

    def _find(self, grey: np.ndarray) -> Found:
        return [(0.0, 0.0, float(grey.shape[1]), float(grey.shape[0]), None)]
