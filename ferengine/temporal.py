"""Per-frame feature sequences: what temporal steps take and give.

A *sequence* is a ``(T, D)`` float array: one ``D``-wide feature vector per frame of a
clip, frames in time order, any length ``T ≥ 1``. Temporal steps take ``X`` as a 1-D
object array holding one sequence per clip (:func:`as_sequences`), as sequence pipelines
take clips (:func:`ferengine.sequences.as_clips`), so that scikit-learn's indexing,
cross-validation and cloning work on them unchanged: ``frame-features`` turns clips into
sequences, ``temporal-pool`` pools each sequence into one vector for any classifier,
and the temporal heads of the deep extra (``temporal-rnn``, ``temporal-cnn``) classify
sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["as_sequences", "sequence_lengths", "sequence_tags", "split_rows"]


def _refuse_array(X: np.ndarray, what: str) -> None:
    """Explain why a plain numeric array of this shape holds no sequences."""
    if X.ndim == 2:
        raise ValueError(
            f"{what}: expected one (T, D) sequence of frame features per clip (a 1-D object "
            f"array of them, or an (n, T, D) array), got a 2-D array of shape {X.shape}: one "
            "vector per clip goes to a classifier, not to a temporal step"
        )
    hint = "; clips of frames need a 'frame-features' step first" if X.ndim in (4, 5) else ""
    raise ValueError(
        f"{what}: expected one (T, D) sequence of frame features per clip (a 1-D object array "
        f"of them, or an (n, T, D) array), got an array of shape {X.shape}{hint}"
    )


def as_sequences(X: Any, what: str = "X", width: int | None = None) -> np.ndarray:
    """Return ``X`` as a 1-D object array of float32 ``(T, D)`` sequences, each checked.

    Parameters
    ----------
    X : sequence of arrays, or an array of shape (n, T, D)
        One sequence per clip: a ``(T, D)`` array of real numbers, ``T ≥ 1`` frames in
        time order, the same ``D`` for every clip.
    what : str
        Name used in error messages.
    width : int, optional
        The ``D`` every sequence must have (the width a step was fitted on).

    Returns
    -------
    ndarray of object, shape (n,)
        C-contiguous float32 arrays (the inputs themselves when they already are).

    Raises
    ------
    ValueError
        Naming the first clip whose sequence is not a non-empty 2-D array of finite real
        numbers, or whose width differs from the first clip's (or from ``width``).
    """
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim != 3:
            _refuse_array(X, what)
        items: Sequence[Any] = list(X)
    elif isinstance(X, str | bytes) or not hasattr(X, "__len__"):
        raise ValueError(
            f"{what}: expected one (T, D) sequence of frame features per clip, got "
            f"{type(X).__name__}"
        )
    else:
        items = list(X)
    out = np.empty(len(items), dtype=object)
    expected, source = width, "it was fitted on"
    for i, item in enumerate(items):
        try:
            seq = np.asarray(item)
        except ValueError as exc:  # a ragged nested list
            raise ValueError(f"{what}: clip {i} is not a (T, D) array: {exc}") from None
        if seq.dtype.kind not in "biuf":
            raise ValueError(
                f"{what}: clip {i} must hold real numbers, got an array of dtype {seq.dtype}"
            )
        if seq.ndim != 2 or not seq.shape[0] or not seq.shape[1]:
            raise ValueError(
                f"{what}: clip {i} must be a (T, D) sequence with T ≥ 1 frames of D ≥ 1 "
                f"features, got shape {seq.shape}"
            )
        if expected is None:
            expected, source = seq.shape[1], "clip 0 has"
        elif seq.shape[1] != expected:
            raise ValueError(
                f"{what}: clip {i} has {seq.shape[1]} features per frame, but {source} {expected}"
            )
        seq = np.ascontiguousarray(seq, dtype=np.float32)
        if not np.isfinite(seq).all():
            row = int(np.flatnonzero(~np.isfinite(seq).all(axis=1))[0])
            raise ValueError(f"{what}: clip {i} holds NaN or infinite values (frame {row})")
        out[i] = seq
    return out


def split_rows(rows: np.ndarray, lengths: Any) -> np.ndarray:
    """Return consecutive runs of ``rows``, ``lengths[i]`` rows each, as a 1-D object array.

    The inverse of concatenating clips or sequences along time: each item is a view of
    ``rows`` (no copy), so a memory-mapped array stays on disk.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.sum() != len(rows):
        raise ValueError(f"{len(rows)} rows cannot be split into runs of {lengths.sum()} in all")
    out = np.empty(len(lengths), dtype=object)
    ends = np.cumsum(lengths)
    for i, (start, end) in enumerate(zip(ends - lengths, ends, strict=True)):
        out[i] = rows[start:end]
    return out


def sequence_lengths(sequences: np.ndarray) -> np.ndarray:
    """Return the number of frames of every sequence."""
    return np.array([len(s) for s in sequences], dtype=np.int64)


def sequence_tags(tags: Any) -> Any:
    """Mark scikit-learn tags as those of an estimator of sequences, not tables.

    Its input is a 1-D object array (or a 3-D array), never an N×D table, so
    scikit-learn's estimator checks, which feed tables, do not apply: with
    ``input_tags.two_d_array`` false, ``estimator_checks_generator`` yields only the
    clone check.
    """
    tags.input_tags.two_d_array = False
    tags.input_tags.three_d_array = True
    return tags
