"""Small, seeded sample data the checks and fixtures use: faces, feature tables, a photo.

Faces come from the built-in ``synthetic`` dataset through a registry of the installed
entry points of its own, so a test that installs a registry holding only its plugins
(the ``plugin_registry`` fixture) still gets them.
"""

from __future__ import annotations

import warnings
from functools import cache

import cv2
import numpy as np

from ferengine.dataset import FaceDataset
from ferengine.registry import Registry

#: Side of the faces the checks fit on (small: a pixel classifier's fit stays well under a second).
FACE_SIDE = 32
#: Side of the faces augmenters get: FER2013's, which their defaults (crop sizes) assume.
AUGMENT_SIDE = 48
#: Height and width of the photo detectors and landmarkers get (not square, to catch x/y swaps).
PHOTO_SHAPE = (96, 128)
#: The face box the landmarker checks give: away from the corner, to catch a missing offset.
PHOTO_BOX = (40, 16, 64, 64)


@cache
def _installed() -> Registry:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # name clashes of installed packages are not ours
        return Registry.from_entry_points(strict=False)


@cache
def face_dataset(
    n_subjects: int = 12, per_expression: int = 2, size: int = 32, seed: int = 0
) -> FaceDataset:
    """Return synthetic grey faces showing the seven FER2013 expressions, with subjects.

    Parameters
    ----------
    n_subjects : int
        Identities; each shows every expression.
    per_expression : int
        Images per subject and expression.
    size : int
        Side of the square images.
    seed : int
        The same arguments always give the same images.

    Returns
    -------
    FaceDataset
        ``n_subjects × 7 × per_expression`` uint8 images (``fer7`` labels), cached: do not
        modify its arrays.
    """
    dataset = _installed().create(
        "dataset", "synthetic", n_subjects=n_subjects, per_expression=per_expression,
        size=size, seed=seed,
    )  # fmt: skip
    return dataset.load()


def check_faces(size: int = FACE_SIDE) -> FaceDataset:
    """Return the faces the checks fit on: 4 subjects × 7 expressions × 2 images, size²."""
    return face_dataset(n_subjects=4, per_expression=2, size=size)


def table(images: np.ndarray, side: int = 8) -> np.ndarray:
    """Return images as a float64 table for classifiers on vectors: ``side × side`` means, 0–1."""
    small = [cv2.resize(im, (side, side), interpolation=cv2.INTER_AREA) for im in images]
    return np.stack(small).reshape(len(images), -1).astype(np.float64) / 255


def photo() -> np.ndarray:
    """Return a grey uint8 photo of :data:`PHOTO_SHAPE` with one face in :data:`PHOTO_BOX`."""
    h, w = PHOTO_SHAPE
    x, y, bw, bh = PHOTO_BOX
    out = np.full((h, w), 96, np.uint8)
    face = check_faces(48).images[3]
    out[y : y + bh, x : x + bw] = cv2.resize(face, (bw, bh), interpolation=cv2.INTER_LINEAR)
    return out


def photo_formats() -> dict[str, np.ndarray]:
    """Return :func:`photo` as grey, BGR, BGRA, 16-bit and float (0–1) images, by name."""
    grey = photo()
    return {
        "grey uint8": grey,
        "BGR uint8": cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR),
        "BGRA uint8": cv2.cvtColor(grey, cv2.COLOR_GRAY2BGRA),
        "grey uint16": grey.astype(np.uint16) * 257,
        "grey float32 in [0, 1]": grey.astype(np.float32) / 255,
    }
