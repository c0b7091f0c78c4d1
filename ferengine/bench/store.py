"""The results store: one JSON file per finished combination × fold, written atomically.

A run killed at any moment leaves only complete files (each is written to a
temporary name and renamed), so ``--resume`` can trust every file it finds.
``results.json`` and ``results.csv`` are derived from the store by the report.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
        """Return a task's record, or ``None`` when it has none."""
        path = self.path(task)
        return json.loads(path.read_text()) if path.is_file() else None

    def finished(self, task: str) -> bool:
        """Whether ``task`` finished successfully (failed tasks run again on resume)."""
        record = self.read(task)
        return record is not None and record.get("status") == "ok"

    def records(self) -> Iterator[dict[str, Any]]:
        """Every stored record, in file-name order."""
        if self.folder.is_dir():
            for path in sorted(self.folder.glob("*.json")):
                yield json.loads(path.read_text())

    def __len__(self) -> int:
        return len(list(self.folder.glob("*.json"))) if self.folder.is_dir() else 0


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
