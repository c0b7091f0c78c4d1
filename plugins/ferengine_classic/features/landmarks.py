"""Face geometry from 68 facial landmarks placed by a registered landmarker.

The landmarks come from the registry (``dlib-68`` by default, in the faces plugin);
this module holds only the geometry descriptors. Point groups (iBUG 300-W numbering;
"left"/"right" mean the image's left and right):
jaw 0–16, brows 17–21 and 22–26, nose 27–35, eyes 36–41 and 42–47, mouth 48–67
(outer lip 48–59, inner lip 60–67).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from numbers import Integral
from typing import Any, ClassVar

import cv2
import numpy as np
from sklearn.base import clone
from sklearn.utils._param_validation import Interval, StrOptions

from ferengine import registry
from ferengine.errors import FerengineError
from ferengine.extractor import ImageFeature, map_batches
from ferengine.faces import Landmarker, create_landmarker, largest_face, whole_image
from ferengine.imageops import to_grey, to_uint8
from ferengine.images import validate_images

PARTS = ("coords", "distances", "angles", "ratios")
#: The point numbering the distances, angles and ratios are written for.
LAYOUT = "ibug-68"
#: The image's left and right eye in :data:`LAYOUT`.
EYES = (tuple(range(36, 42)), tuple(range(42, 48)))

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

_EPS = 1e-6


def _norm(v: np.ndarray) -> np.ndarray:
    return np.sqrt((v * v).sum(axis=-1))


def normalise(points: np.ndarray, eyes: tuple[Sequence[int], Sequence[int]] = EYES) -> np.ndarray:
    """Procrustes-normalise a batch of shapes (N×P×2): centroid at 0, unit RMS, eyes level.

    The rotation puts the line from the left eye centre (the mean of the points
    ``eyes[0]``, by default 36–41) to the right one (``eyes[1]``, 42–47) along +x.
    """
    P = points.astype(np.float64)
    P = P - P.mean(axis=1, keepdims=True)
    rms = np.sqrt((P * P).sum(axis=2).mean(axis=1))
    P /= np.maximum(rms, _EPS)[:, None, None]
    left, right = (list(e) for e in eyes)
    eye = P[:, right].mean(axis=1) - P[:, left].mean(axis=1)
    theta = np.arctan2(eye[:, 1], eye[:, 0])
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    x, y = P[..., 0], P[..., 1]
    return np.stack([c * x + s * y, c * y - s * x], axis=-1)  # rotate by −theta


def geometry(
    points: np.ndarray,
    parts: tuple[str, ...] = PARTS,
    eyes: tuple[Sequence[int], Sequence[int]] = EYES,
) -> np.ndarray:
    """Return geometry features of a batch of shapes (N×P×2), one row per shape.

    Parameters
    ----------
    points : ndarray of shape (n_shapes, n_points, 2)
        Landmarks (x, y) in image coordinates (y pointing down); 68 iBUG points
        (:data:`LAYOUT`) for any part but "coords".
    parts : sequence of {"coords", "distances", "angles", "ratios"}
        Feature groups, concatenated in this order: normalised coordinates (2 ×
        n_points, see :func:`normalise`), the :data:`DISTANCES` over the inter-ocular
        distance, the :data:`ANGLES` (radians, to the eye line, positive upwards) and
        the :data:`RATIOS`.
    eyes : (sequence of int, sequence of int)
        The points of the image's left and right eye, for :func:`normalise`.

    Returns
    -------
    ndarray of shape (n_shapes, n_features), float32
    """
    P = normalise(points, eyes)  # scale and rotation do not change the distances' ratios or angles
    out = []
    for part in parts:
        if part == "coords":
            out.append(P.reshape(len(P), -1))
        elif part == "distances":
            left, right = (list(eye) for eye in eyes)
            iod = _norm(P[:, right].mean(axis=1) - P[:, left].mean(axis=1))
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
    """Face geometry from 68 facial landmarks: shape, distances, angles, eye and mouth ratios.

    The images are face crops: by default the whole image is the face box given to a
    registered landmarker (``dlib-68``, dlib's iBUG 300-W shape predictor). The
    landmarks are Procrustes-normalised (centroid, unit RMS size, eye line
    horizontal) and turned into the feature groups of :func:`geometry`. Any image
    size is accepted after fitting. About 3 ms per image and core with ``dlib-68``,
    whatever the image size (the regression-tree cascade dominates).

    Parameters
    ----------
    parts : sequence of {"coords", "distances", "angles", "ratios"}
        Feature groups to output, in this order. With all four: 136 normalised
        coordinates, 28 distances, 10 angles and 4 ratios (178 features). A
        landmarker with another layout than iBUG's 68 points gives "coords" only.
    box : str
        Face box: "image", the whole image, or the largest face a registered
        detector ("dlib-hog", "haar", …) finds (falling back to the whole image).
    min_size : int
        Images whose shorter side is below this many pixels are upscaled to it for
        the detector.
    landmarker : str
        A registered landmarker (``ferengine plugins landmarker``).
    landmarker_params : dict, optional
        Its parameters (``{"model_path": ...}`` for another dlib model file, say).
    n_jobs : int, optional
        joblib workers over batches of images (each loads the model once, about 1 s).
    batch_size : int
        Images per batch.
    """

    name = "landmarks"
    requires = ("dlib",)  # what the default landmarker needs
    extra = "landmarks"
    _prefer = "processes"  # dlib holds the GIL while it predicts
    #: The features are normalised shape measurements: any image size works.
    _same_size = False
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **ImageFeature._parameter_constraints,
        "parts": [StrOptions(set(PARTS)), "array-like"],
        "box": [str],
        "min_size": [Interval(Integral, 1, None, closed="left")],
        "landmarker": [str],
        "landmarker_params": [None, dict],
    }

    def __init__(
        self,
        parts: tuple[str, ...] = PARTS,
        box: str = "image",
        min_size: int = 96,
        landmarker: str = "dlib-68",
        landmarker_params: dict | None = None,
        n_jobs: int | None = None,
        batch_size: int = 256,
    ) -> None:
        self.parts = parts
        self.box = box
        self.min_size = min_size
        self.landmarker = landmarker
        self.landmarker_params = landmarker_params
        self.n_jobs = n_jobs
        self.batch_size = batch_size

    def _parts(self) -> tuple[str, ...]:
        return (self.parts,) if isinstance(self.parts, str) else tuple(self.parts)

    def _landmarker(self) -> Landmarker:
        return create_landmarker(self.landmarker, self.landmarker_params, "landmarks")

    def _check_params(self) -> None:
        parts = self._parts()
        if not parts or len(set(parts)) != len(parts) or not set(parts) <= set(PARTS):
            raise ValueError(
                f"landmarks: parts must be distinct names from {PARTS}, got {self.parts!r}"
            )
        if self.box != "image":
            try:
                registry.get_registry().get("detector", self.box)
            except FerengineError as exc:
                raise ValueError(
                    f"landmarks: box must be 'image' or a detector name, got {self.box!r} "
                    f"({exc.args[0] if exc.args else exc})"
                ) from exc
        layout = self._landmarker().layout
        if layout != LAYOUT and set(parts) != {"coords"}:
            raise ValueError(
                f"landmarks: parts other than 'coords' need the {LAYOUT} layout; landmarker "
                f"{self.landmarker!r} places {layout!r} points"
            )

    def _points(self, grey: np.ndarray, landmarker: Landmarker) -> np.ndarray:
        detector = (
            None if self.box == "image" else registry.create("detector", self.box, mode="largest")
        )
        out = np.empty((len(grey), landmarker.n_points, 2), dtype=np.float32)
        for i, img in enumerate(to_uint8(grey)):
            face = None if detector is None else largest_face(img, detector, int(self.min_size))
            out[i] = landmarker.locate(img, np.array([face or whole_image(img.shape)]))[0]
        return out

    def _extract(self, grey: np.ndarray) -> np.ndarray:
        landmarker = self._landmarker()
        eyes = (landmarker.left_eye, landmarker.right_eye)
        return geometry(self._points(grey, landmarker), self._parts(), eyes)

    def feature_view(self, images: np.ndarray) -> np.ndarray:
        """Draw the measured geometry on each face: the points and the distances' segments.

        Parameters
        ----------
        images : ndarray of shape (n, H, W) or (n, H, W, C)
            Face crops (any size).

        Returns
        -------
        ndarray of shape (n, H, W), float32
            1 on the landmarks, 0.5 along the segments whose lengths are features
            (:data:`DISTANCES`; only the points with "coords" alone or another
            layout), anti-aliased, 0 elsewhere.
        """
        points = self.landmarks(images)
        _n, h, w = np.asarray(images).shape[:3]
        segments = (
            DISTANCES
            if self._landmarker().layout == LAYOUT and self._parts() != ("coords",)
            else ()
        )
        # OpenCV draws with sub-pixel precision in fixed point (``shift``): drawn at the
        # crop's own size, a 48×48 face keeps its geometry to a quarter pixel.
        shift, scale = 2, 4.0
        out = np.zeros((len(points), h, w), dtype=np.float32)
        for i, face in enumerate(np.round(points * scale).astype(np.int32)):
            canvas = np.zeros((h, w), dtype=np.uint8)
            for a, b in segments:
                cv2.line(canvas, face[a], face[b], 128, 1, cv2.LINE_AA, shift)
            for point in face:
                cv2.circle(canvas, point, int(scale), 255, -1, cv2.LINE_AA, shift)
            out[i] = canvas / np.float32(255)
        return out

    def landmarks(self, X: Any) -> np.ndarray:
        """Return the landmarks of each image, in its pixel coordinates.

        Needs no fitting; any image size.

        Parameters
        ----------
        X : array-like of shape (n_images, height, width) or (n_images, height, width, channels)
            Face crops (colour is converted to grey).

        Returns
        -------
        ndarray of shape (n_images, n_points, 2), float32
            (x, y) of each point of the landmarker's layout (68 for ``dlib-68``), x to
            the right and y down from the centre of the top-left pixel.
        """
        self._validate_params()
        self._check_params()
        X = validate_images(clone(self), X, reset=True, flat_ok=False)  # no fitted state here
        points = functools.partial(self._points, landmarker=self._landmarker())
        return map_batches(points, to_grey(X), self.n_jobs, self.batch_size, self._prefer)
