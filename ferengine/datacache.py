"""Build-once dataset caches: a loader's images as a memory-mapped ``.npy`` file.

A dataset plugin that takes ``memmap=True`` builds its dataset once into a cache
folder and afterwards opens it from there, its images memory-mapped
(:class:`~ferengine.memmap.MemmapImages`) instead of held in memory. One folder per
dataset, keyed by

* the plugin (name, class and a hash of its module's source, so a changed loader or
  renderer never serves stale images) and ferengine's version;
* the loader's parameters, except ``memmap`` and ``cache_dir``;
* the identity of every source file or folder the loader reads (resolved path, size
  and modification time; for a folder, its file count, total size and newest time).

A folder holds ``images.npy`` (N×H×W or N×H×W×3 uint8, the standard ``.npy``
format), ``columns.npz`` (labels, subjects, splits and per-image ``meta`` arrays) and
``dataset.json`` (label space, source, the rest of ``meta``, shape and a digest of
sampled rows). It is written into a temporary folder and renamed into place
(:func:`ferengine.fileio.atomic_dir`), under a file lock, so an interrupted build
never leaves half a cache and concurrent loads (Dask workers) build it once. A folder
that fails its checks (missing or truncated file, shape, digest) is removed with a
:class:`~ferengine.errors.CacheWarning` and built again.

Where the caches live: the ``cache_dir`` parameter, else the ``FERENGINE_CACHE``
environment variable, else the user cache folder (``platformdirs.user_cache_dir``,
``~/.cache/ferengine`` on Linux), with ``datasets/<plugin>/<key>/`` inside.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import shutil
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from filelock import FileLock

from ferengine.dataset import FaceDataset
from ferengine.errors import CacheWarning, DamagedCacheError, DatasetError
from ferengine.fileio import atomic_dir
from ferengine.labels import LabelSpace
from ferengine.memmap import MemmapImages

__all__ = [
    "CACHE_ENV",
    "CACHE_PARAMS",
    "Allocate",
    "cache_root",
    "dataset_key",
    "in_memory",
    "load_cached",
    "open_cached",
    "source_identity",
]

#: Environment variable naming the cache folder (when ``cache_dir`` is not given).
CACHE_ENV = "FERENGINE_CACHE"
#: Loader parameters that choose where and whether to cache: not part of the key.
CACHE_PARAMS = frozenset({"memmap", "cache_dir"})
#: Version of the folder layout; a folder of another version is rebuilt.
FORMAT = 1
#: Rows hashed into the digest checked on every open (evenly spaced, first and last included).
DIGEST_ROWS = 17

#: ``allocate(shape)`` returns the uint8 array a builder fills with its images (in memory,
#: or a writable :class:`~ferengine.memmap.MemmapImages` of a new cache file).
Allocate = Callable[[tuple[int, ...]], "np.ndarray | MemmapImages"]


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Return the folder caches go to.

    Parameters
    ----------
    cache_dir : str or Path, optional
        Explicit folder. Without it: ``$FERENGINE_CACHE``, else the user cache folder
        from ``platformdirs`` (``~/.cache/ferengine`` on Linux), else ``~/.cache/ferengine``.
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser().resolve()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    try:
        import platformdirs
    except ImportError:
        return Path.home() / ".cache" / "ferengine"
    return Path(platformdirs.user_cache_dir("ferengine", appauthor=False))


def source_identity(path: str | Path) -> list[Any]:
    """Return a stand-in for a source's content: path, size and modification time.

    A file gives ``[path, size, mtime_ns]``; a folder ``[path, n_files, total_size,
    newest_mtime_ns]`` over every file below it; a missing path ``[path, None]`` (the
    loader then raises its own error naming it).
    """
    resolved = Path(path).expanduser().resolve()
    if resolved.is_file():
        stat = resolved.stat()
        return [str(resolved), stat.st_size, stat.st_mtime_ns]
    if resolved.is_dir():
        count = total = newest = 0
        for folder, _dirs, files in os.walk(resolved):
            for name in files:
                stat = os.stat(os.path.join(folder, name))
                count, total = count + 1, total + stat.st_size
                newest = max(newest, stat.st_mtime_ns)
        return [str(resolved), count, total, newest]
    return [str(resolved), None]


def dataset_key(plugin: Any, sources: Iterable[str | Path] = ()) -> str:
    """Return the cache key of a dataset plugin's output (see the module docstring)."""
    import ferengine

    cls = type(plugin)
    params = {
        k: v for k, v in sorted(plugin.get_params(deep=False).items()) if k not in CACHE_PARAMS
    }
    code = hashlib.sha256(Path(inspect.getfile(cls)).read_bytes()).hexdigest()
    parts = [
        FORMAT,
        ferengine.__version__,
        plugin.name,
        f"{cls.__module__}.{cls.__qualname__}",
        code,
        params,
        [source_identity(s) for s in sources],
    ]
    return str(joblib.hash(parts))


def in_memory(shape: tuple[int, ...]) -> np.ndarray:
    """Return a new uint8 array in memory (the :data:`Allocate` of an uncached load)."""
    return np.empty(shape, np.uint8)


def load_cached(
    plugin: Any,
    build: Callable[[Allocate], FaceDataset],
    *,
    sources: Iterable[str | Path] = (),
    cache_dir: str | Path | None = None,
) -> FaceDataset:
    """Return a plugin's dataset with memory-mapped images, building the cache once.

    Parameters
    ----------
    plugin : DatasetPlugin
        The loader (its name, class and parameters key the cache).
    build : callable
        ``build(allocate) -> FaceDataset``. A loader that knows its image count and
        size up front calls ``allocate((n, h, w))`` once and fills the array it gets
        (a ``.npy`` file in the cache being built) in chunks, so the images are never
        all in memory; any other loader just returns its dataset, whose images are
        then written to the file.
    sources : iterable of path
        Files or folders the loader reads (their identity is part of the key).
    cache_dir : str or Path, optional
        See :func:`cache_root`.

    Returns
    -------
    FaceDataset
        Images as :class:`~ferengine.memmap.MemmapImages`; ``meta["cache"]`` names
        the folder.
    """
    sources = list(sources)
    folder = cache_root(cache_dir) / "datasets" / plugin.name / dataset_key(plugin, sources)
    if folder.is_dir():
        try:
            return open_cached(folder)
        except DamagedCacheError:
            pass  # checked again under the lock: another process may be replacing it
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(folder.parent / f".{folder.name}.lock"):
        if folder.is_dir():
            try:
                return open_cached(folder)
            except DamagedCacheError as exc:
                _remove(folder)
                warnings.warn(
                    CacheWarning(f"damaged dataset cache {exc}; removed, building it again"),
                    stacklevel=2,
                )
        for stale in folder.parent.glob(f".{folder.name}.*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed build (we hold the lock)
        with atomic_dir(folder) as tmp:
            _write(tmp, build)
        return open_cached(folder)


def open_cached(folder: str | Path) -> FaceDataset:
    """Open a cache folder written by :func:`load_cached` as a memory-mapped dataset.

    Raises
    ------
    DamagedCacheError
        A file is missing, truncated or unreadable, or does not match ``dataset.json``
        (the message names the folder and the problem).
    """
    folder = Path(folder)
    try:
        return _open(folder)
    except DamagedCacheError as exc:
        raise DamagedCacheError(f"{folder}: {exc}") from None
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise DamagedCacheError(f"{folder}: {type(exc).__name__}: {exc}") from exc


def _open(folder: Path) -> FaceDataset:
    with _reading("dataset.json"):
        info = json.loads((folder / "dataset.json").read_text())
    if info.get("format") != FORMAT:
        raise DamagedCacheError(f"layout version {info.get('format')!r}, expected {FORMAT}")
    images = MemmapImages(folder / "images.npy")
    if list(images.shape) != info["shape"] or str(images.dtype) != info["dtype"]:
        raise DamagedCacheError(
            f"images.npy holds {images.shape} {images.dtype}, dataset.json says "
            f"{tuple(info['shape'])} {info['dtype']}"
        )
    if _digest(images) != info["digest"]:
        raise DamagedCacheError("images.npy does not match its digest (sampled rows changed)")
    with _reading("columns.npz"), np.load(folder / "columns.npz", allow_pickle=False) as stored:
        columns = {name: stored[name] for name in stored.files}
    meta = dict(info["meta"])
    for key, kind in info["per_sample"].items():
        value = columns[f"meta.{key}"]
        meta[key] = (
            value if kind == "array" else {"tuple": tuple, "list": list}[kind](value.tolist())
        )
    name, names = info["label_space"]
    return FaceDataset(
        images=images,
        labels=columns["labels"],
        label_space=LabelSpace(name, tuple(names)),
        subjects=columns.get("subjects"),
        splits=columns.get("splits"),
        source=info["source"],
        meta={**meta, "cache": str(folder)},
        per_sample=frozenset(info["per_sample"]),
    )


@contextlib.contextmanager
def _reading(name: str) -> Iterator[None]:
    """Name the file in any error reading it raises."""
    try:
        yield
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise DamagedCacheError(f"{name}: {type(exc).__name__}: {exc}") from exc


def _write(folder: Path, build: Callable[[Allocate], FaceDataset]) -> None:
    """Run ``build`` into ``folder``: images, columns, then ``dataset.json``."""
    allocated: list[MemmapImages] = []

    def allocate(shape: tuple[int, ...]) -> MemmapImages:
        if allocated:
            raise RuntimeError("allocate() may be called once per build")
        path = folder / "images.npy"
        # writes the header and sizes the file (the map is dropped at once); the loader then
        # writes its images a chunk at a time, each through its own short-lived map
        np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=tuple(shape))
        allocated.append(MemmapImages(path, writable=True))
        return allocated[-1]

    ds = build(allocate)
    if allocated:
        if ds.images is not allocated[0]:
            raise DatasetError(
                f"{ds.source}: the loader allocated {allocated[0].shape} images but returned "
                f"other images ({ds.images.shape}); a loader returns the array it filled"
            )
    else:
        np.save(folder / "images.npy", np.ascontiguousarray(ds.images))
    columns = {"labels": ds.labels}
    if ds.subjects is not None:
        columns["subjects"] = ds.subjects
    if ds.splits is not None:
        columns["splits"] = ds.splits
    kinds = {}
    for key in sorted(ds.per_sample):
        value = ds.meta[key]
        kinds[key] = "array"
        if isinstance(value, list | tuple):
            kinds[key] = "tuple" if isinstance(value, tuple) else "list"
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise DatasetError(
                f"{ds.source}: per-sample meta[{key!r}] mixes types ({array.dtype}); a cached "
                "dataset stores each per-sample entry as one numeric or string array"
            )
        columns[f"meta.{key}"] = array
    np.savez(folder / "columns.npz", **columns)
    meta = {k: v for k, v in ds.meta.items() if k not in ds.per_sample and k != "cache"}
    try:
        meta_text = json.dumps(meta, default=_plain)
    except TypeError as exc:
        raise DatasetError(f"{ds.source}: meta cannot be cached as JSON: {exc}") from exc
    images = MemmapImages(folder / "images.npy")
    info = {
        "format": FORMAT,
        "source": ds.source,
        "label_space": [ds.label_space.name, list(ds.label_space.names)],
        "shape": list(images.shape),
        "dtype": str(images.dtype),
        "digest": _digest(images),
        "per_sample": kinds,
        "meta": json.loads(meta_text),
    }
    (folder / "dataset.json").write_text(json.dumps(info, indent=1))


def _plain(value: Any) -> Any:
    """JSON fallback for numpy values in ``meta``."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def _digest(images: MemmapImages) -> str:
    """SHA-256 of the shape and of evenly spaced rows (a spot check, not a full hash)."""
    n = len(images)
    rows = np.unique(np.linspace(0, n - 1, min(n, DIGEST_ROWS)).round().astype(np.int64))
    digest = hashlib.sha256(repr((images.shape, str(images.dtype))).encode())
    digest.update(np.ascontiguousarray(images[rows]).tobytes() if n else b"")
    return digest.hexdigest()


def _remove(folder: Path) -> None:
    """Delete a cache folder (renamed first, so a crash midway leaves no half folder)."""
    doomed = folder.with_name(f".{folder.name}.damaged.tmp")
    shutil.rmtree(doomed, ignore_errors=True)
    os.replace(folder, doomed)
    shutil.rmtree(doomed, ignore_errors=True)
