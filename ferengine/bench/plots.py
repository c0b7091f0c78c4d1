"""PNG figures of a benchmark report.

Drawn on :class:`matplotlib.figure.Figure` objects, not through ``pyplot``: no window,
no global figure list, and the user's matplotlib backend is left as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ferengine.calibration import Reliability
from ferengine.fileio import atomic_path


def confusion(
    counts: np.ndarray, true_names: list[str], names: list[str], title: str, path: Path
) -> Path:
    """Draw a row-normalised confusion matrix with the counts written in each cell."""
    counts = np.asarray(counts, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    fig = Figure(figsize=(1.0 + 0.75 * len(names), 1.0 + 0.7 * len(true_names)))
    ax = fig.subplots()
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (i, j), value in np.ndenumerate(share):
        ax.text(j, i, f"{value:.2f}\n{int(counts[i, j])}", ha="center", va="center",
                fontsize=7, color="white" if value > 0.5 else "black")  # fmt: skip
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(true_names)), true_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Return the indices of points no other point beats on both latency and accuracy."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -np.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def accuracy_latency(rows: list[dict[str, Any]], title: str, path: Path) -> Path:
    """Plot mean accuracy against batched time per image and mark the Pareto front."""
    points = [(r["predict_ms_per_image"], r["accuracy"]) for r in rows]
    front = pareto_front(points)
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    xs, ys = zip(*points, strict=True)
    ax.scatter(xs, ys, s=18, color="0.55", label="pipeline")
    fx, fy = zip(*(points[i] for i in front), strict=True)
    ax.plot(fx, fy, "o-", color="tab:red", label="Pareto front")
    for i in front:
        ax.annotate(rows[i]["rank"], points[i], textcoords="offset points", xytext=(4, 4),
                    fontsize=7)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("prediction time per image, batched (ms, log scale)")
    ax.set_ylabel("accuracy (mean over folds)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def per_class_f1(rows: list[dict[str, Any]], names: list[str], title: str, path: Path) -> Path:
    """Draw grouped bars of the per-class F1 of the top pipelines."""
    fig = Figure(figsize=(max(6, 1.2 * len(names)), 4))
    ax = fig.subplots()
    width = 0.8 / max(1, len(rows))
    for k, row in enumerate(rows):
        ax.bar(np.arange(len(names)) + k * width, [row["per_class_f1"][n] for n in names],
               width, label=f"#{row['rank']}")  # fmt: skip
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=30, ha="right")
    ax.set_ylabel("F1")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncols=min(5, len(rows)))
    return _save(fig, path)


def reliability(bins: Reliability, title: str, path: Path) -> Path:
    """Draw a reliability diagram: accuracy per confidence bin against the diagonal.

    Bars are each bin's accuracy (of the top class), red outlines its mean confidence
    (the gap to the bar is the bin's miscalibration); below, how many test samples
    fall in each bin.
    """
    fig = Figure(figsize=(4.8, 5.2))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    left, width = bins.edges[:-1], np.diff(bins.edges)
    filled = bins.counts > 0
    top.bar(left[filled], bins.accuracy[filled], width[filled], align="edge",
            color="tab:blue", edgecolor="white", label="accuracy")  # fmt: skip
    top.bar(left[filled], bins.confidence[filled], width[filled], align="edge", fill=False,
            edgecolor="tab:red", linewidth=1.0, label="mean confidence")  # fmt: skip
    top.plot([0, 1], [0, 1], "--", color="0.4", linewidth=1, label="calibrated")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy of the top class")
    top.set_title(title, fontsize=9)
    top.legend(fontsize=7, loc="upper left")
    top.grid(alpha=0.3)
    bottom.bar(left, bins.counts, width, align="edge", color="0.6", edgecolor="white")
    bottom.set_xlabel("top-class confidence")
    bottom.set_ylabel("samples")
    return _save(fig, path)


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return path
