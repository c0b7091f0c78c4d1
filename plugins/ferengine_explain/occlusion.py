"""``occlusion``: hide one patch of the face at a time and measure what the model loses.

Zeiler & Fergus (2014), "Visualizing and Understanding Convolutional Networks", §4.2.
It needs nothing of the model but ``predict_proba``, so it explains every pipeline —
hand-crafted features and classifiers as much as CNNs — through its whole chain of
steps, preprocessing included.

Written here with numpy rather than taken from Captum (whose ``Occlusion`` does the same
sliding-window arithmetic): Captum perturbs torch tensors and calls a torch forward
function, so explaining a scikit-learn pipeline would need torch installed only to wrap
``predict_proba`` in tensor conversions, and hand-crafted pipelines need no torch
anywhere else. The method itself is a few array operations.
"""

from __future__ import annotations

from collections.abc import Iterator
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ferengine.explain import Explainer


def positions(length: int, patch: int, stride: int) -> list[int]:
    """Return the patch offsets along one side: every ``stride``, the last one at the edge."""
    found = list(range(0, length - patch + 1, stride))
    if found[-1] != length - patch:
        found.append(length - patch)
    return found


class Occlusion(Explainer):
    """Occlusion sensitivity: the drop in the target's probability as a patch hides each region.

    Each face is copied once per patch position with a ``patch`` × ``patch`` square
    painted over (``stride`` pixels apart, the last one at the edge); every copy of every
    face goes through the model's ``predict_proba`` in batches of ``batch_size`` images
    (all copies of a 48×48 face at the defaults, 121, in one call). A pixel's value is
    the mean drop of the target class's probability over the patches that cover it:
    positive where hiding the pixel's surroundings costs the model confidence, negative
    where it helps. Works with any model that has ``predict_proba``.

    Parameters
    ----------
    patch : int
        Side of the square hidden at a time, in pixels of the face crop (FER2013's crops
        are 48×48: 8 is an eye, or half the mouth).
    stride : int
        Pixels between two patch positions (smaller: finer maps, more copies).
    fill : "mean" or float
        What the patch shows: each face's own mean grey level ("mean"), or a grey level
        on the 0–255 scale.
    batch_size : int
        Most images per ``predict_proba`` call, to bound memory.
    """

    name = "occlusion"
    shows = "drop in the target class's probability when a patch covering the pixel is hidden"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "patch": [Interval(Integral, 1, None, closed="left")],
        "stride": [Interval(Integral, 1, None, closed="left")],
        "fill": [StrOptions({"mean"}), Interval(Real, 0, 255, closed="both")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, patch: int = 8, stride: int = 4, fill: Any = "mean",
                 batch_size: int = 2048) -> None:  # fmt: skip
        self.patch = patch
        self.stride = stride
        self.fill = fill
        self.batch_size = batch_size

    def _maps(self, model: Any, faces: np.ndarray, targets: np.ndarray,
              probabilities: np.ndarray) -> np.ndarray:  # fmt: skip
        n, h, w = faces.shape[:3]
        if self.patch > min(h, w):
            raise ValueError(
                f"occlusion: patch={self.patch} is larger than the {h}×{w} faces; give a "
                "patch of at most their shorter side"
            )
        offsets = [(y, x) for y in positions(h, self.patch, self.stride)
                   for x in positions(w, self.patch, self.stride)]  # fmt: skip
        base = probabilities[np.arange(n), targets]
        drops = np.empty((n, len(offsets)))
        for rows, batch in self._batches(faces, offsets):
            proba = np.asarray(model.predict_proba(batch), dtype=np.float64)
            face, where = np.divmod(rows, len(offsets))
            drops[face, where] = base[face] - proba[np.arange(len(rows)), targets[face]]
        total = np.zeros((n, h, w))
        cover = np.zeros((h, w))
        for k, (y, x) in enumerate(offsets):
            total[:, y : y + self.patch, x : x + self.patch] += drops[:, k, None, None]
            cover[y : y + self.patch, x : x + self.patch] += 1
        return total / cover

    def _fill_values(self, faces: np.ndarray) -> np.ndarray:
        """Return what each face's patch is painted with (per channel for colour faces)."""
        if self.fill == "mean":
            return faces.reshape(len(faces), -1, *faces.shape[3:]).mean(axis=1)
        return np.full((len(faces), *faces.shape[3:]), float(self.fill))

    def _batches(
        self, faces: np.ndarray, offsets: list[tuple[int, int]]
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (copy numbers, occluded copies) in batches of at most ``batch_size``.

        Copy ``i * len(offsets) + k`` is face ``i`` with patch ``k`` hidden; copies are
        made per batch, so memory holds one batch at a time.
        """
        fills = self._fill_values(faces)
        if faces.dtype.kind in "ui":
            fills = np.rint(fills)
        fills = fills.astype(faces.dtype)
        total = len(faces) * len(offsets)
        for start in range(0, total, self.batch_size):
            rows = np.arange(start, min(total, start + self.batch_size))
            face, where = np.divmod(rows, len(offsets))
            batch = faces[face].copy()
            for j, (i, k) in enumerate(zip(face, where, strict=True)):
                y, x = offsets[k]
                batch[j, y : y + self.patch, x : x + self.patch] = fills[i]
            yield rows, batch
