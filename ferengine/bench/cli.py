"""``ferengine bench``: run a benchmark suite, or regenerate a report from stored results."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ferengine.errors import FerengineError


@click.command("bench")
@click.argument("args", nargs=-1, metavar="[SPEC] | report DIR | compare RUN_A RUN_B")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Results folder [default: bench-results/<suite name>]; with compare, a Markdown file "
    "to write the comparison to.",
)
@click.option("--jobs", "-j", default=1, show_default=True, help="Parallel workers.")
@click.option(
    "--backend",
    type=click.Choice(["loky", "dask"]),
    default="loky",
    show_default=True,
    help="joblib backend: local processes, or a Dask cluster.",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Dask scheduler address (tcp://host:port); default: a local cluster.",
)
@click.option("--resume", is_flag=True, help="Continue the run in --out, skipping finished work.")
@click.option(
    "--wait",
    is_flag=True,
    help="If another ferengine bench is using --out, wait for it to finish instead of exiting.",
)
@click.option("--limit", type=int, default=None, help="Run only the first N combinations.")
@click.option(
    "--cache",
    type=click.Path(path_type=Path),
    default=None,
    help="Feature cache folder, shareable between runs [default: OUT/cache].",
)
@click.option(
    "--data",
    "data",
    multiple=True,
    metavar="KEY=PATH",
    help="Path of the suite's dataset KEY, overriding the spec (repeatable).",
)
@click.option(
    "--explain-top",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Explain the top N pipelines of each leaderboard in the report (per-class saliency "
    "and a misclassification gallery; 0: none) [default: the suite's [report.explain]].",
)
def bench_cmd(
    args: tuple[str, ...], out: Path | None, jobs: int, backend: str, scheduler: str | None,
    resume: bool, wait: bool, limit: int | None, cache: Path | None, data: tuple[str, ...],
    explain_top: int | None,
) -> None:  # fmt: skip
    """Run a benchmark suite and write results.csv, results.json and report.md.

    \b
    ferengine bench [SPEC]          SPEC: a suite TOML file or a built-in name (default: quick)
    ferengine bench report DIR      regenerate DIR/report.md from DIR's stored results
    ferengine bench report DIR --explain-top N
                                    explain DIR's top N pipelines first (needs its data)
    ferengine bench compare RUN_A RUN_B
                                    the pipelines of two runs side by side, with McNemar tests
    """  # noqa: D301 (click's no-rewrap marker is the backspace character "\b")
    from ferengine.bench import RunOptions, load_suite, run_suite, write_report
    from ferengine.bench.explanations import explain_run
    from ferengine.bench.lock import folder_lock
    from ferengine.bench.record import refresh_report
    from ferengine.bench.report import leaderboards, overlap_note
    from ferengine.bench.runner import line_printer

    console = Console(width=None if sys.stdout.isatty() else 140)
    overrides = dict(_key_value(item) for item in data)
    try:
        if args and args[0] == "report":
            if len(args) != 2:
                raise click.UsageError("usage: ferengine bench report DIR")
            if explain_top is not None:
                stored = RunOptions(Path(args[1]), data=overrides, wait=wait,
                                    explain_top=explain_top)  # fmt: skip
                explain_run(stored, line_printer(console))
            path = write_report(args[1])
            console.print(f"report written to {path}")
            _print_page(console, path)
            return
        if args and args[0] == "compare":
            if len(args) != 3:
                raise click.UsageError("usage: ferengine bench compare RUN_A RUN_B")
            _compare(args[1], args[2], out, console)
            return
        if len(args) > 1:
            raise click.UsageError(f"expected at most one SPEC, got {' '.join(args)}")
        suite = load_suite(args[0] if args else None).limit(limit)
        out = out or _default_out(suite.name, resume)
        options = RunOptions(out, jobs, backend, scheduler, resume, cache, overrides, wait,
                             explain_top)  # fmt: skip
        console.print(f"[bold]{suite.name}[/bold]: {len(suite.combinations)} pipelines → {out}")
        with folder_lock(out, wait, line_printer(console)):  # run and report
            summary = run_suite(suite, options, console)
            report = refresh_report(out, summary)  # a finished resume keeps it
    except KeyboardInterrupt:
        console.print(
            "[yellow]interrupted[/yellow]: finished tasks are stored; "
            "run again with --resume to continue"
        )
        sys.exit(130)
    except FerengineError as exc:
        raise click.ClickException(str(exc)) from exc
    console.print(
        f"{summary.ran} tasks run, {summary.resumed} resumed, {summary.failed} failed; "
        f"feature cache {summary.cache_hits} hits / {summary.cache_misses} misses; "
        f"{summary.seconds:.1f} s"
    )

    for dataset, rows in leaderboards(load_suite(out / "suite.toml"), _records(out)).items():
        _print_leaderboard(console, f"{suite.name} — {dataset}", rows)
        note = overlap_note(rows)
        if note:
            console.print(note, soft_wrap=True, markup=False, highlight=False)
    console.print(f"report: {report}")
    _print_page(console, report)
    if summary.failed:
        sys.exit(1)


#: Rows of a leaderboard printed in the terminal (report.md and report.html show all).
TERMINAL_ROWS = 15
#: Figures of the terminal leaderboard (headers and formats from report.md's columns).
_TERMINAL_FIGURES = ("accuracy", "macro_f1", "ece", "fit_seconds", "predict_ms_per_image")


def _print_leaderboard(console: Console, title: str, rows: list[dict]) -> None:
    """Print the top :data:`TERMINAL_ROWS` of a leaderboard; say so when some are left out."""
    from dataclasses import replace

    from ferengine.bench.columns import COLUMNS, PIPELINE, RANK
    from ferengine.bench.report import cell

    unit = rows[0]["sample"] if rows else "image"
    # no "± sd" here: the terminal is narrow, report.md has it
    columns = [replace(c, sd=False) for key in _TERMINAL_FIGURES for c in COLUMNS if c.key == key]
    shown = rows[:TERMINAL_ROWS]
    caption = None
    if len(shown) < len(rows):
        caption = f"{len(shown)} of {len(rows)} pipelines shown; all in report.md and report.html"
    body = [[str(row["rank"]), row["pipeline"], *(cell(c, row) for c in columns)] for row in shown]
    heads = [RANK[0], PIPELINE[0], *(c.header.format(unit=unit) for c in columns)]
    natural = [max([len(head)] + [len(r[i]) for r in body]) for i, head in enumerate(heads)]
    narrow = console.width < sum(n + 3 for n in natural) + 1  # cells, padding and rules
    table = Table(title=title, caption=caption)
    for i, head in enumerate(heads):
        if i == 1:  # whole names, folded where they must be, never cut short
            table.add_column(head, overflow="fold")
            continue
        # narrow: a figure column no wider than its value or a header word (rich would give
        # spare room to the widest headers); intervals wrap at their spaces
        width = max([len(r[i]) for r in body] + [len(w) for w in head.split()])
        capped = narrow and " [" not in head
        table.add_column(head, justify="right", max_width=width if capped else None)
    for cells in body:
        table.add_row(*cells)
    console.print(table)


def _compare(a: str, b: str, out: Path | None, console: Console) -> None:
    """Print (and with ``out``, write as Markdown) the comparison of two runs."""
    from ferengine.bench.compare import compare_runs, significant_note

    found = compare_runs(a, b)
    table = Table(title=f"A: {a}   B: {b}")
    for col in ("dataset", "pipeline", "accuracy A", "accuracy B", "B − A", "b / c", "p", "χ² p"):
        table.add_column(col, justify="left" if col in ("dataset", "pipeline") else "right")
    for row in found.rows:
        test = row["mcnemar"]
        p = "folds differ" if test is None else f"{test['p']:.3g}"
        style = "bold" if test is not None and test["p"] < 0.05 else None
        table.add_row(row["dataset"], row["pipeline"], f"{row['accuracy_a']:.4f}",
                      f"{row['accuracy_b']:.4f}", f"{row['delta']:+.4f}",
                      "—" if test is None else f"{test['b']} / {test['c']}", p,
                      "—" if row["chi_square"] is None else f"{row['chi_square']['p']:.3g}",
                      style=style)  # fmt: skip
    console.print(table)
    console.print(f"b: test samples only A got right; c: only B. {significant_note()}")
    for label, missing in (("A", found.only_a), ("B", found.only_b)):
        if missing:
            console.print(f"only in {label}: " + "; ".join(f"{d}: {p}" for d, p in missing))
    if out is not None:
        out.write_text(found.markdown())
        console.print(f"comparison written to {out}")


def _print_page(console: Console, report: Path) -> None:
    """Print the file:// address of report.html beside ``report`` (one click in a terminal)."""
    from ferengine.bench.report_html import FILE

    page = report.with_name(FILE).resolve()
    console.print(f"browse: {page.as_uri()}", soft_wrap=True, markup=False, highlight=False)


def _records(out: Path) -> list[dict]:
    from ferengine.bench.store import ResultStore

    return list(ResultStore(out).records())


def _default_out(name: str, resume: bool) -> Path:
    """Return a fresh dated results folder or, with ``resume``, the suite's latest one."""
    root = Path("bench-results")
    if resume:
        runs = sorted(root.glob(f"{name}-????????-??????"))
        if not runs:
            raise click.UsageError(f"--resume: no earlier run of {name!r} in {root}/; give --out")
        return runs[-1]
    return root / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"expected KEY=PATH, got {item!r}", param_hint="--data")
    return key, value
