"""Spatial grids shared by the features that pool per cell (LBP, Gabor, BoVW)."""

from __future__ import annotations

import numpy as np
from sklearn.utils._param_validation import StrOptions

from ferengine.imageops import SIZE, size_pair

#: Constraint of a ``grid`` parameter: an int or a (rows, cols) pair (see :func:`grid_shape`).
GRID = SIZE
#: Constraint of a histogram ``norm`` parameter (see :func:`normalise`).
NORM = [StrOptions({"l1", "l2", "sqrt"}), None]


def grid_shape(grid, what: str) -> tuple[int, int]:
    """Return ``grid`` (an int or a pair) as positive ``(rows, cols)``."""
    return size_pair(grid, f"{what}: grid")


def cell_index(h: int, w: int, rows: int, cols: int) -> np.ndarray:
    """Return an h×w map of cell numbers (row-major) for a rows×cols grid of near-equal cells."""
    r = np.minimum((np.arange(h) * rows) // h, rows - 1)
    c = np.minimum((np.arange(w) * cols) // w, cols - 1)
    return (r[:, None] * cols + c[None, :]).astype(np.intp)


def cell_means(maps: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Mean of each grid cell over the last two axes: (..., H, W) -> (..., rows*cols).

    A grid finer than the maps (more rows than H, say: Gabor shrinks images for long
    wavelengths) has cells that start on the same pixel; each such cell is that one
    pixel (``reduceat`` returns it for a repeated index) and counts one pixel.
    """
    h, w = maps.shape[-2:]
    rb = np.linspace(0, h, rows + 1).astype(int)[:-1]
    cb = np.linspace(0, w, cols + 1).astype(int)[:-1]
    sums = np.add.reduceat(np.add.reduceat(maps, rb, axis=-2), cb, axis=-1)
    height = np.maximum(np.diff(np.append(rb, h)), 1)
    counts = height[:, None] * np.maximum(np.diff(np.append(cb, w)), 1)[None, :]
    return (sums / counts).reshape(*maps.shape[:-2], rows * cols)


def normalise(hist: np.ndarray, norm: str | None, what: str) -> np.ndarray:
    """Normalise histograms along the last axis: "l1", "l2", "sqrt" (Hellinger) or None."""
    if norm is None:
        return hist
    if norm == "l2":
        return hist / np.maximum(np.linalg.norm(hist, axis=-1, keepdims=True), 1e-12)
    if norm in ("l1", "sqrt"):
        out = hist / np.maximum(np.abs(hist).sum(axis=-1, keepdims=True), 1e-12)
        return np.sqrt(out) if norm == "sqrt" else out
    raise ValueError(f"{what}: norm must be 'l1', 'l2', 'sqrt' or None, got {norm!r}")


def cell_boxes(h: int, w: int, rows: int, cols: int, edges: str = "index") -> np.ndarray:
    """Return the ``(top, bottom, left, right)`` pixel box of each grid cell, row-major.

    ``edges="index"`` gives the cells of :func:`cell_index` (a pixel belongs to cell
    ``y * rows // h``); ``"means"`` those of :func:`cell_means` (cells start at
    ``linspace(0, h, rows + 1)`` rounded down, at least one pixel each). For the
    ``pixel_regions`` of the features that pool per cell.
    """
    if edges == "index":
        ys = -(-np.arange(rows + 1) * h // rows)
        xs = -(-np.arange(cols + 1) * w // cols)
        top, bottom, left, right = ys[:-1], ys[1:], xs[:-1], xs[1:]
    else:
        top = np.linspace(0, h, rows + 1).astype(int)[:-1]
        left = np.linspace(0, w, cols + 1).astype(int)[:-1]
        bottom = np.maximum(np.append(top[1:], h), top + 1)
        right = np.maximum(np.append(left[1:], w), left + 1)
    r, c = np.divmod(np.arange(rows * cols), cols)
    return np.stack([top[r], bottom[r], left[c], right[c]], axis=1).astype(np.intp)
