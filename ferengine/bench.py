"""The built-in benchmark: several pipelines, one dataset, subject-independent folds.

This is the seed of the benchmark runner; later work grows it into TOML suites
with feature caching and parallel backends. Every figure it prints is measured
when it runs.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.base import clone
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

import ferengine
from ferengine import splits


@dataclass
class Suite:
    """A dataset, a fold protocol and named pipelines (lists of pipeline steps)."""

    dataset: str
    dataset_params: dict[str, Any]
    pipelines: dict[str, list[Any]]
    folds: int = 5
    seed: int = 0


@dataclass
class Result:
    """Scores of one pipeline over every fold."""

    pipeline: str
    accuracy: list[float] = field(default_factory=list)
    balanced_accuracy: list[float] = field(default_factory=list)
    macro_f1: list[float] = field(default_factory=list)
    fit_seconds: list[float] = field(default_factory=list)
    predict_ms_per_image: list[float] = field(default_factory=list)
    chance: float = 0.0

    def summary(self) -> dict[str, float | str]:
        """Return mean and standard deviation of every figure."""
        out: dict[str, float | str] = {"pipeline": self.pipeline, "chance": self.chance}
        for key in (
            "accuracy",
            "balanced_accuracy",
            "macro_f1",
            "fit_seconds",
            "predict_ms_per_image",
        ):
            values = np.asarray(getattr(self, key))
            out[f"{key}_mean"] = float(values.mean())
            out[f"{key}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        return out


def default_suite(seed: int = 0, folds: int = 5) -> Suite:
    """Return the suite that ``ferengine bench`` runs with no arguments."""
    return Suite(
        dataset="synthetic",
        dataset_params={"seed": seed},
        pipelines={
            "pixels48+logistic": ["pixels", "logistic"],
            "pixels24+logistic": [("pixels", {"size": 24}), "logistic"],
            "pixels24+logistic(C=0.05)": [("pixels", {"size": 24}), ("logistic", {"C": 0.05})],
        },
        folds=folds,
        seed=seed,
    )


def run_suite(suite: Suite) -> list[Result]:
    """Fit and score every pipeline of ``suite`` on every fold."""
    ds = ferengine.load_dataset(suite.dataset, **suite.dataset_params)
    folds = splits.subject_kfold(ds, n_splits=suite.folds, seed=suite.seed)
    chance = float(np.bincount(ds.labels).max() / len(ds))
    results = []
    for name, steps in suite.pipelines.items():
        template = ferengine.pipeline(*steps)
        res = Result(name, chance=chance)
        for train, test in folds:
            model = clone(template)
            t0 = time.perf_counter()
            model.fit(ds.images[train], ds.labels[train])
            t1 = time.perf_counter()
            pred = model.predict(ds.images[test])
            t2 = time.perf_counter()
            y = ds.labels[test]
            res.accuracy.append(accuracy_score(y, pred))
            res.balanced_accuracy.append(balanced_accuracy_score(y, pred))
            res.macro_f1.append(f1_score(y, pred, average="macro"))
            res.fit_seconds.append(t1 - t0)
            res.predict_ms_per_image.append(1000 * (t2 - t1) / len(test))
        results.append(res)
    return results


def print_results(results: list[Result], console: Console) -> None:
    """Print one row per pipeline: mean ± sd over folds."""
    table = Table(title="ferengine bench — synthetic, subject-independent folds")
    table.add_column("pipeline", no_wrap=True)
    for col in ("accuracy", "balanced acc.", "macro-F1", "fit s", "ms/image"):
        table.add_column(col, justify="right")
    for r in sorted(results, key=lambda r: -np.mean(r.accuracy)):
        s = r.summary()

        def cell(k: str, f: str = "{:.3f}", s: dict = s) -> str:
            return f"{f.format(s[k + '_mean'])} ± {f.format(s[k + '_sd'])}"

        table.add_row(
            r.pipeline,
            cell("accuracy"),
            cell("balanced_accuracy"),
            cell("macro_f1"),
            cell("fit_seconds", "{:.2f}"),
            cell("predict_ms_per_image", "{:.3f}"),
        )
    console.print(table)
    if results:
        console.print(f"chance (majority class): {results[0].chance:.3f}")


def write_results(results: list[Result], out: Path) -> None:
    """Write per-fold figures to ``results.json`` and the summary to ``results.csv``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    rows = [r.summary() for r in results]
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
