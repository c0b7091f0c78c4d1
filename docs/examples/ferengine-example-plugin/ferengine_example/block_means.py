"""A feature extractor: the mean intensity of each cell of a grid laid over the face."""

from __future__ import annotations

from numbers import Integral
from typing import ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval

from ferengine.extractor import ImageFeature


class BlockMeans(ImageFeature):
    """Mean grey level of every cell of a ``grid×grid`` partition of the image.

    ``ImageFeature`` does the rest: parameter checks, image validation, batches and
    float32 output.

    Parameters
    ----------
    grid : int
        Number of cells along each side.
    """

    name = "block-means"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "grid": [Interval(Integral, 1, None, closed="left")],
    }
    _test_params: ClassVar[dict] = {"grid": 2}

    def __init__(self, grid: int = 6) -> None:
        self.grid = grid

    def _output_width(self, image_shape: tuple[int, ...]) -> int:
        return self.grid * self.grid

    def _extract(self, grey: np.ndarray) -> np.ndarray:
        height, width = grey.shape[1:3]
        if min(height, width) < self.grid:
            raise ValueError(
                f"block-means: images of {height}×{width} pixels are smaller than grid {self.grid}"
            )
        rows = np.array_split(np.arange(height), self.grid)
        cols = np.array_split(np.arange(width), self.grid)
        cells = [
            grey[:, r[0] : r[-1] + 1, c[0] : c[-1] + 1].mean(axis=(1, 2))
            for r in rows
            for c in cols
        ]
        return np.stack(cells, axis=1) / 255
