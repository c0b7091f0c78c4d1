"""One ``ferengine bench`` per results folder: a lock file and a note of who holds it.

Two runs writing into the same ``--out`` would both run every task and race on
``run.json``. The first takes ``OUT/.bench.lock`` (an OS lock through ``filelock``:
released by the kernel when the process ends, even on ``kill -9``) and writes its
pid, host and start time to ``OUT/.bench.owner.json``; a second one reads that note
and stops with :class:`FolderBusyError`, or waits for the lock when asked to.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from ferengine.bench.suite import SuiteError
from ferengine.fileio import write_atomic

#: The lock file in a results folder (left in place; only the OS lock matters).
LOCK_NAME = ".bench.lock"
#: The note of who holds the lock (removed when the holder finishes).
OWNER_NAME = ".bench.owner.json"


class FolderBusyError(SuiteError):
    """Another ``ferengine bench`` is writing into the same results folder."""


def holder(out: Path) -> str:
    """Describe the process holding ``out``'s lock, from its note (pid, host, start)."""
    try:
        note = json.loads((out / OWNER_NAME).read_text(encoding="utf-8"))
        return f"pid {note['pid']} on {note['host']}, started {note['started']}"
    except (OSError, ValueError, TypeError, KeyError):  # not written yet, or damaged
        return f"a process that left no readable {OWNER_NAME}"


@contextlib.contextmanager
def folder_lock(
    out: str | Path, wait: bool = False, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the lock of the results folder ``out`` (created if missing) while in the block.

    Parameters
    ----------
    out : str or Path
        The results folder.
    wait : bool
        When another process holds it: wait until it is released (True) or raise (False).
    on_wait : callable, optional
        Called with one line saying whom we wait for, before waiting.

    Raises
    ------
    FolderBusyError
        Another process holds the folder and ``wait`` is False (the message names it).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # One lock object per folder in this process (``is_singleton``), and filelock counts
    # re-entries: the CLI holds the folder across the run and the report, and
    # run_suite takes it again inside.
    lock = FileLock(out.resolve() / LOCK_NAME, is_singleton=True)
    if lock.is_locked:  # already ours: nest
        with lock:
            yield
        return
    try:
        lock.acquire(timeout=0)
    except Timeout:
        who = holder(out)
        if not wait:
            raise FolderBusyError(
                f"{out} is in use by another ferengine bench ({who}); wait for it to finish "
                "(--wait) or choose another --out"
            ) from None
        if on_wait is not None:
            on_wait(f"waiting for the ferengine bench using {out} ({who})")
        lock.acquire()  # polls until released, however long that takes
    try:
        note = {
            "pid": os.getpid(),
            "host": platform.node(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "command": sys.argv,
        }
        write_atomic(out / OWNER_NAME, json.dumps(note))
        yield
    finally:
        (out / OWNER_NAME).unlink(missing_ok=True)
        lock.release()
