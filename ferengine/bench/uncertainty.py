"""Bootstrap 95 % confidence intervals of a pipeline's accuracy and macro-F1.

The interval is around the figure the leaderboard ranks by: the **mean over folds**
(and repeats) of each fold's accuracy or macro-F1. With one test set (the ``split``,
``holdout`` and ``cross-dataset`` protocols without repeats) that is the test set's own
figure, and the interval is the test set's; with several folds it is one interval for
the mean, from the test predictions of all folds together.

**What is resampled.** The test predictions are resampled by their independent unit,
with replacement (:func:`scipy.stats.bootstrap`, :data:`N_RESAMPLES` resamples, seed
:data:`SEED`, percentile interval):

- the **subject** when the test images have subject ids (the records carry them as
  ``test_subjects``): a cluster bootstrap. Images of one person are not independent
  draws — same face, same way of posing —, so resampling images would treat a
  subject's 20 images as 20 pieces of evidence and give too narrow an interval; the
  number of subjects, not of images, is what limits what a subject-independent
  benchmark can tell;
- the **image** otherwise (FER2013 has no subject ids).

For subject-independent k-fold this is the right unit and the right pool: every
subject is tested once per repeat, so the pooled folds hold one set of predictions per
subject, and resampling the subjects of all folds (not each fold's alone) uses all of
them. Resampling the folds themselves instead would rest on 3 to 10 values, not
independent either (their training sets overlap), whose percentile interval is
crude. A resample draws subjects from every fold; it is scored as the mean over folds of
each fold's figure on its drawn subjects, each fold weighted by the share of its test
images drawn (a fold whose subjects were drawn twice counts twice, one never drawn not
at all): with every unit drawn once this is exactly the leaderboard's mean over folds,
and for leave-one-subject-out (a fold per subject) it is the usual bootstrap of the mean
of per-subject figures. A subject tested in several repeats is drawn with all its
repeats (a paired resample).

**What it does not cover.** The models are fixed: the interval is the uncertainty from
which test subjects or images happened to be drawn, not from training on other data
(cross-validation has no unbiased variance estimator of that; Bengio and Grandvalet,
2004). Two pipelines whose intervals overlap may still differ (McNemar's paired test
in the leaderboard is the sharper comparison); two whose intervals do not overlap are
separated at least at the 95 % level.

**Why percentile, not BCa** (:func:`scipy.stats.bootstrap`'s default): BCa needs a
jackknife — one more statistic per unit — and is undefined when every resample gives
the same figure (a pipeline right on every test image), which benchmarks on easy data
produce; the percentile interval is always defined, respects the [0, 1] range, and
can be checked by hand on small fixtures (tests/test_uncertainty.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

#: Bootstrap resamples per interval.
N_RESAMPLES = 2000
#: Confidence level of the intervals.
CONFIDENCE = 0.95
#: Seed of the resampling: the same records always give the same interval.
SEED = 0
#: Resamples computed at once (bounds memory: BATCH × units weights).
BATCH = 100
#: Metrics given an interval, by record key.
METRICS = ("accuracy", "macro_f1")
#: Intervals kept in this process, by content of the records (the report and the terminal
#: leaderboard of a run ask for the same ones), the oldest dropped beyond this many.
CACHED = 1024


@dataclass(frozen=True)
class Interval:
    """A confidence interval ``[low, high]``."""

    low: float
    high: float

    def overlaps(self, other: Interval) -> bool:
        """Whether the two intervals share a point."""
        return self.low <= other.high and other.low <= self.high

    def __str__(self) -> str:
        return f"[{self.low:.3f}, {self.high:.3f}]"


_COMPUTED: dict[str, dict[str, Interval] | None] = {}


@dataclass(frozen=True)
class _Tables:
    """Per resampling unit, its counts in every fold (as sparse unit × column matrices)."""

    n_units: int
    n_groups: int
    n_classes: int
    sizes: np.ndarray  # test samples per fold (group)
    right: sp.csr_matrix  # unit × group: correct predictions
    tested: sp.csr_matrix  # unit × group: test samples
    counts: sp.csr_matrix  # unit × (group, class, tp/fp/fn)

    def summed(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return per resample (rows of ``weights``) the right, tested and tp/fp/fn counts."""
        right = (self.right.T @ weights.T).T
        tested = (self.tested.T @ weights.T).T
        counts = (self.counts.T @ weights.T).T
        return right, tested, counts.reshape(len(weights), self.n_groups, self.n_classes, 3)


def _tables(runs: Sequence[Mapping[str, Any]]) -> _Tables | None:
    """Count each unit's right and wrong predictions per fold; ``None`` without predictions."""
    if not runs or any(r.get("y_true") is None or r.get("y_pred") is None for r in runs):
        return None
    by_subject = all(r.get("test_subjects") is not None for r in runs)
    ids = [np.asarray(r["test_subjects"] if by_subject else r["test_index"]) for r in runs]
    lengths = [{len(i), len(r["y_true"]), len(r["y_pred"])} for i, r in zip(ids, runs, strict=True)]
    if any(len(n) > 1 for n in lengths):
        return None  # a record edited by hand: no interval rather than a wrong one
    units, inverse = np.unique(np.concatenate(ids), return_inverse=True)
    n_classes = len(runs[0]["labels"])
    rows, group_of, true, pred = [], [], [], []
    start = 0
    for g, (run, unit_ids) in enumerate(zip(runs, ids, strict=True)):
        rows.append(inverse[start : start + len(unit_ids)])
        start += len(unit_ids)
        group_of.append(np.full(len(unit_ids), g))
        true.append(np.asarray(run["y_true"], dtype=np.int64))
        pred.append(np.asarray(run["y_pred"], dtype=np.int64))
    u, g, t, p = (np.concatenate(a) for a in (rows, group_of, true, pred))
    n_units, n_groups = len(units), len(runs)

    def matrix(row: np.ndarray, col: np.ndarray, data: np.ndarray, width: int) -> sp.csr_matrix:
        return sp.csr_matrix((data.astype(np.float64), (row, col)), shape=(n_units, width))

    hit = t == p
    known = (t < n_classes) & (p < n_classes)  # extra true classes count in accuracy only
    base = g * n_classes
    cells = [  # (rows, (group, class, statistic) column): tp, fp, fn
        (known & hit, (base + t) * 3 + 0),
        (known & ~hit, (base + p) * 3 + 1),
        (known & ~hit, (base + t) * 3 + 2),
    ]
    count_rows = np.concatenate([u[m] for m, _ in cells])
    count_cols = np.concatenate([c[m] for m, c in cells])
    return _Tables(
        n_units=n_units,
        n_groups=n_groups,
        n_classes=n_classes,
        sizes=np.bincount(g, minlength=n_groups).astype(np.float64),
        right=matrix(u, g, hit, n_groups),
        tested=matrix(u, g, np.ones(len(u)), n_groups),
        counts=matrix(count_rows, count_cols, np.ones(len(count_rows)), n_groups * n_classes * 3),
    )


def _weights(indices: np.ndarray, n_units: int) -> np.ndarray:
    """Turn resampled unit indices (resamples × n) into draw counts per unit."""
    indices = np.atleast_2d(indices).astype(np.intp)
    offsets = np.arange(len(indices))[:, None] * n_units
    flat = np.bincount((indices + offsets).ravel(), minlength=len(indices) * n_units)
    return flat.reshape(len(indices), n_units).astype(np.float64)


def _fold_mean(values: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Mean over folds of ``values``, each fold weighted by ``share`` (0 where NaN)."""
    share = np.where(np.isnan(values), 0.0, share)
    total = share.sum(axis=1)
    weighted = np.nansum(values * share, axis=1)
    return np.divide(weighted, total, out=np.full_like(total, np.nan), where=total > 0)


def _statistic(tables: _Tables, metric: str) -> Any:
    def statistic(indices: np.ndarray, axis: int = -1) -> np.ndarray:
        scalar = np.ndim(indices) == 1
        right, tested, counts = tables.summed(_weights(indices, tables.n_units))
        share = tested / tables.sizes  # each fold's share of its images drawn (1: all, once)
        with np.errstate(invalid="ignore", divide="ignore"):
            if metric == "accuracy":
                values = right / tested
            else:
                tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
                present = (tp + fn) > 0  # classes in the resampled fold's test labels
                f1 = np.where(present, 2 * tp / (2 * tp + fp + fn), 0.0)
                values = f1.sum(axis=2) / present.sum(axis=2)
        out = _fold_mean(values, share)
        return out[0] if scalar else out

    return statistic


def bootstrap_intervals(runs: Sequence[Mapping[str, Any]]) -> dict[str, Interval] | None:
    """Return the bootstrap 95 % intervals of accuracy and macro-F1 of one pipeline.

    Parameters
    ----------
    runs : list of dict
        The pipeline's successful task records (one per fold and repeat), each with
        ``repeat``, ``fold``, ``labels`` (the model's classes), ``y_true``, ``y_pred``,
        ``test_index`` and, when the test images have subjects, ``test_subjects`` (their
        subject ids).

    Returns
    -------
    dict or None
        ``{"accuracy": Interval, "macro_f1": Interval}``; ``None`` when a record has no
        predictions or fewer than two units (subjects or images) were tested.
    """
    key = _content_key(runs)
    if key not in _COMPUTED:
        if len(_COMPUTED) >= CACHED:
            del _COMPUTED[next(iter(_COMPUTED))]
        _COMPUTED[key] = _bootstrap(runs)
    return _COMPUTED[key]


def _content_key(runs: Sequence[Mapping[str, Any]]) -> str:
    digest = hashlib.blake2b(repr((N_RESAMPLES, CONFIDENCE, SEED)).encode(), digest_size=16)
    for r in runs:
        digest.update(repr((r.get("repeat"), r.get("fold"), len(r.get("labels") or ()))).encode())
        for field in ("y_true", "y_pred", "test_index", "test_subjects"):
            value = r.get(field)
            digest.update(b"-" if value is None else np.asarray(value).tobytes())
            digest.update(b"|")
    return digest.hexdigest()


def _bootstrap(runs: Sequence[Mapping[str, Any]]) -> dict[str, Interval] | None:
    from scipy.stats import bootstrap  # imported on use: scipy.stats takes a second to load

    tables = _tables(runs)
    if tables is None or tables.n_units < 2:
        return None
    out = {}
    for metric in METRICS:
        result = bootstrap(
            (np.arange(tables.n_units),),
            _statistic(tables, metric),
            n_resamples=N_RESAMPLES,
            batch=BATCH,
            vectorized=True,
            confidence_level=CONFIDENCE,
            method="percentile",
            rng=np.random.default_rng(SEED),  # the same resamples for both metrics
        )
        interval = result.confidence_interval
        out[metric] = Interval(float(interval.low), float(interval.high))
    return out


def point_estimates(runs: Sequence[Mapping[str, Any]]) -> dict[str, float] | None:
    """Return the statistic the intervals are around, on the records as they are.

    The mean over folds of each fold's accuracy and macro-F1 (what the leaderboard
    shows), computed from the stored predictions; ``None`` as in
    :func:`bootstrap_intervals`.
    """
    tables = _tables(runs)
    if tables is None:
        return None
    every = np.arange(tables.n_units)
    return {metric: float(_statistic(tables, metric)(every)) for metric in METRICS}
