"""Where each face's label goes on an annotated image: rectangles in, rectangles out, no pixels.

:func:`place_labels` places one label per face box, greedily, largest face first:

1. the first candidate position (above the box, below it, inside its top, inside its
   bottom, left, right, ...; see :data:`POSITIONS`) that lies inside the image and
   overlaps neither a label already placed nor another face's box, trying each of the
   label's sizes from the preferred one down to the smallest;
2. otherwise, at the smallest size, the free spot nearest the box, overlapping no label
   and as little of the other faces as possible (a spot away from the box gets a
   leader line to it);
3. only when no spot of the image is free of labels, the spot that overlaps them least.

A spot exists whenever the labels leave room, so step 3 is reached only when the image
is too small for all its labels; a label larger than the image is put at its top-left
corner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: x, y, width, height in pixels.
Rect = tuple[int, int, int, int]

#: The candidate positions of a label around its face box, in order of preference.
POSITIONS = (
    "above", "below", "inside-top", "inside-bottom", "left", "right",
    "above-right", "below-right", "left-bottom", "right-bottom",
)  # fmt: skip


@dataclass(frozen=True)
class LabelPlacement:
    """Where one face's label goes.

    Attributes
    ----------
    rect : (x, y, width, height)
        The label's rectangle.
    level : int
        Index of the size used in the face's list of sizes (0: the preferred one).
    position : str
        One of :data:`POSITIONS`, or "nearest" for a spot found by searching the image.
    leader : ((x, y), (x, y)) or None
        A line from the label to its face box, when the label does not touch the box.
    """

    rect: Rect
    level: int
    position: str
    leader: tuple[tuple[int, int], tuple[int, int]] | None = None


def overlaps(a: Rect, b: Rect) -> bool:
    """Return whether two rectangles share pixels (touching edges do not)."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def inside(rect: Rect, width: int, height: int) -> bool:
    """Return whether a rectangle lies within a ``width`` × ``height`` image."""
    x, y, w, h = rect
    return x >= 0 and y >= 0 and x + w <= width and y + h <= height


def candidates(box: Rect, size: tuple[int, int], width: int,
               height: int) -> list[tuple[str, Rect]]:  # fmt: skip
    """Return the named candidate rectangles of a label of ``size`` around ``box``.

    Labels above, below or inside the box slide sideways to stay in the image; labels
    left or right of it slide vertically. Positions that still leave the image are
    kept (the caller tests them).
    """
    bx, by, bw, bh = box
    lw, lh = size

    def across(x: int) -> int:
        return min(max(x, 0), max(width - lw, 0))

    def down(y: int) -> int:
        return min(max(y, 0), max(height - lh, 0))

    top, bottom = max(by, 0), min(by + bh, height)  # the box's visible part
    spots = {
        "above": (across(bx), by - lh),
        "below": (across(bx), by + bh),
        "inside-top": (across(bx), top),
        "inside-bottom": (across(bx), bottom - lh),
        "left": (bx - lw, down(by)),
        "right": (bx + bw, down(by)),
        "above-right": (across(bx + bw - lw), by - lh),
        "below-right": (across(bx + bw - lw), by + bh),
        "left-bottom": (bx - lw, down(by + bh - lh)),
        "right-bottom": (bx + bw, down(by + bh - lh)),
    }
    return [(name, (*spots[name], lw, lh)) for name in POSITIONS]


def _grown(rect: Rect, gap: int) -> Rect:
    x, y, w, h = rect
    return x - gap, y - gap, w + 2 * gap, h + 2 * gap


def place_labels(
    boxes: Sequence[Rect],
    sizes: Sequence[Sequence[tuple[int, int]]],
    width: int,
    height: int,
    gap: int = 0,
) -> list[LabelPlacement]:
    """Place one label per face box so that labels never overlap and stay in the image.

    Parameters
    ----------
    boxes : sequence of (x, y, width, height)
        The face boxes.
    sizes : sequence of sequences of (width, height)
        Per face, its label's sizes from the preferred to the smallest acceptable one.
    width, height : int
        The image size.
    gap : int
        Pixels kept free between a label and the other labels and face boxes.

    Returns
    -------
    list of LabelPlacement
        One per box, in the order of ``boxes``.

    Raises
    ------
    ValueError
        When ``sizes`` does not give at least one size per box.
    """
    if len(sizes) != len(boxes) or not all(len(s) for s in sizes):
        raise ValueError(
            f"sizes must give at least one label size per box: {len(boxes)} boxes, "
            f"sizes for {sum(bool(len(s)) for s in sizes)}"
        )
    boxes = [tuple(int(v) for v in box) for box in boxes]  # type: ignore[misc]
    order = sorted(range(len(boxes)), key=lambda i: -boxes[i][2] * boxes[i][3])
    placed: list[Rect] = []
    result: dict[int, LabelPlacement] = {}
    for i in order:
        others = [_grown(b, gap) for j, b in enumerate(boxes) if j != i]
        blocked = [_grown(r, gap) for r in placed] + others
        result[i] = _first_candidate(boxes[i], sizes[i], width, height, blocked) or _search(
            boxes[i], sizes[i], width, height, placed, others, gap
        )
        placed.append(result[i].rect)
    return [result[i] for i in range(len(boxes))]


def _first_candidate(box: Rect, sizes: Sequence[tuple[int, int]], width: int, height: int,
                     blocked: list[Rect]) -> LabelPlacement | None:  # fmt: skip
    """Return the first candidate, size by size, in the image and clear of ``blocked``."""
    for level, size in enumerate(sizes):
        for name, rect in candidates(box, size, width, height):
            if inside(rect, width, height) and not any(overlaps(rect, b) for b in blocked):
                return LabelPlacement(rect, level, name)
    return None


def _overlap_areas(x: np.ndarray, y: np.ndarray, size: tuple[int, int],
                   rects: list[Rect]) -> np.ndarray:  # fmt: skip
    """Total area shared by a label of ``size`` at each (x, y) and the rectangles."""
    if not rects:
        return np.zeros(x.shape)
    r = np.asarray(rects, dtype=np.int64)[:, None]
    dx = np.minimum(x + size[0], r[..., 0] + r[..., 2]) - np.maximum(x, r[..., 0])
    dy = np.minimum(y + size[1], r[..., 1] + r[..., 3]) - np.maximum(y, r[..., 1])
    return (np.clip(dx, 0, None) * np.clip(dy, 0, None)).sum(axis=0)


def _search(box: Rect, sizes: Sequence[tuple[int, int]], width: int, height: int,
            placed: list[Rect], others: list[Rect], gap: int) -> LabelPlacement:  # fmt: skip
    """Return the spot nearest the box at the smallest size, least overlap (labels, faces) first.

    Only spots whose left edge is at the image's left edge or just right of an obstacle
    (and likewise for the top edge) are tried: when any spot is free, sliding it left
    and up until it is stopped gives one of these, so no free spot is missed.
    """
    level = len(sizes) - 1
    lw, lh = sizes[level]
    if lw > width or lh > height:
        return LabelPlacement((0, 0, lw, lh), level, "nearest")
    labels = [_grown(r, gap) for r in placed]
    bx, by, bw, bh = box
    xs, ys = {0, width - lw, bx, bx + bw - lw, bx - lw, bx + bw}, {0, height - lh, by, by + bh}
    ys |= {by - lh, by + bh - lh}
    for x, y, w, h in labels + others:
        xs |= {x + w, x - lw}
        ys |= {y + h, y - lh}
    x = np.array(sorted(v for v in xs if 0 <= v <= width - lw))[None, :]
    y = np.array(sorted(v for v in ys if 0 <= v <= height - lh))[:, None]
    x, y = np.broadcast_arrays(x, y)
    x, y = x.ravel(), y.ravel()
    dx = np.maximum.reduce([bx - (x + lw), x - (bx + bw), np.zeros_like(x)])
    dy = np.maximum.reduce([by - (y + lh), y - (by + bh), np.zeros_like(y)])
    centre = np.hypot(x + lw / 2 - (bx + bw / 2), y + lh / 2 - (by + bh / 2))
    keys = (centre, np.hypot(dx, dy), _overlap_areas(x, y, (lw, lh), others),
            _overlap_areas(x, y, (lw, lh), labels))  # fmt: skip
    best = int(np.lexsort(keys)[0])  # the last key sorts first
    rect = (int(x[best]), int(y[best]), lw, lh)
    names = [name for name, spot in candidates(box, (lw, lh), width, height) if spot == rect]
    leader = None if dx[best] == dy[best] == 0 else _leader(rect, box)
    return LabelPlacement(rect, level, names[0] if names else "nearest", leader)


def _leader(rect: Rect, box: Rect) -> tuple[tuple[int, int], tuple[int, int]]:
    """Return a line from the label to the box's point nearest the label's centre."""
    x, y, w, h = rect
    bx, by, bw, bh = box
    px = min(max(x + w // 2, bx), bx + bw)
    py = min(max(y + h // 2, by), by + bh)
    return (min(max(px, x), x + w), min(max(py, y), y + h)), (px, py)
