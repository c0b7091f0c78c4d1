"""Significance tests between two pipelines' predictions, and the preprocessing-effect table.

Two tests, on the test samples both pipelines scored (same fold, same test row, first
repeat):

* McNemar's exact test (paired): ``b`` samples only the first pipeline got right, ``c``
  only the second; the two-sided binomial test of ``b`` against ``b + c`` at one half.
* Pearson's chi-square test of independence (unpaired) on the 2×2 table of right and
  wrong counts of each pipeline (:func:`scipy.stats.chi2_contingency`, Yates' continuity
  correction): the test the FER theses used to call a preprocessing effect significant.
  It ignores the pairing, so it is the weaker test on the same samples; it is reported
  beside McNemar's so that figures can be compared with theirs.

A suite whose ``[preprocess]`` chains meet the same feature and classifier (or whose
``[[pipelines]]`` differ only by ``preprocess``) gets a preprocessing-effect table: each
chain's pipeline against the same pipeline without preprocessing (chain ``none``), with
both tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Runs = list[dict[str, Any]]


def _correct(runs: Runs) -> dict[tuple[int, int], bool]:
    """Return whether each (fold, test row) of the first repeat was predicted right."""
    out = {}
    for r in runs:
        if r["repeat"] == 0:
            hits = np.asarray(r["y_true"]) == np.asarray(r["y_pred"])
            out.update(((r["fold"], int(i)), bool(h))
                       for i, h in zip(r["test_index"], hits, strict=True))  # fmt: skip
    return out


def _shared(first: Runs, second: Runs) -> tuple[np.ndarray, np.ndarray] | None:
    """Return both pipelines' right/wrong on the samples both scored, or None."""
    a, o = _correct(first), _correct(second)
    shared = sorted(a.keys() & o.keys())
    if not shared:
        return None
    return np.array([a[k] for k in shared]), np.array([o[k] for k in shared])


def mcnemar(best: Runs, other: Runs) -> dict[str, Any] | None:
    """Exact McNemar test on the test samples both pipelines predicted (first repeat).

    Returns
    -------
    dict or None
        ``b`` (samples only ``best`` got right), ``c`` (only ``other``), ``n`` (shared
        samples) and ``p`` (two-sided); None when the runs share no test sample.
    """
    from scipy.stats import binomtest  # imported on use: scipy.stats takes a second to load

    pair = _shared(best, other)
    if pair is None:
        return None
    a, o = pair
    b, c = int(np.sum(a & ~o)), int(np.sum(o & ~a))
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)
    return {"b": b, "c": c, "n": len(a), "p": p}


def chi_square(first: Runs, second: Runs) -> dict[str, Any] | None:
    """Chi-square test of independence of pipeline and right/wrong, on the shared samples.

    Returns
    -------
    dict or None
        ``table`` ([[right, wrong] of ``first``, [right, wrong] of ``second``]), ``chi2``
        (with Yates' correction) and ``p``; None when the runs share no test sample. When
        a column of the table is empty (both always right, or both always wrong) the
        pipelines cannot differ: ``chi2`` 0 and ``p`` 1.
    """
    from scipy.stats import chi2_contingency

    pair = _shared(first, second)
    if pair is None:
        return None
    table = [[int(h.sum()), int((~h).sum())] for h in pair]
    if 0 in np.sum(table, axis=0):
        return {"table": table, "chi2": 0.0, "p": 1.0}
    result = chi2_contingency(table, correction=True)
    return {"table": table, "chi2": float(result.statistic), "p": float(result.pvalue)}


def preprocessing_effects(rows: list[dict[str, Any]], combos: dict[str, Any]) -> list[dict]:
    """Pair each preprocessed pipeline of a leaderboard with the same one without preprocessing.

    Parameters
    ----------
    rows : list of dict
        One dataset's leaderboard rows (:func:`~ferengine.bench.report.leaderboards`).
    combos : dict
        The suite's :class:`~ferengine.bench.suite.Combination` objects by key.

    Returns
    -------
    list of dict
        ``pipeline`` (the one without preprocessing), ``chain``, ``accuracy_none``,
        ``accuracy_chain``, ``delta`` (chain − none), ``mcnemar`` and ``chi_square``
        (the first pipeline is the unpreprocessed one), in leaderboard order.
    """
    plain = {combos[r["combination"]].core: r for r in rows
             if combos[r["combination"]].chain == "none"}  # fmt: skip
    out = []
    for row in rows:
        combo = combos[row["combination"]]
        base = plain.get(combo.core)
        if combo.chain == "none" or base is None:
            continue
        out.append({
            "pipeline": base["pipeline"], "chain": combo.chain,
            "accuracy_none": base["accuracy"], "accuracy_chain": row["accuracy"],
            "delta": row["accuracy"] - base["accuracy"],
            "mcnemar": mcnemar(base["runs"], row["runs"]),
            "chi_square": chi_square(base["runs"], row["runs"]),
        })  # fmt: skip
    return out
