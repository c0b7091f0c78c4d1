"""Automatic label assignment by nearest class medoid.

Used to give images of a class that a target space lacks (CK+ contempt) the
label of the most similar target class (FER2013's), as one of the seed theses did.
"""

from __future__ import annotations

import cv2
import numpy as np
from sklearn.metrics import pairwise_distances

from ferengine.dataset import FaceDataset
from ferengine.imageops import to_grey, to_uint8


def _vectors(images: np.ndarray, distance: str, size: tuple[int, int]) -> np.ndarray:
    grey = to_uint8(to_grey(images))
    if distance == "pixel":
        small = np.stack([cv2.resize(im, size[::-1], interpolation=cv2.INTER_AREA) for im in grey])
        return small.reshape(len(grey), -1).astype(np.float32) / 255
    if distance == "histogram":
        hists = np.stack([np.bincount(im.ravel(), minlength=256) for im in grey]).astype(np.float32)
        return hists / hists.sum(axis=1, keepdims=True)
    raise ValueError(f"distance must be 'pixel' or 'histogram', got {distance!r}")


def class_medoids(
    reference: FaceDataset,
    distance: str = "pixel",
    max_per_class: int = 500,
    seed: int = 0,
    size: tuple[int, int] = (48, 48),
) -> np.ndarray:
    """Return, per class of ``reference``, the vector of its medoid image.

    The medoid is the member with the smallest summed distance to the other members
    (computed on at most ``max_per_class`` members drawn with ``seed``).
    """
    rng = np.random.default_rng(seed)
    medoids = []
    for code in range(len(reference.label_space)):
        members = np.flatnonzero(reference.labels == code)
        if len(members) == 0:
            medoids.append(None)
            continue
        if len(members) > max_per_class:
            members = rng.choice(members, max_per_class, replace=False)
        vec = _vectors(reference.images[members], distance, size)
        d = pairwise_distances(vec, metric="euclidean" if distance == "pixel" else "l1")
        medoids.append(vec[d.sum(axis=1).argmin()])
    return medoids


def medoid_labels(
    reference: FaceDataset, images: np.ndarray, distance: str = "pixel", **kwargs
) -> np.ndarray:
    """Label each image with the ``reference`` class whose medoid is nearest.

    Parameters
    ----------
    reference : FaceDataset
        Labelled images defining the classes (e.g. FER2013 Training).
    images : ndarray
        Images to label (resized to the reference's size for ``"pixel"`` distance).
    distance : {"pixel", "histogram"}
        Euclidean distance on pixels, or L1 distance between grey-level histograms.
    **kwargs
        Passed to :func:`class_medoids`.

    Returns
    -------
    ndarray of int64
        Codes in ``reference.label_space``.
    """
    size = reference.images.shape[1:3]
    medoids = class_medoids(reference, distance, size=size, **kwargs)
    codes = [c for c, m in enumerate(medoids) if m is not None]
    vec = _vectors(np.asarray(images), distance, size)
    d = pairwise_distances(
        vec,
        np.stack([medoids[c] for c in codes]),
        metric="euclidean" if distance == "pixel" else "l1",
    )
    return np.asarray(codes, dtype=np.int64)[d.argmin(axis=1)]
