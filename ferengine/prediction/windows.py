"""Temporal models on video: each face track's last frames, classified as one clip.

A *sequence model* is a saved model whose input is clips
(:func:`ferengine.sequences.clip_frame_shape`): a pipeline starting with
``frame-features`` and ending in a temporal head, or a clip network (``c3d``,
``convlstm``, ``cnn-lstm``), ``clip-frames`` or ``clip-fusion``. On a video, every face
track keeps its last ``window`` frames (:class:`ClipWindows`); once it holds that many,
and then every ``clip_every`` frames of the track, the model classifies the window as
one clip. A pipeline that starts with ``frame-features`` describes each face crop once,
as its frame arrives, and keeps per-track rolling feature sequences: only the rest of
the pipeline runs on each window (:class:`SequenceModel`), so a clip costs one frame's
features, not ``window`` frames'.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

import numpy as np

from ferengine.sequences import as_clips

#: Frames per clip when the model declares none (a ``frames`` parameter, as ``c3d``'s).
DEFAULT_WINDOW = 16


def check_count(name: str, value: object) -> int:
    """Return ``value`` if it is an int ≥ 1 (not a bool), else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be an int ≥ 1, got {value!r}")
    return int(value)


def model_window(model: Any) -> int:
    """Return the frames per clip a sequence model declares, else :data:`DEFAULT_WINDOW`.

    The first step (searched in order) with an integer ``frames`` parameter declares it
    (``c3d`` resamples every clip to its ``frames``; ``cnn-lstm`` and ``convlstm`` when
    theirs is set).
    """
    for _, step in getattr(model, "steps", [("", model)]):
        frames = getattr(step, "frames", None)
        if isinstance(frames, Integral) and not isinstance(frames, bool) and frames >= 1:
            return int(frames)
    return DEFAULT_WINDOW


class SequenceModel:
    """Run a fitted sequence model on windows of face crops, frame by frame.

    When the model is a pipeline whose first step describes every frame alone — it
    records its fitted image feature in ``feature_``, as ``frame-features`` does — each
    frame's crops are described once, as they arrive (:meth:`frame_items` returns their
    feature rows), and :meth:`probabilities` runs only the pipeline's other steps on
    the stacked rows of each window. Any other clip model keeps the crops themselves,
    and gets each window as one clip of stacked crops. Both give what the whole model
    gives on the window's clip.

    Parameters
    ----------
    model : fitted estimator
        A model that takes clips (:func:`ferengine.sequences.clip_frame_shape`) and has
        ``predict_proba``.

    Attributes
    ----------
    incremental : bool
        Whether frames are described once each (a ``frame-features`` first step).
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        steps = getattr(model, "steps", [])
        first = steps[0][1] if steps else None
        self.incremental = (
            len(steps) > 1 and hasattr(first, "feature_") and hasattr(first, "frame_shape_")
        )
        self._frames_step = first if self.incremental else None
        self._rest = model[1:] if self.incremental else model

    def frame_items(self, crops: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Return what a window keeps of each crop of one frame: its feature row, or itself."""
        if not self.incremental or not len(crops):
            return list(crops)
        # one "clip" holding this frame's crops (one per track): the first step
        # describes them in one call, row i for crop i
        (rows,) = self._frames_step.transform(as_clips([np.stack(crops)], "face crops"))
        return list(rows)

    def probabilities(self, windows: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
        """Return the class probabilities of each window (its items in time order)."""
        stacked = np.empty(len(windows), dtype=object)
        for i, items in enumerate(windows):
            stacked[i] = np.stack(items)
        return np.asarray(self._rest.predict_proba(stacked), dtype=float)


@dataclass
class _Track:
    """One face track's window (frame index and item per frame seen) and its counts."""

    items: deque
    first: int  # frame index of the first frame the track was seen in
    last: int  # and of the last
    seen: int = 0  # frames the track was seen in
    clips: int = 0  # clips classified


@dataclass
class Clip:
    """A window of one track, ready to classify: its frames' indices and items."""

    track: int
    frames: list[int]
    items: list[np.ndarray] = field(repr=False)


@dataclass
class ShortTrack:
    """A track that never held a whole window: where it was seen, how often."""

    track: int
    first: int
    last: int
    seen: int
    window: int

    @property
    def note(self) -> str:
        """Say why the track has no clip."""
        frames = "frame" if self.seen == 1 else "frames"
        return (
            f"track {self.track} lasted {self.seen} processed {frames} (frames {self.first}–"
            f"{self.last}), the model needs {self.window}"
        )


class ClipWindows:
    """The last ``window`` frames of every face track, and the clips due on each frame.

    A track's clip is due when it has been seen in ``window`` frames, and then every
    ``clip_every`` frames it is seen in: its windows end on its frames ``window``,
    ``window + clip_every``, … A frame where a track is not found (its face lost between
    detections) adds nothing to its window, so a window spans more of the video then.

    Parameters
    ----------
    window : int
        Frames per clip.
    clip_every : int
        Frames of a track between two of its clips (1: a clip on every frame).
    """

    def __init__(self, window: int, clip_every: int = 1) -> None:
        self.window = check_count("window", window)
        self.clip_every = check_count("clip_every", clip_every)
        self._tracks: dict[int, _Track] = {}

    def add(self, frame: int, tracks: Sequence[int], items: Sequence[np.ndarray]) -> list[Clip]:
        """Add a frame's items, one per track seen in it; return the clips now due."""
        due = []
        for track, item in zip(tracks, items, strict=True):
            state = self._tracks.get(track)
            if state is None:
                state = self._tracks[track] = _Track(deque(maxlen=self.window), frame, frame)
            state.items.append((frame, item))
            state.last, state.seen = frame, state.seen + 1
            if state.seen >= self.window and (state.seen - self.window) % self.clip_every == 0:
                state.clips += 1
                frames, kept = zip(*state.items, strict=True)
                due.append(Clip(track, list(frames), list(kept)))
        return due

    def retire(self, live: set[int]) -> None:
        """Free the windows of tracks that have ended (not in ``live``); keep their counts."""
        for track, state in self._tracks.items():
            if track not in live and state.items:
                state.items = deque(maxlen=self.window)

    def short_tracks(self) -> list[ShortTrack]:
        """Return the tracks that never held a whole window, in track order."""
        return [
            ShortTrack(track, s.first, s.last, s.seen, self.window)
            for track, s in sorted(self._tracks.items())
            if not s.clips
        ]
