"""Videos: faces of every ``stride``-th frame, tracked and smoothed, and an annotated copy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2

from ferengine.prediction.annotate import annotate
from ferengine.prediction.inputs import InputError
from ferengine.prediction.predictor import FacePredictor
from ferengine.prediction.tracking import IoUTracker, Smoother

Row = dict[str, Any]


def predict_video(path: Path, predictor: FacePredictor, stride: int = 1, smooth: int = 1,
                  annotated: Path | None = None) -> Iterator[tuple[Row, float]]:  # fmt: skip
    """Yield one row per processed frame and its detection-and-crop seconds.

    Every ``stride``-th frame is processed; each face gets a track id (IoU tracking
    across processed frames) and probabilities averaged over its track's last
    ``smooth`` processed frames. With ``annotated``, every frame is written to that
    video file with the latest boxes drawn on it.

    Raises
    ------
    InputError
        OpenCV cannot open the file or read a first frame from it.
    """
    if stride < 1:
        raise ValueError(f"stride must be ≥ 1, got {stride!r}")
    capture = cv2.VideoCapture(str(path))
    ok, frame = capture.read() if capture.isOpened() else (False, None)
    if not ok:
        capture.release()
        raise InputError("unreadable video: OpenCV could not read a frame from it")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    writer = None
    if annotated is not None:
        size = (frame.shape[1], frame.shape[0])
        writer = cv2.VideoWriter(str(annotated), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    tracker, smoother = IoUTracker(), Smoother(smooth)
    index, faces = 0, []
    try:
        while ok:
            process = index % stride == 0
            if process or writer is not None:  # skipped frames of an unannotated run: no work
                rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            if process:
                found = predictor.find(rgb)
                proba = predictor.probabilities([f.crop for f in found.faces])
                tracks = tracker.update([f.face.box for f in found.faces])
                faces = [
                    {**predictor.describe(f, smoother.update(track, p)), "track": track}
                    for f, p, track in zip(found.faces, proba, tracks, strict=True)
                ]
                row = {"input": str(path), "frame": index, "faces": faces, "error": None}
                yield row, found.seconds
            if writer is not None:
                writer.write(annotate(rgb, faces))
            ok, frame = capture.read()
            index += 1
    finally:
        capture.release()
        if writer is not None:
            writer.release()
