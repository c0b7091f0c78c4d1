"""Raw pixels as features: the baseline every other extractor must beat."""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import cv2
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ferengine.imageops import SIZE, size_pair
from ferengine.images import INTERPOLATION, validate_images


class Pixels(TransformerMixin, BaseEstimator):
    """Pixel intensities, optionally resized, scaled and flattened into one vector per image.

    Parameters
    ----------
    size : int or (int, int), optional
        Resize every image to ``size×size`` (or ``(height, width)``) first; ``None``
        keeps the input size (and then also accepts already-flat N×D input).
    scale : float
        Multiplier applied to the values (``1/255`` maps uint8 to [0, 1]).
    interpolation : {"area", "linear", "cubic", "nearest", "lanczos"}
        OpenCV interpolation used by the resize.
    """

    name = "pixels"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "size": [None, *SIZE],
        "scale": [Interval(Real, None, None, closed="neither")],
        "interpolation": [StrOptions(set(INTERPOLATION))],
    }

    def __init__(self, size=None, scale: float = 1 / 255, interpolation: str = "area") -> None:
        self.size = size
        self.scale = scale
        self.interpolation = interpolation

    def _target(self) -> tuple[int, int] | None:
        return None if self.size is None else size_pair(self.size, "pixels: size")

    def fit(self, X, y=None):
        """Check the parameters and remember the input shape."""
        self._validate_params()
        self._target()
        validate_images(self, X, reset=True, flat_ok=self.size is None)
        return self

    def transform(self, X):
        """Return an N×D float32 matrix."""
        check_is_fitted(self, "n_features_in_")
        target = self._target()
        X = validate_images(self, X, reset=False, flat_ok=target is None)
        if target is None:
            if X.ndim > 2 and X.shape[1:] != self.image_shape_:
                raise ValueError(
                    f"pixels: images have shape {X.shape[1:]}, but the transformer was fitted "
                    f"on {self.image_shape_}; set size= to resize"
                )
            flat = X.reshape(len(X), -1)
        else:
            h, w = target
            flags = INTERPOLATION[self.interpolation]
            src = X.astype(np.float32) if X.dtype != np.uint8 else X
            flat = np.stack(
                [cv2.resize(img, (w, h), interpolation=flags).reshape(-1) for img in src]
            )
        return (flat.astype(np.float32) * np.float32(self.scale)).astype(np.float32)

    def pixel_regions(self) -> np.ndarray | None:
        """Return the pixel box each output column shows (a resized pixel's area).

        Returns
        -------
        ndarray of shape (n_features_out, 4), int, or None
            ``(top, bottom, left, right)`` per column in the fitted images (every
            channel of a colour pixel has its pixel's box); None when fitted on flat
            vectors.
        """
        check_is_fitted(self, "n_features_in_")
        shape = getattr(self, "image_shape_", ())
        if len(shape) < 2:
            return None
        h, w = shape[:2]
        th, tw = self._target() or (h, w)
        channels = int(np.prod(shape[2:], dtype=int))
        y, x = np.divmod(np.repeat(np.arange(th * tw), channels), tw)
        top, bottom = y * h // th, np.maximum(-(-(y + 1) * h // th), y * h // th + 1)
        left, right = x * w // tw, np.maximum(-(-(x + 1) * w // tw), x * w // tw + 1)
        return np.stack([top, bottom, left, right], axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
