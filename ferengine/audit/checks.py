"""Checks of a dataset that need no pair search.

Blank or near-constant images, subjects whose images sit in more than one split, class
counts per split, and the share of a random sample in which a face detector finds no face.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ferengine import registry
from ferengine.audit.hashes import BATCH
from ferengine.dataset import FaceDataset

#: Standard deviation of the grey levels (0-255) under which an image counts as blank.
#: FER2013 holds 12 images of one grey level and one at 0.65; its next lowest is 4.1.
BLANK_STD = 2.0


def pixel_std(images: Any) -> np.ndarray:
    """Return the standard deviation of every image's pixel values (all channels together)."""
    out = np.zeros(len(images), dtype=np.float64)
    for start in range(0, len(images), BATCH):
        block = np.asarray(images[start : start + BATCH], dtype=np.float32)
        out[start : start + len(block)] = block.reshape(len(block), -1).std(axis=1)
    return out


def subjects_in_several_splits(ds: FaceDataset) -> dict[str, Any]:
    """Return the subjects whose images lie in more than one of the dataset's splits.

    Returns
    -------
    dict
        ``known`` (False when the dataset has no subject ids or no splits, with ``reason``),
        ``subjects`` (number of subjects), ``in_several_splits`` (how many of them) and
        ``list``: ``{"subject", "splits": {split: images}}`` for each.
    """
    if ds.subjects is None or ds.splits is None:
        missing = "subject ids" if ds.subjects is None else "splits"
        return {
            "known": False,
            "reason": f"the dataset has no {missing}",
            "subjects": None,
            "in_several_splits": None,
            "list": [],
        }
    found = []
    subjects = ds.subjects
    for subject in sorted(set(subjects.tolist())):
        splits, counts = np.unique(ds.splits[subjects == subject], return_counts=True)
        if len(splits) > 1:
            found.append(
                {
                    "subject": subject,
                    "splits": dict(zip(splits.tolist(), counts.tolist(), strict=True)),
                }
            )
    return {
        "known": True,
        "reason": "",
        "subjects": len(set(subjects.tolist())),
        "in_several_splits": len(found),
        "list": found,
    }


def class_balance(ds: FaceDataset) -> dict[str, dict[str, Any]]:
    """Return, per split (``"(all)"`` without splits), class counts and the imbalance.

    ``imbalance`` is the largest class count over the smallest non-zero one; ``empty``
    lists the classes of the label space with no image in that split.
    """
    splits = ["(all)"] if ds.splits is None else sorted(set(ds.splits.tolist()))
    out = {}
    for split in splits:
        counts = ds.class_counts(None if split == "(all)" else split)
        present = [c for c in counts.values() if c]
        out[split] = {
            "counts": counts,
            "imbalance": round(max(present) / min(present), 2) if present else None,
            "empty": [name for name, c in counts.items() if not c],
        }
    return out


def rows_without_face(images: Any, rows: np.ndarray, detector: str = "auto") -> np.ndarray:
    """Return those of ``rows`` whose image the detector finds no face in.

    Parameters
    ----------
    images : array-like of uint8
        The dataset's images.
    rows : ndarray of int
        The rows to try (a random sample, say).
    detector : str
        A registered face detector (``ferengine plugins detector``). The default,
        ``auto``, takes a crop-sized image whole when BlazeFace scores a face in it
        anywhere, and finds no face in a blank or non-face image.
    """
    found = registry.create("detector", detector)
    return np.asarray(
        [r for r in rows.tolist() if not found.detect(np.asarray(images[r]))], dtype=np.int64
    )
