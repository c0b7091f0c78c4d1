"""Atomic file writes: a crash or a full disk never leaves half a file under the real name.

Every file ferengine writes for later reading (models, bench records, reports, caches,
training curves) goes through :func:`atomic_path`: the content is written to a
temporary file in the same folder, flushed to disk (``fsync``), renamed over the target
(``os.replace``, atomic on POSIX and Windows) and the folder's entry is flushed too, so
the rename itself survives a power cut.

Hand-written on purpose: the candidates (``atomicwrites``, archived upstream;
``atomicwrites-homesnake``) add a dependency for these few lines and do not cover
writers that need a path (``zipfile``, ``np.savez``, ``savefig``) or whole folders.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_dir", "atomic_path", "fsync_dir", "write_atomic"]


def fsync_dir(folder: str | Path) -> None:
    """Flush a folder's entries (a rename into it) to disk; a no-op where folders cannot be."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder; its renames are durable on return
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    The parent folder is created. On an exception the temporary file is removed and
    ``path`` is left as it was.

    Parameters
    ----------
    path : str or Path
        The file to write.
    suffix : str
        Ending of the temporary name, for writers that add one (``np.savez`` adds
        ``.npz`` to a name without it).

    Yields
    ------
    Path
        Where to write (a file in the same folder, already created and empty).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # not mkstemp: its files are private (0600); this one gets the umask's permissions
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp{suffix}")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically; return ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


@contextlib.contextmanager
def atomic_dir(folder: str | Path) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it is renamed to ``folder``.

    Made for write-once folders (content-addressed caches): when ``folder`` already
    exists — another writer finished the same content first — the new copy is
    discarded and the existing one kept. On an exception nothing is left behind.

    Yields
    ------
    Path
        An empty folder next to ``folder``.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # not mkdtemp: its folders are private (0700); this one gets the umask's permissions
    tmp = folder.with_name(f".{folder.name}.{secrets.token_hex(6)}.tmp")
    tmp.mkdir()
    try:
        yield tmp
        for item in tmp.rglob("*"):
            if item.is_file():
                _fsync_file(item)
        fsync_dir(tmp)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not folder.is_dir():  # not a lost race: a real error
                raise
        else:
            fsync_dir(folder.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
