"""Heat-map overlays of explanation maps, and a contact sheet of them.

One panel per face: the grey face enlarged, beside the same face under its map
(OpenCV's ``inferno`` colormap, more opaque where the map is higher), with caption lines
(the method, the predicted class and, for datasets, the true class) below both. A
sheet's cells are smaller and show the face under its map only.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ferengine.imageops import as_grey, as_uint8

#: Side in pixels the face is enlarged to (FER2013's 48 px crops: × 4), and on a sheet.
SIDE = 192
SHEET_SIDE = 128
#: Opacity of the heat colours where the map is 0 and where it is at its maximum.
ALPHA = (0.05, 0.7)
COLORMAP = cv2.COLORMAP_INFERNO
FONT = cv2.FONT_HERSHEY_SIMPLEX
TEXT, CAPTION_BG = (235, 235, 235), (28, 28, 28)
LINE = 18  # caption line height in pixels at font scale 0.5
GAP = 4  # pixels between the face and its overlay


#: Percentile of a map's positive values drawn at full colour: pixel-level maps
#: (integrated gradients, saliency) have a few extreme pixels that would wash out the rest.
CLIP_PERCENTILE = 99.0


def heat(values: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """Return a map's positive part scaled to [0, 1] by ``vmax``, clipped.

    ``vmax`` defaults to the :data:`CLIP_PERCENTILE` percentile of the positive values
    (their maximum when that is 0).
    """
    positive = np.clip(np.asarray(values, dtype=np.float32), 0.0, None)
    if vmax is None:
        shown = positive[positive > 0]
        vmax = float(np.percentile(shown, CLIP_PERCENTILE)) if shown.size else 0.0
        vmax = vmax if vmax > 0 else float(positive.max())
    return np.clip(positive / vmax, 0.0, 1.0) if vmax > 0 else np.zeros_like(positive)


def blend(face: np.ndarray, values: np.ndarray, side: int = SIDE,
          vmax: float | None = None) -> np.ndarray:  # fmt: skip
    """Return the face (grey, enlarged to ``side``) under its map's colours, as BGR uint8.

    Only the map's positive part is drawn (evidence for the target class); a pixel's
    colour is more opaque the higher its value.
    """
    grey = as_grey(as_uint8(np.asarray(face)))
    h, w = grey.shape
    size = (side, max(1, round(side * h / w))) if w >= h else (max(1, round(side * w / h)), side)
    big = cv2.resize(grey, size, interpolation=cv2.INTER_CUBIC)
    level = cv2.resize(heat(values, vmax), size, interpolation=cv2.INTER_LINEAR)
    colours = cv2.applyColorMap(np.rint(level * 255).astype(np.uint8), COLORMAP)
    alpha = (ALPHA[0] + (ALPHA[1] - ALPHA[0]) * level)[..., None]
    base = cv2.cvtColor(big, cv2.COLOR_GRAY2BGR).astype(np.float32)
    return np.rint((1 - alpha) * base + alpha * colours).astype(np.uint8)


def overlay(face: np.ndarray, values: np.ndarray, lines: Sequence[str], side: int = SIDE,
            with_face: bool = True) -> np.ndarray:  # fmt: skip
    """Return one face's panel: the face, the face under its map, and caption lines (BGR).

    Parameters
    ----------
    face : ndarray
        The face crop (grey or colour, any dtype ferengine reads).
    values : ndarray of shape (H, W)
        Its explanation map, in the face's pixels.
    lines : sequence of str
        Caption lines, written under the images ("gradcam: happy 0.93", "true: sad").
    side : int
        Side of each image, in pixels (captions are scaled with it).
    with_face : bool
        Show the face itself beside the overlay (False: the overlay alone).
    """
    hot = blend(face, values, side)
    h, w = hot.shape[:2]
    scale = 0.5 * min(1.0, side / SIDE * 1.2)
    line = round(LINE * scale / 0.5)
    width = 2 * w + GAP if with_face else w
    panel = np.full((h + line * len(lines) + line // 2, width, 3), CAPTION_BG, np.uint8)
    if with_face:
        plain = cv2.resize(as_grey(as_uint8(np.asarray(face))), (w, h),
                           interpolation=cv2.INTER_CUBIC)  # fmt: skip
        panel[:h, :w] = cv2.cvtColor(plain, cv2.COLOR_GRAY2BGR)
    panel[:h, width - w :] = hot
    for i, text in enumerate(lines):
        cv2.putText(panel, text, (4, h + line * (i + 1) - 2), FONT, scale, TEXT, 1, cv2.LINE_AA)
    return panel


def sheet(panels: Sequence[np.ndarray], columns: int = 6) -> np.ndarray:
    """Return panels in a grid, row by row (cells sized to the largest panel).

    Raises
    ------
    ValueError
        No panel.
    """
    if not panels:
        raise ValueError("a sheet needs at least one panel")
    h = max(p.shape[0] for p in panels)
    w = max(p.shape[1] for p in panels)
    columns = max(1, min(columns, len(panels)))
    rows = -(-len(panels) // columns)
    grid = np.full((rows * (h + GAP) - GAP, columns * (w + GAP) - GAP, 3), 255, np.uint8)
    for i, panel in enumerate(panels):
        y, x = divmod(i, columns)
        grid[y * (h + GAP) : y * (h + GAP) + panel.shape[0],
             x * (w + GAP) : x * (w + GAP) + panel.shape[1]] = panel  # fmt: skip
    return grid
