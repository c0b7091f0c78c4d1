"""``auto``: the default detector — BlazeFace, then slower passes only where it finds nothing.

Stages, each run only when every earlier one found no face:

1. ``blazeface``: MediaPipe's BlazeFace (a few milliseconds a photo);
2. ``blazeface-padded``: the same on the image centred in a wider black square, which
   makes a tight face crop look like a face in a photo;
3. ``blazeface-rotated``: the padded image turned by ``angles`` (tilted heads);
4. the ``fallback`` detector (default dlib's MMOD CNN) at reduced resolution;
5. ``whole-image``: an image of face-crop size that BlazeFace scores as face-like at a
   low threshold is taken as one face filling the frame.

Every face says which stage found it (``Face.found_by``) and each stage's seconds are
timed under its name.
"""

from __future__ import annotations

import time
from numbers import Integral, Real
from typing import Any, ClassVar

import cv2
import numpy as np
from sklearn.utils._param_validation import Interval

from ferengine import registry
from ferengine.faces import iou_matrix
from ferengine.plugin import FaceDetector, Found
from ferengine_faces.blazeface import WEIGHTS, BlazeFaceDetector
from ferengine_faces.detectors import MMOD_WEIGHTS


def turned(rgb: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Return ``rgb`` turned by ``angle`` degrees and the 2×3 map of its pixels back.

    The turn is counter-clockwise; the canvas grows to fit, with black corners.
    """
    h, w = rgb.shape[:2]
    forward = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(forward[0, 0]), abs(forward[0, 1])
    nw, nh = round(w * cos + h * sin), round(w * sin + h * cos)
    forward[:, 2] += ((nw - w) / 2, (nh - h) / 2)
    return cv2.warpAffine(rgb, forward, (nw, nh)), cv2.invertAffineTransform(forward)


def _mapped(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    return points @ affine[:, :2].T + affine[:, 2]


class AutoDetector(FaceDetector):
    """The default detector: BlazeFace, then slower stages only where it finds nothing.

    The stages after BlazeFace are rotated passes, a fallback detector and whole-image
    crops, each run only where the earlier stages found nothing.

    A face found on a turned copy keeps the box size and gets the centre and keypoints
    mapped back, so its eye line shows the tilt. An image no stage finds a face in gets
    the whole image as its face when it is crop-sized (both sides at most
    ``crop_side``, aspect ratio at most 2) and BlazeFace's best score on it reaches
    ``crop_min_score``: a blank or non-face image does not.

    Parameters
    ----------
    min_score : float
        BlazeFace's score threshold.
    pad : float
        Black margin of the padded and rotated passes, as a share of the image's longer
        side on every side.
    angles : tuple of float
        Turns (degrees) tried when BlazeFace finds no face upright; empty: none.
    fallback : str or None
        A registered detector tried next, at most ``fallback_side`` pixels on its longer
        side; "dlib-mmod" by default, skipped when its packages are not installed
        (``ferengine[landmarks]``). None: no fallback.
    fallback_side : int
        Longer side (pixels) the fallback detector works at.
    crop_side : int
        Largest side of an image taken whole as a face crop; 0 turns that stage off.
    crop_min_score : float
        BlazeFace score an image must reach (anywhere) to be taken whole as a face.
    mode : {"all", "largest"}
    max_side : int or None
    """

    name = "auto"
    colour = True
    weights = f"{WEIGHTS}; the fallback dlib-mmod: {MMOD_WEIGHTS}"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **FaceDetector._parameter_constraints,
        "min_score": [Interval(Real, 0, 1, closed="both")],
        "pad": [Interval(Real, 0, None, closed="left")],
        "angles": [tuple, list],
        "fallback": [None, str],
        "fallback_side": [Interval(Integral, 16, None, closed="left")],
        "crop_side": [Interval(Integral, 0, None, closed="left")],
        "crop_min_score": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, min_score: float = 0.5, pad: float = 0.3,
                 angles: tuple[float, ...] = (-30.0, 30.0),
                 fallback: str | None = "dlib-mmod", fallback_side: int = 400,
                 crop_side: int = 320, crop_min_score: float = 0.25, mode: str = "all",
                 max_side: int | None = 1920) -> None:  # fmt: skip
        self.min_score = min_score
        self.pad = pad
        self.angles = angles
        self.fallback = fallback
        self.fallback_side = fallback_side
        self.crop_side = crop_side
        self.crop_min_score = crop_min_score
        self.mode = mode
        self.max_side = max_side

    def _validate_params(self) -> None:
        super()._validate_params()
        if not all(isinstance(a, Real) and not isinstance(a, bool) for a in self.angles):
            raise ValueError(f"auto: angles must be numbers (degrees), got {self.angles!r}")
        self._fallback()  # an unknown name raises here, naming the parameter

    def _blazeface(self, pad: float = 0.0) -> BlazeFaceDetector:
        model = "auto" if pad == 0 else "short"
        return BlazeFaceDetector(model, min_score=self.min_score, pad=pad, max_side=None)

    def _fallback(self) -> FaceDetector | None:
        if self.fallback is None:
            return None
        available = registry.get_registry().names("detector", available_only=True)
        if self.fallback == "dlib-mmod" and "dlib-mmod" not in available:
            return None  # the default fallback needs ferengine[landmarks]
        return registry.create_for(self.name, "fallback", "detector", self.fallback,
                                   {"max_side": self.fallback_side})  # fmt: skip

    def _find(self, rgb: np.ndarray) -> list[Found]:
        return self._search(rgb, {})

    def _search(self, rgb: np.ndarray, timings: dict[str, float]) -> list[Found]:
        blaze, padded = self._blazeface(), self._blazeface(float(self.pad))
        for stage, search in (
            ("blazeface", lambda: [self._found(f, "blazeface") for f in blaze.detect(rgb)]),
            ("blazeface-padded", lambda: self._padded(padded, rgb)),
            ("blazeface-rotated", lambda: self._turned(padded, rgb)),
            ("fallback", lambda: self._fallback_faces(rgb)),
            ("whole-image", lambda: self._whole(padded, rgb)),
        ):
            start = time.perf_counter()
            found = search()
            name = self.fallback if stage == "fallback" else stage
            if found is not None:
                timings[str(name)] = timings.get(str(name), 0.0) + time.perf_counter() - start
            if found:
                return found
        return []

    @staticmethod
    def _found(face: Any, stage: str) -> Found:
        x, y, w, h = face.box
        return Found(x, y, w, h, face.score, face.keypoints, stage)

    def _padded(self, padded: BlazeFaceDetector, rgb: np.ndarray) -> list[Found] | None:
        if not self.pad:
            return None
        return [self._found(f, "blazeface-padded") for f in mirror_consistent(padded, rgb)]

    def _turned(self, blaze: BlazeFaceDetector, rgb: np.ndarray) -> list[Found] | None:
        if not self.angles:
            return None
        for angle in self.angles:
            copy, back = turned(rgb, float(angle))
            faces = mirror_consistent(blaze, copy)
            if faces:
                return [self._back(f, back) for f in faces]
        return []

    @staticmethod
    def _back(face: Any, back: np.ndarray) -> Found:
        x, y, w, h = face.box
        cx, cy = _mapped(np.array([[x + w / 2, y + h / 2]]), back)[0]
        points = None if face.keypoints is None else _mapped(face.keypoints, back)
        return Found(cx - w / 2, cy - h / 2, w, h, face.score, points, "blazeface-rotated")

    def _fallback_faces(self, rgb: np.ndarray) -> list[Found] | None:
        detector = self._fallback()
        if detector is None:
            return None
        return [self._found(f, str(self.fallback)) for f in detector.detect(rgb)]

    def _whole(self, blaze: BlazeFaceDetector, rgb: np.ndarray) -> list[Found] | None:
        h, w = rgb.shape[:2]
        if not self.crop_side or max(h, w) > self.crop_side or max(h, w) > 2 * min(h, w):
            return None
        # the score must hold on the mirror image and a slightly blurred copy too: noise
        # that happens to score as a face does not, a face does
        views = (rgb, rgb[:, ::-1], cv2.GaussianBlur(rgb, (0, 0), 1.0))
        best = min(crop_face_score(blaze, view) for view in views)
        return [Found(0, 0, w, h, best, None, "whole-image")] if best >= self.crop_min_score else []


def mirror_consistent(blaze: BlazeFaceDetector, rgb: np.ndarray) -> list[Any]:
    """Return the faces ``blaze`` finds in ``rgb`` that it also finds in its mirror image.

    The later, more permissive stages look at images where the first pass found no face;
    a face is symmetric enough to be found mirrored as well (IoU ≥ 0.5 with the
    mirrored box), a chance pattern of texture or noise rarely is.
    """
    faces = blaze.detect(rgb)
    if not faces:
        return []
    w = rgb.shape[1]
    mirrored = [
        (w - x - bw, y, bw, bh) for x, y, bw, bh in (f.box for f in blaze.detect(rgb[:, ::-1]))
    ]
    if not mirrored:
        return []
    overlap = iou_matrix([f.box for f in faces], mirrored)
    return [f for f, row in zip(faces, overlap, strict=True) if row.max() >= 0.5]


def crop_face_score(blaze: BlazeFaceDetector, rgb: np.ndarray) -> float:
    """Return BlazeFace's best score for a face filling ``rgb`` as a crop's face does.

    Only detections whose box side is at least a quarter of the image's shorter side
    and whose centre lies in the middle half of the image count: a face crop's face
    is large and central, a patch of background or hair is not scored as one.
    """
    h, w = rgb.shape[:2]
    scores, boxes, _ = blaze.scores(rgb)
    side = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    central = (abs(cx - w / 2) <= w / 4) & (abs(cy - h / 2) <= h / 4)
    fitting = scores[(side >= min(h, w) / 4) & central]
    return float(fitting.max()) if fitting.size else 0.0
