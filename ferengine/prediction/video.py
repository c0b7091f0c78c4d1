"""Videos: faces of every ``stride``-th frame, tracked and smoothed, and an annotated copy."""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2

from ferengine.loading import MAX_PIXELS, pixel_limit_reason
from ferengine.prediction.annotate import annotate
from ferengine.prediction.inputs import InputError, check_file
from ferengine.prediction.predictor import FacePredictor
from ferengine.prediction.tracking import IoUTracker, Smoother

Row = dict[str, Any]

#: Failed reads in a row after which a video is taken to have ended. A frame that
#: fails to decode is skipped when a later one reads; the container's frame count
#: bounds the retries too, so a complete video never pays for them.
MAX_BAD_FRAMES_IN_A_ROW = 25


@dataclass
class VideoFrames:
    """How many frames of a video were read, compared with its container's count.

    ``frames_expected`` is OpenCV's ``CAP_PROP_FRAME_COUNT`` (the container's frame
    index or header, or duration × fps when it has none); None when it gives none,
    and then ``frames_missing`` is None too.
    """

    frames_expected: int | None
    frames_read: int = 0
    frames_skipped: int = 0

    @property
    def frames_missing(self) -> int | None:
        """Frames the container announces that were neither read nor skipped."""
        if self.frames_expected is None:
            return None
        return max(0, self.frames_expected - self.frames_read - self.frames_skipped)

    def as_dict(self) -> dict[str, int | None]:
        """Return the four counts, as written in a video row and in ``summary.json``."""
        return {**asdict(self), "frames_missing": self.frames_missing}

    def problem(self) -> str | None:
        """Say what is wrong (ended early, corrupt frames skipped), or None."""
        expected, read, skipped = self.frames_expected, self.frames_read, self.frames_skipped
        skipped_text = f"could not be decoded and {'were' if skipped > 1 else 'was'} skipped"
        if self.frames_missing:
            end = f"video ended early: read {read} of {expected} frames"
            return f"{end} ({skipped} more {skipped_text})" if skipped else end
        if skipped:
            return f"corrupt video: {skipped} of {expected} frames {skipped_text}"
        return None


def predict_video(
    path: Path,
    predictor: FacePredictor,
    stride: int = 1,
    smooth: int = 1,
    annotated: Path | None = None,
    max_pixels: int | None = MAX_PIXELS,
) -> Generator[tuple[Row, float | None], None, VideoFrames]:
    """Yield one row per processed frame and its detection-and-crop seconds.

    Every ``stride``-th frame is processed; each face gets a track id (IoU tracking
    across processed frames) and probabilities averaged over its track's last
    ``smooth`` processed frames. With ``annotated``, every frame is written to that
    video file with the latest boxes drawn on it. A frame that fails to decode is
    skipped (up to :data:`MAX_BAD_FRAMES_IN_A_ROW` in a row); a row's ``frame`` is
    its index in the container, skipped frames included.

    When fewer frames are read than the container announces, or frames were skipped,
    a last, video-level row follows: ``frame`` None, no faces, ``video`` holding the
    counts (:meth:`VideoFrames.as_dict`) and ``error`` saying what is wrong (its
    seconds are None).

    Returns
    -------
    VideoFrames
        The counts (the generator's return value, for ``yield from``).

    Raises
    ------
    InputError
        The path is not a readable regular file, OpenCV cannot open it or read a
        first frame from it, or its frames are above ``max_pixels``.
    """
    if stride < 1:
        raise ValueError(f"stride must be ≥ 1, got {stride!r}")
    check_file(path)  # never hand a pipe, a device or a folder to OpenCV
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise InputError("unreadable video: OpenCV could not read a frame from it")
        width, height = _count(capture, cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT)
        reason = pixel_limit_reason(width, height, max_pixels)
        if reason is not None:  # from the stream's header, before decoding a frame
            raise InputError(reason.replace("image too large", "video frames too large", 1))
        (count,) = _count(capture, cv2.CAP_PROP_FRAME_COUNT)
        counts = VideoFrames(count or None)
        yield from _frames(capture, counts, path, predictor, stride, smooth, annotated)
    finally:
        capture.release()
    problem = counts.problem()
    if problem is not None:
        row = {"input": str(path), "frame": None, "faces": [], "video": counts.as_dict()}
        yield {**row, "error": problem}, None
    return counts


def _count(capture: cv2.VideoCapture, *props: int) -> list[int]:
    """Return OpenCV properties as counts: 0 when unknown (negative, NaN or infinite)."""
    values = [capture.get(p) for p in props]
    return [int(v) if math.isfinite(v) and v > 0 else 0 for v in values]


def _frames(capture: cv2.VideoCapture, counts: VideoFrames, path: Path,
            predictor: FacePredictor, stride: int, smooth: int,
            annotated: Path | None) -> Generator[tuple[Row, float], None, None]:  # fmt: skip
    """Read, process and annotate the frames, counting them in ``counts``."""
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    tracker, smoother = IoUTracker(), Smoother(smooth)
    writer, faces = None, []
    index, bad = 0, 0  # index of the next frame in the container; failed reads in a row
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                bad += 1
                expected = counts.frames_expected
                if expected is None or index + bad >= expected or bad > MAX_BAD_FRAMES_IN_A_ROW:
                    break  # the end (or as good as)
                continue  # a corrupt frame: try the next one
            counts.frames_skipped += bad
            index += bad
            bad = 0
            if writer is None and annotated is not None:
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(str(annotated), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
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
            counts.frames_read += 1
            index += 1
    finally:
        if writer is not None:
            writer.release()
    if not counts.frames_read:
        raise InputError("unreadable video: OpenCV could not read a frame from it")
