"""Training curves of a fitted ``cnn``: CSV and PNG."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

COLUMNS = ("epoch", "train_loss", "valid_loss", "valid_acc", "lr", "dur")


def write_curves(history: list[dict[str, Any]], folder: str | Path) -> tuple[Path, Path]:
    """Write ``curves.csv`` (one row per epoch) and ``curves.png`` (losses, accuracy)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "curves.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(history)
    epochs = [row["epoch"] for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
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
    fig.savefig(folder / "curves.png", dpi=110)
    plt.close(fig)
    return folder / "curves.csv", folder / "curves.png"
