"""Validation of image batches for transformers and classifiers that take images."""

from __future__ import annotations

import cv2
import numpy as np
import scipy.sparse as sp
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, column_or_1d, validate_data

from ferengine.memmap import MemmapImages

#: OpenCV interpolation flags by name, for plugins that resize.
INTERPOLATION = {
    "area": cv2.INTER_AREA,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "nearest": cv2.INTER_NEAREST,
    "lanczos": cv2.INTER_LANCZOS4,
}


def validate_images(estimator, X, *, reset: bool, flat_ok: bool = True) -> np.ndarray:
    """Check a batch of images (N×H×W or N×H×W×C) or, if ``flat_ok``, of flat vectors (N×D).

    On ``reset`` the image shape is stored as ``image_shape_`` and
    ``n_features_in_`` is the number of values per sample; later calls must match.

    Parameters
    ----------
    estimator : BaseEstimator
        The estimator being fitted or applied (fitted attributes are set on it).
    X : array-like or MemmapImages
        The batch. Memory-mapped images are checked without being read (their
        dtype and shape are known; float images are checked for NaN a batch at a time).
    reset : bool
        True in ``fit``, False afterwards.
    flat_ok : bool
        Accept 2-D input as already-flattened samples.

    Returns
    -------
    ndarray or MemmapImages
        The validated batch (numeric, finite); memory-mapped images are returned as given.
    """
    if sp.issparse(X):
        raise TypeError(f"{type(estimator).__name__}: sparse input is not supported; pass images")
    arr = X if isinstance(X, np.ndarray | MemmapImages) else np.asarray(X)
    if arr.ndim < 2 or (arr.ndim == 2 and (flat_ok or arr.shape[1] == 0)):
        # scikit-learn validates and words the errors as every estimator does
        out = validate_data(estimator, X, reset=reset, dtype="numeric")
        if reset:
            estimator.image_shape_ = out.shape[1:]
        return out
    name = type(estimator).__name__
    if arr.ndim not in (3, 4):
        raise ValueError(
            f"{name} expects a batch of images N×H×W or N×H×W×C"
            + (" (or N×D vectors)" if flat_ok else "")
            + f", got an array of shape {arr.shape}"
        )
    if arr.dtype.kind == "O":  # numbers stored as objects convert; anything else is refused
        arr = arr.astype(np.float64)
    if arr.dtype.kind == "c":
        raise ValueError(f"{name}: Complex data not supported")
    if arr.dtype.kind not in "uifb":
        raise ValueError(f"{name} expects numeric images, got dtype {arr.dtype}")
    if len(arr) == 0:
        raise ValueError(f"{name}: Found array with 0 sample(s) (shape={arr.shape})")
    if 0 in arr.shape[1:]:
        raise ValueError(
            f"{name}: Found array with 0 feature(s) (shape={arr.shape}) while a minimum of 1 "
            "is required: images must have pixels"
        )
    if arr.dtype.kind == "f" and not _finite(arr):
        raise ValueError(f"{name}: images contain NaN or infinity")
    if reset:
        estimator.image_shape_ = arr.shape[1:]
        estimator.n_features_in_ = int(np.prod(arr.shape[1:]))
    return arr


def _finite(images: np.ndarray | MemmapImages, batch: int = 1024) -> bool:
    """Whether every value is finite; memory-mapped images are read a batch at a time."""
    if isinstance(images, np.ndarray):
        return bool(np.isfinite(images).all())
    return all(np.isfinite(images[i : i + batch]).all() for i in range(0, len(images), batch))


def validate_labelled_images(estimator, X, y, *, flat_ok: bool = True):
    """Validate a training batch and its labels for a classifier that takes images.

    Returns
    -------
    X, y : ndarray
        The images (see :func:`validate_images`) and 1-D classification labels.
    """
    name = type(estimator).__name__
    if y is None:
        raise ValueError(f"{name} requires y to be passed, but the target y is None")
    X = validate_images(estimator, X, reset=True, flat_ok=flat_ok)
    y = column_or_1d(y, warn=True)
    check_consistent_length(X, y)
    check_classification_targets(y)
    return X, y
