"""Videos: faces of every ``stride``-th frame, detected or followed, classified, and annotated.

A model of single images classifies every face on its frame (smoothed along its
track); a temporal model classifies each track's last frames as one clip
(:mod:`ferengine.prediction.windows`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
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
from ferengine.prediction.windows import ClipWindows, check_count, model_window

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
    and then ``frames_missing`` is None too. ``seconds`` holds the time spent per stage
    of the video's processing (decoding, each stage of finding faces, the model,
    annotating), which :meth:`as_dict` leaves out.
    """

    frames_expected: int | None
    frames_read: int = 0
    frames_skipped: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def frames_missing(self) -> int | None:
        """Frames the container announces that were neither read nor skipped."""
        if self.frames_expected is None:
            return None
        return max(0, self.frames_expected - self.frames_read - self.frames_skipped)

    def as_dict(self) -> dict[str, int | None]:
        """Return the four counts, as written in a video row and in ``summary.json``."""
        return {
            "frames_expected": self.frames_expected,
            "frames_read": self.frames_read,
            "frames_skipped": self.frames_skipped,
            "frames_missing": self.frames_missing,
        }

    def add_seconds(self, stage: str, seconds: float) -> None:
        """Add time spent on ``stage``."""
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

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
    window: int | None = None,
    clip_every: int | None = None,
) -> Generator[tuple[Row, Timings | None], None, VideoFrames]:
    """Yield one row per processed frame and its seconds per stage of finding the faces.

    Every ``stride``-th frame is processed. The detector runs on the first of every
    ``detect_every`` processed frames; on the others, optical flow
    (:class:`~ferengine.prediction.tracking.FlowTracker`) moves each box seen on the
    previous processed frame, and a face whose points are lost is left out until a
    detection frame finds it again. Every face, detected or moved, is landmarked,
    levelled and cropped; a moved one's record has ``found_by`` "tracked" and ``score``
    None. Each face gets a track id (IoU matching on detection frames, the flow between
    them). With ``annotated``, every frame is written to that video file with the
    latest boxes and labels drawn on it. A frame that fails to decode is skipped (up
    to :data:`MAX_BAD_FRAMES_IN_A_ROW` in a row); a row's ``frame`` is its index in the
    container, skipped frames included.

    A model of single images classifies every face, with probabilities averaged over
    its track's last ``smooth`` processed frames. A temporal model (``predictor.sequence``)
    gives faces no label: each track keeps its last ``window`` crops
    (:class:`~ferengine.prediction.windows.ClipWindows`), and once it holds that many,
    then every ``clip_every`` processed frames it is seen in, the model classifies them
    as one clip. A frame row's ``clips`` lists the clips classified on it: ``track``,
    ``first_frame`` and ``last_frame`` (video frame indices), ``first_time`` and
    ``last_time`` (seconds), ``frames`` (in the clip), ``label``, ``confidence``,
    ``probabilities`` (averaged over the track's last ``smooth`` clips; ``valence`` and
    ``valence_probabilities`` with valence labels) and ``error`` (None).

    A last, video-level row follows when fewer frames are read than the container
    announces or frames were skipped, and, with a temporal model, when tracks never
    held a whole window: ``frame`` None, no faces, ``video`` holding the counts
    (:meth:`VideoFrames.as_dict`), ``error`` saying what is wrong with the video (or
    None), and for a temporal model ``clips`` holding one record per such track, with
    the frames it was seen in, no label, and a note as its ``error`` ("track 3 lasted
    9 processed frames (frames 40–48), the model needs 16"). Its timings are None.

    Parameters
    ----------
    window : int, optional
        Temporal models: frames per clip (default: the model's ``frames`` parameter if
        it declares one, else 16; :func:`~ferengine.prediction.windows.model_window`).
    clip_every : int, optional
        Temporal models: processed frames of a track between two of its clips
        (default 1: a clip on every frame once the window is full).

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
        ``stride``, ``detect_every``, ``window`` or ``clip_every`` is not an int ≥ 1, or
        ``window`` or ``clip_every`` is given for a model of single images.
    """
    if stride < 1:
        raise ValueError(f"stride must be ≥ 1, got {stride!r}")
    detect_every = check_detect_every(detect_every)
    labels = labeller(predictor, smooth, window, clip_every)
    with open_video(path, max_pixels) as (capture, counts):
        labels.fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        yield from _frames(capture, counts, path, labels, (stride, detect_every), annotated)
    for stage, seconds in labels.seconds.items():
        counts.add_seconds(stage, seconds)
    problem, notes = counts.problem(), labels.close()
    if problem is not None or notes:
        row = {"input": str(path), "frame": None, "faces": [], **labels.extra(notes),
               "video": counts.as_dict()}  # fmt: skip
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


def _timed(frames: Iterable[tuple[int, np.ndarray]],
           counts: VideoFrames) -> Iterator[tuple[int, np.ndarray]]:  # fmt: skip
    """Yield the frames, adding the time each takes to read to ``counts`` ("decode")."""
    it = iter(frames)
    while True:
        start = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            return
        counts.add_seconds("decode", time.perf_counter() - start)
        yield item


def _frames(capture: cv2.VideoCapture, counts: VideoFrames, path: Path, labels: FrameLabels,
            every: tuple[int, int],
            annotated: Path | None) -> Generator[tuple[Row, Timings], None, None]:  # fmt: skip
    """Read, process and annotate the frames, counting and timing them in ``counts``.

    ``every`` is (stride, detect_every).
    """
    stride, detect_every = every
    tracks = VideoFaces(labels.predictor, detect_every)
    writer, drawn = None, []
    try:
        for index, frame in _timed(read_frames(capture, counts), counts):
            if writer is None and annotated is not None:
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(str(annotated), cv2.VideoWriter_fourcc(*"mp4v"),
                                         labels.fps, size)  # fmt: skip
            process = index % stride == 0
            if process or writer is not None:  # skipped frames of an unannotated run: no work
                rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            if process:
                found, ids = tracks.find(rgb, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
                for stage, seconds in found.timings.items():
                    counts.add_seconds(stage, seconds)
                faces, extra, drawn = labels.frame(index, found, ids, tracks.tracker.live())
                row = {"input": str(path), "frame": index, "faces": faces, **extra,
                       "error": None}  # fmt: skip
                yield row, found.timings
            if writer is not None:
                start = time.perf_counter()
                writer.write(annotate(rgb, drawn))
                counts.add_seconds("annotate", time.perf_counter() - start)
    finally:
        if writer is not None:
            writer.release()


def labeller(predictor: FacePredictor, smooth: int = 1, window: int | None = None,
             clip_every: int | None = None) -> FrameLabels:  # fmt: skip
    """Return how a video's faces get labels: per frame, or per clip with a temporal model.

    Raises
    ------
    ValueError
        ``window`` or ``clip_every`` is not an int ≥ 1, or is given for a model of
        single images.
    """
    if predictor.sequence is None:
        given = [n for n, v in (("window", window), ("clip_every", clip_every)) if v is not None]
        if given:
            raise ValueError(
                f"{' and '.join(given)} only apply to temporal models (models of clips); "
                "this model classifies single face images"
            )
        return FrameLabels(predictor, smooth)
    window = model_window(predictor.model) if window is None else check_count("window", window)
    clip_every = 1 if clip_every is None else check_count("clip_every", clip_every)
    return ClipLabels(predictor, smooth, window, clip_every)


class FrameLabels:
    """Labels of a model of single images: every face classified on its own frame.

    Each face's probabilities are averaged over its track's last ``smooth`` processed
    frames. :class:`ClipLabels` does the same for temporal models, one clip at a time.
    ``seconds`` holds the time the model took ("model"; a temporal model's "features"
    and "clip-model").
    """

    def __init__(self, predictor: FacePredictor, smooth: int = 1) -> None:
        self.predictor = predictor
        self.smoother = Smoother(smooth)
        self.fps = 25.0  # of the video; set once it is open
        self.seconds: dict[str, float] = {}

    def _timed(self, stage: str, start: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start

    def frame(self, index: int, found: ImageFaces, ids: list[int],
              live: set[int]) -> tuple[list[dict], dict, list[dict]]:  # fmt: skip
        """Return a processed frame's face records, its row's other entries and what to draw.

        ``index`` is the frame's index in the video, ``ids`` the track ids of its faces
        and ``live`` the ids of the tracks that have not ended.
        """
        start = time.perf_counter()
        proba = self.predictor.probabilities([f.crop for f in found.faces])
        self._timed("model", start)
        faces = [
            {**self.predictor.describe(f, self.smoother.update(track, p)), "track": track}
            for f, p, track in zip(found.faces, proba, ids, strict=True)
        ]
        return faces, {}, faces

    def close(self) -> list[dict]:
        """Return the notes of the video's end (none for a model of single images)."""
        return []

    def extra(self, notes: list[dict]) -> dict:
        """Return the entries of the video-level row besides the counts."""
        return {}


class ClipLabels(FrameLabels):
    """Labels of a temporal model: each track's last ``window`` frames classified as a clip.

    Faces get no label of their own; the annotated video shows each face with its
    track's latest clip label. Clip probabilities are averaged over the track's last
    ``smooth`` clips.
    """

    def __init__(self, predictor: FacePredictor, smooth: int, window: int,
                 clip_every: int) -> None:  # fmt: skip
        super().__init__(predictor, smooth)
        self.sequence = predictor.sequence
        self.windows = ClipWindows(window, clip_every)
        self._latest: dict[int, dict] = {}  # each track's latest clip labels, to draw

    def frame(self, index: int, found: ImageFaces, ids: list[int],
              live: set[int]) -> tuple[list[dict], dict, list[dict]]:  # fmt: skip
        """Return a processed frame's faces (no labels), its ``clips`` and what to draw."""
        start = time.perf_counter()
        items = self.sequence.frame_items([f.crop for f in found.faces])
        self._timed("features", start)
        due = self.windows.add(index, ids, items)
        start = time.perf_counter()
        proba = self.sequence.probabilities([c.items for c in due]) if due else []
        self._timed("clip-model", start)
        clips = []
        for clip, p in zip(due, proba, strict=True):
            labels = self.predictor.labelled(self.smoother.update(clip.track, p))
            clips.append({**self._span(clip.track, clip.frames[0], clip.frames[-1],
                                       len(clip.frames)), **labels, "error": None})  # fmt: skip
            self._latest[clip.track] = labels
        self.windows.retire(live)
        faces = [
            {**self.predictor.locate(f), "track": t} for f, t in zip(found.faces, ids, strict=True)
        ]
        drawn = [{**face, **self._latest.get(face["track"], {})} for face in faces]
        return faces, {"clips": clips}, drawn

    def _span(self, track: int, first: int, last: int, frames: int) -> dict[str, Any]:
        return {"track": track, "first_frame": first, "last_frame": last,
                "first_time": round(first / self.fps, 3), "last_time": round(last / self.fps, 3),
                "frames": frames}  # fmt: skip

    def close(self) -> list[dict]:
        """Return a record per track that never held a whole window, its note as ``error``."""
        unlabelled = {"label": None, "confidence": None, "probabilities": None}
        return [
            {**self._span(s.track, s.first, s.last, s.seen), **unlabelled, "error": s.note}
            for s in self.windows.short_tracks()
        ]

    def extra(self, notes: list[dict]) -> dict:
        """Return the video-level row's ``clips``: the notes of tracks too short for a clip."""
        return {"clips": notes}


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
