"""The leaderboard's columns: header, format and meaning — the one source for every report.

``report.md``, ``report.html`` and the terminal leaderboard of ``ferengine bench`` take
their headers from :data:`COLUMNS` and their key to the columns from :func:`key_items`,
so a column is described once. A column no pipeline has a figure for is left out
(:func:`shown_columns`). A figure the leaderboard averages over folds (a row key ``K``
with a ``K_sd`` beside it) that no column names is shown all the same, headed by its
key, so a new metric appears before anyone describes it here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Column:
    """One leaderboard column: the row figure it shows, its header, format and meaning.

    Attributes
    ----------
    key : str
        The leaderboard row's key (:func:`~ferengine.bench.report.leaderboards`).
    header : str
        The column's header; ``{unit}`` becomes the dataset's sample ("image" or "clip").
    meaning : str
        What the figure is, for the report's key and the header's tooltip (``{unit}``
        is replaced as in ``header``).
    fmt : str
        Format of the value (after ``scale``).
    better : str
        ``"high"`` or ``"low"``: which end a first click on the header puts on top.
    sd : bool
        Whether ``± sd`` over folds follows the mean (when the row has no interval of it).
    scale : float
        Factor applied before formatting (bytes to MB).
    """

    key: str
    header: str
    meaning: str
    fmt: str = "{:.3f}"
    better: str = "high"
    sd: bool = True
    scale: float = 1.0


_INTERVAL = "with its bootstrap 95 % confidence interval [low, high]"
#: The leaderboard's figure columns, in order (rank, pipeline and McNemar come around them).
COLUMNS = (
    Column("accuracy", "accuracy [95 % CI]",
           f"share of test {{unit}}s classified right, mean over folds, {_INTERVAL}"),
    Column("accuracy_dedup", "acc. de-dup.",
           "accuracy on the de-duplicated test set: the test {unit}s with neither a "
           "byte-identical nor a near copy among the training {unit}s of their fold"),
    Column("balanced_accuracy", "balanced acc.",
           "mean of the per-class recalls: every class counts the same, however many test "
           "{unit}s it has"),
    Column("macro_f1", "macro-F1 [95 % CI]", f"mean of the per-class F1 scores, {_INTERVAL}"),
    Column("macro_f1_dedup", "macro-F1 de-dup.",
           "macro-F1 on the de-duplicated test set (see acc. de-dup.)"),
    Column("top2_accuracy", "top-2",
           "share of test {unit}s whose true class is one of the two the pipeline scores "
           "highest", sd=False),
    Column("ece", "ECE",
           "expected calibration error: the gap between top-class confidence and accuracy, "
           "over 15 equal-width confidence bins", better="low"),
    Column("nll", "NLL", "mean negative log-likelihood of the true class, in nats",
           better="low"),
    Column("brier", "Brier",
           "mean over test {unit}s of the summed squared error of the class probabilities to "
           "the one-hot truth (0 to 2)", better="low"),
    Column("plurality_accuracy", "plurality acc.",
           "against annotators' votes (FER+): a prediction is right when it is one of the "
           "classes with the most votes"),
    Column("vote_cross_entropy", "CE to votes",
           "cross-entropy in nats of the predicted probabilities to the annotators' vote "
           "distribution (FER+)", better="low"),
    Column("fit_seconds", "fit s",
           "seconds to fit the front (preprocessing and feature, timed when the feature cache "
           "was filled) plus the classifier", "{:.2f}", "low", sd=False),
    Column("predict_ms_per_image", "ms/{unit} (batch)",
           "milliseconds per {unit} when the whole test set is transformed and classified at "
           "once: the cost in bulk", "{:.3f}", "low", sd=False),
    Column("latency_ms_batch1", "ms/{unit} (1)",
           "median milliseconds for one {unit} at a time (batch size 1, 20 calls): what a "
           "live caller waits", "{:.2f}", "low", sd=False),
    Column("throughput_per_s", "{unit}s/s", "test {unit}s per second, batched", "{:,.0f}",
           sd=False),
    Column("peak_rss_mb", "peak MB",
           "the worker's peak resident memory while fitting feature and classifier, in MB "
           "(1 MB = 2^20 bytes); it includes Python and the loaded dataset: compare within a "
           "run",
           "{:.0f}", "low", sd=False),
    Column("model_bytes", "size MB",
           "the fitted pipeline saved with ferengine.save, in MB (2^20 bytes)", "{:.2f}", "low",
           sd=False, scale=2.0**-20),
    Column("n_parameters", "parameters",
           "learned numbers: sizes of fitted arrays, tree nodes, torch weights. kNN shows 0: "
           "it learns no weights but keeps the training set itself, which shows in its size "
           "MB instead", "{:,.0f}", "low", sd=False),
)  # fmt: skip
#: Row figures averaged over folds that are shown elsewhere than in a column.
SHOWN_ELSEWHERE = frozenset({"chance"})
#: Header and meaning of the rank, pipeline and McNemar columns around :data:`COLUMNS`.
RANK = ("#", "rank by mean accuracy over folds")
PIPELINE = ("pipeline", "preprocessing, feature, classifier")
MCNEMAR = (
    "McNemar vs #1",
    "exact McNemar test of this pipeline against #1 on the test {unit}s both predicted "
    "(first repeat): b counts the {unit}s only #1 got right, c those only this pipeline got "
    "right; p is the two-sided binomial test of b against b + c at one half, so a small p "
    "means the difference is unlikely to be chance",
)
#: What a dash in a leaderboard cell means.
DASH = "A dash: no figure (a classifier without class probabilities has no ECE, NLL or Brier)."


def number(value: Any) -> float | None:
    """Return ``value`` as a finite float, or ``None`` (missing, not a number, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def shown_columns(rows: list[dict[str, Any]]) -> list[Column]:
    """Return the figure columns of a leaderboard: the known ones with a figure, then extras."""
    shown = [c for c in COLUMNS if any(number(r.get(c.key)) is not None for r in rows)]
    known = {c.key for c in COLUMNS} | SHOWN_ELSEWHERE
    extra: list[str] = []
    for row in rows:
        for key in row:
            averaged = f"{key}_sd" in row and key not in known and key not in extra
            if averaged and any(number(r.get(key)) is not None for r in rows):
                extra.append(key)
    meaning = "a figure this run recorded, mean over folds (not yet described in this key)"
    return shown + [Column(key, key, meaning) for key in extra]


def key_items(boards: dict[str, list[dict[str, Any]]], unit: str) -> list[tuple[str, str]]:
    """Return ``(header, meaning)`` of every column shown in any of the leaderboards.

    ``unit`` replaces ``{unit}`` ("image", "clip", or "clip/image" for a mixed run).
    """
    seen: dict[str, Column] = {}
    for rows in boards.values():
        for column in shown_columns(rows):
            seen.setdefault(column.key, column)
    items = [RANK, PIPELINE]
    items += [(c.header.format(unit=unit), c.meaning.format(unit=unit)) for c in seen.values()]
    return [*items, (MCNEMAR[0], MCNEMAR[1].format(unit=unit))]
