"""Videos: faces of every ``stride``-th frame, detected or followed, smoothed, and annotated."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Generator, Iterator
from dataclasses import asdict, dataclass
from numbers import Integral
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ferengine.loading import MAX_PIXELS, pixel_limit_reason
from ferengine.plugin import Face
from ferengine.prediction.annotate import annotate
from ferengine.prediction.inputs import InputError, check_file
from ferengine.prediction.predictor import (
    FaceCropper,
    FacePredictor,
    ImageFaces,
)
from ferengine.prediction.tracking import Box, FlowTracker, IoUTracker, Smoother

Row = dict[str, Any]
Timings = dict[str, float]  # seconds by stage

#: Failed reads in a row after which a video is taken to have ended. A frame that
#: fails to decode is skipped when a later one reads; the container's frame count
#: bounds the retries too, so a complete video never pays for them.
MAX_BAD_FRAMES_IN_A_ROW = 25

#: Processed frames per detection: the detector runs on the first of every
#: ``DETECT_EVERY`` processed frames, and optical flow moves the boxes on the others
#: (see ``benchmarks/video_tracking.py`` for the speed and box error it was chosen by).
DETECT_EVERY = 5

#: ``found_by`` of a face whose box optical flow moved from an earlier frame.
TRACKED = "tracked"


def check_detect_every(detect_every: object) -> int:
    """Return ``detect_every`` if it is an int ≥ 1.

    Raises
    ------
    ValueError
        It is not (a bool is not an int here).
    """
    if isinstance(detect_every, bool) or not isinstance(detect_every, Integral) or detect_every < 1:
        raise ValueError(f"detect_every must be an int ≥ 1, got {detect_every!r}")
    return int(detect_every)


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
    detect_every: int = DETECT_EVERY,
) -> Generator[tuple[Row, Timings | None], None, VideoFrames]:
    """Yield one row per processed frame and its seconds per stage of finding the faces.

    Every ``stride``-th frame is processed. The detector runs on the first of every
    ``detect_every`` processed frames; on the others, optical flow
    (:class:`~ferengine.prediction.tracking.FlowTracker`) moves each box seen on the
    previous processed frame, and a face whose points are lost is left out until a
    detection frame finds it again. Every face, detected or moved, is landmarked,
    levelled, cropped and classified; a moved one's record has ``found_by`` "tracked" and
    ``score`` None. Each face gets a track id (IoU matching on detection frames, the
    flow between them) and probabilities averaged over its track's last ``smooth``
    processed frames. With ``annotated``, every frame is written to that video file
    with the latest boxes drawn on it. A frame that fails to decode is skipped (up to
    :data:`MAX_BAD_FRAMES_IN_A_ROW` in a row); a row's ``frame`` is its index in the
    container, skipped frames included.

    When fewer frames are read than the container announces, or frames were skipped,
    a last, video-level row follows: ``frame`` None, no faces, ``video`` holding the
    counts (:meth:`VideoFrames.as_dict`) and ``error`` saying what is wrong (its
    timings are None).

    Returns
    -------
    VideoFrames
        The counts (the generator's return value, for ``yield from``).

    Raises
    ------
    InputError
        The path is not a readable regular file, OpenCV cannot open it or read a
        first frame from it, or its frames are above ``max_pixels``.
    ValueError
        ``stride`` or ``detect_every`` is not an int ≥ 1.
    """
    if stride < 1:
        raise ValueError(f"stride must be ≥ 1, got {stride!r}")
    detect_every = check_detect_every(detect_every)
    with open_video(path, max_pixels) as (capture, counts):
        yield from _frames(capture, counts, path, predictor, (stride, detect_every), smooth,
                           annotated)  # fmt: skip
    problem = counts.problem()
    if problem is not None:
        row = {"input": str(path), "frame": None, "faces": [], "video": counts.as_dict()}
        yield {**row, "error": problem}, None
    return counts


@contextlib.contextmanager
def open_video(
    path: Path, max_pixels: int | None = MAX_PIXELS
) -> Iterator[tuple[cv2.VideoCapture, VideoFrames]]:
    """Open a video file with OpenCV; yield the capture and its (still empty) frame counts.

    The capture is released on leaving the block. Read its frames with :func:`read_frames`.

    Raises
    ------
    InputError
        The path is not a readable regular file, OpenCV cannot open it, or its stream's
        header declares frames above ``max_pixels``.
    """
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
        yield capture, VideoFrames(count or None)
    finally:
        capture.release()


def read_frames(capture: cv2.VideoCapture, counts: VideoFrames) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, frame)`` for every frame that decodes, BGR as OpenCV reads it.

    ``index`` is the frame's position in the container, skipped frames included. A
    frame that fails to decode is skipped when a later one reads (up to
    :data:`MAX_BAD_FRAMES_IN_A_ROW` in a row, and never past the container's frame
    count); ``counts`` records the frames read (each once the next one is asked for)
    and skipped.

    Raises
    ------
    InputError
        Not one frame could be read.
    """
    index, bad = 0, 0  # index of the next frame in the container; failed reads in a row
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
        yield index, frame
        counts.frames_read += 1
        index += 1
    if not counts.frames_read:
        raise InputError("unreadable video: OpenCV could not read a frame from it")


def _count(capture: cv2.VideoCapture, *props: int) -> list[int]:
    """Return OpenCV properties as counts: 0 when unknown (negative, NaN or infinite)."""
    values = [capture.get(p) for p in props]
    return [int(v) if math.isfinite(v) and v > 0 else 0 for v in values]


def _frames(capture: cv2.VideoCapture, counts: VideoFrames, path: Path,
            predictor: FacePredictor, every: tuple[int, int], smooth: int,
            annotated: Path | None) -> Generator[tuple[Row, Timings], None, None]:  # fmt: skip
    """Read, process and annotate the frames, counting them in ``counts``.

    ``every`` is (stride, detect_every).
    """
    stride, detect_every = every
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    tracks, smoother = VideoFaces(predictor, detect_every), Smoother(smooth)
    writer, faces = None, []
    try:
        for index, frame in read_frames(capture, counts):
            if writer is None and annotated is not None:
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(str(annotated), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
            process = index % stride == 0
            if process or writer is not None:  # skipped frames of an unannotated run: no work
                rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            if process:
                found, ids = tracks.find(rgb, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
                proba = predictor.probabilities([f.crop for f in found.faces])
                faces = [
                    {**predictor.describe(f, smoother.update(track, p)), "track": track}
                    for f, p, track in zip(found.faces, proba, ids, strict=True)
                ]
                row = {"input": str(path), "frame": index, "faces": faces, "error": None}
                yield row, found.timings
            if writer is not None:
                writer.write(annotate(rgb, faces))
    finally:
        if writer is not None:
            writer.release()


class VideoFaces:
    """The faces of a video's processed frames, one frame after the other, with track ids.

    The detector runs on the first of every ``detect_every`` processed frames, and
    :class:`~ferengine.prediction.tracking.IoUTracker` gives its faces track ids. On the
    others, :class:`~ferengine.prediction.tracking.FlowTracker` moves the boxes of the
    tracks seen on the previous processed frame (with the detector's keypoints); a
    track it loses has no face until a detection frame finds it again. Every face is
    landmarked, levelled and cropped as :meth:`FaceCropper.find` does.

    Parameters
    ----------
    predictor : FaceCropper
        Detects, landmarks and crops (a :class:`FacePredictor` is one).
    detect_every : int
        Processed frames per detection.
    """

    def __init__(self, predictor: FaceCropper, detect_every: int = DETECT_EVERY) -> None:
        self.predictor = predictor
        self.detect_every = detect_every
        self.tracker = IoUTracker()
        self.flow = FlowTracker()
        self._previous: np.ndarray | None = None  # the last processed frame, grey
        self._keypoints: dict[int, np.ndarray | None] = {}  # of the faces on it, by track
        self._processed = 0

    def find(self, rgb: np.ndarray, grey: np.ndarray) -> tuple[ImageFaces, list[int]]:
        """Return the faces of the next processed frame (RGB and grey) and their track ids.

        Detection frames are timed per detector stage; tracked frames under "tracked"
        (the optical flow). Both add "landmarks" and "crop".
        """
        if self._previous is None or self._processed % self.detect_every == 0:
            found = self.predictor.find(rgb)
            ids = self.tracker.update([f.face.box for f in found.faces])
        else:
            found, ids = self._follow(rgb, grey)
        self._keypoints = {t: f.face.keypoints for t, f in zip(ids, found.faces, strict=True)}
        self._previous, self._processed = grey, self._processed + 1
        return found, ids

    def _follow(self, rgb: np.ndarray, grey: np.ndarray) -> tuple[ImageFaces, list[int]]:
        """Move the boxes of the tracks seen last into this frame; landmark and crop them."""
        start = time.perf_counter()
        seen = self.tracker.seen()
        boxes = self.flow.move(self._previous, grey, list(seen.values()))
        moved = {t: box for t, box in zip(seen, boxes, strict=True) if box is not None}
        self.tracker.follow(moved)
        carried = {t: _carry(self._keypoints.get(t), seen[t], box) for t, box in moved.items()}
        faces = [
            Face(_pixels(box, grey.shape), None, carried[t], TRACKED) for t, box in moved.items()
        ]
        timings = {TRACKED: time.perf_counter() - start}
        return ImageFaces(self.predictor.crop(rgb, faces, timings), timings), list(moved)


def _pixels(box: Box, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Round a moved box to whole pixels inside a frame of ``shape``, as detectors give them."""
    h, w = shape[:2]
    x0, y0 = max(0, round(box[0])), max(0, round(box[1]))
    x1, y1 = min(w, round(box[0] + box[2])), min(h, round(box[1] + box[3]))
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def _carry(points: np.ndarray | None, before: Box, after: Box) -> np.ndarray | None:
    """Move points with their box: the shift of its centre and the change of its width."""
    if points is None:
        return None
    scale = after[2] / before[2]
    centre = np.array([before[0] + before[2] / 2, before[1] + before[3] / 2])
    moved = np.array([after[0] + after[2] / 2, after[1] + after[3] / 2])
    return moved + scale * (np.asarray(points, float) - centre)
