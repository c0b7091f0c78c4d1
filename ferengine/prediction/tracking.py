"""Face tracks across video frames (IoU matching) and per-track smoothing of probabilities."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

Box = Sequence[float]  # x, y, width, height


def iou_matrix(a: Sequence[Box], b: Sequence[Box]) -> np.ndarray:
    """Return the intersection-over-union of every box of ``a`` with every box of ``b``."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    A, B = np.asarray(a, dtype=float)[:, None], np.asarray(b, dtype=float)[None]
    w = np.clip(np.minimum(A[..., 0] + A[..., 2], B[..., 0] + B[..., 2])
                - np.maximum(A[..., 0], B[..., 0]), 0, None)  # fmt: skip
    h = np.clip(np.minimum(A[..., 1] + A[..., 3], B[..., 1] + B[..., 3])
                - np.maximum(A[..., 1], B[..., 1]), 0, None)  # fmt: skip
    inter = w * h
    return inter / (A[..., 2] * A[..., 3] + B[..., 2] * B[..., 3] - inter)


class IoUTracker:
    """Give each face a track id that follows it from frame to frame.

    Boxes are matched to the tracks' last boxes by the assignment of largest total IoU
    (scipy's Hungarian solver); a match needs IoU ≥ ``threshold``. Unmatched boxes
    start new tracks; a track unseen for more than ``max_age`` processed frames ends.
    """

    def __init__(self, threshold: float = 0.3, max_age: int = 5) -> None:
        self.threshold = threshold
        self.max_age = max_age
        self._tracks: dict[int, tuple[Box, int]] = {}  # id -> (last box, frames unseen)
        self._next = 1

    def update(self, boxes: Sequence[Box]) -> list[int]:
        """Return the track id of each box of the current frame."""
        ids = list(self._tracks)
        overlap = iou_matrix([self._tracks[i][0] for i in ids], boxes)
        assigned: dict[int, int] = {}
        if overlap.size:
            rows, cols = linear_sum_assignment(-overlap)
            assigned = {c: ids[r] for r, c in zip(rows, cols, strict=True)
                        if overlap[r, c] >= self.threshold}  # fmt: skip
        out = []
        for j, box in enumerate(boxes):
            track = assigned.get(j)
            if track is None:
                track, self._next = self._next, self._next + 1
            self._tracks[track] = (box, -1)
            out.append(track)
        self._tracks = {i: (box, age + 1) for i, (box, age) in self._tracks.items()
                        if age + 1 <= self.max_age}  # fmt: skip
        return out


class Smoother:
    """Mean of each track's probability vectors over its last ``window`` processed frames."""

    def __init__(self, window: int = 5) -> None:
        if window < 1:
            raise ValueError(f"smoothing window must be ≥ 1, got {window!r}")
        self.window = window
        self._history: dict[int, deque] = {}

    def update(self, track: int, proba: np.ndarray) -> np.ndarray:
        """Add a frame's probabilities to a track and return the track's smoothed ones."""
        history = self._history.setdefault(track, deque(maxlen=self.window))
        history.append(np.asarray(proba, dtype=float))
        return np.mean(history, axis=0)
