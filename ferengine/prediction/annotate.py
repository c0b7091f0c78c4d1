"""Annotated copies of the inputs: face boxes, one compact label per face, an optional bars panel.

Each face gets its box and one label, "happy 0.93" ("#3 happy 0.93" with a video track),
in a filled box of the face's colour: one colour per expression, whatever the label space
calls it (:data:`EXPRESSION_COLOURS`; "happy" and "happiness" alike; a class no expression
name matches takes its place in the model's class list into :data:`PALETTE`), amber for
"uncertain", light grey for a face without a label yet (a temporal model's track before
its first clip: "#3").
Labels are placed by :func:`ferengine.prediction.labels_layout.place_labels`: they never
overlap each other nor leave the image, and avoid the other faces. Sizes follow the image and
the face, within pixel bounds, so a 300 px and a 4,000 px image read alike.

With ``bars=True`` a panel is appended to the right of the image (which is not covered):
per face, its number (also on its label: "1 happy 0.93") and one bar per class.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ferengine.imageops import as_uint8
from ferengine.labels import FER7, canonical
from ferengine.prediction.labels_layout import LabelPlacement, place_labels
from ferengine.prediction.predictor import UNCERTAIN

Colour = tuple[int, int, int]  # BGR

#: Box and label colours (BGR), in fer7's class order then contempt: angry red, disgust
#: purple, fear pink, happy green, sad blue, surprise cyan, neutral grey, contempt teal.
PALETTE: tuple[Colour, ...] = (
    (60, 76, 231), (200, 110, 170), (180, 120, 235), (60, 200, 60),
    (230, 140, 70), (235, 205, 90), (200, 200, 200), (140, 170, 0),
)  # fmt: skip
#: The colour of each expression by its canonical name (:func:`ferengine.labels.canonical`),
#: so a class keeps its colour across label spaces (fer7's "happy", ferplus8's "happiness").
EXPRESSION_COLOURS: dict[str, Colour] = dict(zip((*FER7.names, "contempt"), PALETTE, strict=True))
#: The colour of "uncertain" faces.
AMBER: Colour = (0, 170, 255)
PANEL, BAR_TRACK, LIGHT = (32, 32, 32), (78, 78, 78), (215, 215, 215)
#: The colour of faces without a label (a temporal model's track before its first clip).
UNLABELLED: Colour = LIGHT
DARK, WHITE = (20, 20, 20), (255, 255, 255)

FONT = cv2.FONT_HERSHEY_SIMPLEX
#: Cap height in pixels of a label at its preferred size: 1 % of the image's longer
#: side plus 4 % of the face's side, within these bounds.
TEXT_HEIGHT = (10, 56)
#: Labels shrink (when crowded) down to this cap height, or 0.6 % of the image's longer
#: side if that is more; below it only when the image itself is smaller than the label.
MIN_READABLE = 7
#: Cap height in pixels of the bars panel's text: 1 % of the image's longer side, within.
PANEL_TEXT_HEIGHT = (10, 40)
_CAP = cv2.getTextSize("H", FONT, 1.0, 1)[0][1]  # cap height at font scale 1


@dataclass(frozen=True)
class FaceLabel:
    """One face's label as drawn: its text, colours, font and place.

    Attributes
    ----------
    text : str
        "happy 0.93", with "#<track> " first for a tracked face and "<number> " first
        when numbered for the bars panel.
    colour, ink : (B, G, R)
        The fill (the face's colour) and the text colour.
    scale : float
        OpenCV font scale (Hershey simplex).
    thickness : int
        Text stroke width.
    placement : LabelPlacement
        Its rectangle (the filled box), size level, position and leader line.
    """

    text: str
    colour: Colour
    ink: Colour
    scale: float
    thickness: int
    placement: LabelPlacement


def face_colour(face: dict[str, Any]) -> Colour:
    """Return a face's colour (BGR): its class's palette colour, amber when uncertain."""
    label = face.get("label")
    if label is None:
        return UNLABELLED
    if label == UNCERTAIN:
        return AMBER
    if (colour := EXPRESSION_COLOURS.get(canonical(label))) is not None:
        return colour
    names = list(face.get("probabilities") or ())
    index = names.index(label) if label in names else zlib.crc32(str(label).encode())
    return PALETTE[index % len(PALETTE)]


def ink_on(colour: Colour) -> Colour:
    """Return dark or white text, whichever reads better on ``colour``."""
    b, g, r = colour
    return DARK if 0.114 * b + 0.587 * g + 0.299 * r > 120 else WHITE


def label_text(face: dict[str, Any], number: int | None = None) -> str:
    """Return a face's label: ``[number ][#track ]class confidence``, e.g. "1 #3 happy 0.93".

    A face without a label (``label`` missing or None) shows only its number and track
    ("#3"), or "face" when it has neither.
    """
    parts = [] if number is None else [str(number)]
    if face.get("track") is not None:
        parts.append(f"#{face['track']}")
    if face.get("label") is not None:
        parts.append(f"{face['label']} {face['confidence']:.2f}")
    return " ".join(parts) or "face"


def _side(box: Sequence[int]) -> float:
    return math.sqrt(max(box[2], 1) * max(box[3], 1))


def text_height(box: Sequence[int], width: int, height: int) -> float:
    """Return the preferred cap height of a face's label, in pixels (:data:`TEXT_HEIGHT`)."""
    lo, hi = TEXT_HEIGHT
    return float(np.clip(0.01 * max(width, height) + 0.04 * _side(box), lo, hi))


def line_thickness(width: int, height: int, box: Sequence[int] | None = None) -> int:
    """Return the width of box lines: 0.25 % of the longer side, 1–10 px, ≤ 1/25 of the face."""
    thick = min(10, max(1, round(0.0025 * max(width, height))))
    return thick if box is None else max(1, min(thick, round(_side(box) / 25)))


def _font(cap: float) -> tuple[float, int]:
    """Font scale and stroke width for a cap height in pixels."""
    return cap / _CAP, max(1, round(cap / 12))


def _label_size(text: str, cap: float) -> tuple[int, int]:
    """Return the size of the filled box around ``text`` at cap height ``cap`` (with padding)."""
    scale, thick = _font(cap)
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thick)
    pad_x, pad_y = max(2, round(0.3 * cap)), max(1, round(0.2 * cap))
    return tw + 2 * pad_x, th + base + 2 * pad_y


def _caps(text: str, preferred: float, smallest: float, width: int, height: int) -> list[float]:
    """Cap heights to try, from ``preferred`` down to ``smallest`` (smaller if the image is)."""
    caps = [preferred]
    while caps[-1] * 0.85 > smallest:
        caps.append(caps[-1] * 0.85)
    if caps[-1] > smallest:
        caps.append(smallest)
    while caps[-1] > 3:  # an image smaller than a readable label
        w, h = _label_size(text, caps[-1])
        if w <= width and h <= height:
            break
        caps.append(caps[-1] * min(0.85, width / w, height / h))
    return caps


def face_labels(faces: Sequence[dict[str, Any]], width: int, height: int,
                numbered: bool = False) -> list[FaceLabel]:  # fmt: skip
    """Return the label of each face of a ``width`` × ``height`` image, placed.

    Parameters
    ----------
    faces : sequence of dict
        Face records (``box``, ``label``, ``confidence``; ``probabilities`` for the
        colour, ``track`` when tracked).
    width, height : int
        The image size.
    numbered : bool
        Put each face's number (1, 2, … in the order of ``faces``) first, as the bars
        panel lists them.

    Returns
    -------
    list of FaceLabel
        In the order of ``faces``.
    """
    texts = [label_text(f, i + 1 if numbered else None) for i, f in enumerate(faces)]
    smallest = max(MIN_READABLE, 0.006 * max(width, height))
    caps = [
        _caps(text, text_height(f["box"], width, height), smallest, width, height)
        for text, f in zip(texts, faces, strict=True)
    ]
    sizes = [[_label_size(text, cap) for cap in c] for text, c in zip(texts, caps, strict=True)]
    gap = max(1, line_thickness(width, height) // 2 + 1)
    boxes = [tuple(int(v) for v in f["box"]) for f in faces]
    placements = place_labels(boxes, sizes, width, height, gap)  # type: ignore[arg-type]
    labels = []
    for face, text, c, where in zip(faces, texts, caps, placements, strict=True):
        colour = face_colour(face)
        labels.append(FaceLabel(text, colour, ink_on(colour), *_font(c[where.level]), where))
    return labels


def annotate(image: np.ndarray, faces: Sequence[dict[str, Any]], *,
             bars: bool = False) -> np.ndarray:  # fmt: skip
    """Return a BGR copy of an image with each face's box, landmarks and label drawn.

    Parameters
    ----------
    image : ndarray
        H×W grey or H×W×3 RGB (H×W×4 RGBA: alpha ignored), 8 or 16 bit or float, as
        :func:`ferengine.imageops.as_uint8` reads it.
    faces : sequence of dict
        Face records as ``ferengine.predict`` returns them (``box``, ``label``,
        ``confidence``, ``probabilities``; ``landmarks`` and ``track`` when present).
    bars : bool
        Append a panel to the right listing each face by number with a bar per class
        (the canvas grows; the image is not covered). Taller than the image when needed:
        the image is then padded at the bottom.

    Returns
    -------
    ndarray
        uint8 BGR, H×W×3 (wider, and maybe taller, with ``bars``), ready for ``cv2.imwrite``.
    """
    image = as_uint8(image)
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if image.ndim == 2 else cv2.COLOR_RGB2BGR)
    height, width = canvas.shape[:2]
    labels = face_labels(faces, width, height, numbered=bars)
    for face, label in zip(faces, labels, strict=True):
        x, y, w, h = (int(v) for v in face["box"])
        thick = line_thickness(width, height, face["box"])
        cv2.rectangle(canvas, (x, y), (x + w, y + h), label.colour, thick)
        radius = max(1, min(3, round(_side(face["box"]) / 200)))  # 1 px on faces under 300 px
        for px, py in face.get("landmarks") or []:
            cv2.circle(canvas, (round(px), round(py)), radius, WHITE, -1, cv2.LINE_AA)
    for label in labels:
        _draw_label(canvas, label, line_thickness(width, height))
    if bars and faces:
        panel = _panel(faces, labels, width, height)
        image, canvas = canvas, np.empty((panel.shape[0], width + panel.shape[1], 3), np.uint8)
        cv2.rectangle(canvas, (0, height), (width, panel.shape[0]), PANEL, -1)  # padding
        canvas[:height, :width] = image
        canvas[:, width:] = panel
    return canvas


def _draw_label(canvas: np.ndarray, label: FaceLabel, line: int) -> None:
    """Draw a label's leader line (if any), filled box and text."""
    x, y, w, h = label.placement.rect
    if label.placement.leader is not None:
        start, end = label.placement.leader
        cv2.line(canvas, start, end, label.colour, max(1, line // 2), cv2.LINE_AA)
        cv2.circle(canvas, end, max(2, line), label.colour, -1, cv2.LINE_AA)
    cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), label.colour, -1)
    _text(canvas, label.text, (x, y), label.scale, label.thickness, label.ink)


def _text(canvas: np.ndarray, text: str, corner: tuple[int, int], scale: float,
          thick: int, colour: Colour) -> None:  # fmt: skip
    """Draw ``text`` inside the padded box whose top-left corner is ``corner``."""
    cap = scale * _CAP
    (_, th), _ = cv2.getTextSize(text, FONT, scale, thick)
    origin = (corner[0] + max(2, round(0.3 * cap)), corner[1] + max(1, round(0.2 * cap)) + th)
    cv2.putText(canvas, text, origin, FONT, scale, colour, thick, cv2.LINE_AA)


def _panel(faces: Sequence[dict[str, Any]], labels: list[FaceLabel], width: int,
           height: int) -> np.ndarray:  # fmt: skip
    """Draw the bars panel: per face a chip with its label, then name, bar and value per class.

    Faces are listed down columns; the number of columns is the one that makes the whole
    canvas (image plus panel, padded to the taller) smallest.
    """
    lo, hi = PANEL_TEXT_HEIGHT
    cap = float(np.clip(0.01 * max(width, height), lo, hi))
    scale, thick = _font(cap)
    row, pad, bar = round(1.9 * cap), round(0.8 * cap), round(6 * cap)
    names = list(dict.fromkeys(n for f in faces for n in f.get("probabilities") or ()))
    name_w = max([cv2.getTextSize(n, FONT, scale, thick)[0][0] for n in names], default=0)
    value_w = cv2.getTextSize("0.00", FONT, scale, thick)[0][0]
    chips = [_label_size(label.text, cap) for label in labels]
    column = max(name_w + bar + value_w + 2 * pad, max(w for w, _ in chips)) + 2 * pad
    rows = max(len(f.get("probabilities") or ()) for f in faces) + 1
    block = row * rows + pad
    n = len(faces)
    columns = min(range(1, n + 1), key=lambda c: (width + c * column)
                  * max(height, math.ceil(n / c) * block + pad))  # fmt: skip
    per_column = math.ceil(n / columns)
    panel = np.empty((max(height, per_column * block + pad), columns * column, 3), np.uint8)
    cv2.rectangle(panel, (0, 0), (panel.shape[1], panel.shape[0]), PANEL, -1)
    for i, (face, label) in enumerate(zip(faces, labels, strict=True)):
        x0, y0 = (i // per_column) * column + pad, (i % per_column) * block + pad
        chip_w, chip_h = _label_size(label.text, cap)
        cv2.rectangle(panel, (x0, y0), (x0 + chip_w - 1, y0 + chip_h - 1), label.colour, -1)
        _text(panel, label.text, (x0, y0), scale, thick, label.ink)
        probabilities = face.get("probabilities") or {}
        top = max(probabilities, key=probabilities.get, default=None)
        for k, (name, p) in enumerate(probabilities.items()):
            y = y0 + row * (k + 1)
            baseline = y + (row + cap) // 2
            cv2.putText(panel, name, (x0, round(baseline)), FONT, scale, LIGHT, thick, cv2.LINE_AA)
            bx, by, bh = x0 + name_w + pad, y + round(0.25 * row), round(0.5 * row)
            fill = label.colour if name == top else LIGHT
            cv2.rectangle(panel, (bx, by), (bx + bar, by + bh), BAR_TRACK, -1)
            if round(bar * float(p)) > 0:
                cv2.rectangle(panel, (bx, by), (bx + round(bar * float(p)), by + bh), fill, -1)
            cv2.putText(panel, f"{float(p):.2f}", (bx + bar + pad, round(baseline)), FONT,
                        scale, LIGHT, thick, cv2.LINE_AA)  # fmt: skip
    return panel
