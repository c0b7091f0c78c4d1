"""Per-pixel normalisation with statistics learned from the training images."""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval

from ferengine.extractor import ImagePreprocessor


class PixelNormalize(ImagePreprocessor):
    """Subtract each pixel's training mean and divide by its training standard deviation.

    The statistics are learned in ``fit`` (``mean_``, ``std_``, of the fitted
    image shape) and saved with the pipeline, so prediction uses the training
    set's values — the "pixel normalisation" counterpart of ``standardize``.
    Output float32.

    Parameters
    ----------
    eps : float
        Added to the standard deviation to keep constant pixels finite.
    """

    name = "pixel-normalize"
    _same_size = True
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "eps": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, eps: float = 1e-6) -> None:
        self.eps = eps

    def _fit(self, X: np.ndarray) -> None:
        X64 = X.astype(np.float64)
        self.mean_ = X64.mean(axis=0).astype(np.float32)
        self.std_ = X64.std(axis=0).astype(np.float32)

    def _apply(self, X: np.ndarray) -> np.ndarray:
        if X.shape[1:] != self.mean_.shape:
            raise ValueError(
                f"pixel-normalize: images have shape {X.shape[1:]}, fitted on {self.mean_.shape}"
            )
        return ((X.astype(np.float32) - self.mean_) / (self.std_ + np.float32(self.eps))).astype(
            np.float32
        )
