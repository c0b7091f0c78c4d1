"""The results store: one JSON file per finished combination × fold, written atomically.

A run killed at any moment leaves only complete files (each is written to a
temporary name and renamed), so ``--resume`` can trust every file it writes. A file
damaged all the same (a full disk, a copy cut short, a hand edit) is moved aside to
``<name>.corrupt-<timestamp>`` with a one-line :class:`DamagedFileWarning`, and its
task runs again on resume. ``results.json`` and ``results.csv`` are derived from the
store by the report.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ferengine.bench.suite import SuiteError
from ferengine.errors import DamagedFileWarning
from ferengine.fileio import write_atomic


def set_aside(path: Path, reason: str, then: str) -> Path:
    """Rename a damaged ``path`` to ``<name>.corrupt-<timestamp>`` and warn in one line.

    Parameters
    ----------
    path : Path
        The damaged file.
    reason : str
        What is wrong with it.
    then : str
        What happens next (e.g. "its task runs again on --resume").

    Returns
    -------
    Path
        Where the file now is.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.replace(path, target)
    warnings.warn(
        DamagedFileWarning(f"{path} is damaged ({reason}); moved to {target.name}; {then}"),
        stacklevel=3,
    )
    return target


def read_json(path: Path, valid: Callable[[Any], bool], expected: str, then: str) -> Any | None:
    """Return the JSON content of ``path``; ``None`` when it is missing or damaged.

    A file that is not UTF-8 JSON, or whose content fails ``valid``, is moved aside
    with :func:`set_aside` (``expected`` says what it should hold, ``then`` what
    happens next).
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:  # a folder named *.json, no permission: nothing to move aside
        raise SuiteError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError:
        set_aside(path, "not UTF-8 text", then)
        return None
    if not text.strip():
        set_aside(path, "empty file", then)
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:  # JSONDecodeError; also numbers too long to parse
        set_aside(path, f"not valid JSON: {exc}", then)
        return None
    if not valid(value):
        set_aside(path, f"not {expected}", then)
        return None
    return value


class ResultStore:
    """Records of finished tasks under ``DIR/runs``."""

    def __init__(self, out: str | Path) -> None:
        self.folder = Path(out) / "runs"

    def path(self, task: str) -> Path:
        """File of one task's record."""
        return self.folder / f"{task}.json"

    def write(self, record: dict[str, Any]) -> None:
        """Store one task's record (``record["task"]`` names it)."""
        write_atomic(self.path(record["task"]), json.dumps(record, default=_jsonable))

    def read(self, task: str) -> dict[str, Any] | None:
        """Return a task's record, or ``None`` when it has none (or had a damaged one)."""
        return _read_record(self.path(task))

    def finished(self, task: str) -> bool:
        """Whether ``task`` finished successfully (failed tasks run again on resume)."""
        record = self.read(task)
        return record is not None and record.get("status") == "ok"

    def records(self) -> Iterator[dict[str, Any]]:
        """Every stored record, in file-name order."""
        if self.folder.is_dir():
            for path in sorted(self.folder.glob("*.json")):
                record = _read_record(path)
                if record is not None:
                    yield record

    def __len__(self) -> int:
        return len(list(self.folder.glob("*.json"))) if self.folder.is_dir() else 0


#: Keys of every entry of ``run.json`` that the report prints.
HISTORY_KEYS = frozenset(
    {"finished", "machine", "backend", "jobs", "ran", "resumed", "failed", "cache_hits",
     "cache_misses", "seconds"}
)  # fmt: skip


def read_history(path: Path, then: str) -> list[dict[str, Any]] | None:
    """Return the run history ``run.json`` (``None`` when missing or damaged).

    The history only describes earlier invocations (nothing else depends on it), so
    a damaged one is moved aside and ``then`` says what replaces it.
    """
    return read_json(
        path,
        lambda v: (
            isinstance(v, list) and all(isinstance(r, dict) and r.keys() >= HISTORY_KEYS for r in v)
        ),
        "a list of run entries",
        then,
    )


def _read_record(path: Path) -> dict[str, Any] | None:
    return read_json(
        path,
        lambda v: isinstance(v, dict),
        "a task record (a JSON object)",
        "its task runs again on --resume",
    )


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
