"""Face tracks across video frames: IoU matching, optical-flow box motion, probability smoothing."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import pdist

from ferengine.faces import iou_matrix

Box = Sequence[float]  # x, y, width, height


class IoUTracker:
    """Give each face a track id that follows it from frame to frame.

    Boxes are matched to the tracks' last boxes by the assignment of largest total IoU
    (scipy's Hungarian solver); a match needs IoU ≥ ``threshold``. Unmatched boxes
    start new tracks; a track unseen for more than ``max_age`` processed frames ends.
    Between detections, :meth:`follow` moves the tracks a motion tracker still holds.
    """

    def __init__(self, threshold: float = 0.3, max_age: int = 5) -> None:
        self.threshold = threshold
        self.max_age = max_age
        self._tracks: dict[int, tuple[Box, int]] = {}  # id -> (last box, frames unseen)
        self._next = 1

    def update(self, boxes: Sequence[Box]) -> list[int]:
        """Return the track id of each box of the current (detection) frame."""
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
        self._age()
        return out

    def follow(self, moved: Mapping[int, Box]) -> None:
        """Set the boxes of tracks followed into the current frame; the others age.

        Raises
        ------
        KeyError
            A track id of ``moved`` is not a live track.
        """
        for track, box in moved.items():
            if track not in self._tracks:
                raise KeyError(f"track {track} is not a live track")
            self._tracks[track] = (box, -1)
        self._age()

    def seen(self) -> dict[int, Box]:
        """Return the boxes of the tracks seen in the last frame, by track id."""
        return {i: box for i, (box, age) in self._tracks.items() if age == 0}

    def live(self) -> set[int]:
        """Return the ids of the tracks that have not ended (a later box may still match)."""
        return set(self._tracks)

    def _age(self) -> None:
        self._tracks = {i: (box, age + 1) for i, (box, age) in self._tracks.items()
                        if age + 1 <= self.max_age}  # fmt: skip


class FlowTracker:
    """Move face boxes from one frame to the next with sparse optical flow (Median Flow).

    In each box, up to ``max_points`` Shi-Tomasi corners (``cv2.goodFeaturesToTrack``)
    are followed into the next frame by pyramidal Lucas-Kanade (``cv2.calcOpticalFlowPyrLK``)
    and back again; points that do not come back within ``max_fb_error`` pixels are
    dropped (forward-backward check, Kalal et al. 2010). The box moves by the points'
    median shift and scales by the median ratio of their pairwise distances. Frames are
    halved while their smallest box stays at least ``face_side`` pixels (flow on a 150-px
    face costs about four times what it costs on a 75-px one, for little more precision).
    A box is lost when fewer than ``min_points`` points survive, when the points
    disagree (the median distance of a point from where shift and scale put it exceeds
    ``max_residual`` × the box side), when the scale changes by more than a factor of
    two, or when the box's centre leaves the frame. A box covering the whole frame is
    the frame itself (the ``none`` detector, a whole-image fallback): it stays as it is.

    Parameters
    ----------
    max_points : int
        Corners sought in each box.
    min_points : int
        Fewest points that must survive for the box to move.
    max_fb_error : float
        Largest forward-backward error of a point kept, in pixels of the (shrunk) frame.
    max_residual : float
        Largest median disagreement of the kept points, as a share of the box side.
    window : int
        Side of the Lucas-Kanade search window in pixels.
    levels : int
        Pyramid levels above the frame (each halves it), for motion larger than the window.
    face_side : int
        Frames are halved (never enlarged) while their smallest box stays at least this side.
    """

    def __init__(self, max_points: int = 60, min_points: int = 6, max_fb_error: float = 1.0,
                 max_residual: float = 0.1, window: int = 21, levels: int = 3,
                 face_side: int = 64) -> None:  # fmt: skip
        self.max_points = max_points
        self.min_points = min_points
        self.max_fb_error = max_fb_error
        self.max_residual = max_residual
        self.window = window
        self.levels = levels
        self.face_side = face_side

    def move(self, prev: np.ndarray, next: np.ndarray, boxes: Sequence[Box]) -> list[Box | None]:
        """Return each box of 8-bit grey frame ``prev`` moved into frame ``next``, None if lost."""
        h, w = prev.shape[:2]
        whole = [_whole_frame(box, w, h) for box in boxes]
        sides = [min(b[2], b[3]) for b, frame in zip(boxes, whole, strict=True) if not frame]
        halvings = int(np.log2(max(1.0, min(sides)) / self.face_side)) if sides else 0
        for _ in range(halvings):  # pyrDown: fast, and smoothed as it halves
            prev, next = cv2.pyrDown(prev), cv2.pyrDown(next)
        sx, sy = prev.shape[1] / w, prev.shape[0] / h
        shrunk = [(b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy) for b in boxes]
        out: list[Box | None] = []
        for box, frame, moved in zip(boxes, whole, self._move(prev, next, shrunk), strict=True):
            if frame:
                out.append(tuple(box))
            elif moved is not None:
                out.append((moved[0] / sx, moved[1] / sy, moved[2] / sx, moved[3] / sy))
            else:
                out.append(None)
        return out

    def _move(self, prev: np.ndarray, next: np.ndarray, boxes: Sequence[Box]) -> list[Box | None]:
        """Move boxes between two frames of one size; whole-frame boxes have no corners."""
        starts = [self._corners(prev, box) for box in boxes]
        out: list[Box | None] = [None] * len(boxes)
        if not any(len(points) for points in starts):
            return out
        owners = np.repeat(np.arange(len(boxes)), [len(points) for points in starts])
        p0 = np.concatenate(starts).astype(np.float32)
        lk = {"winSize": (self.window, self.window), "maxLevel": self.levels,
              "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)}  # fmt: skip
        p1, ok1, _ = cv2.calcOpticalFlowPyrLK(prev, next, p0, None, **lk)
        back, ok2, _ = cv2.calcOpticalFlowPyrLK(next, prev, p1, None, **lk)
        error = np.linalg.norm(p0 - back, axis=-1).ravel()
        good = ok1.ravel().astype(bool) & ok2.ravel().astype(bool) & (error <= self.max_fb_error)
        h, w = prev.shape[:2]
        for i, box in enumerate(boxes):
            keep = good & (owners == i)
            out[i] = self._moved(box, p0[keep].reshape(-1, 2), p1[keep].reshape(-1, 2), w, h)
        return out

    def _corners(self, grey: np.ndarray, box: Box) -> np.ndarray:
        """Return the corners of the part of ``box`` inside the frame, as N × 2 (x, y)."""
        h, w = grey.shape[:2]
        if _whole_frame(box, w, h):
            return np.zeros((0, 2), np.float32)
        x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
        x1, y1 = min(w, int(np.ceil(box[0] + box[2]))), min(h, int(np.ceil(box[1] + box[3])))
        if x1 - x0 < 3 or y1 - y0 < 3:
            return np.zeros((0, 2), np.float32)
        spacing = max(2.0, min(box[2], box[3]) / 12)
        found = cv2.goodFeaturesToTrack(grey[y0:y1, x0:x1], self.max_points, 0.01, spacing)
        if found is None:
            return np.zeros((0, 2), np.float32)
        return found.reshape(-1, 2) + np.array([x0, y0], np.float32)

    def _moved(self, box: Box, p0: np.ndarray, p1: np.ndarray, w: int, h: int) -> Box | None:
        """Return ``box`` moved by the median shift and scale of its points, or None if lost."""
        if len(p0) < max(self.min_points, 2):
            return None
        before, after = pdist(p0), pdist(p1)
        spread = before > 1.0
        if not spread.any():
            return None
        scale = float(np.median(after[spread] / before[spread]))
        if not 0.5 <= scale <= 2.0:
            return None
        centre = np.array([box[0] + box[2] / 2, box[1] + box[3] / 2])
        new_centre = centre + np.median(p1 - (centre + scale * (p0 - centre)), axis=0)
        expected = new_centre + scale * (p0 - centre)
        residual = float(np.median(np.linalg.norm(p1 - expected, axis=1)))
        side = scale * min(box[2], box[3])
        if residual > self.max_residual * side:
            return None
        if not (0 <= new_centre[0] < w and 0 <= new_centre[1] < h):
            return None
        bw, bh = scale * box[2], scale * box[3]
        return (float(new_centre[0] - bw / 2), float(new_centre[1] - bh / 2), bw, bh)


def _whole_frame(box: Box, w: int, h: int) -> bool:
    """Whether ``box`` covers the whole ``w`` × ``h`` frame."""
    return box[0] <= 0 and box[1] <= 0 and box[0] + box[2] >= w and box[1] + box[3] >= h


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
