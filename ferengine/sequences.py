"""Face sequences: clips of frames with one label each, and their conversion to and from stills.

A *clip* is a ``(T, H, W)`` or ``(T, H, W, 3)`` uint8 array, frames in time order, of
any length ``T ≥ 1``. A :class:`ClipDataset` holds clips with a label, a subject and a
split each, and per-frame metadata; every sequence dataset plugin returns one. Sequence
pipelines take ``X`` as a 1-D object array of clips (:func:`as_clips`), so that
scikit-learn's indexing, cross-validation and cloning work on them unchanged, and
:meth:`ClipDataset.frames` / :meth:`ClipDataset.from_frames` let every still-image
plugin serve clips.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ferengine.dataset import FaceDataset, LabelledSamples, set_sample_columns
from ferengine.errors import DatasetError
from ferengine.labels import LabelSpace

__all__ = ["FRAME_MODES", "ClipDataset", "as_clips", "clip_frame_shape", "clip_lengths"]

#: How :meth:`ClipDataset.frames` picks frames: every frame, the apex (most intense)
#: frame, or the last ``n`` frames.
FRAME_MODES = ("all", "apex", "last")


def as_clips(X: Any, what: str = "X") -> np.ndarray:
    """Return ``X`` as a 1-D object array of clips, each checked.

    Parameters
    ----------
    X : sequence of arrays, or an array of shape (n, T, H, W[, 3])
        Clips: each a ``(T, H, W)`` or ``(T, H, W, 3)`` uint8 array with ``T ≥ 1``.
    what : str
        Name used in error messages.

    Raises
    ------
    ValueError
        Naming the first clip that is not a non-empty uint8 frame stack, or clips whose
        frames differ in size from the first clip's.
    """
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim not in (4, 5):
            raise ValueError(f"{what}: expected clips (n, T, H, W[, 3]), got shape {X.shape}")
        items: Sequence[Any] = list(X)
    else:
        items = list(X)
    clips = np.empty(len(items), dtype=object)
    frame_shape = None
    for i, clip in enumerate(items):
        clip = np.asarray(clip)
        if clip.dtype != np.uint8:
            raise ValueError(f"{what}: clip {i} must be uint8, got {clip.dtype}")
        if clip.ndim not in (3, 4) or (clip.ndim == 4 and clip.shape[-1] != 3) or not len(clip):
            raise ValueError(
                f"{what}: clip {i} must be a non-empty (T, H, W) or (T, H, W, 3) stack of "
                f"frames, got shape {clip.shape}"
            )
        if frame_shape is None:
            frame_shape = clip.shape[1:]
        elif clip.shape[1:] != frame_shape:
            raise ValueError(
                f"{what}: clip {i} has frames of shape {clip.shape[1:]}, clip 0 {frame_shape}"
            )
        clips[i] = clip
    return clips


def clip_lengths(clips: np.ndarray) -> np.ndarray:
    """Return the number of frames of every clip."""
    return np.array([len(c) for c in clips], dtype=np.int64)


def clip_frame_shape(model: Any) -> tuple[int, ...] | None:
    """Return the shape of the frames a fitted clip model takes, or None if it takes no clips.

    A model (a pipeline, or one estimator) takes clips when its first step's
    scikit-learn input tags say it takes no table (``two_d_array`` false: clips or
    feature sequences) and a step in it records the frames it was fitted on in
    ``frame_shape_`` (``frame-features``, the clip networks, ``clip-frames``). The steps
    are searched in order, and the fitted members of ensembles (``estimator_``,
    ``ensemble_``, ``estimators_``), so that a pipeline starting with ``trim-neutral``
    and a ``clip-fusion`` are clip models too; a pipeline that starts on feature
    sequences (``temporal-rnn`` alone) records no frame shape and is none.
    """
    from sklearn.utils import get_tags

    steps = [s for _, s in getattr(model, "steps", [("", model)]) if _is_estimator(s)]
    if not steps or get_tags(steps[0]).input_tags.two_d_array:
        return None
    return _frame_shape(model, depth=0)


def _is_estimator(step: Any) -> bool:
    return step is not None and not isinstance(step, str)


def _frame_shape(estimator: Any, depth: int) -> tuple[int, ...] | None:
    """Return the first ``frame_shape_`` found in an estimator or its fitted parts."""
    shape = getattr(estimator, "frame_shape_", None)
    if shape is not None:
        return tuple(int(s) for s in shape)
    if depth > 4:  # nested ensembles deeper than this hold no clip step worth finding
        return None
    parts: list[Any] = [s for _, s in getattr(estimator, "steps", [])]
    for attr in ("estimator_", "ensemble_", "estimators_"):
        value = getattr(estimator, attr, None)
        parts.extend(value if isinstance(value, list | tuple) else [value])
    for part in parts:
        if _is_estimator(part) and part is not estimator:
            found = _frame_shape(part, depth + 1)
            if found is not None:
                return found
    return None


@dataclass(frozen=True, eq=False)
class ClipDataset(LabelledSamples):
    """Face clips with expression labels and, where known, subjects and splits.

    Parameters
    ----------
    clips : sequence of ndarray
        Each a ``(T, H, W)`` or ``(T, H, W, 3)`` uint8 array, frames in time order; all
        clips share the frame size (stored as a 1-D object array, see :func:`as_clips`).
    labels : array-like of shape (n,)
        Class names or codes of ``label_space``, one per clip.
    label_space : LabelSpace
    subjects, splits : array-like of str, shape (n,), optional
        Subject and split of every clip.
    source : str
        Where the data came from.
    frame_meta : dict of str to list of ndarray
        Per-frame values: each key holds one array per clip, as long as the clip
        (``"frame_id"``, ``"intensity"``, …); they follow every selection.
    meta : dict
        Free-form information about the whole dataset.
    """

    clips: Any
    labels: Any
    label_space: LabelSpace
    subjects: Any = None
    splits: Any = None
    source: str = ""
    frame_meta: dict[str, list[np.ndarray]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        name = self.source or "clip dataset"
        try:
            clips = as_clips(self.clips, name)
        except ValueError as exc:
            raise DatasetError(str(exc)) from None
        n = len(clips)
        object.__setattr__(self, "clips", clips)
        set_sample_columns(self, n, "clips", name)
        lengths = clip_lengths(clips)
        for key, values in self.frame_meta.items():
            if len(values) != n or any(len(v) != t for v, t in zip(values, lengths, strict=True)):
                raise DatasetError(
                    f"{name}: frame_meta[{key!r}] must hold one array per clip, as long as its clip"
                )

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        lengths = self.lengths
        span = f"{lengths.min()}–{lengths.max()} frames" if len(self) else "no frames"
        shape = "×".join(map(str, self.clips[0].shape[1:])) if len(self) else "?"
        subjects = "" if self.subjects is None else f", subjects={len(set(self.subjects))}"
        return (
            f"ClipDataset({len(self)} clips of {span} {shape}, {self.label_space.name}"
            f"{subjects}, source={self.source!r})"
        )

    @property
    def lengths(self) -> np.ndarray:
        """Number of frames of every clip."""
        return clip_lengths(self.clips)

    @property
    def label_names(self) -> np.ndarray:
        """Class name of every clip."""
        return self.label_space.decode(self.labels)

    @property
    def samples(self) -> np.ndarray:
        """What a pipeline takes as ``X``: the clips."""
        return self.clips

    def subset(self, index: Sequence[int] | np.ndarray) -> ClipDataset:
        """Return the clips selected by integer indices or a boolean mask (all columns follow)."""
        index = np.asarray(index)
        if index.dtype == bool and index.shape != (len(self),):
            raise DatasetError(f"mask has shape {index.shape}, expected ({len(self)},)")
        rows = np.arange(len(self))[index]
        pick = lambda a: None if a is None else a[rows]  # noqa: E731
        frame_meta = {k: [v[i] for i in rows] for k, v in self.frame_meta.items()}
        return replace(self, clips=self.clips[rows], labels=self.labels[rows],
                       subjects=pick(self.subjects), splits=pick(self.splits),
                       frame_meta=frame_meta)  # fmt: skip

    def frame_indices(self, mode: str = "all", n: int = 1) -> list[np.ndarray]:
        """Return, per clip, the indices of the frames :meth:`frames` keeps.

        ``"apex"`` takes the frame of highest ``frame_meta["intensity"]`` when the
        dataset has it, else the last frame (posed datasets such as CK+ end on the apex).
        """
        if mode not in FRAME_MODES:
            raise ValueError(f"mode must be one of {FRAME_MODES}, got {mode!r}")
        if not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        out = []
        for i, t in enumerate(self.lengths):
            if mode == "all":
                out.append(np.arange(t))
            elif mode == "last":
                out.append(np.arange(max(0, t - n), t))
            elif "intensity" in self.frame_meta:
                out.append(np.array([int(np.argmax(self.frame_meta["intensity"][i]))]))
            else:
                out.append(np.array([t - 1]))
        return out

    def frames(self, mode: str = "all", n: int = 1) -> FaceDataset:
        """Return the clips' frames as a still-image dataset.

        Each frame keeps its clip's label, subject and split; ``meta["clip"]`` (per
        sample) gives its clip's index and ``meta["frame"]`` its index in the clip, so
        :meth:`from_frames` can rebuild the clips.

        Parameters
        ----------
        mode : {"all", "apex", "last"}
            Every frame, one apex frame per clip, or each clip's last ``n`` frames.
        n : int
            Frames per clip for ``"last"``.
        """
        picks = self.frame_indices(mode, n)
        clip = np.concatenate([np.full(len(p), i) for i, p in enumerate(picks)]).astype(np.int64)
        frame = np.concatenate(picks).astype(np.int64)
        images = np.stack([self.clips[c][f] for c, f in zip(clip, frame, strict=True)])
        pick = lambda a: None if a is None else a[clip]  # noqa: E731
        return FaceDataset(
            images=images,
            labels=self.labels[clip],
            label_space=self.label_space,
            subjects=pick(self.subjects),
            splits=pick(self.splits),
            source=f"{self.source} frames({mode})",
            meta={"clip": clip, "frame": frame},
            per_sample=frozenset({"clip", "frame"}),
        )

    @classmethod
    def from_frames(cls, dataset: FaceDataset, clip: Any = None,
                    order: Any = None) -> ClipDataset:  # fmt: skip
        """Group a still dataset's images into clips.

        Parameters
        ----------
        dataset : FaceDataset
        clip : array-like of shape (N,), optional
            Clip id of every image (default ``dataset.meta["clip"]``). Clips come in the
            order their ids first appear; each takes the label, subject and split of its
            first frame, and all its frames must agree on them.
        order : array-like of shape (N,), optional
            Position of every image in its clip (default ``dataset.meta["frame"]`` when
            present, else the dataset's order).

        Raises
        ------
        DatasetError
            No clip ids, or frames of one clip that disagree on label, subject or split.
        """
        if clip is None:
            if "clip" not in dataset.meta:
                raise DatasetError(f"{dataset.source}: from_frames needs clip ids (meta['clip'])")
            clip = dataset.meta["clip"]
        clip = np.asarray(clip)
        if clip.shape != (len(dataset),):
            raise DatasetError(f"clip ids have shape {clip.shape}, expected ({len(dataset)},)")
        if order is None:
            order = dataset.meta.get("frame", np.arange(len(dataset)))
        order = np.asarray(order)
        ids, first = np.unique(clip, return_index=True)
        ids = ids[np.argsort(first)]
        rows = [np.flatnonzero(clip == c) for c in ids]
        rows = [r[np.argsort(order[r], kind="stable")] for r in rows]
        for r, c in zip(rows, ids, strict=True):
            for attr in ("labels", "subjects", "splits"):
                column = getattr(dataset, attr)
                if column is not None and len(set(column[r].tolist())) > 1:
                    raise DatasetError(f"{dataset.source}: frames of clip {c!r} disagree on {attr}")
        heads = np.array([r[0] for r in rows], dtype=np.int64)
        pick = lambda a: None if a is None else a[heads]  # noqa: E731
        return cls(
            clips=[np.asarray(dataset.images[r]) for r in rows],
            labels=dataset.labels[heads],
            label_space=dataset.label_space,
            subjects=pick(dataset.subjects),
            splits=pick(dataset.splits),
            source=f"{dataset.source} clips",
            frame_meta={"frame": [order[r] for r in rows]},
        )
