"""PNG figures of a benchmark report.

Drawn on :class:`matplotlib.figure.Figure` objects, not through ``pyplot``: no window,
no global figure list, and the user's matplotlib backend is left as it was.
"""

from __future__ import annotations

from itertools import pairwise
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
    """Plot mean accuracy against batched time per image and mark the Pareto front.

    The front's points carry their rank; the legend below names their pipelines.
    """
    points = [(r["predict_ms_per_image"], r["accuracy"]) for r in rows]
    front = pareto_front(points)
    fig = Figure(figsize=(7, 4.5 + 0.2 * len(front)))
    ax = fig.subplots()
    xs, ys = zip(*points, strict=True)
    ax.scatter(xs, ys, s=18, color="0.55", label="other pipelines")
    fx, fy = zip(*(points[i] for i in front), strict=True)
    ax.plot(fx, fy, "-", color="tab:red", alpha=0.5, label="Pareto front")
    for n, i in enumerate(front):
        color = f"C{n % 10}"
        ax.plot(*points[i], "o", color=color, label=_name(rows[i]))
        ax.annotate(f"#{rows[i]['rank']}", points[i], textcoords="offset points", xytext=(4, 4),
                    fontsize=7, color=color)  # fmt: skip
    ax.set_xscale("log")
    log_ticks(ax.xaxis)
    ax.set_xlabel("prediction time per image, batched (ms, log scale)")
    ax.set_ylabel("accuracy (mean over folds)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.14), frameon=False)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def log_ticks(axis: Any, most: int = 7) -> None:
    """Label a log axis, once its data are plotted, with at most ``most`` plain numbers.

    Matplotlib's default labels a log axis spanning less than a decade with
    ``2×10^-1``-style minor labels that crowd each other; this picks the finest of the
    usual mantissa steps (1…9, 1-2-3-5-7, 1-2-5, 1-3, 1) whose labels fit side by side
    on the axis, and writes them as plain numbers (``0.2``).
    """
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    axes = axis.axes
    axes.autoscale_view()
    low, high = sorted(axis.get_view_interval())
    if not (np.isfinite(low) and np.isfinite(high)) or not 0 < low < high:
        return
    span = np.log10(high / low)
    length = axes.get_position().width * axes.figure.get_figwidth() * 72  # points
    digit = 0.64 * FontProperties(size=rcParams["xtick.labelsize"]).get_size_in_points()

    def fit(ticks: list[float]) -> bool:  # adjacent labels' half-widths fit between them
        width = {t: digit * len(f"{t:g}") for t in ticks}
        return len(ticks) <= most and all(
            np.log10(b / a) / span * length >= (width[a] + width[b]) / 2 + 6
            for a, b in pairwise(ticks)
        )

    decades = range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
    steps = ((1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 5, 7), (1, 2, 5), (1, 3), (1,))
    candidates = [
        [m * 10.0**d for d in decades for m in mantissas if low <= m * 10.0**d <= high]
        for mantissas in steps
    ]
    # narrower than two steps of 1…9: three or two points between, to as few digits as tell
    between = [np.geomspace(low, high, n)[1:-1] for n in (5, 4)]
    rounded = ({float(f"{v:.{digits}g}") for v in points} for points in between
               for digits in (2, 3, 4))  # fmt: skip
    candidates += [sorted(v for v in values if low <= v <= high) for values in rounded]
    powers = [10.0**d for d in decades if low <= 10.0**d <= high]  # many decades: a few
    candidates += [powers[::k] for k in range(2, len(powers))]
    ticks = next((t for t in candidates if len(t) >= 2 and fit(t)), powers[:1])
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def per_class_f1(rows: list[dict[str, Any]], names: list[str], title: str, path: Path) -> Path:
    """Draw grouped bars of the per-class F1 of the top pipelines, named in the legend."""
    fig = Figure(figsize=(max(6, 1.2 * len(names)), 4 + 0.2 * len(rows)))
    ax = fig.subplots()
    width = 0.8 / max(1, len(rows))
    for k, row in enumerate(rows):
        ax.bar(np.arange(len(names)) + k * width, [row["per_class_f1"][n] for n in names],
               width, label=_name(row))  # fmt: skip
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=30, ha="right")
    ax.set_ylabel("F1")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.22), frameon=False)
    return _save(fig, path)


def _name(row: dict[str, Any]) -> str:
    """Return a leaderboard row as a legend entry: ``"#1 hog(cell=8) → svm-linear(C=0.1)"``."""
    return f"#{row['rank']} {row['pipeline']}"


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
