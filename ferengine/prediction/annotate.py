"""Annotated copies of the inputs: face boxes, labels, landmarks and confidence bars."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ferengine.imageops import as_uint8

GREEN, AMBER, WHITE, DARK = (60, 200, 60), (0, 170, 255), (255, 255, 255), (40, 40, 40)  # BGR


def annotate(image: np.ndarray, faces: list[dict[str, Any]]) -> np.ndarray:
    """Return a BGR copy of an image with each face's box, label and probability bars.

    Uncertain faces are drawn in amber; the bars beside each box show every class's
    probability (the top class's bar in the box colour).
    """
    image = as_uint8(image)
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if image.ndim == 2 else cv2.COLOR_RGB2BGR)
    h, w = canvas.shape[:2]
    scale = max(0.35, min(h, w) / 800)
    thick = max(1, round(2 * scale))
    for face in faces:
        x, y, bw, bh = face["box"]
        colour = AMBER if face["label"] == "uncertain" else GREEN
        cv2.rectangle(canvas, (x, y), (x + bw, y + bh), colour, thick)
        for px, py in face.get("landmarks") or []:
            cv2.circle(canvas, (round(px), round(py)), max(1, thick - 1), WHITE, -1)
        track = f"#{face['track']} " if face.get("track") is not None else ""
        text = f"{track}{face['label']} {face['confidence']:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        top = max(th + base, y)
        cv2.rectangle(canvas, (x, top - th - base), (x + tw, top), colour, -1)
        cv2.putText(canvas, text, (x, top - base), cv2.FONT_HERSHEY_SIMPLEX, scale, DARK, thick)
        _bars(canvas, face["probabilities"], (x + bw + 4, y), scale, colour)
    return canvas


def _bars(canvas: np.ndarray, probabilities: dict[str, float], origin: tuple[int, int],
          scale: float, colour: tuple[int, int, int]) -> None:  # fmt: skip
    """Draw one bar per class (full length: probability 1), its name and value after it."""
    x, y = origin
    step, length = round(22 * scale) + 2, round(70 * scale)
    text_width = cv2.getTextSize("surprise 0.00", cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, 1)[0][0]
    top = max(probabilities.values(), default=0.0)
    for i, (name, p) in enumerate(probabilities.items()):
        row = y + i * step
        if x + length + text_width + 8 > canvas.shape[1] or row + step > canvas.shape[0]:
            return  # no room beside the box
        fill = colour if p == top else WHITE
        cv2.rectangle(canvas, (x, row), (x + length, row + step - 3), DARK, -1)
        cv2.rectangle(canvas, (x, row), (x + round(length * p), row + step - 3), fill, -1)
        cv2.putText(canvas, f"{name[:8]} {p:.2f}", (x + length + 4, row + step - 6),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, WHITE, 1, cv2.LINE_AA)  # fmt: skip
