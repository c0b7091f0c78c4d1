"""Clip augmentation: any image augmenter, with one random draw for every frame of a clip.

An augmenter (:class:`ferengine.plugin.Augmenter`) draws its changes from the generator
it is given, one set per image. Applied to a clip's frames as a batch it would turn,
shift or brighten every frame differently, and the clip would jitter — motion no face
made. :func:`clip_augment` runs the augmenter on each frame alone, each time with a
generator in the same state, so every frame of a clip gets the same draw (the same
rotation, flip, crop, brightness — even the same noise pattern), while every clip gets
its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ferengine.plugin import Augmenter
from ferengine.sequences import as_clips

__all__ = ["clip_augment"]


def clip_augment(
    clips: Any,
    augmenter: Augmenter | str,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Return every clip augmented with one random draw shared by all of its frames.

    Parameters
    ----------
    clips : array-like of clips
        A 1-D object array of ``(T, H, W)`` or ``(T, H, W, 3)`` uint8 clips, or an
        ``(n, T, H, W[, 3])`` array (see :func:`ferengine.sequences.as_clips`).
    augmenter : Augmenter or str
        Any augmenter, or the name of a registered one (``ferengine plugins augmenter``).
    rng : numpy.random.Generator, int or None
        Where the per-clip draws come from (a seed, or None for fresh entropy).

    Returns
    -------
    ndarray of object, shape (n,)
        The augmented clips, each as long as its input clip, frames in the same order.

    Raises
    ------
    ValueError
        ``clips`` are not clips (naming the first bad one), or the augmenter changes a
        frame's shape within a clip.
    """
    clips = as_clips(clips, "clip_augment: clips")
    if isinstance(augmenter, str):
        from ferengine import registry

        augmenter = registry.create("augmenter", augmenter)
    rng = np.random.default_rng(rng)
    seeds = rng.integers(0, 2**63, size=len(clips))
    out = np.empty(len(clips), dtype=object)
    for i, (clip, seed) in enumerate(zip(clips, seeds, strict=True)):
        # a new generator from the clip's seed for every frame: the same draws each time
        frames = [augmenter.augment(clip[t : t + 1], np.random.default_rng(seed))
                  for t in range(len(clip))]  # fmt: skip
        shapes = {f.shape for f in frames}
        if len(shapes) > 1:
            raise ValueError(
                f"clip_augment: {type(augmenter).__name__} gave frames of shapes "
                f"{sorted(shapes)} within clip {i}"
            )
        out[i] = np.concatenate(frames).astype(np.uint8, copy=False)
    return out
