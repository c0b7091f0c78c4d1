"""``ferengine bench compare RUN_A RUN_B``: the same pipelines in two runs, side by side.

For checking a change: run a suite before and after it, then compare. Pipelines are
matched by dataset and combination key (the pipeline with the same steps and
parameters); each matched pair gets run A's and run B's mean accuracy, the difference,
and an exact McNemar test on the test samples both runs scored (same fold, same test
row — the runs must share the protocol and the seed for that; otherwise no paired test
is possible and the row says so). Pipelines in only one of the runs are listed apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferengine.bench.contrasts import chi_square, mcnemar
from ferengine.bench.report import leaderboards
from ferengine.bench.store import ResultStore
from ferengine.bench.suite import SuiteError, load_suite

__all__ = ["Comparison", "compare_runs"]

#: McNemar p-value below which a difference is called significant in the table.
ALPHA = 0.05


@dataclass
class Comparison:
    """Two runs' leaderboards matched pipeline by pipeline.

    Attributes
    ----------
    a, b : Path
        The two results folders.
    rows : list of dict
        One per pipeline in both runs: ``dataset``, ``pipeline``, ``accuracy_a``,
        ``accuracy_b``, ``delta`` (B − A), ``macro_f1_a``, ``macro_f1_b``, ``folds_a``,
        ``folds_b``, ``mcnemar`` (``b``: samples only A got right, ``c``: only B, ``n``,
        ``p``; None when the runs share no scored test sample) and ``chi_square``
        (:func:`~ferengine.bench.contrasts.chi_square`), sorted by dataset and A's accuracy.
    only_a, only_b : list of (str, str)
        ``(dataset, pipeline)`` found in one run only.
    """

    a: Path
    b: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    only_a: list[tuple[str, str]] = field(default_factory=list)
    only_b: list[tuple[str, str]] = field(default_factory=list)

    def markdown(self) -> str:
        """Return the comparison as a Markdown table, with the unmatched pipelines listed."""
        lines = [
            f"# {self.a} (A) vs {self.b} (B)",
            "",
            "| dataset | pipeline | accuracy A | accuracy B | B − A | McNemar b / c | p | χ² p |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in self.rows:
            test = row["mcnemar"]
            pair = "—" if test is None else f"{test['b']} / {test['c']}"
            p = "folds differ" if test is None else _p(test["p"])
            chi = "—" if row["chi_square"] is None else _p(row["chi_square"]["p"])
            lines.append(
                f"| {row['dataset']} | {row['pipeline']} | {row['accuracy_a']:.4f} | "
                f"{row['accuracy_b']:.4f} | {row['delta']:+.4f} | {pair} | {p} | {chi} |"
            )
        lines += ["", f"b: test samples only A got right; c: only B. {significant_note()}"]
        for label, missing in (("A", self.only_a), ("B", self.only_b)):
            if missing:
                lines += ["", f"Only in {label}:", ""]
                lines += [f"- {dataset}: {pipeline}" for dataset, pipeline in missing]
        return "\n".join(lines) + "\n"


def significant_note() -> str:
    """Return the sentence that says which p-values the table marks significant."""
    return (
        f"p in bold: below {ALPHA} (exact McNemar test on the shared test samples; χ²: "
        "chi-square test of independence of run and right/wrong on the same samples, "
        "unpaired, as the FER theses report it)."
    )


def _p(p: float) -> str:
    text = f"{p:.3g}"
    return f"**{text}**" if p < ALPHA else text


def _boards(out: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Return a run's leaderboard rows by dataset and combination key."""
    suite_file = out / "suite.toml"
    if not suite_file.is_file():
        raise SuiteError(f"{out} is not a benchmark results folder (no suite.toml in it)")
    suite = load_suite(suite_file)
    boards = leaderboards(suite, list(ResultStore(out).records()))
    return {dataset: {row["combination"]: row for row in rows} for dataset, rows in boards.items()}


def compare_runs(a: str | Path, b: str | Path) -> Comparison:
    """Match two benchmark runs' pipelines and test each difference.

    Parameters
    ----------
    a, b : str or Path
        Results folders of ``ferengine bench`` (each holds ``suite.toml`` and the stored
        task records).

    Returns
    -------
    Comparison

    Raises
    ------
    SuiteError
        A folder is not a results folder.
    """
    found = Comparison(Path(a), Path(b))
    first, second = _boards(found.a), _boards(found.b)
    for dataset in sorted(first.keys() | second.keys()):
        rows_a, rows_b = first.get(dataset, {}), second.get(dataset, {})
        for key, row in rows_a.items():
            other = rows_b.get(key)
            if other is None:
                found.only_a.append((dataset, row["pipeline"]))
                continue
            found.rows.append({
                "dataset": dataset, "pipeline": row["pipeline"],
                "accuracy_a": row["accuracy"], "accuracy_b": other["accuracy"],
                "delta": other["accuracy"] - row["accuracy"],
                "macro_f1_a": row["macro_f1"], "macro_f1_b": other["macro_f1"],
                "folds_a": row["folds"], "folds_b": other["folds"],
                "mcnemar": mcnemar(row["runs"], other["runs"]),
                "chi_square": chi_square(row["runs"], other["runs"]),
            })  # fmt: skip
        found.only_b += [(dataset, r["pipeline"]) for k, r in rows_b.items() if k not in rows_a]
    found.rows.sort(key=lambda r: (r["dataset"], -r["accuracy_a"]))
    return found
