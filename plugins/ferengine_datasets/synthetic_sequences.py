"""Procedurally animated face clips, with a pair of classes told apart only by time.

Each clip is one ``synthetic`` face (the same subject identities, drawn by the same
renderer) moving through an expression: neutral, an onset to the apex, an apex hold and
an offset back toward neutral, with random timing, while the head drifts (rotation,
scale, shift), the lighting drifts, the eyes blink and every frame gets fresh noise.

Two extra classes show the same expression with opposite time courses:
``surprise-onset`` clips rise from neutral to surprise and hold it, ``surprise-offset``
clips are ``surprise-onset`` clips played backwards. Reversal keeps every frame, so the
*set* of frames of a clip of either class has exactly the same distribution (same apex,
same intensities, poses, lights and blinks): any pipeline that ignores frame order (an
apex frame, frames mean-pooled) is at chance on the pair, and only a model that uses the
order of the frames can separate it.

Clip ``(subject, class, k)`` depends on those three and the seed, frame range, size and
intensity range only, so more subjects, more clips or fewer classes never change the
clips already drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval

from ferengine.labels import FER7, Fer7, LabelSpacePlugin, canonical
from ferengine.plugin import DatasetPlugin
from ferengine.sequences import ClipDataset
from ferengine_datasets.synthetic import (
    _EXPRESSIONS,
    _blend,
    _draw,
    _Expression,
    _Identity,
    _identity,
    _View,
    _view,
)

#: The two classes that differ only in their dynamics, in code order.
DYNAMICS_PAIR = ("surprise-onset", "surprise-offset")
_PAIR_EXPRESSION = FER7.index("surprise")  # the most visible change
_NEUTRAL_CODE = FER7.index("neutral")
_MIN_FRAMES = 6  # the fewest frames that always catch the expression (see _time_course)
_CLIP_STREAM = 1  # last seed word of clip draws: keeps them apart from synthetic's image draws


class Fer7Dynamics(LabelSpacePlugin):
    """FER2013's seven expressions, then surprise-onset and surprise-offset (rising, fading)."""

    name = "fer7-dynamics"
    names = (*Fer7.names, *DYNAMICS_PAIR)


FER7_DYNAMICS = Fer7Dynamics.space()
_ONSET, _OFFSET = (FER7_DYNAMICS.index(n) for n in DYNAMICS_PAIR)


def _ease(x: np.ndarray) -> np.ndarray:
    """Smoothstep: 0 at 0, 1 at 1, flat at both ends."""
    return x * x * (3 - 2 * x)


def _time_course(rng: np.random.Generator, n: int, full: bool) -> np.ndarray:
    """Draw the expression's time course over ``n`` frames: 0 neutral, 1 the apex.

    Durations are drawn in arbitrary units, then the whole course is spread over the
    clip's frames. ``full``: neutral lead, onset, apex hold, offset and neutral tail, or,
    half the time, an offset cut before the face is neutral again. Otherwise the course
    stops at the apex hold (a face rising to the expression and holding it). The course
    is scaled so that its most intense frame is the apex, even when no frame falls
    inside a short hold.
    """
    lead, onset, hold = rng.uniform(0, 1.5), rng.uniform(2, 5), rng.uniform(1.5, 4)
    offset = shown = tail = 0.0
    if full:
        offset = rng.uniform(2, 5)
        if rng.random() < 0.5:  # offset cut
            shown = offset * rng.uniform(0.3, 0.9)
        else:
            shown, tail = offset, rng.uniform(0, 1.5)
    tau = np.linspace(0, lead + onset + hold + shown + tail, n)
    course = _ease(np.clip((tau - lead) / onset, 0, 1))
    if full:
        course *= 1 - _ease(np.clip((tau - lead - onset - hold) / offset, 0, 1))
    return course / course.max()  # > 0: frames are at most 17 / 5 units apart


def _drift(rng: np.random.Generator, n: int, amplitude: float) -> np.ndarray:
    """Draw a slow drift over ``n`` frames: a sine of random amplitude, period and phase.

    The phase is uniform, so every frame's value has the same distribution (the drift is
    stationary) and a drift played backwards is a drift like any other.
    """
    scale = rng.uniform(0, amplitude)
    cycles = rng.uniform(0.01, 0.06)  # per frame: periods of 16 to 100 frames
    phase = rng.uniform(0, 2 * np.pi)
    return scale * np.sin(2 * np.pi * cycles * np.arange(n) + phase)


def _blinks(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw the eye opening over ``n`` frames: 1, with dips of one or two frames (blinks)."""
    eye = np.ones(n)
    for _ in range(rng.poisson(n / 15)):
        start, length = rng.integers(0, n), rng.integers(1, 3)
        dip = np.array([rng.uniform(0.05, 0.3), rng.uniform(0.3, 0.7)])[:length]
        stop = min(start + length, n)
        eye[start:stop] = np.minimum(eye[start:stop], dip[: stop - start])
    return eye


@dataclass(frozen=True)
class _Plan:
    """Everything of a clip but the face and the pixel noise, frame by frame."""

    intensity: np.ndarray  # expression intensity, 0 (neutral) to 1
    eye: np.ndarray  # eye opening factor: 1, lower during blinks
    views: tuple[_View, ...]  # pose, lighting, blur, exposure, noise level

    def reversed(self) -> _Plan:
        """Return the plan played backwards."""
        return _Plan(self.intensity[::-1], self.eye[::-1], self.views[::-1])


def _plan(
    rng: np.random.Generator,
    n: int,
    course: str,
    intensity: tuple[float, float],
) -> _Plan:
    """Draw a clip of ``n`` frames; ``course`` is ``"full"``, ``"rise"`` or ``"none"`` (neutral)."""
    if course == "none":
        curve = np.zeros(n)
    else:
        curve = _time_course(rng, n, full=course == "full") * rng.uniform(*intensity)
    base = _view(rng)
    rotation = base.rotation + _drift(rng, n, 4.0)  # degrees
    scale = base.scale + _drift(rng, n, 0.03)
    shift_x = base.shift[0] + _drift(rng, n, 0.02)  # canvas fractions
    shift_y = base.shift[1] + _drift(rng, n, 0.02)
    light_angle = base.light_angle + _drift(rng, n, 0.6)  # radians
    light_strength = np.maximum(base.light_strength + _drift(rng, n, 0.05), 0)
    brightness = base.brightness + _drift(rng, n, 0.03)
    views = tuple(
        replace(
            base,
            rotation=float(rotation[i]),
            scale=float(scale[i]),
            shift=(float(shift_x[i]), float(shift_y[i])),
            light_angle=float(light_angle[i]),
            light_strength=float(light_strength[i]),
            brightness=float(brightness[i]),
        )
        for i in range(n)
    )
    return _Plan(curve, _blinks(rng, n), views)


def _film(
    ident: _Identity, expression: _Expression, plan: _Plan, rng: np.random.Generator, size: int
) -> np.ndarray:
    """Render a plan's frames, ``(T, size, size)`` uint8; ``rng`` gives each frame's noise."""
    frames = []
    for t, eye, view in zip(plan.intensity, plan.eye, plan.views, strict=True):
        e = _blend(expression, t * ident.expressiveness)
        frames.append(_draw(ident, replace(e, eye_open=e.eye_open * eye), view, rng, size))
    return np.stack(frames)


def _check_pair(param: str, value: Any, kind: type, low: float, high: float) -> tuple:
    """Return ``value`` as a ``(low, high)`` pair of ``kind`` within [low, high], or raise."""
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(
            f"synthetic-sequences: {param} must be a (low, high) pair, got {value!r}"
        ) from None
    numbers = (Integral,) if kind is int else (Integral, float, np.floating)
    if not (isinstance(a, numbers) and isinstance(b, numbers) and low <= a <= b <= high):
        raise ValueError(
            f"synthetic-sequences: {param} must be {kind.__name__}s with "
            f"{low} <= low <= high <= {high}, got {value!r}"
        )
    return kind(a), kind(b)


class SyntheticSequences(DatasetPlugin):
    """Animated synthetic face clips (onset, apex, offset) with a dynamics-only class pair.

    Every clip shows one subject's face (the identities of ``synthetic`` with the same
    seed) going through one class's time course:

    - the seven FER2013 expressions (``fer7``): neutral, an onset to the apex, an apex
      hold and an offset back to neutral, the offset cut short in half of the clips;
      ``neutral`` clips keep a neutral face (intensity 0 throughout);
    - with ``dynamics_pair=True``, ``surprise-onset`` (neutral rising to surprise, which
      is then held, as posed datasets such as CK+ record) and ``surprise-offset``
      (``surprise-onset`` clips played backwards), so the pair differs **only** in the
      order of its frames.

    Timing (lead, onset, hold and offset lengths) is random per clip; the head drifts
    smoothly (rotation, scale, shift) around a random pose, the lighting gradient and the
    brightness drift, the eyes blink (the eye opening dips for one or two frames at random
    times) and every frame has its own pixel noise.

    Clips come subject by subject, then class by class in label-space order, then take
    by take. Clip ``(subject, class, k)`` depends on those three and on ``seed``,
    ``frames``, ``size`` and ``intensity`` only: more subjects, clips or classes never
    change the clips already drawn.

    Parameters
    ----------
    n_subjects : int
        Number of identities; each shows every class. Subjects are named ``synth-000``...
        so subject-wise folds (``splits.subject_kfold``) keep identities apart.
    clips_per_class : int
        Clips per subject and class.
    frames : int or (int, int)
        Frames per clip, or the inclusive range the length of each clip is drawn from
        (at least 6).
    size : int
        Side of the square frames, in pixels (at least 16).
    seed : int
        Seed of everything random; the same parameters always give the same clips.
    intensity : (float, float)
        Range of each clip's apex intensity, within [0, 1] (each subject's own
        expressiveness then scales how far the face moves).
    classes : sequence of str, optional
        The fer7 expressions to include (aliases accepted: ``"surprised"``); default all
        seven. ``classes=()`` with ``dynamics_pair=True`` gives the pair alone.
    dynamics_pair : bool
        Add the ``surprise-onset`` and ``surprise-offset`` classes; the label space is then
        ``fer7-dynamics`` (fer7's seven classes, then the pair), else ``fer7``. Codes do
        not depend on ``classes``.

    Notes
    -----
    ``frame_meta`` holds, per clip, ``"intensity"`` (float, the true expression intensity
    of every frame, 0 to 1, so ``ClipDataset.frames("apex")`` takes a frame of the apex),
    ``"frame"`` (int, the frame's index in its clip) and ``"blink"`` (bool, the eyes are
    closing in that frame).
    """

    name = "synthetic-sequences"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "n_subjects": [Interval(Integral, 1, None, closed="left")],
        "clips_per_class": [Interval(Integral, 1, None, closed="left")],
        "frames": [Interval(Integral, _MIN_FRAMES, None, closed="left"), "array-like"],
        "size": [Interval(Integral, 16, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "intensity": ["array-like"],
        "classes": [None, "array-like"],
        "dynamics_pair": ["boolean"],
    }
    _test_params: ClassVar[dict[str, Any]] = {
        "n_subjects": 2,
        "clips_per_class": 1,
        "frames": (6, 8),
        "size": 16,
    }

    def __init__(
        self,
        n_subjects: int = 20,
        clips_per_class: int = 2,
        frames: int | tuple[int, int] = (12, 20),
        size: int = 48,
        seed: int = 0,
        intensity: tuple[float, float] = (0.6, 1.0),
        classes: Sequence[str] | None = None,
        dynamics_pair: bool = True,
    ) -> None:
        self.n_subjects = n_subjects
        self.clips_per_class = clips_per_class
        self.frames = frames
        self.size = size
        self.seed = seed
        self.intensity = intensity
        self.classes = classes
        self.dynamics_pair = dynamics_pair

    def _codes(self) -> list[int]:
        """Return the codes of the classes to render, in code order (checks ``classes``)."""
        if self.classes is None:
            codes = list(range(len(FER7)))
        else:
            codes = []
            for name in self.classes:
                if not isinstance(name, str) or canonical(name) not in FER7.names:
                    raise ValueError(
                        f"synthetic-sequences: classes holds {name!r}, which is not a fer7 "
                        f"expression ({', '.join(FER7.names)}); the dynamics pair comes with "
                        "dynamics_pair=True"
                    )
                if FER7.index(name) in codes:
                    raise ValueError(f"synthetic-sequences: classes names {name!r} twice")
                codes.append(FER7.index(name))
        codes = sorted(codes) + ([_ONSET, _OFFSET] if self.dynamics_pair else [])
        if not codes:
            raise ValueError(
                "synthetic-sequences: classes is empty and dynamics_pair is False: no class"
            )
        return codes

    def load(self) -> ClipDataset:
        """Render the clips."""
        self._validate_params()
        lengths = self._frames_range()
        intensity = _check_pair("intensity", self.intensity, float, 0.0, 1.0)
        codes = self._codes()
        clips, labels, subjects, meta = [], [], [], {"intensity": [], "frame": [], "blink": []}
        for s in range(self.n_subjects):
            ident = _identity(np.random.default_rng([self.seed, s]))
            for code in codes:
                for k in range(self.clips_per_class):
                    rng = np.random.default_rng([self.seed, s, code, k, _CLIP_STREAM])
                    frames, plan = _clip(ident, code, rng, lengths, intensity, self.size)
                    clips.append(frames)
                    labels.append(code)
                    subjects.append(f"synth-{s:03d}")
                    meta["intensity"].append(plan.intensity.copy())
                    meta["frame"].append(np.arange(len(frames), dtype=np.int64))
                    meta["blink"].append(plan.eye < 1)
        return ClipDataset(
            clips=clips,
            labels=np.array(labels, dtype=np.int64),
            label_space=FER7_DYNAMICS if self.dynamics_pair else FER7,
            subjects=subjects,
            splits=None,
            source=f"synthetic-sequences(seed={self.seed})",
            frame_meta=meta,
            meta={
                "generator": "ferengine_datasets.synthetic_sequences",
                "dynamics_pair": DYNAMICS_PAIR if self.dynamics_pair else (),
            },
        )

    def _frames_range(self) -> tuple[int, int]:
        if isinstance(self.frames, Integral):
            return int(self.frames), int(self.frames)
        return _check_pair("frames", self.frames, int, _MIN_FRAMES, 10_000)


def _clip(
    ident: _Identity,
    code: int,
    rng: np.random.Generator,
    lengths: tuple[int, int],
    intensity: tuple[float, float],
    size: int,
) -> tuple[np.ndarray, _Plan]:
    """Render one clip of class ``code`` (a ``fer7-dynamics`` code); return frames and plan.

    A ``surprise-offset`` clip is the ``surprise-onset`` clip its own draws give, reversed.
    """
    n = int(rng.integers(lengths[0], lengths[1] + 1))
    if code in (_ONSET, _OFFSET):
        plan = _plan(rng, n, "rise", intensity)
        frames = _film(ident, _EXPRESSIONS[_PAIR_EXPRESSION], plan, rng, size)
        if code == _OFFSET:
            return frames[::-1].copy(), plan.reversed()
        return frames, plan
    course = "none" if code == _NEUTRAL_CODE else "full"
    plan = _plan(rng, n, course, intensity)
    return _film(ident, _EXPRESSIONS[code], plan, rng, size), plan
