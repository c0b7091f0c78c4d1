"""Pixel conversion and size parsing: the one place ferengine converts images.

Pixel convention
----------------
A ferengine image holds values on the **0–255 scale, whatever its dtype**: uint8
as such, floats (what preprocessors return) as 0–255 values — a float 0.8 is 0.8
of 255, not 80 % white. Two rules turn any image into 8-bit:

* Inside ferengine (a batch in a pipeline, :func:`to_uint8`) nothing is guessed from
  the values: floats are rounded, and an image whose values leave [0, 255] (after
  standardisation, say) is min-max rescaled on its own.
* Where an image *enters* ferengine (a decoded file, an array given to ``predict``, a
  detector or the annotator, :func:`as_uint8`), the encodings other libraries use
  for other scales are mapped first — 16-bit images by 255/65535, float images whose
  values are all at most 1 by 255 (the [0, 1] floats of scikit-image, matplotlib and
  float TIFF files) — and the rule above follows.

Grey is BT.601 luma: :func:`as_grey` through OpenCV on 8-bit images (as the loaders
read files), :func:`to_grey` in float32 on batches of any dtype.

Sizes (``size=96`` or ``size=(96, 112)``) are parsed by :func:`size_pair`; estimators
declare such a parameter with the :data:`SIZE` constraint.
"""

from __future__ import annotations

from numbers import Integral

import cv2
import numpy as np
from sklearn.utils._param_validation import Interval

__all__ = [
    "LUMA", "SIZE", "as_grey", "as_uint8", "from_opencv", "size_pair", "to_grey", "to_uint8",
]  # fmt: skip

#: scikit-learn ``_parameter_constraints`` entry of a size: a positive int or a sequence,
#: whose pair :func:`size_pair` checks.
SIZE = [Interval(Integral, 1, None, closed="left"), "array-like"]

#: RGB → luma weights (ITU-R BT.601, as OpenCV's COLOR_RGB2GRAY).
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def to_uint8(X: np.ndarray) -> np.ndarray:
    """Return a batch of images (N×H×W or N×H×W×C) as uint8, by the pixel convention.

    uint8 passes through; other values are on the 0–255 scale and rounded; an image
    with values outside [0, 255] is min-max rescaled to [0, 255] on its own.

    Parameters
    ----------
    X : ndarray
        The batch, first axis the images.

    Returns
    -------
    ndarray
        uint8, the shape of ``X``.
    """
    if X.dtype == np.uint8 or not X.size:
        return X.astype(np.uint8, copy=False)
    X = X.astype(np.float32, copy=False)
    axes = tuple(range(1, X.ndim))
    lo, hi = X.min(axis=axes, keepdims=True), X.max(axis=axes, keepdims=True)
    outside = (lo < 0) | (hi > 255)
    if outside.any():
        span = np.maximum(hi - lo, 1e-6)
        X = np.where(outside, (X - lo) * (255.0 / span), X)
    return np.rint(X).astype(np.uint8)


def to_grey(X: np.ndarray) -> np.ndarray:
    """Return a batch N×H×W(×C) as float32 grey N×H×W on the scale of the input.

    RGB(A) uses BT.601 luma weights (alpha is ignored); uint8 input is rounded as
    OpenCV's 8-bit conversion rounds.

    Raises
    ------
    ValueError
        Images with a channel count other than 1, 3 or 4.
    """
    if X.ndim == 3:
        return X.astype(np.float32, copy=False)
    if X.shape[-1] == 1:
        return X[..., 0].astype(np.float32, copy=False)
    if X.shape[-1] not in (3, 4):
        raise ValueError(f"images must have 1, 3 or 4 channels, got {X.shape[-1]}")
    grey = X[..., :3].astype(np.float32, copy=False) @ LUMA
    return np.rint(grey) if X.dtype == np.uint8 else grey


def as_uint8(image: np.ndarray) -> np.ndarray:
    """Return one image entering ferengine as 8-bit grey (H×W) or 3-channel (H×W×3).

    Alpha is dropped (H×W×2 is grey + alpha); the channel order is kept. 16-bit images
    are scaled by 255/65535, float images whose values are all at most 1 by 255; then
    :func:`to_uint8`'s rule applies (NaN counts as 0).

    Raises
    ------
    ValueError
        Anything but one H×W or H×W×C (C from 1 to 4) image.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] in (1, 2):  # grey (+ alpha)
        image = image[..., 0]
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"expected one H×W or H×W×C image, got shape {image.shape}")
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return np.rint(image / 257.0).astype(np.uint8)
    values = np.nan_to_num(image.astype(np.float32))
    if image.dtype.kind == "f" and values.size and values.max() <= 1.0:
        values *= 255.0
    return to_uint8(values[None])[0]


def as_grey(image: np.ndarray) -> np.ndarray:
    """Return one image entering ferengine as 8-bit grey H×W (RGB through OpenCV's luma)."""
    image = as_uint8(image)
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


def from_opencv(image: np.ndarray, color: bool = False) -> np.ndarray:
    """Return an image as OpenCV decodes it (grey, BGR or BGRA, any depth) as uint8 grey or RGB.

    The depth follows :func:`as_uint8`; ``color`` asks for H×W×3 RGB, otherwise H×W grey.
    """
    image = as_uint8(image)
    if color:
        code = cv2.COLOR_GRAY2RGB if image.ndim == 2 else cv2.COLOR_BGR2RGB
        return cv2.cvtColor(image, code)
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def size_pair(value: object, what: str) -> tuple[int, int]:
    """Return a size given as one int or a ``(height, width)`` pair as a positive pair.

    Parameters
    ----------
    value : int or (int, int)
        The size as given.
    what : str
        What the size is, for the error (e.g. ``"resize: size"``).

    Raises
    ------
    ValueError
        Naming ``what`` when the value is not a positive int or a pair of them.
    """
    try:
        pair = (value, value) if np.isscalar(value) else tuple(value)  # type: ignore[arg-type]
    except TypeError:  # None, an object: not a size
        pair = (value,)
    if len(pair) != 2 or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) and v > 0 for v in pair
    ):
        raise ValueError(
            f"{what} must be a positive int or a (height, width) pair of them, got {value!r}"
        )
    return int(pair[0]), int(pair[1])
