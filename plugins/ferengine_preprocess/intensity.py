"""Per-image intensity preprocessing: grey, histogram equalisation, CLAHE, standardisation."""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import cv2
import numpy as np
from sklearn.utils._param_validation import Interval

from ferengine.extractor import ImagePreprocessor
from ferengine.imageops import SIZE, size_pair, to_grey, to_uint8


def _per_image_u8(X: np.ndarray, func) -> np.ndarray:
    """Apply an 8-bit OpenCV routine to the grey level of every image.

    Colour images are equalised on their lightness (L of CIELAB) so hues are kept.
    """
    X = to_uint8(X)
    if X.ndim == 3:
        return np.stack([func(img) for img in X])
    out = np.empty_like(X[..., :3])
    for i, img in enumerate(X[..., :3]):
        lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB)
        lab[..., 0] = func(lab[..., 0])
        out[i] = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    return out


class Grey(ImagePreprocessor):
    """Convert colour images to grey (BT.601 luma); grey images pass through.

    uint8 input gives uint8 output, anything else float32.
    """

    name = "grey"

    def __init__(self) -> None:
        pass

    def _apply(self, X: np.ndarray) -> np.ndarray:
        grey = to_grey(X)
        return to_uint8(grey) if X.dtype == np.uint8 else grey


class HistEq(ImagePreprocessor):
    """Global histogram equalisation (OpenCV ``equalizeHist``); output uint8."""

    name = "histeq"

    def __init__(self) -> None:
        pass

    def _apply(self, X: np.ndarray) -> np.ndarray:
        return _per_image_u8(X, cv2.equalizeHist)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []  # always uint8
        return tags


class CLAHE(ImagePreprocessor):
    """Contrast-limited adaptive histogram equalisation (OpenCV); output uint8.

    Parameters
    ----------
    clip_limit : float
        Contrast limit per tile (OpenCV's ``clipLimit``); higher equalises harder.
    tile_grid : int or (int, int)
        Number of tiles across and down the image.
    """

    name = "clahe"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "clip_limit": [Interval(Real, 0, None, closed="neither")],
        "tile_grid": SIZE,
    }

    def __init__(self, clip_limit: float = 2.0, tile_grid=(8, 8)) -> None:
        self.clip_limit = clip_limit
        self.tile_grid = tile_grid

    def _grid(self) -> tuple[int, int]:
        return size_pair(self.tile_grid, "clahe: tile_grid")

    def _check_params(self) -> None:
        self._grid()

    def _apply(self, X: np.ndarray) -> np.ndarray:
        clahe = cv2.createCLAHE(clipLimit=float(self.clip_limit), tileGridSize=self._grid())
        return _per_image_u8(X, clahe.apply)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []  # always uint8
        return tags


class Standardize(ImagePreprocessor):
    """Per-image standardisation: zero mean and a target standard deviation; output float32.

    Each image is shifted to mean ``mean`` and scaled to standard deviation
    ``sigma`` (the "image normalisation" of the BK/VGG experiments, where sigma
    is 3.125); flat images only get shifted.

    Parameters
    ----------
    sigma : float
        Target standard deviation of every image.
    mean : float
        Target mean of every image.
    """

    name = "standardize"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "sigma": [Interval(Real, 0, None, closed="neither")],
        "mean": [Interval(Real, None, None, closed="neither")],
    }

    def __init__(self, sigma: float = 1.0, mean: float = 0.0) -> None:
        self.sigma = sigma
        self.mean = mean

    def _apply(self, X: np.ndarray) -> np.ndarray:
        X = X.astype(np.float32)
        axes = tuple(range(1, X.ndim))
        centred = X - X.mean(axis=axes, keepdims=True)
        std = centred.std(axis=axes, keepdims=True)
        scale = np.where(std > 1e-6, np.float32(self.sigma) / np.maximum(std, 1e-6), 1.0)
        return (centred * scale + np.float32(self.mean)).astype(np.float32)
