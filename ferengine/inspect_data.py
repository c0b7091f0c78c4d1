"""Describe a dataset: counts per split and class, image format, subjects, contact sheet.

Still datasets (:class:`~ferengine.dataset.FaceDataset`) are counted in images and shown
as a grid of samples per class; clip datasets (:class:`~ferengine.sequences.ClipDataset`)
are counted in clips, with their lengths, and shown as frame strips, one clip per row.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ferengine.dataset import FaceDataset
from ferengine.fileio import write_atomic
from ferengine.sequences import ClipDataset

#: Narrowest label column of a contact sheet, in pixels (wider when a label needs it).
LABEL_WIDTH = 110
_FONT, _SCALE = cv2.FONT_HERSHEY_SIMPLEX, 0.4


def _counts(labels: np.ndarray, splits: np.ndarray | None, names: tuple[str, ...]) -> dict:
    """Return ``{split: {class: count}}`` (split ``"(all)"`` when there are none)."""

    def count(codes: np.ndarray) -> dict[str, int]:
        return dict(zip(names, np.bincount(codes, minlength=len(names)).tolist(), strict=True))

    if splits is None:
        return {"(all)": count(labels)}
    return {s: count(labels[splits == s]) for s in sorted(set(splits.tolist()))}


def summary(ds: FaceDataset | ClipDataset) -> dict:
    """Return counts per split and class, image size and mode, and number of subjects.

    ``kind`` is ``"images"`` or ``"clips"``. A clip dataset counts clips per split and
    class and adds ``frames`` (all frames together) and ``length`` (frames per clip:
    ``min``, ``median``, ``mean``, ``max``, and ``mean_by_class``).
    """
    images = ds.clips[0] if isinstance(ds, ClipDataset) and len(ds) else getattr(ds, "images", None)
    shape = tuple(images.shape[1:]) if images is not None else ()
    info = {
        "source": ds.source,
        "kind": "clips" if isinstance(ds, ClipDataset) else "images",
        "n": len(ds),
        "label_space": ds.label_space.name,
        "classes": list(ds.label_space.names),
        # counted from the split column: no copy of the images per split
        "counts": _counts(ds.labels, ds.splits, ds.label_space.names),
        "image_size": list(shape[:2]),
        "mode": "RGB" if len(shape) == 3 else "grey",
        "subjects": None if ds.subjects is None else len(set(ds.subjects.tolist())),
        "skipped": ds.meta.get("n_skipped", 0),
    }
    if isinstance(ds, ClipDataset):
        lengths = ds.lengths
        by_class = {
            name: round(float(lengths[ds.labels == code].mean()), 2)
            for code, name in enumerate(ds.label_space.names)
            if (ds.labels == code).any()
        }
        info["frames"] = int(lengths.sum())
        info["length"] = {
            "min": int(lengths.min()),
            "median": float(np.median(lengths)),
            "mean": round(float(lengths.mean()), 2),
            "max": int(lengths.max()),
            "mean_by_class": by_class,
        }
    return info


def _cell(img: np.ndarray, cell: int) -> np.ndarray:
    """Return an image as an RGB ``cell`` × ``cell`` tile."""
    img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB) if img.ndim == 2 else img
    return cv2.resize(img, (cell, cell), interpolation=cv2.INTER_AREA)


def _label_width(texts: list[str]) -> int:
    """Return the label column's width: :data:`LABEL_WIDTH`, or more for long labels."""
    widest = max(cv2.getTextSize(t, _FONT, _SCALE, 1)[0][0] for t in texts)
    return max(LABEL_WIDTH, widest + 10)


def _label(row: np.ndarray, text: str, y: int) -> None:
    cv2.putText(row, text, (4, y), _FONT, _SCALE, (0, 0, 0), 1, cv2.LINE_AA)


def _class_labels(ds: FaceDataset | ClipDataset) -> list[str]:
    counts = np.bincount(ds.labels, minlength=len(ds.label_space))
    return [f"{name} ({n})" for name, n in zip(ds.label_space.names, counts, strict=True)]


def _image_rows(ds: FaceDataset, per_class: int, rng: np.random.Generator, cell: int) -> list:
    rows = []
    labels = _class_labels(ds)
    left = _label_width(labels)
    for code, label in enumerate(labels):
        row = np.full((cell, left + per_class * cell, 3), 255, np.uint8)
        members = np.flatnonzero(ds.labels == code)
        _label(row, label, cell // 2 + 4)
        picks = rng.choice(members, min(per_class, len(members)), replace=False)
        for i, idx in enumerate(sorted(picks)):
            x = left + i * cell
            row[:, x : x + cell] = _cell(ds.images[idx], cell)
        rows.append(row)
    return rows


def _clip_rows(ds: ClipDataset, per_class: int, frames: int, rng: np.random.Generator,
               cell: int) -> list:  # fmt: skip
    """One row per sampled clip: ``frames`` frames evenly spaced from its first to its last."""
    rows = []
    labels = _class_labels(ds)
    left = _label_width(labels)
    for code, label in enumerate(labels):
        members = np.flatnonzero(ds.labels == code)
        picks = sorted(rng.choice(members, min(per_class, len(members)), replace=False))
        if not picks:
            row = np.full((cell, left + frames * cell, 3), 255, np.uint8)
            _label(row, label, cell // 2 + 4)
            rows.append(row)
        for k, idx in enumerate(picks):
            row = np.full((cell, left + frames * cell, 3), 255, np.uint8)
            clip = ds.clips[idx]
            if k == 0:
                _label(row, label, cell // 2 - 4)
            _label(row, f"  {len(clip)} frames", cell // 2 + 12)
            shown = np.unique(np.linspace(0, len(clip) - 1, min(frames, len(clip))).round())
            for i, t in enumerate(shown.astype(int)):
                x = left + i * cell
                row[:, x : x + cell] = _cell(clip[t], cell)
            row[-1, left:] = 255  # a white line between clips
            rows.append(row)
    return rows


def contact_sheet(
    ds: FaceDataset | ClipDataset,
    path: str | Path,
    per_class: int | None = None,
    seed: int = 0,
    cell: int = 64,
    frames: int = 8,
) -> Path:
    """Write a PNG of random samples of every class, the class and its count on the left.

    A still dataset gets one row per class of ``per_class`` images (default 8); a clip
    dataset gets ``per_class`` clips per class (default 2), each a row of ``frames``
    frames evenly spaced from its first frame to its last (all of a shorter clip).

    Parameters
    ----------
    ds : FaceDataset or ClipDataset
    path : str or Path
        The file; its extension picks the format (``.png``).
    per_class : int, optional
        Images (or clips) per class.
    seed : int
        Seed of the random picks.
    cell : int
        Side of each tile, in pixels.
    frames : int
        Frames shown per clip.
    """
    rng = np.random.default_rng(seed)
    if isinstance(ds, ClipDataset):
        rows = _clip_rows(ds, 2 if per_class is None else per_class, frames, rng, cell)
    else:
        rows = _image_rows(ds, 8 if per_class is None else per_class, rng, cell)
    path = Path(path)
    try:  # the file's extension picks the format, as cv2.imwrite does
        ok, data = cv2.imencode(path.suffix, cv2.cvtColor(np.concatenate(rows), cv2.COLOR_RGB2BGR))
    except cv2.error:
        ok = False
    if not ok:
        raise OSError(f"could not write {path}: no image format for {path.suffix!r}")
    return write_atomic(path, data.tobytes())
