"""dlib's 68 facial landmarks and the face geometry derived from them.

Point groups (iBUG 300-W numbering; "left"/"right" mean the image's left and right):
jaw 0–16, brows 17–21 and 22–26, nose 27–35, eyes 36–41 and 42–47, mouth 48–67
(outer lip 48–59, inner lip 60–67).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sklearn.base import clone

from ferengine.extractor import ImageFeature, map_batches, to_grey, to_uint8
from ferengine.images import validate_images

PARTS = ("coords", "distances", "angles", "ratios")
BOXES = ("image", "detect")
MODEL_FILE = "shape_predictor_68_face_landmarks.dat"

#: Point pairs whose distances (over the inter-ocular distance) are features.
DISTANCES = (
    # brows: length, inner gap, height above the eyes (raise, frown)
    (17, 21), (22, 26), (21, 22), (17, 36), (19, 37), (21, 39), (22, 42), (24, 44), (26, 45),
    # eyes: width and opening
    (36, 39), (42, 45), (37, 41), (38, 40), (43, 47), (44, 46),
    # nose: length and width; nose to mouth
    (27, 30), (31, 35), (33, 51), (33, 48), (33, 54),
    # mouth: width and opening (outer and inner lip), lip thickness
    (48, 54), (60, 64), (51, 57), (62, 66), (51, 62), (57, 66),
    # eye corners to mouth corners (smiles raise the corners)
    (36, 48), (45, 54),
)  # fmt: skip
#: Segments whose angle to the eye line is a feature: (left-side segment, mirrored segment);
#: the right-side one is measured mirrored so that a symmetric face gives equal angles.
ANGLES = (
    ((17, 19), (26, 24)),  # outer brow
    ((19, 21), (24, 22)),  # inner brow
    ((48, 51), (54, 51)),  # mouth corner to upper lip
    ((48, 57), (54, 57)),  # mouth corner to lower lip
    ((48, 33), (54, 33)),  # mouth corner to nose tip
)
#: Aspect ratios, mean opening over width: (upper points, lower points, corners). The eye
#: aspect ratio (EAR) of Soukupová & Čech (2016) for each eye, then inner and outer mouth.
RATIOS = {
    "ear_left": ((37, 38), (41, 40), (36, 39)),
    "ear_right": ((43, 44), (47, 46), (42, 45)),
    "mar_inner": ((61, 62, 63), (67, 66, 65), (60, 64)),
    "mar_outer": ((51,), (57,), (48, 54)),
}

_LEFT_EYE, _RIGHT_EYE = slice(36, 42), slice(42, 48)
_EPS = 1e-6
#: dlib objects of this process (shape predictors by path, the face detector): never
#: stored on the estimator, which must stay picklable; each joblib worker loads its own.
_MODELS: dict[str, Any] = {}


def dlib_model_file(name: str = MODEL_FILE) -> Path:
    """Return the path of a dlib model file shipped by ``face_recognition_models``.

    The package is located without importing it (its ``__init__`` needs ``pkg_resources``).
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"{name} comes from the 'face_recognition_models' package: "
            "pip install 'ferengine[landmarks]' (or give a model path)"
        )
    return Path(spec.submodule_search_locations[0]) / "models" / name


def default_model_path() -> Path:
    """Return the path of the 68-point landmark model shipped by ``face_recognition_models``."""
    return dlib_model_file(MODEL_FILE)


def _predictor(path: str) -> Any:
    if path not in _MODELS:
        import dlib

        if not Path(path).is_file():
            raise FileNotFoundError(f"landmarks: no shape predictor model at {path}")
        _MODELS[path] = dlib.shape_predictor(path)
    return _MODELS[path]


def _detector() -> Any:
    if "detector" not in _MODELS:
        import dlib

        _MODELS["detector"] = dlib.get_frontal_face_detector()
    return _MODELS["detector"]


def detect_landmarks(
    grey: np.ndarray, model_path: str, box: str = "image", min_size: int = 96
) -> np.ndarray:
    """Return the 68 landmarks (x, y) of each image of a grey batch, in its pixel coordinates.

    Parameters
    ----------
    grey : ndarray of shape (n_images, height, width)
        Grey images; uint8, or float on the 0–255 scale (an image with values outside
        it is min-max rescaled on its own).
    model_path : str
        dlib 68-point shape predictor file.
    box : {"image", "detect"}
        Face box: the whole image, or the largest face dlib's detector finds in it
        (the whole image when it finds none).
    min_size : int
        Images whose shorter side is smaller are upscaled to it first (dlib returns
        whole-pixel positions, so this also sets the precision).

    Returns
    -------
    ndarray of shape (n_images, 68, 2), float32
    """
    out = np.empty((len(grey), 68, 2), dtype=np.float32)
    for i, img in enumerate(to_uint8(grey)):
        face = _largest_face(img, min_size) if box == "detect" else None
        out[i] = shape_in_box(img, face, model_path, min_size)
    return out


def upscaled(img: np.ndarray, scale: float) -> tuple[np.ndarray, float, float]:
    """Return ``img`` enlarged by ``scale`` (bilinear) and the exact x and y factors.

    Sides are rounded to whole pixels, so the factors differ slightly from ``scale``;
    an image with ``scale`` ≤ 1 is returned unchanged with factors 1.
    """
    if scale <= 1:
        return img, 1.0, 1.0
    h, w = img.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    big = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
    return big, big.shape[1] / w, big.shape[0] / h


def _largest_face(img: np.ndarray, min_size: int) -> tuple[int, int, int, int] | None:
    """Return the largest face dlib's HOG detector finds, as (x, y, w, h) in ``img``'s pixels.

    The image is upscaled so its shorter side is at least ``min_size`` first.
    """
    big, sx, sy = upscaled(img, min_size / min(img.shape))
    faces = _detector()(big, 0)
    if not len(faces):
        return None
    r = max(faces, key=lambda r: r.area())
    x0, y0 = max(0, round(r.left() / sx)), max(0, round(r.top() / sy))
    x1, y1 = round((r.right() + 1) / sx), round((r.bottom() + 1) / sy)
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def shape_in_box(
    img: np.ndarray, box: tuple[int, int, int, int] | None, model_path: str, min_size: int = 96
) -> np.ndarray:
    """Return the 68 landmarks (x, y) of the face in ``box`` of one 8-bit grey image.

    ``box`` is ``(x, y, width, height)``, or None for the whole image. The box and a
    margin of a quarter of its side around it are cut out and upscaled so that the
    box's shorter side is at least ``min_size`` before dlib's predictor runs; the
    points are mapped back to ``img``'s pixel coordinates.
    """
    import dlib

    predictor = _predictor(str(model_path))
    h, w = img.shape
    x, y, bw, bh = box if box is not None else (0, 0, w, h)
    m = 0 if box is None else round(0.25 * max(bw, bh))
    x0, y0, x1, y1 = max(0, x - m), max(0, y - m), min(w, x + bw + m), min(h, y + bh + m)
    region = np.ascontiguousarray(img[y0:y1, x0:x1])
    big, sx, sy = upscaled(region, min_size / max(1, min(bw, bh)))
    left, top = round((x - x0) * sx), round((y - y0) * sy)
    rect = dlib.rectangle(left, top, min(big.shape[1], round((x - x0 + bw) * sx)) - 1,
                          min(big.shape[0], round((y - y0 + bh) * sy)) - 1)  # fmt: skip
    pts = np.array([(p.x, p.y) for p in predictor(big, rect).parts()], dtype=np.float32)
    # pixel centres map back as OpenCV's resize maps them: x = (x' + 0.5) / s - 0.5
    return (pts + 0.5) / np.array([sx, sy], dtype=np.float32) - 0.5 + np.array([x0, y0])


def _norm(v: np.ndarray) -> np.ndarray:
    return np.sqrt((v * v).sum(axis=-1))


def normalise(points: np.ndarray) -> np.ndarray:
    """Procrustes-normalise a batch of shapes (N×68×2): centroid at 0, unit RMS, eyes level.

    The rotation puts the line from the left eye centre (points 36–41) to the right
    one (42–47) along +x.
    """
    P = points.astype(np.float64)
    P = P - P.mean(axis=1, keepdims=True)
    rms = np.sqrt((P * P).sum(axis=2).mean(axis=1))
    P /= np.maximum(rms, _EPS)[:, None, None]
    eye = P[:, _RIGHT_EYE].mean(axis=1) - P[:, _LEFT_EYE].mean(axis=1)
    theta = np.arctan2(eye[:, 1], eye[:, 0])
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    x, y = P[..., 0], P[..., 1]
    return np.stack([c * x + s * y, c * y - s * x], axis=-1)  # rotate by −theta


def geometry(points: np.ndarray, parts: tuple[str, ...] = PARTS) -> np.ndarray:
    """Return geometry features of a batch of 68-point shapes (N×68×2), one row per shape.

    Parameters
    ----------
    points : ndarray of shape (n_shapes, 68, 2)
        Landmarks (x, y) in image coordinates (y pointing down).
    parts : sequence of {"coords", "distances", "angles", "ratios"}
        Feature groups, concatenated in this order: normalised coordinates (136,
        see :func:`normalise`), the :data:`DISTANCES` over the inter-ocular distance,
        the :data:`ANGLES` (radians, to the eye line, positive upwards) and the
        :data:`RATIOS`.

    Returns
    -------
    ndarray of shape (n_shapes, n_features), float32
    """
    P = normalise(points)  # scale and rotation do not change the distances' ratios or angles
    out = []
    for part in parts:
        if part == "coords":
            out.append(P.reshape(len(P), -1))
        elif part == "distances":
            iod = _norm(P[:, _RIGHT_EYE].mean(axis=1) - P[:, _LEFT_EYE].mean(axis=1))
            a, b = np.array(DISTANCES).T
            out.append(_norm(P[:, a] - P[:, b]) / np.maximum(iod, _EPS)[:, None])
        elif part == "angles":
            idx = np.array(ANGLES)  # (n_angles, side, from/to)
            d = P[:, idx[:, :, 1]] - P[:, idx[:, :, 0]]  # N × n_angles × side × xy
            d[:, :, 1, 0] *= -1  # mirror the right-side segments
            out.append(np.arctan2(-d[..., 1], d[..., 0]).reshape(len(P), -1))
        elif part == "ratios":
            ratios = [
                _norm(P[:, up] - P[:, low]).mean(axis=1)
                / np.maximum(_norm(P[:, a] - P[:, b]), _EPS)
                for up, low, (a, b) in RATIOS.values()
            ]
            out.append(np.stack(ratios, axis=1))
        else:
            raise ValueError(f"landmarks: unknown part {part!r}; choose from {PARTS}")
    return np.concatenate(out, axis=1).astype(np.float32)


class Landmarks(ImageFeature):
    """Face geometry from dlib's 68 landmarks: shape, distances, angles, eye and mouth ratios.

    The images are face crops: by default the whole image is the face box given to
    dlib's shape predictor (iBUG 300-W model from ``face_recognition_models``). Small
    images are upscaled first. The landmarks are Procrustes-normalised (centroid,
    unit RMS size, eye line horizontal) and turned into the feature groups of
    :func:`geometry`. Any image size is accepted after fitting. About 3 ms per image
    and core, whatever the image size (the regression-tree cascade dominates).

    Parameters
    ----------
    parts : sequence of {"coords", "distances", "angles", "ratios"}
        Feature groups to output, in this order. With all four: 136 normalised
        coordinates, 28 distances, 10 angles and 4 ratios (178 features).
    box : {"image", "detect"}
        Face box: the whole image, or the largest face found by dlib's HOG detector
        (falling back to the whole image).
    min_size : int
        Upscale images whose shorter side is below this many pixels (dlib's
        landmarks are whole pixels, so this sets their precision).
    model_path : str, optional
        dlib 68-point shape predictor; the ``face_recognition_models`` one by default.
    n_jobs : int, optional
        joblib workers over batches of images (each loads the model once, about 1 s).
    batch_size : int
        Images per batch.
    """

    name = "landmarks"
    requires = ("dlib",)
    extra = "landmarks"
    _prefer = "processes"  # dlib holds the GIL while it predicts
    #: The features are normalised shape measurements: any image size works.
    _same_size = False

    def __init__(
        self,
        parts: tuple[str, ...] = PARTS,
        box: str = "image",
        min_size: int = 96,
        model_path: str | None = None,
        n_jobs: int | None = None,
        batch_size: int = 256,
    ) -> None:
        self.parts = parts
        self.box = box
        self.min_size = min_size
        self.model_path = model_path
        self.n_jobs = n_jobs
        self.batch_size = batch_size

    def _parts(self) -> tuple[str, ...]:
        return (self.parts,) if isinstance(self.parts, str) else tuple(self.parts)

    def _check_params(self) -> None:
        parts = self._parts()
        if not parts or len(set(parts)) != len(parts) or not set(parts) <= set(PARTS):
            raise ValueError(
                f"landmarks: parts must be distinct names from {PARTS}, got {self.parts!r}"
            )
        if self.box not in BOXES:
            raise ValueError(f"landmarks: box must be one of {BOXES}, got {self.box!r}")
        if not isinstance(self.min_size, int | np.integer) or self.min_size < 1:
            raise ValueError(f"landmarks: min_size must be a positive int, got {self.min_size!r}")
        if not isinstance(self.batch_size, int | np.integer) or self.batch_size < 1:
            raise ValueError(
                f"landmarks: batch_size must be a positive int, got {self.batch_size!r}"
            )

    def _points(self, grey: np.ndarray) -> np.ndarray:
        path = self.model_path if self.model_path is not None else default_model_path()
        return detect_landmarks(grey, str(path), self.box, int(self.min_size))

    def _extract(self, grey: np.ndarray) -> np.ndarray:
        return geometry(self._points(grey), self._parts())

    def landmarks(self, X: Any) -> np.ndarray:
        """Return the 68 landmarks of each image, in its pixel coordinates.

        Needs no fitting; any image size.

        Parameters
        ----------
        X : array-like of shape (n_images, height, width) or (n_images, height, width, channels)
            Face crops (colour is converted to grey).

        Returns
        -------
        ndarray of shape (n_images, 68, 2), float32
            (x, y) of points 0–67, x to the right and y down from the centre of the
            top-left pixel.
        """
        self._check_params()
        X = validate_images(clone(self), X, reset=True, flat_ok=False)  # no fitted state here
        return map_batches(self._points, to_grey(X), self.n_jobs, self.batch_size, self._prefer)
