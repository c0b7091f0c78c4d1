"""Turn stored results into ``results.json``, ``results.csv``, ``report.md`` and plots.

Everything here reads only the results folder (``suite.toml``, ``runs/``,
``run.json``), so ``ferengine bench report DIR`` regenerates the report of any run.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ferengine.bench.columns import (
    DASH,
    MCNEMAR,
    PIPELINE,
    RANK,
    Column,
    key_items,
    number,
    shown_columns,
)
from ferengine.bench.contrasts import mcnemar, preprocessing_effects
from ferengine.bench.store import ResultStore, read_history
from ferengine.bench.suite import Suite, SuiteError, parse_suite
from ferengine.bench.uncertainty import N_RESAMPLES, Interval, bootstrap_intervals
from ferengine.bench.votes import EPS
from ferengine.fileio import write_atomic

#: Scalar columns of results.csv, in order.
CSV_COLUMNS = (
    "task", "dataset", "pipeline", "repeat", "fold", "status", "n_train", "n",
    "accuracy", "balanced_accuracy", "macro_f1", "top2_accuracy", "chance",
    "dup_exact", "dup_near", "n_dedup", "accuracy_dedup", "macro_f1_dedup", "dedupe",
    "dedupe_dropped", "ece", "nll", "brier",
    "plurality_accuracy", "vote_cross_entropy", "vote_entropy", "votes_n",
    "fit_seconds", "feature_fit_seconds", "classifier_fit_seconds", "predict_ms_per_image",
    "latency_ms_batch1", "throughput_per_s", "peak_rss_mb", "model_bytes", "n_parameters",
    "cache", "error",
)  # fmt: skip
_MEANS = (
    "accuracy", "balanced_accuracy", "macro_f1", "top2_accuracy", "fit_seconds",
    "predict_ms_per_image", "latency_ms_batch1", "throughput_per_s", "peak_rss_mb",
    "model_bytes", "n_parameters", "chance", "plurality_accuracy", "vote_cross_entropy",
    "ece", "nll", "brier", "accuracy_dedup", "macro_f1_dedup",
)  # fmt: skip
#: Rows of the leaderboard whose confusion matrices are drawn / whose F1 bars are shown.
TOP_CONFUSION, TOP_F1 = 3, 5
#: Rows of the leaderboard in report.md's per-class F1 table (report.html shows all).
TOP_PER_CLASS = 10
#: Pipelines with probabilities whose reliability diagrams are drawn, per leaderboard.
TOP_RELIABILITY = 3
_PER_RECORD = ("test_index", "test_subjects", "y_true", "y_pred", "proba")


def write_report(out: str | Path) -> Path:
    """Write results.json, results.csv, report.md, report.html and plots/ for the run in ``out``.

    Raises
    ------
    SuiteError
        ``out`` holds no benchmark run.
    """
    out = Path(out)
    if not (out / "suite.toml").is_file():
        raise SuiteError(f"{out} holds no benchmark run (no suite.toml)")
    text = (out / "suite.toml").read_text()
    suite = parse_suite(text, str(out / "suite.toml"), out, check_plugins=False)  # stored run
    wanted = {c.key for c in suite.combinations}
    records = [r for r in ResultStore(out).records() if r.get("combination") in wanted]
    rows = [{k: v for k, v in r.items() if k not in _PER_RECORD} for r in records]
    write_atomic(out / "results.json", json.dumps(rows, indent=1))
    write_atomic(out / "results.csv", _csv(rows))
    boards = leaderboards(suite, records)
    report = _markdown(suite, boards, records, out)
    write_atomic(out / "report.md", report)
    from ferengine.bench.report_html import write_html  # it imports this module

    write_html(suite, boards, records, out)  # report.html, from the plots just drawn
    return out / "report.md"


def leaderboards(suite: Suite, records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per tested dataset, one row per pipeline: means and sd over folds, best first.

    Each row also holds ``intervals`` (bootstrap 95 % intervals of accuracy and macro-F1,
    :func:`~ferengine.bench.uncertainty.bootstrap_intervals`; empty when they cannot be
    computed) and ``calibration_note`` (why it has no calibration figures, or ``None``);
    every row after the first, ``mcnemar`` (against the first) and ``overlaps_best``
    (whether its accuracy interval overlaps the first's; ``None`` without intervals).
    """
    by_combo: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record.get("status") == "ok":
            by_combo[record["combination"]].append(record)
    boards: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for combo in suite.combinations:
        runs = by_combo.get(combo.key)
        if not runs:
            continue
        row: dict[str, Any] = {
            "pipeline": combo.label,
            "combination": combo.key,
            "folds": len(runs),
            "labels": runs[0]["labels"],
            "sample": runs[0].get("sample", "image"),
            "true_labels": runs[0].get("true_labels", runs[0]["labels"]),
        }
        for key in _MEANS:
            values = [r[key] for r in runs if r.get(key) is not None]
            row[key] = float(np.mean(values)) if values else None
            row[f"{key}_sd"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        row["per_class_f1"] = {
            name: float(np.mean([r["per_class"][name]["f1"] for r in runs]))
            for name in row["labels"]
        }
        row["confusion"] = np.sum([r["confusion_matrix"] for r in runs], axis=0).tolist()
        row["runs"] = runs
        row["intervals"] = bootstrap_intervals(runs) or {}
        row["calibration_note"] = next(
            (r["calibration_note"] for r in runs if r.get("calibration_note")), None
        )
        boards[combo.dataset].append(row)
    for rows in boards.values():
        rows.sort(key=lambda r: -r["accuracy"])
        for rank, row in enumerate(rows, 1):
            row["rank"] = rank
        best = rows[0]["intervals"].get("accuracy")
        for row in rows[1:]:
            row["mcnemar"] = mcnemar(rows[0]["runs"], row["runs"])
            mine = row["intervals"].get("accuracy")
            row["overlaps_best"] = None if best is None or mine is None else best.overlaps(mine)
    return boards


def overlap_note(rows: list[dict[str, Any]], code: str = "") -> str | None:
    """Return the note naming the pipelines whose accuracy interval overlaps #1's, or ``None``.

    ``code`` wraps each pipeline name (a backtick for Markdown).
    """
    close = [r for r in rows[1:] if r.get("overlaps_best")]
    if not close:
        return None
    names = ", ".join(f"#{r['rank']} {code}{r['pipeline']}{code}" for r in close)
    return (
        f"Intervals overlap: not separable at 95 % — the accuracy interval of #1 "
        f"{code}{rows[0]['pipeline']}{code} overlaps those of {names}."
    )


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _pm(row: dict[str, Any], key: str, fmt: str = "{:.3f}") -> str:
    if row.get(key) is None:
        return "–"
    text = fmt.format(row[key])
    return f"{text} ± {fmt.format(row[key + '_sd'])}" if row["folds"] > 1 else text


def _num(value: Any, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def cell(column: Column, row: dict[str, Any]) -> str:
    """Return a leaderboard cell: the mean with its interval, or ± sd over folds, or "–"."""
    value = number(row.get(column.key))
    if value is None:
        return "–"
    text = column.fmt.format(value * column.scale)
    interval: Interval | None = (row.get("intervals") or {}).get(column.key)
    if interval is not None:
        low, high = (column.fmt.format(v * column.scale) for v in (interval.low, interval.high))
        return f"{text} [{low}, {high}]"
    sd = number(row.get(f"{column.key}_sd"))
    if column.sd and row.get("folds", 1) > 1 and sd is not None:
        return f"{text} ± {column.fmt.format(sd * column.scale)}"
    return text


def slug(text: str) -> str:
    """Return ``text`` as a lower-case file-name part: ``"train→ck"`` -> ``"train-ck"``."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def _markdown(
    suite: Suite, boards: dict[str, list[dict[str, Any]]], records: list[dict[str, Any]],
    out: Path,
) -> str:  # fmt: skip
    lines = [f"# Benchmark report — {suite.name}", ""]
    if suite.description:
        lines += [suite.description, ""]
    lines += [
        f"Protocol: {protocol_text(suite)}. Figures are means over folds (and "
        "repeats): accuracy and macro-F1 with their bootstrap 95 % confidence interval "
        "[low, high], the others ± sd over folds.",
        "",
        *key_markdown(boards),
    ]
    lines += _history(out)
    for dataset, rows in boards.items():
        lines += _board(dataset, rows, suite, out)
    failed = [r for r in records if r.get("status") != "ok"]
    if failed:
        lines += ["## Failed combinations", ""]
        for r in failed:
            lines += [
                f"<details><summary>{r['pipeline']} — repeat {r['repeat']} fold "
                f"{r['fold']}: {r.get('error', '')}</summary>",
                "",
                "```",
                str(r.get("traceback", "")).rstrip(),
                "```",
                "",
                "</details>",
                "",
            ]
    return "\n".join(lines) + "\n"


def confusion_pooling(row: dict[str, Any], unit: str, repeats: int = 1, short: bool = False) -> str:
    """Return how a leaderboard row's confusion counts were pooled over its folds.

    ``short``: a few words for a picture's title ("counts summed over 3 folds").
    """
    n = row["folds"]
    if short:
        return "counts of the one test set" if n == 1 else f"counts summed over {n} folds"
    if n == 1:
        return f"the counts are those of the one test set (each test {unit} once)"
    if repeats == 1:
        return (f"the counts are pooled over folds: summed over the {n} folds' test sets, "
                f"each test {unit} counted once")  # fmt: skip
    return (f"the counts are pooled over folds: summed over the {n} test sets of {repeats} "
            f"repeats, each test {unit} counted once per repeat")  # fmt: skip


def key_markdown(boards: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Return the key to the leaderboards' columns as Markdown lines (the one report.html shows).

    Empty when no leaderboard has a row.
    """
    units = sorted({rows[0]["sample"] for rows in boards.values() if rows})
    if not units:
        return []
    items = key_items(boards, "/".join(units))
    return [
        "## Key to the columns",
        "",
        *(f"- **{term}**: {text}." for term, text in items),
        "",
        DASH,
        "",
    ]


def protocol_text(suite: Suite) -> str:
    """Return how a suite picks train and test images: ``"subject-independent 3-fold; seed 0"``."""
    p = suite.protocol
    proto = {
        "split": f"train on {p.train_split}, test on {p.test_split}",
        "holdout": f"stratified holdout, test size {p.test_size}",
        "subject-holdout": f"subject-independent holdout, test size {p.test_size}",
        "kfold": f"stratified {p.folds}-fold",
        "subject-kfold": f"subject-independent {p.folds}-fold",
        "loso": "leave one subject out",
        "cross-dataset": f"train on {p.train} ({p.train_split or 'all'}), test on "
        f"{p.test} ({p.test_split or 'all'}), classes the model lacks: {p.contempt}",
    }[p.kind]
    repeats = f", {p.repeats} repeats" if p.repeats > 1 else ""
    dedupe = "" if p.dedupe == "none" else f"; training copies of test images dropped ({p.dedupe})"
    return f"{proto}{repeats}{dedupe}; seed {suite.seed}"


def _history(out: Path) -> list[str]:
    runs = read_history(out / "run.json", "the report shows no run history until the next run")
    if not runs:
        return []
    lines = [
        "| run finished | machine | backend × jobs | tasks run / resumed | failed | "
        "feature cache hits / misses | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['finished']} | {r['machine']} | {r['backend']} × {r['jobs']} | "
            f"{r['ran']} / {r['resumed']} | {r['failed']} | {r['cache_hits']} / "
            f"{r['cache_misses']} | {r['seconds']:.1f} |"
        )
    return [*lines, ""]


def _board(dataset: str, rows: list[dict[str, Any]], suite: Suite, out: Path) -> list[str]:
    from ferengine.bench import explanations, plots  # matplotlib only when a report is drawn

    name, unit = slug(dataset), rows[0]["sample"]  # "image", or "clip" for clip datasets
    lines = [f"## {dataset}", "", f"Chance (the training set's majority class): "
             f"{rows[0]['chance']:.3f}; uniform guess: {1 / len(rows[0]['labels']):.3f}.",
             ""]  # fmt: skip
    columns = shown_columns(rows)  # those of report.html, described in the key at the top
    heads = [RANK[0], PIPELINE[0], *(c.header.format(unit=unit) for c in columns), MCNEMAR[0]]
    lines += ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for row in rows:
        test = row.get("mcnemar")
        versus = "–" if test is None else f"p={test['p']:.3g} (b={test['b']}, c={test['c']})"
        cells = [str(row["rank"]), f"`{row['pipeline']}`", *(cell(c, row) for c in columns)]
        lines.append("| " + " | ".join([*cells, versus]) + " |")
    if any(row.get("plurality_accuracy") is not None for row in rows):  # FER+ votes
        lines += ["", *_votes_key(rows)]
    lines += ["", *_board_notes(rows)]
    lines += _leaks_section(rows)
    lines += _preprocessing_section(rows, suite)
    refs = [r for r in suite.references if r.get("dataset") in (None, dataset)]
    if refs:
        lines += [
            "",
            "Literature reference numbers (as published, not measured here):",
            "",
            "| pipeline | accuracy | protocol | source |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r['pipeline']} | {r['accuracy']:.3f} | {r.get('protocol', '')} | "
            f"{r.get('source', '')} |"
            for r in refs
        ]
    names = rows[0]["labels"]
    shown = (f"top {TOP_PER_CLASS} of {len(rows)} pipelines; all in report.html"
             if len(rows) > TOP_PER_CLASS else f"all {len(rows)} pipelines")  # fmt: skip
    lines += [
        "",
        f"### Per-class F1 (mean over folds; {shown})",
        "",
        "| # | pipeline | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    lines += [
        f"| {row['rank']} | `{row['pipeline']}` | "
        + " | ".join(f"{row['per_class_f1'][n]:.3f}" for n in names)
        + " |"
        for row in rows[:TOP_PER_CLASS]
    ]
    pooled = confusion_pooling(rows[0], unit, suite.protocol.repeats)
    lines += ["", "### Plots", "",
              f"Confusion matrices of the top {min(TOP_CONFUSION, len(rows))} (rows: true class, "
              f"columns: predicted; each cell the share of its true class and the count): "
              f"{pooled}.", ""]  # fmt: skip
    figures = out / "plots"
    for row in rows[:TOP_CONFUSION]:
        path = plots.confusion(
            np.asarray(row["confusion"]),
            row["true_labels"],
            names,
            f"#{row['rank']} {row['pipeline']}\n{confusion_pooling(row, unit, short=True)}",
            figures / f"{name}-confusion-{row['rank']}.png",
        )
        lines.append(f"![confusion #{row['rank']}](plots/{path.name})")
    path = plots.accuracy_latency(
        rows, f"{dataset}: accuracy vs latency", figures / f"{name}-accuracy-latency.png"
    )
    lines.append(f"![accuracy vs latency](plots/{path.name})")
    path = plots.per_class_f1(
        rows[:TOP_F1],
        names,
        f"{dataset}: per-class F1, top pipelines",
        figures / f"{name}-per-class-f1.png",
    )
    lines.append(f"![per-class F1](plots/{path.name})")
    lines += _reliability_section(rows, dataset, figures, name)
    explained = explanations.section(out, dataset, rows)
    return [*lines, "", *explained] if explained else [*lines, ""]


def _votes_key(rows: list[dict[str, Any]]) -> list[str]:
    """Return the note saying what a leaderboard's vote columns mean (:mod:`.votes`)."""
    runs = [r for row in rows for r in row["runs"]]
    scored = "/".join(f"{n:,}" for n in sorted({r.get("votes_n") for r in runs} - {None}))
    floors = {round(r["vote_entropy"], 3) for r in runs if r.get("vote_entropy") is not None}
    floor = "/".join(f"{h:.3f}" for h in sorted(floors))
    floor = f"; the votes' own entropy, {floor}, is the lowest it can be" if floor else ""
    eps = f"{EPS:.0e}".replace("e-0", "e-")  # 1e-7
    return [
        f"Annotators' votes ({scored} test {rows[0]['sample']}s with a vote for a class): "
        "*accuracy* is against the dataset's labels (for FER+ the majority vote); "
        "*plurality acc.* counts a prediction right when it is one of the classes with the "
        "most votes (ties: any of them); *CE to votes* is the mean cross-entropy, in nats, "
        "of the predicted probabilities to the votes normalised over the classes (unknown and "
        f"not-a-face votes left out; probabilities clipped at {eps}), lower is better, – for "
        f"classifiers without probabilities{floor}.",
    ]


def fold_duplicates(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the duplicate counts of each fold the ``runs`` (records) cover, once per fold.

    Each item: ``repeat``, ``fold``, ``n`` (test images) and the records' ``dup_exact``,
    ``dup_near``, ``n_dedup``, ``dedupe`` and ``dedupe_dropped``
    (:mod:`~ferengine.bench.leaks`); folds whose records carry no counts are left out.
    """
    found: dict[tuple[int, int], dict[str, Any]] = {}
    for r in runs:
        where = (r.get("repeat", 0), r.get("fold", 0))
        if r.get("dup_exact") is None or where in found:
            continue
        found[where] = {"repeat": where[0], "fold": where[1], "n": r.get("n"),
                        **{k: r.get(k) for k in ("dup_exact", "dup_near", "n_dedup", "dedupe",
                                                 "dedupe_dropped")}}  # fmt: skip
    return [found[k] for k in sorted(found)]


def duplicates_key(counts: list[dict[str, Any]], unit: str = "image", code: str = "") -> str:
    """Return what the duplicate counts and the de-duplicated figures mean, in one paragraph.

    ``code`` wraps the suite option's text (a backtick for Markdown).
    """
    from ferengine.audit import NEAR_THRESHOLD

    dedupe = sorted({c["dedupe"] for c in counts if c.get("dedupe")} - {"none"})
    dropped = ""
    if dedupe:
        which = "byte-identical" if dedupe[0] == "exact" else "byte-identical or near"
        dropped = (
            f' Before fitting, {code}dedupe = "{dedupe[0]}"{code} dropped the training {unit}s '
            f"that copy a test {unit} of their fold ({which} ones); the counts are against "
            "the training rows kept."
        )
    return (
        f"Test {unit}s with a copy among the training {unit}s of their fold: *exact*, a "
        f"byte-identical one; *near*, none byte-identical but one within {NEAR_THRESHOLD} of "
        "256 bits of perceptual hash (blank images left out). *De-dup.* figures are the same "
        f"scores on the test {unit}s with neither: a pipeline that gains more on the copies "
        f"than the others partly remembers training {unit}s.{dropped}"
    )


def _leaks_section(rows: list[dict[str, Any]]) -> list[str]:
    """Return the duplicate counts per fold and every pipeline's figures with and without them."""
    runs = [r for row in rows for r in row["runs"]]
    counts = fold_duplicates(runs)
    unit = rows[0]["sample"]
    if not counts:
        note = next((r["dup_note"] for r in runs if r.get("dup_note")), None)
        return ["", f"{note[0].upper()}{note[1:]}."] if note else []
    lines = ["", "### Duplicates between test and training images", "",
             duplicates_key(counts, unit, code="`"), "",
             f"| repeat | fold | test {unit}s | exact copies | near copies | de-duplicated | "
             "training rows dropped |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    shown = counts if len(counts) <= 10 else []
    total = {k: sum(c[k] or 0 for c in counts) for k in ("n", "dup_exact", "dup_near", "n_dedup",
                                                         "dedupe_dropped")}  # fmt: skip
    if len(counts) > 1:
        shown = [*shown, {"repeat": "all", "fold": f"{len(counts)} folds", **total}]
    for c in shown:
        lines.append(f"| {c['repeat']} | {c['fold']} | {_num(c['n'], '{:,}')} | "
                     f"{c['dup_exact']:,} | {c['dup_near']:,} | {c['n_dedup']:,} | "
                     f"{c['dedupe_dropped']:,} |")  # fmt: skip
    lines += ["", "| # | pipeline | accuracy | accuracy de-dup. | difference | macro-F1 | "
              "macro-F1 de-dup. |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        gap = None if row.get("accuracy_dedup") is None else row["accuracy"] - row["accuracy_dedup"]
        lines.append(
            f"| {row['rank']} | `{row['pipeline']}` | {_pm(row, 'accuracy')} | "
            f"{_pm(row, 'accuracy_dedup')} | {_num(gap, '{:+.3f}')} | {_pm(row, 'macro_f1')} | "
            f"{_pm(row, 'macro_f1_dedup')} |"
        )
    return lines


def _preprocessing_section(rows: list[dict[str, Any]], suite: Suite) -> list[str]:
    """Return the table of each preprocessing chain's effect on the same pipeline, if any."""
    effects = preprocessing_effects(rows, {c.key: c for c in suite.combinations})
    if not effects:
        return []
    lines = ["", "### Preprocessing effect", "",
             "Each `[preprocess]` chain against the same pipeline without preprocessing, on "
             "the same test samples: McNemar's exact test (paired; b: right only without, "
             "c: right only with the chain) and the chi-square test of independence of "
             "chain and right/wrong (unpaired, Yates-corrected, as the FER theses report it).",
             "", "| pipeline | chain | accuracy without | accuracy with | difference | "
             "McNemar p (b, c) | χ² | χ² p |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for e in effects:
        test, chi = e["mcnemar"], e["chi_square"]
        paired = "–" if test is None else f"{test['p']:.3g} ({test['b']}, {test['c']})"
        chi_cells = ["–", "–"] if chi is None else [f"{chi['chi2']:.2f}", f"{chi['p']:.3g}"]
        lines.append(f"| `{e['pipeline']}` | `{e['chain']}` | {e['accuracy_none']:.3f} | "
                     f"{e['accuracy_chain']:.3f} | {e['delta']:+.3f} | {paired} | "
                     f"{' | '.join(chi_cells)} |")  # fmt: skip
    return lines


def _board_notes(rows: list[dict[str, Any]]) -> list[str]:
    """Return the notes under a leaderboard: intervals, their overlaps, missing calibration."""
    runs, samples = rows[0]["runs"], f"{rows[0]['sample']}s"
    unit = "subjects" if all(r.get("test_subjects") is not None for r in runs) else samples
    pooled = "" if len(runs) == 1 else ", pooled over folds, around the mean over folds"
    lines = [
        f"Intervals: bootstrap 95 % (percentile, {N_RESAMPLES:,} resamples of the test "
        f"{unit}{pooled}); they cover which test {unit} were drawn, not training on other "
        "data.",
        "",
    ]
    note = overlap_note(rows, code="`")
    if note:
        lines += [note, ""]
    reasons: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row.get("ece") is None:
            why = row.get("calibration_note") or (
                "no class probabilities stored (recorded before calibration figures existed)"
            )
            reasons[why].append(f"#{row['rank']} `{row['pipeline']}`")
    for why, names in reasons.items():
        lines += [f"No ECE, NLL or Brier for {', '.join(names)}: {why}.", ""]
    return lines[:-1]


def _pooled_probabilities(runs: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray] | None:
    """Return the test probabilities and true codes of every run, or ``None`` if one lacks them."""
    if any(r.get("proba") is None for r in runs):
        return None
    proba = np.concatenate([np.asarray(r["proba"], dtype=np.float64) for r in runs])
    y_true = np.concatenate([np.asarray(r["y_true"], dtype=np.int64) for r in runs])
    known = y_true < proba.shape[1]
    return proba[known], y_true[known]


def _reliability_section(
    rows: list[dict[str, Any]], dataset: str, figures: Path, name: str
) -> list[str]:
    """Draw the reliability diagrams of the top pipelines with probabilities; return the links."""
    from ferengine.bench import plots
    from ferengine.calibration import reliability

    drawn = []
    for row in rows:
        if len(drawn) == TOP_RELIABILITY:
            break
        try:
            pooled = _pooled_probabilities(row["runs"])
            bins = None if pooled is None else reliability(*pooled)
        except ValueError:  # stored probabilities edited by hand: no diagram for this row
            bins = None
        if bins is None:
            continue
        pooled_note = "" if len(row["runs"]) == 1 else ", folds pooled"
        path = plots.reliability(
            bins,
            f"#{row['rank']} {row['pipeline']}\n{dataset}: ECE {bins.ece:.3f}{pooled_note}",
            figures / f"{name}-reliability-{row['rank']}.png",
        )
        drawn.append(f"![reliability #{row['rank']} {row['pipeline']}](plots/{path.name})")
    if not drawn:
        return []
    return [
        "",
        f"Reliability diagrams of the top {len(drawn)} pipelines with class probabilities "
        "(accuracy against mean top-class confidence in 15 equal-width bins; on the "
        "diagonal a pipeline is calibrated; bars below it: over-confident):",
        "",
        *drawn,
    ]
