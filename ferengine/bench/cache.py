"""Content-addressed feature cache on disk.

One entry per (datasets, fold rows, front steps): the train and test feature
matrices as ``.npy`` (read back memory-mapped) and a ``meta.json`` with what computing
them cost. An entry is written into a temporary folder and renamed into place, so a
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
        folder = self._dir(key)
        if not (folder / "meta.json").is_file():
            return None
        meta = json.loads((folder / "meta.json").read_text())
        return Entry(
            np.load(folder / "train.npy", mmap_mode="r"),
            np.load(folder / "test.npy", mmap_mode="r"),
            meta,
        )

    def put(self, key: str, train: np.ndarray, test: np.ndarray, meta: dict[str, Any]) -> None:
        """Store an entry atomically (a concurrent writer's complete copy wins)."""
        with atomic_dir(self._dir(key)) as tmp:
            np.save(tmp / "train.npy", np.ascontiguousarray(train))
            np.save(tmp / "test.npy", np.ascontiguousarray(test))
            (tmp / "meta.json").write_text(json.dumps(meta))
