"""``report.html``: the benchmark report as one self-contained page to browse.

Written beside ``report.md`` by :func:`~ferengine.bench.report.write_report`, from the
same leaderboards and pictures: a key to the columns, then per tested dataset a
leaderboard that sorts by a click on any column header (figures with their intervals,
and costs), the per-class F1 of every pipeline, confusion matrices, accuracy against
latency with its Pareto front, reliability diagrams and, when the run has them,
duplicate counts and explanations; then the failed combinations with their tracebacks
folded, and the suite as run.

**One file, nothing fetched.** The style and the sorting script (a few lines, below)
are inline, pictures are embedded as base64 ``data:`` URIs, and the page's
Content-Security-Policy forbids the browser every other source, so it opens the same
from an archive, a mail attachment or a machine without network. Every text that comes
from results (pipeline names, errors, tracebacks, the suite) is escaped.

**Columns.** Headers, formats and meanings come from :mod:`ferengine.bench.columns`,
the source report.md's key shares.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

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
from ferengine.bench.report import (
    TOP_CONFUSION,
    TOP_RELIABILITY,
    confusion_pooling,
    duplicates_key,
    fold_duplicates,
    overlap_note,
    protocol_text,
    slug,
)
from ferengine.bench.store import read_history
from ferengine.bench.suite import Suite
from ferengine.fileio import write_atomic

#: The page's file name, beside ``report.md``.
FILE = "report.html"


#: Content-Security-Policy: inline style and script, data: pictures, nothing else.
_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
)
_STYLE = """
:root { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f; }
body { margin: 0 auto; max-width: 1500px; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; margin: .5rem 0; }
h2 { font-size: 1.3rem; border-bottom: 1px solid #ccc; margin-top: 2.5rem; }
h3 { font-size: 1.1rem; margin-top: 1.8rem; }
nav a { margin-right: 1rem; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; margin: .5rem 0; }
th, td { padding: .25rem .4rem; border-bottom: 1px solid #e3e3e3; text-align: left;
         vertical-align: top; }
thead th { background: #f2f2f2; border-bottom: 2px solid #bbb; }
td.num, th.num { text-align: right; }
td.num { white-space: nowrap; }
thead th { min-width: 3em; }
tbody tr:hover { background: #eef4ff; }
th button { font: inherit; font-weight: 600; color: inherit; background: none; border: 0;
            padding: 0; cursor: pointer; text-align: inherit; }
th button:focus-visible { outline: 2px solid #2862d9; }
th[aria-sort=ascending] button::after { content: " \\25B2"; }
th[aria-sort=descending] button::after { content: " \\25BC"; }
.ci, .sd, .note, figcaption, caption { color: #555; }
.ci, .sd { font-size: .85em; display: block; }
table { font-size: .92em; }
caption { caption-side: bottom; text-align: left; font-size: .9em; padding-top: .3rem; }
.scroll { overflow-x: auto; }
dl.key { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; }
dl.key dt { font-weight: 600; } dl.key dd { margin: 0; }
.figures { display: flex; flex-wrap: wrap; align-items: flex-start; gap: .5rem 1.5rem; }
figure { margin: .5rem 0 .8rem; max-width: 100%; }
figure img { display: block; max-width: 100%; height: auto; }
.figures.small img { max-width: 440px; }
pre { background: #f5f5f5; padding: .75rem; overflow-x: auto; font-size: .9em; }
summary { cursor: pointer; }
code { font-size: .95em; }
code.pipeline { white-space: nowrap; }
"""
#: Sorts every ``table.sortable`` by the clicked header's column; a second click reverses.
#: Cells sort by ``data-v`` (numbers when the header says ``data-type="num"``); cells
#: without it (no figure) go last either way; ties keep the rank order (``data-i``).
_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  heads.forEach(function (th, col) {
    var button = th.querySelector("button");
    if (!button) { return; }
    button.addEventListener("click", function () {
      var now = th.getAttribute("aria-sort");
      var order = now ? (now === "ascending" ? "descending" : "ascending")
                      : th.getAttribute("data-first");
      var sign = order === "ascending" ? 1 : -1;
      var numeric = th.getAttribute("data-type") === "num";
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
        var tie = Number(a.getAttribute("data-i")) - Number(b.getAttribute("data-i"));
        if (x === null || y === null) { return (x === null) - (y === null) || tie; }
        var d = numeric ? Number(x) - Number(y) : x.localeCompare(y);
        return sign * d || tie;
      });
      rows.forEach(function (row) { body.appendChild(row); });
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", order);
    });
  });
});
"""


def write_html(
    suite: Suite, boards: dict[str, list[dict[str, Any]]], records: list[dict[str, Any]],
    out: str | Path,
) -> Path:  # fmt: skip
    """Write ``report.html`` into the results folder ``out``; return its path.

    Parameters
    ----------
    suite : Suite
        The suite as stored in ``out/suite.toml``.
    boards : dict
        Its leaderboards (:func:`~ferengine.bench.report.leaderboards`).
    records : list of dict
        The stored task records of the suite's combinations (failed ones included).
    out : path
        The results folder, holding the ``plots/`` that report.md drew and, when the run
        explained its top pipelines, ``explain/``.
    """
    out = Path(out)
    units = sorted({rows[0]["sample"] for rows in boards.values() if rows}) or ["image"]
    failed = [r for r in records if r.get("status") != "ok"]
    links = [(f"ds-{slug(d)}", d) for d in boards] + [("failed", "failed")] * bool(failed)
    nav = " ".join(f'<a href="#{_e(i)}">{_e(t)}</a>' for i, t in [*links, ("suite", "suite")])
    parts = [
        f"<h1>Benchmark report — {_e(suite.name)}</h1>",
        f"<p>{_e(suite.description)}</p>" if suite.description else "",
        f"<p>Protocol: {_e(protocol_text(suite))}. Figures are means over folds (and "
        "repeats): accuracy and macro-F1 with their bootstrap 95 % confidence interval "
        "[low, high], the others ± sd over folds where shown.</p>",
        f"<nav>{nav}</nav>",
        _key(boards, "/".join(units)),
        _history(out),
        *(_dataset(dataset, rows, suite, records, out) for dataset, rows in boards.items()),
        _failures(failed),
        f'<h2 id="suite">The suite as run</h2><p class="note">{_e(out / "suite.toml")}:</p>'
        f"<pre>{_e(suite.text)}</pre>",
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Benchmark report — {_e(suite.name)}</title>\n<style>{_STYLE}</style>\n"
        "</head>\n<body>\n" + "\n".join(p for p in parts if p) + f"\n<script>{_SCRIPT}</script>\n"
        "</body>\n</html>\n"
    )
    return write_atomic(out / FILE, page)


# --- pieces ---------------------------------------------------------------------------------


def _e(value: Any) -> str:
    """Escape any value as HTML text (quotes too: safe in attributes)."""
    return html.escape(str(value), quote=True)


def _interval(row: dict[str, Any], key: str) -> tuple[float, float] | None:
    """Return the row's confidence interval of ``key`` (``intervals`` or ``KEY_ci``)."""
    found = (row.get("intervals") or {}).get(key, row.get(f"{key}_ci"))
    if found is None:
        return None
    if hasattr(found, "low"):
        found = (found.low, found.high)
    try:
        low, high = (number(v) for v in found)
    except (TypeError, ValueError):
        return None
    return None if low is None or high is None else (low, high)


def _key(boards: dict[str, list[dict[str, Any]]], unit: str) -> str:
    """Return the key to the leaderboards' columns (those shown in any of them)."""
    items = key_items(boards, unit)
    body = "".join(f"<dt>{_e(term)}</dt><dd>{_e(text)}</dd>" for term, text in items)
    return (
        '<h2 id="key">Key to the columns</h2><p class="note">Click a leaderboard column\'s '
        f"header to sort by it (best first); click again to reverse. {_e(DASH)}</p>"
        f'<dl class="key">{body}</dl>'
    )


def _history(out: Path) -> str:
    """Return the run history (``run.json``), folded."""
    runs = read_history(out / "run.json", "the report shows no run history until the next run")
    if not runs:
        return ""
    head = ["run finished", "machine", "backend × jobs", "tasks run / resumed", "failed",
            "feature cache hits / misses", "seconds"]  # fmt: skip
    body = [
        [
            r["finished"],
            r["machine"],
            f"{r['backend']} × {r['jobs']}",
            f"{r['ran']} / {r['resumed']}",
            r["failed"],
            f"{r['cache_hits']} / {r['cache_misses']}",
            f"{r['seconds']:.1f}",
        ]
        for r in runs
    ]
    return (
        f"<details><summary>Runs into this folder ({len(runs)})</summary>"
        f"{_plain_table(head, body)}</details>"
    )


def _plain_table(head: list[str], body: list[list[Any]], caption: str = "") -> str:
    """Return a table of escaped text (numbers right-aligned)."""

    def cell(tag: str, value: Any) -> str:
        css = ' class="num"' if number(value) is not None else ""
        return f"<{tag}{css}>{_e(value)}</{tag}>"

    cap = f"<caption>{_e(caption)}</caption>" if caption else ""
    rows = "".join("<tr>" + "".join(cell("td", v) for v in row) + "</tr>" for row in body)
    heads = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f'<div class="scroll"><table>{cap}<thead><tr>{heads}</tr></thead><tbody>{rows}' \
           "</tbody></table></div>"  # fmt: skip


def _sort_head(
    label: str, kind: str, first: str, title: str = "", css: str = "", current: bool = False
) -> str:
    """Return a sortable table's header cell: a button, the sort kind, the first order.

    ``current``: the table is written in this column's ascending order (the rank).
    """
    tip = f' title="{_e(title)}"' if title else ""
    cls = f' class="{css}"' if css else ""
    now = ' aria-sort="ascending"' if current else ""
    return (f'<th{cls}{now} data-type="{kind}" data-first="{first}"{tip}>'
            f'<button type="button">{_e(label)}</button></th>')  # fmt: skip


def _dataset(
    dataset: str, rows: list[dict[str, Any]], suite: Suite, records: list[dict[str, Any]],
    out: Path,
) -> str:  # fmt: skip
    """Return one tested dataset's section."""
    name, unit = slug(dataset), rows[0]["sample"]
    chance = number(rows[0].get("chance"))
    parts = [
        f'<section id="ds-{_e(name)}"><h2>{_e(dataset)}</h2>',
        f"<p>{len(rows)} pipelines scored"
        + (
            f"; chance (the training set's majority class): {chance:.3f}"
            if chance is not None
            else ""
        )
        + f"; uniform guess: {1 / len(rows[0]['labels']):.3f}.</p>",
        _leaderboard(rows, unit, name),
        _notes(rows),
        _references(suite, dataset),
        _per_class(rows),
        _confusions(rows, unit, suite.protocol.repeats, out / "plots", name),
        '<h3>Accuracy against latency</h3><p class="note">Each dot a pipeline; the red line '
        "joins the Pareto front, the pipelines no other beats on both accuracy and batched "
        "time per image. Per-class F1 of the top pipelines beside it.</p>",
        _figures(
            _figure(
                out / "plots" / f"{name}-accuracy-latency.png", f"{dataset}: accuracy vs latency"
            ),
            _figure(out / "plots" / f"{name}-per-class-f1.png", f"{dataset}: per-class F1"),
        ),
        _reliability(rows, out / "plots", name),
        _duplicates(dataset, records),
        _explanations(out, name, rows),
        "</section>",
    ]
    return "\n".join(p for p in parts if p)


def _leaderboard(rows: list[dict[str, Any]], unit: str, name: str) -> str:
    """Return the sortable leaderboard of a dataset."""
    columns = shown_columns(rows)
    heads = [
        _sort_head(RANK[0], "num", "ascending", RANK[1], "num", current=True),
        _sort_head(PIPELINE[0], "text", "ascending", PIPELINE[1]),
        *(
            _sort_head(
                c.header.format(unit=unit),
                "num",
                "descending" if c.better == "high" else "ascending",
                c.meaning.format(unit=unit),
                "num",
            )
            for c in columns
        ),
        _sort_head(MCNEMAR[0], "num", "ascending", MCNEMAR[1].format(unit=unit), "num"),
    ]
    body = []
    for i, row in enumerate(rows):
        test = row.get("mcnemar")
        versus = (
            '<td class="num">–</td>' if not test else
            f'<td class="num" data-v="{test["p"]!r}">p={test["p"]:.3g} '
            f'<span class="sd">(b={_e(test["b"])}, c={_e(test["c"])})</span></td>'
        )  # fmt: skip
        cells = [
            f'<td class="num" data-v="{row["rank"]}">{row["rank"]}</td>',
            f'<td data-v="{_e(row["pipeline"])}">{_pipeline(row["pipeline"])}</td>',
            *(_cell(column, row) for column in columns),
            versus,
        ]
        body.append(f'<tr data-i="{i}">{"".join(cells)}</tr>')
    return (
        f'<div class="scroll"><table class="sortable leaderboard" id="leaderboard-{_e(name)}">'
        f"<thead><tr>{''.join(heads)}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _cell(column: Column, row: dict[str, Any]) -> str:
    """Return a leaderboard cell: the figure, its interval (or ± sd), its sort value."""
    value = number(row.get(column.key))
    if value is None:
        return '<td class="num">–</td>'
    text = _e(column.fmt.format(value * column.scale))
    interval = _interval(row, column.key)
    sd = number(row.get(f"{column.key}_sd"))
    if interval is not None:
        low, high = (column.fmt.format(v * column.scale) for v in interval)
        text += f' <span class="ci">[{_e(low)}, {_e(high)}]</span>'
    elif column.sd and row.get("folds", 1) > 1 and sd is not None:
        text += f' <span class="sd">± {_e(column.fmt.format(sd * column.scale))}</span>'
    return f'<td class="num" data-v="{value!r}">{text}</td>'


def _notes(rows: list[dict[str, Any]]) -> str:
    """Return the notes under a leaderboard: overlapping intervals, no calibration."""
    notes = []
    overlap = overlap_note(rows)
    if overlap:
        notes.append(overlap)
    reasons: dict[str, list[str]] = {}
    for row in rows:
        if row.get("ece") is None and any(r.get("ece") is not None for r in rows):
            why = row.get("calibration_note") or "no class probabilities stored"
            reasons.setdefault(why, []).append(f"#{row['rank']} {row['pipeline']}")
    notes += [f"No ECE, NLL or Brier for {', '.join(names)}: {why}." for why, names in
              reasons.items()]  # fmt: skip
    return "".join(f'<p class="note">{_e(n)}</p>' for n in notes)


def _references(suite: Suite, dataset: str) -> str:
    """Return the literature figures the suite gives for this dataset."""
    refs = [r for r in suite.references if r.get("dataset") in (None, dataset)]
    if not refs:
        return ""
    body = [[r["pipeline"], f"{r['accuracy']:.3f}", r.get("protocol", ""), r.get("source", "")]
            for r in refs]  # fmt: skip
    return "<h3>Literature figures (as published, not measured here)</h3>" + _plain_table(
        ["pipeline", "accuracy", "protocol", "source"], body
    )


def _per_class(rows: list[dict[str, Any]]) -> str:
    """Return the per-class F1 of every pipeline, sortable by class."""
    names = rows[0]["labels"]
    heads = [_sort_head("#", "num", "ascending", css="num", current=True),
             _sort_head("pipeline", "text", "ascending"),
             *(_sort_head(n, "num", "descending", css="num") for n in names)]  # fmt: skip
    body = []
    for i, row in enumerate(rows):
        f1 = row.get("per_class_f1", {})
        cells = [
            f'<td class="num" data-v="{row["rank"]}">{row["rank"]}</td>',
            f'<td data-v="{_e(row["pipeline"])}">{_pipeline(row["pipeline"])}</td>',
        ]
        cells += [
            '<td class="num">–</td>' if number(f1.get(n)) is None
            else f'<td class="num" data-v="{f1[n]!r}">{f1[n]:.3f}</td>'
            for n in names
        ]  # fmt: skip
        body.append(f'<tr data-i="{i}">{"".join(cells)}</tr>')
    return (
        f'<h3>Per-class F1 (mean over folds)</h3><p class="note">All {len(rows)} pipelines; '
        'click a class to rank them on it.</p><div class="scroll"><table class="sortable">'
        f"<thead><tr>{''.join(heads)}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _confusions(rows: list[dict[str, Any]], unit: str, repeats: int, plots: Path, name: str) -> str:
    """Return the confusion pictures of the top pipelines, every pipeline's counts folded."""
    pooled = confusion_pooling(rows[0], unit, repeats)
    parts = ["<h3>Confusion matrices</h3>",
             f'<p class="note">Rows: true class, columns: predicted; {_e(pooled)}. Pictures of '
             f"the top {min(TOP_CONFUSION, len(rows))}: shares of each true class, with the "
             "counts in the cells.</p>"]  # fmt: skip
    parts.append(_figures(*(
        _figure(plots / f"{name}-confusion-{row['rank']}.png", f"#{row['rank']} {row['pipeline']}")
        for row in rows[:TOP_CONFUSION]), small=True))  # fmt: skip
    tables = []
    corner = "true \\ predicted"
    for row in rows:
        matrix = row.get("confusion") or []
        body = [[true, *counts] for true, counts in zip(row["true_labels"], matrix, strict=False)]
        tables.append(f"<details><summary>#{row['rank']} <code>{_e(row['pipeline'])}</code>"
                      f"</summary>{_plain_table([corner, *row['labels']], body)}"
                      "</details>")  # fmt: skip
    parts.append(f"<details><summary>Counts of every pipeline ({len(rows)})</summary>"
                 f"{''.join(tables)}</details>")  # fmt: skip
    return "\n".join(p for p in parts if p)


def _reliability(rows: list[dict[str, Any]], plots: Path, name: str) -> str:
    """Return the reliability diagrams of the top pipelines with stored probabilities."""
    with_proba = [row for row in rows if all(r.get("proba") is not None for r in row["runs"])]
    figures = [
        _figure(
            plots / f"{name}-reliability-{row['rank']}.png", f"#{row['rank']} {row['pipeline']}"
        )
        for row in with_proba[:TOP_RELIABILITY]
    ]
    figures = [f for f in figures if f]
    if not figures:
        return ""
    return (
        '<h3>Reliability diagrams</h3><p class="note">Accuracy against mean top-class '
        "confidence in 15 equal-width bins, folds pooled; on the diagonal a pipeline is "
        "calibrated, bars below it are over-confident.</p>" + _figures(*figures, small=True)
    )


def _duplicates(dataset: str, records: list[dict[str, Any]]) -> str:
    """Return the duplicate counts of each fold (:func:`.report.fold_duplicates`)."""
    runs = [r for r in records if r.get("dataset") == dataset and r.get("status") == "ok"]
    counts = fold_duplicates(runs)
    head = "<h3>Duplicates between test and training images</h3>"
    if not counts:
        note = next((r["dup_note"] for r in runs if r.get("dup_note")), None)
        return f'{head}<p class="note">{_e(note[0].upper() + note[1:])}.</p>' if note else ""
    unit = next((r["sample"] for r in runs if r.get("sample")), "image")
    body = [[c["repeat"], c["fold"], c["n"], c["dup_exact"], c["dup_near"], c["n_dedup"],
             c["dedupe_dropped"]] for c in counts]  # fmt: skip
    columns = ["repeat", "fold", f"test {unit}s", "exact copies", "near copies", "de-duplicated",
               "training rows dropped"]  # fmt: skip
    return head + _plain_table(columns, body, duplicates_key(counts, unit))


def _explanations(out: Path, name: str, rows: list[dict[str, Any]]) -> str:
    """Return what the top pipelines look at, when the run explained them (``explain/``)."""
    from ferengine.bench.explanations import FOLDER

    path = out / FOLDER / name / "index.json"
    head = "<h3>What the top pipelines look at</h3>"
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
        if index.get("skipped"):
            return f'{head}<p class="note">Not explained: {_e(index["skipped"])}.</p>'
        ranks = {row["combination"]: row["rank"] for row in rows}
        parts = [head, f'<p class="note">Explainer <code>{_e(index["method"])}</code>, fitted '
                 "again on each pipeline's first fold and explained on a seeded sample of "
                 "its test faces; see report.md for the per-class statistics.</p>"]  # fmt: skip
        for entry in index["entries"]:
            title = f"#{ranks.get(entry['combination'], '–')} {entry['pipeline']}"
            if entry["status"] != "ok":
                why = entry.get("reason") or entry.get("error")
                parts.append(f"<h4>{_e(title)}</h4><p>Not explained ({_e(entry['status'])}): "
                             f"{_e(why)}</p>")  # fmt: skip
                continue
            folder = out / entry["folder"]
            parts += [
                f"<h4>{_e(title)}</h4><p>Accuracy {entry['accuracy']:.3f} on {entry['faces']} "
                f"faces; agree {entry['agree']} of {entry['faces']}.</p>",
                _figure(folder / "class_saliency.png", f"{title}: mean map per class"),
            ]
            gallery = [
                _figure(
                    folder / p["image"],
                    f"{p['true']} taken for {p['predicted']}: {p['count']} of {p['of']}",
                )
                for p in entry["gallery"]["pairs"]
            ]
            if any(gallery):
                parts.append(f"<details><summary>Most frequent confusions ({len(gallery)})"
                             f"</summary>{_figures(*gallery)}</details>")  # fmt: skip
        return "\n".join(p for p in parts if p)
    except FileNotFoundError:
        return ""
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:  # damaged index
        return f'{head}<p class="note">{_e(path)} cannot be read ({_e(type(exc).__name__)}: ' \
               f"{_e(exc)}); explain the run again.</p>"  # fmt: skip


def _failures(failed: list[dict[str, Any]]) -> str:
    """Return the failed combinations, each traceback folded."""
    if not failed:
        return ""
    items = [
        f"<details><summary><code>{_e(r.get('pipeline'))}</code> on {_e(r.get('dataset'))} — "
        f"repeat {_e(r.get('repeat'))} fold {_e(r.get('fold'))}: {_e(r.get('error', ''))}"
        f"</summary><pre>{_e(str(r.get('traceback', '')).rstrip())}</pre></details>"
        for r in failed
    ]
    return f'<h2 id="failed">Failed combinations ({len(failed)})</h2>' + "".join(items)


def _pipeline(name: str) -> str:
    """Return a pipeline's name as code that wraps only after its arrows."""
    steps = (_e(step) for step in str(name).split(" → "))
    return f'<code class="pipeline">{" →<wbr> ".join(steps)}</code>'


def _figures(*figures: str, small: bool = False) -> str:
    """Return pictures side by side (``small``: at most 440 pixels wide each); "" for none."""
    shown = [f for f in figures if f]
    css = "figures small" if small else "figures"
    return f'<div class="{css}">{"".join(shown)}</div>' if shown else ""


def _figure(path: Path, caption: str) -> str:
    """Return a picture embedded as a data: URI with its caption; "" when it is missing."""
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    mime = "image/jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "image/png"
    src = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return (f'<figure><img src="{src}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")  # fmt: skip
