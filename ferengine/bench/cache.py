"""Content-addressed feature cache on disk.

One entry per (datasets, fold rows, front steps): the train and test feature
matrices as ``.npy`` (read back memory-mapped) and a ``meta.json`` with what computing
them cost. Ragged outputs — one ``(T_i, ...)`` array per clip, as a 1-D object array
(per-frame feature sequences, or clips themselves for models that take clips) — are
stored as their rows concatenated plus a ``.lengths.npy``, and read back as views.

An entry is written into a temporary folder and renamed into place, so a
killed run never leaves a half-written entry, and two workers racing on one key
keep the first complete copy. joblib.Memory caches function calls, but the
benchmark needs entries that several workers and later runs share by key, count as
hits or misses and carry their cost; this small store does exactly that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from ferengine.fileio import atomic_dir
from ferengine.temporal import split_rows


def cache_key(parts: Any) -> str:
    """Hash of any JSON-able/array description of a computation (joblib.hash, md5)."""
    return str(joblib.hash(parts))


@dataclass
class Entry:
    """A cached feature computation."""

    train: np.ndarray
    test: np.ndarray
    meta: dict[str, Any]


class FeatureCache:
    """Feature matrices by key under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _dir(self, key: str) -> Path:
        return self.root / key[:2] / key

    def __contains__(self, key: str) -> bool:
        return (self._dir(key) / "meta.json").is_file()

    def get(self, key: str) -> Entry | None:
        """Return the entry (arrays memory-mapped), or ``None`` when absent."""
        found = self._read(key, ("train", "test"))
        return None if found is None else Entry(*found[0], found[1])

    def put(self, key: str, train: np.ndarray, test: np.ndarray, meta: dict[str, Any]) -> None:
        """Store an entry atomically (a concurrent writer's complete copy wins)."""
        self._write(key, {"train": train, "test": test}, meta)

    def put_samples(self, key: str, rows: np.ndarray, meta: dict[str, Any]) -> None:
        """Store the features of every sample of a dataset (no fold) atomically."""
        self._write(key, {"samples": rows}, meta)

    def get_samples(self, key: str) -> tuple[np.ndarray, dict[str, Any]] | None:
        """Return what :meth:`put_samples` stored (memory-mapped), or ``None``."""
        found = self._read(key, ("samples",))
        return None if found is None else (found[0][0], found[1])

    def _write(self, key: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        with atomic_dir(self._dir(key)) as tmp:
            for name, array in arrays.items():
                save_rows(tmp, name, array)
            (tmp / "meta.json").write_text(json.dumps(meta))

    def _read(self, key: str, names: tuple[str, ...]) -> tuple[list[np.ndarray], dict] | None:
        folder = self._dir(key)
        if not (folder / "meta.json").is_file():
            return None
        meta = json.loads((folder / "meta.json").read_text())
        return [load_rows(folder, name) for name in names], meta


def save_rows(folder: Path, name: str, array: np.ndarray) -> None:
    """Save ``array`` as ``name.npy``; a 1-D object array of arrays as their concatenation.

    The items of a ragged array must share their trailing shape and dtype (clips of one
    frame size, sequences of one width); their lengths go to ``name.lengths.npy``.
    """
    array = np.asarray(array)
    if array.dtype == object:
        lengths = np.array([len(item) for item in array], dtype=np.int64)
        np.save(folder / f"{name}.lengths.npy", lengths)
        array = np.concatenate([np.asarray(item) for item in array]) if len(array) else array
    np.save(folder / f"{name}.npy", np.ascontiguousarray(array))


def load_rows(folder: Path, name: str) -> np.ndarray:
    """Read what :func:`save_rows` saved, memory-mapped (ragged items as views)."""
    rows = np.load(folder / f"{name}.npy", mmap_mode="r")
    lengths = folder / f"{name}.lengths.npy"
    return split_rows(rows, np.load(lengths)) if lengths.is_file() else rows
