"""A feature extractor: the mean intensity of each cell of a grid laid over the face."""

from __future__ import annotations

from numbers import Integral
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ferengine.images import validate_images


class BlockMeans(TransformerMixin, BaseEstimator):
    """Mean grey level of every cell of a ``grid×grid`` partition of the image.

    Parameters
    ----------
    grid : int
        Number of cells along each side.
    """

    name = "block-means"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "grid": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, grid: int = 6) -> None:
        self.grid = grid

    def fit(self, X, y=None):
        """Check the grid size and the images."""
        self._validate_params()
        X = validate_images(self, X, reset=True, flat_ok=False)
        if min(X.shape[1:3]) < self.grid:
            raise ValueError(
                f"block-means: images {X.shape[1:3]} are smaller than grid {self.grid}"
            )
        return self

    def transform(self, X):
        """Return an N×grid² float32 matrix of cell means in [0, 1]."""
        check_is_fitted(self, "n_features_in_")
        X = validate_images(self, X, reset=False, flat_ok=False).astype(np.float32) / 255
        if X.ndim == 4:
            X = X.mean(axis=3)
        rows = np.array_split(np.arange(X.shape[1]), self.grid)
        cols = np.array_split(np.arange(X.shape[2]), self.grid)
        cells = [
            X[:, r[0] : r[-1] + 1, c[0] : c[-1] + 1].mean(axis=(1, 2)) for r in rows for c in cols
        ]
        return np.stack(cells, axis=1).astype(np.float32)
