"""Describe a FaceDataset: counts per split and class, image format, subjects, contact sheet."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ferengine.dataset import FaceDataset
from ferengine.fileio import write_atomic


def summary(ds: FaceDataset) -> dict:
    """Return counts per split and class, image size and mode, and number of subjects."""
    if ds.splits is None:
        counts = {"(all)": ds.class_counts()}
    else:  # counted from the split column: no copy of the images per split
        counts = {s: ds.class_counts(split=s) for s in sorted(set(ds.splits.tolist()))}
    return {
        "source": ds.source,
        "n": len(ds),
        "label_space": ds.label_space.name,
        "classes": list(ds.label_space.names),
        "counts": counts,
        "image_size": list(ds.images.shape[1:3]),
        "mode": "RGB" if ds.images.ndim == 4 else "grey",
        "subjects": None if ds.subjects is None else len(set(ds.subjects.tolist())),
        "skipped": ds.meta.get("n_skipped", 0),
    }


def contact_sheet(
    ds: FaceDataset, path: str | Path, per_class: int = 8, seed: int = 0, cell: int = 64
) -> Path:
    """Write a PNG grid: one row per class (label on the left), ``per_class`` random samples."""
    rng = np.random.default_rng(seed)
    label_w = 110
    rows = []
    for code, name in enumerate(ds.label_space.names):
        row = np.full((cell, label_w + per_class * cell, 3), 255, np.uint8)
        members = np.flatnonzero(ds.labels == code)
        count = f"{name} ({len(members)})"
        cv2.putText(
            row, count, (4, cell // 2 + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA
        )
        picks = rng.choice(members, min(per_class, len(members)), replace=False)
        for i, idx in enumerate(sorted(picks)):
            img = ds.images[idx]
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB) if img.ndim == 2 else img
            x = label_w + i * cell
            row[:, x : x + cell] = cv2.resize(img, (cell, cell), interpolation=cv2.INTER_AREA)
        rows.append(row)
    path = Path(path)
    try:  # the file's extension picks the format, as cv2.imwrite does
        ok, data = cv2.imencode(path.suffix, cv2.cvtColor(np.concatenate(rows), cv2.COLOR_RGB2BGR))
    except cv2.error:
        ok = False
    if not ok:
        raise OSError(f"could not write {path}: no image format for {path.suffix!r}")
    return write_atomic(path, data.tobytes())
