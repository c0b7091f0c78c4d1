"""Accuracy on the dynamics-only pair of a ``sequences`` benchmark run, per pipeline.

``synthetic-sequences`` holds two classes that differ only in their time course
(surprise-onset rises to the apex, surprise-offset fades from it). Reads the stored
records of a finished run of the ``sequences`` suite and prints, per pipeline, the
accuracy over all classes and the *pair accuracy*: the share of the pair's test clips
(every fold) given their own class — chance is 0.5 for a model that tells the pair
from the other classes but not from each other, lower when it confuses them with
``surprise``. The issue's target: the best temporal head ≥ 0.90, apex-frame and
mean-pooling pipelines near chance.

Usage: python benchmarks/sequence_pair.py bench-results/sequences
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

PAIR = ("surprise-onset", "surprise-offset")


def main() -> None:
    """Print one Markdown row per pipeline, best pair accuracy first."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="results folder of a sequences suite run")
    args = parser.parse_args()
    records = [json.loads(p.read_text()) for p in sorted((args.run / "runs").glob("*.json"))]
    records = [r for r in records if r.get("status") == "ok"]
    if not records:
        raise SystemExit(f"{args.run}: no finished tasks (runs/*.json)")
    pooled: dict[str, list[np.ndarray]] = defaultdict(list)
    for r in records:
        names = r["labels"]
        if not set(PAIR) <= set(names):
            raise SystemExit(f"{args.run}: {r['pipeline']} has no {PAIR} classes")
        pooled[r["pipeline"]].append(np.stack([np.asarray(r["y_true"]), np.asarray(r["y_pred"])]))
    codes = [names.index(c) for c in PAIR]
    rows = []
    for pipeline, parts in pooled.items():
        y_true, y_pred = np.concatenate(parts, axis=1)
        pair = np.isin(y_true, codes)
        pair_accuracy = float(np.mean(y_pred[pair] == y_true[pair]))
        accuracy = float(np.mean(y_pred == y_true))
        rows.append((pair_accuracy, accuracy, int(pair.sum()), len(parts), pipeline))
    print(f"{args.run}: {len(records)} tasks\n")
    print("| pipeline | folds | accuracy (all classes) | pair clips | pair accuracy |")
    print("| --- | --- | --- | --- | --- |")
    for pair_acc, acc, n_pair, folds, pipeline in sorted(rows, reverse=True):
        print(f"| {pipeline} | {folds} | {acc:.3f} | {n_pair} | {pair_acc:.3f} |")


if __name__ == "__main__":
    main()
