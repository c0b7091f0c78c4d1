"""Statistics of one explanation map, as ``explanations.json`` reports them."""

from __future__ import annotations

from typing import Any

import numpy as np

#: Share of a map's pixels whose mass :func:`map_statistics` reports as ``top10_share``.
TOP_SHARE = 0.10


def map_statistics(values: np.ndarray) -> dict[str, Any]:
    """Return the min, max and mean of a map, how concentrated it is, and where it peaks.

    Parameters
    ----------
    values : ndarray of shape (H, W)
        One map; large positive values are evidence for its target class.

    Returns
    -------
    dict
        ``min``, ``max``, ``mean``; ``top10_share``: the share of the map's positive mass
        held by its 10 % highest pixels (0.1 for a flat map, 1.0 when a tenth of the
        pixels holds all the evidence; None when no value is positive); ``peak``:
        ``[row, column]`` of the largest value.
    """
    values = np.asarray(values, dtype=np.float64)
    positive = np.clip(values.ravel(), 0.0, None)
    mass = float(positive.sum())
    k = max(1, round(TOP_SHARE * positive.size))
    share = float(np.sort(positive)[-k:].sum() / mass) if mass > 0 else None
    row, col = np.unravel_index(int(np.argmax(values)), values.shape)
    return {
        "min": round(float(values.min()), 6),
        "max": round(float(values.max()), 6),
        "mean": round(float(values.mean()), 6),
        "top10_share": None if share is None else round(share, 4),
        "peak": [int(row), int(col)],
    }


def region_share(values: np.ndarray, mask: np.ndarray) -> float:
    """Return the share of a map's positive mass inside ``mask`` (0 when it has none).

    Parameters
    ----------
    values : ndarray of shape (H, W)
        One map.
    mask : ndarray of bool, shape (H, W)
        The region (a face part, say).
    """
    positive = np.clip(np.asarray(values, dtype=np.float64), 0.0, None)
    mass = positive.sum()
    return float(positive[np.asarray(mask, bool)].sum() / mass) if mass > 0 else 0.0
