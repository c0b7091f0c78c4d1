"""Build-once caches of per-clip arrays: what a loader derived from one source file or folder.

A sequence loader that does costly work per clip (decoding a video, finding and cropping
its face in every frame) keeps the result of each clip in its own ``.npz`` file, so that
adding a clip to a collection, or changing a parameter applied after the cache (a length
filter, say), never redoes the other clips. A file is keyed, as
:mod:`ferengine.datacache` keys whole datasets, by

* the loader's name, ferengine's version and whatever the loader says shapes the arrays
  (its parameters and a digest of its code);
* the identity of the clip's source (:func:`ferengine.datacache.source_identity`:
  resolved path, size and modification time; for a folder of frames, its file count,
  total size and newest time).

Each file is written to a temporary name and renamed into place
(:func:`ferengine.fileio.atomic_path`) under a per-clip file lock, so an interrupted
build never leaves half a file and concurrent loads build a clip once. A file that
cannot be read back is removed with a :class:`~ferengine.errors.CacheWarning` and built
again. The files live under ``clips/<loader>/`` in the folder of
:func:`ferengine.datacache.cache_root`.
"""

from __future__ import annotations

import hashlib
import inspect
import warnings
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import joblib
import numpy as np
from filelock import FileLock

from ferengine.datacache import cache_root, source_identity
from ferengine.errors import CacheWarning
from ferengine.fileio import atomic_path

__all__ = ["cached_arrays", "clip_cache_path", "code_digest"]

#: Version of the file layout; files of another version are never read (their key differs).
FORMAT = 1


def code_digest(modules: Iterable[ModuleType]) -> str:
    """Return a SHA-256 of the source of modules, so a changed loader never reads stale files."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(inspect.getfile(module)).read_bytes())
    return digest.hexdigest()


def clip_cache_path(
    loader: str, parts: Any, source: str | Path, cache_dir: str | Path | None = None
) -> Path:
    """Return the cache file of one clip.

    Parameters
    ----------
    loader : str
        The loader's name (a folder under ``clips/``).
    parts : object
        Everything besides the source that shapes the arrays (hashed with joblib).
    source : str or Path
        The clip's file or folder of frames.
    cache_dir : str or Path, optional
        See :func:`ferengine.datacache.cache_root`.
    """
    import ferengine

    key = joblib.hash([FORMAT, ferengine.__version__, loader, parts, source_identity(source)])
    return cache_root(cache_dir) / "clips" / loader / f"{key}.npz"


def _read(path: Path) -> dict[str, np.ndarray] | None:
    """Return the arrays of a cache file, None when it is absent; warn and remove it if damaged."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        path.unlink(missing_ok=True)
        warnings.warn(
            CacheWarning(f"damaged clip cache {path}: {exc}; removed, building it again"),
            stacklevel=3,
        )
        return None


def cached_arrays(
    loader: str,
    parts: Any,
    source: str | Path,
    build: Callable[[], dict[str, np.ndarray]],
    cache_dir: str | Path | None = None,
) -> dict[str, np.ndarray]:
    """Return the arrays ``build()`` makes for one clip, from its cache file when there is one.

    Parameters
    ----------
    loader, parts, source, cache_dir
        The cache file's key and place (see :func:`clip_cache_path`).
    build : callable
        ``build() -> {name: array}``: numeric or string arrays (stored with
        ``np.savez``, read back without pickle). An exception it raises is passed on
        and nothing is cached.

    Returns
    -------
    dict of str to ndarray
    """
    path = clip_cache_path(loader, parts, source, cache_dir)
    found = _read(path)
    if found is not None:
        return found
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_name(f".{path.stem}.lock")):
        found = _read(path)  # another process may have built it while this one waited
        if found is not None:
            return found
        arrays = build()
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
    return arrays
