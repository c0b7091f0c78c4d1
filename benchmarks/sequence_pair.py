"""Accuracy on the dynamics-only pair of a ``sequences`` benchmark run, per pipeline.

``synthetic-sequences`` holds two classes that differ only in their time course
(surprise-onset rises to the apex, surprise-offset fades from it). Reads the stored
records of a finished run of the ``sequences`` suite and prints, per pipeline, the
accuracy over all classes and the *pair accuracy*: the share of the pair's test clips
(every fold) given their own class; and, of the pair's clips given one of the pair's two
classes, the share given the right one — whether the model reads the time course
(chance 0.5). The issue's target: the best temporal head ≥ 0.90, apex-frame and
mean-pooling pipelines near chance.

Usage: python benchmarks/sequence_pair.py bench-results/sequences
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from ferengine.bench import load_suite

PAIR = ("surprise-onset", "surprise-offset")


def main() -> None:
    """Print one Markdown row per pipeline, best pair accuracy first."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="results folder of a sequences suite run")
    args = parser.parse_args()
    if not (args.run / "suite.toml").is_file():
        raise SystemExit(f"{args.run}: not a benchmark run (no suite.toml)")
    wanted = {c.key for c in load_suite(args.run / "suite.toml").combinations}
    records = [json.loads(p.read_text()) for p in sorted((args.run / "runs").glob("*.json"))]
    # the suite's current combinations only (a resumed run keeps records of replaced ones)
    records = [r for r in records if r.get("status") == "ok" and r["combination"] in wanted]
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
        within = pair & np.isin(y_pred, codes)  # pair clips given one of the pair's classes
        order = float(np.mean(y_pred[within] == y_true[within])) if within.any() else np.nan
        accuracy = float(np.mean(y_pred == y_true))
        rows.append((pair_accuracy, order, int(within.sum()), accuracy, int(pair.sum()),
                     len(parts), pipeline))  # fmt: skip
    print(f"{args.run}: {len(records)} tasks\n")
    print("| pipeline | folds | accuracy (all classes) | pair clips | pair accuracy | "
          "onset vs offset (clips given a pair class) |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    for pair_acc, order, n_within, acc, n_pair, folds, pipeline in sorted(rows, reverse=True):
        print(f"| {pipeline} | {folds} | {acc:.3f} | {n_pair} | {pair_acc:.3f} | "
              f"{order:.3f} ({n_within}) |")  # fmt: skip


if __name__ == "__main__":
    main()
