"""Training curves of a fitted ``cnn``: CSV and PNG.

The figure is a :class:`matplotlib.figure.Figure` (no ``pyplot``), so the user's
matplotlib backend is never switched.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ferengine.fileio import atomic_path, write_atomic

COLUMNS = ("epoch", "train_loss", "valid_loss", "valid_acc", "lr", "dur")


def write_curves(history: list[dict[str, Any]], folder: str | Path) -> tuple[Path, Path]:
    """Write ``curves.csv`` (one row per epoch) and ``curves.png`` (losses, accuracy)."""
    from matplotlib.figure import Figure

    folder = Path(folder)
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(history)
    write_atomic(folder / "curves.csv", table.getvalue())
    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(10, 3.8))
    left, right = fig.subplots(1, 2)
    for key in ("train_loss", "valid_loss"):
        if any(key in row for row in history):
            left.plot(epochs, [row.get(key) for row in history], label=key.replace("_", " "))
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.legend()
    if any("valid_acc" in row for row in history):
        right.plot(epochs, [row.get("valid_acc") for row in history], color="tab:green")
        right.set_ylabel("validation accuracy")
    right.set_xlabel("epoch")
    fig.tight_layout()
    with atomic_path(folder / "curves.png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return folder / "curves.csv", folder / "curves.png"
