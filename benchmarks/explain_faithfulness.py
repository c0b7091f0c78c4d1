"""Are the maps evidence? Deletion/insertion AUC and model randomisation, per method and model.

On the first ``--faces`` FER2013 PublicTest faces, each map explaining the model's
predicted class:

* the models of ``--parts``: ``cnn``, the shipped ``fer2013`` CNN explained by
  ``occlusion``, ``gradcam`` and ``integrated-gradients``; ``hog``, a hand-crafted
  ``hog → logistic`` pipeline (trained on a class-stratified sample of ``--train``
  Training faces, seed 0, as ``benchmarks/explain_latency.py`` trains and saves it at
  ``--classical``; an existing file there is loaded) explained by ``occlusion`` and
  ``feature-weights``; ``classical-best``, the best hand-crafted pipeline with
  calibrated probabilities (the model file ``--classical-best``, made by ``ferengine train
  benchmarks/models/classical-best-calibrated.toml --out PATH``) explained by
  ``occlusion`` on the first ``--classical-best-faces`` of the faces (its BoVW features
  and kernel SVM cost about a hundred times the others' per image);
* deletion and insertion curves (:mod:`ferengine.explain.faithfulness`: ``--steps``
  steps, removed pixels blurred with a 5-pixel Gaussian) of every method and of two
  random baselines (``--seeds`` seeds each, shared by a model's methods: they explain
  the same classes): pixels in random order, and random smooth regions (a random
  ``--grid`` × ``--grid`` lattice upsampled); the area under each curve, the share of
  faces whose own area beats the random one, and the accuracy curve's area;
* the model-randomisation test (:mod:`ferengine.explain.sanity`) on the first
  ``--sanity-faces`` of them: the Spearman rank correlation of each method's maps with
  the maps of the model fully randomised (the CNN re-initialised, the logistic
  regression's coefficients permuted), and for Grad-CAM the cascade from the top layer.

Prints a Markdown table, the ranking of the CNN's methods by deletion AUC, the time of
each part and the total; writes everything to ``--out`` (JSON).

Usage: python benchmarks/explain_faithfulness.py [--faces 500] [--steps 20] [--seeds 3]
       [--grid 6] [--sanity-faces 100] [--classical PATH] [--threads N] [--out FILE]
       [--parts cnn hog classical-best] [--classical-best PATH] [--classical-best-faces N]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from datapaths import fer2013_csv
from explain_latency import hand_crafted

import ferengine
from ferengine import registry, runtime
from ferengine.explain import faithfulness as faith
from ferengine.explain.sanity import model_randomization_test
from ferengine.prediction.predictor import class_names

#: Explainers on the CNN, with the parameters the benchmark uses (the defaults, stated).
CNN_METHODS: dict[str, dict[str, Any]] = {
    "occlusion": {"patch": 8, "stride": 4},
    "gradcam": {},
    "integrated-gradients": {"steps": 32, "baseline": "blur"},
}
#: Explainers on the hand-crafted models.
OCCLUSION = {"occlusion": {"patch": 8, "stride": 4}}
HOG_METHODS: dict[str, dict[str, Any]] = {**OCCLUSION, "feature-weights": {}}
#: What ``--parts`` can ask for.
PARTS = ("cnn", "hog", "classical-best")
#: Faces per explainer call.
CHUNK = 50


def explain(model: Any, method: str, params: dict[str, Any], faces: np.ndarray,
            targets: list[str]) -> tuple[np.ndarray, float]:  # fmt: skip
    """Return the maps of the faces for the given classes, and the seconds they took."""
    explainer = registry.create("explainer", method, **params)
    start = time.perf_counter()
    maps = np.concatenate([
        explainer.explain(model, faces[i : i + CHUNK], targets[i : i + CHUNK]).maps
        for i in range(0, len(faces), CHUNK)
    ])  # fmt: skip
    return maps, time.perf_counter() - start


def evaluate(name: str, model: Any, methods: dict[str, dict[str, Any]], faces: np.ndarray,
             labels: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:  # fmt: skip
    """Return one row per method of a model: its curves' areas beside random maps', and sanity."""
    names = class_names(model)
    proba = model.predict_proba(faces)
    targets = [names[c] for c in proba.argmax(axis=1)]
    accuracy = float(np.mean(np.asarray(targets) == np.asarray(labels)))
    print(f"{name}: accuracy {accuracy:.4f} on the {len(faces)} faces")
    options = {"steps": args.steps, "labels": labels}
    start = time.perf_counter()
    random = faith.random_baselines(model, faces, targets, seeds=args.seeds, grid=args.grid,
                                    **options)  # fmt: skip
    print(f"  random maps' curves (pixels and {args.grid}×{args.grid} regions, {args.seeds} "
          f"seeds each): {time.perf_counter() - start:.1f} s")  # fmt: skip
    rows = []
    for method, params in methods.items():
        maps, seconds = explain(model, method, params, faces, targets)
        start = time.perf_counter()
        result = faith.faithfulness(model, faces, maps, targets, random=random, **options)
        result.pop("curves")
        curve_seconds = time.perf_counter() - start
        start = time.perf_counter()
        n = args.sanity_faces
        sanity = model_randomization_test(
            model, faces[:n], registry.create("explainer", method, **params), target=targets[:n],
            maps=maps[:n], cascade=method == "gradcam", seed=0,
        )  # fmt: skip
        sanity_seconds = time.perf_counter() - start
        print(f"  {method}: maps {seconds:.1f} s, curves {curve_seconds:.1f} s, "
              f"randomisation ({len(sanity['stages'])} stages) {sanity_seconds:.1f} s")  # fmt: skip
        rows.append({
            "model": name, "method": method, "params": params, "accuracy": round(accuracy, 4),
            "faithfulness": result, "sanity": sanity,
            "seconds": {"maps": round(seconds, 1), "curves": round(curve_seconds, 1),
                        "sanity": round(sanity_seconds, 1)},
        })  # fmt: skip
    return rows


def _num(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.2f}"


def table(rows: list[dict[str, Any]]) -> str:
    """Return the rows as a Markdown table."""
    lines = [
        "| model | method | deletion AUC ↓ | random pixels (faces beaten) | random regions (faces "
        "beaten) | insertion AUC ↑ | random pixels (faces beaten) | random regions (faces "
        "beaten) | accuracy deletion AUC (random pixels) | rank corr., full randomisation "
        "(abs) | maps s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        f, s = row["faithfulness"], row["sanity"]["stages"][-1]
        cells = [row["model"], row["method"]]
        for kind in faith.KINDS:
            cells.append(f"**{f[kind]['auc']:.3f}**")
            for name in ("random", "random_smooth"):
                versus = f[name]
                cells.append(f"{versus[kind]['auc']:.3f} ({100 * versus[f'{kind}_wins']:.0f} %)")
        cells.append(f"{f['deletion']['accuracy_auc']:.3f} "
                     f"({f['random']['deletion']['accuracy_auc']:.3f})")  # fmt: skip
        cells.append(f"{_num(s['spearman']['mean'])} ({_num(s['spearman_abs']['mean'])})")
        cells.append(f"{row['seconds']['maps']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Measure every method on both models and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=500)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--grid", type=int, default=faith.RANDOM_GRID)
    parser.add_argument("--sanity-faces", type=int, default=100)
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--classical", type=Path,
                        default=Path("bench-results/hog-logistic-4k.fer"))  # fmt: skip
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path,
                        default=Path("bench-results/explain-faithfulness.json"))  # fmt: skip
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=["cnn", "hog"])
    parser.add_argument("--classical-best", type=Path, default=None)
    parser.add_argument("--classical-best-faces", type=int, default=100)
    args = parser.parse_args()
    if "classical-best" in args.parts and args.classical_best is None:
        parser.error(
            "--parts classical-best needs --classical-best PATH (a model file made by "
            "ferengine train benchmarks/models/classical-best-calibrated.toml)"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.classical.parent.mkdir(parents=True, exist_ok=True)
    begin = time.perf_counter()
    with runtime.options(threads=args.threads):
        test = ferengine.load_dataset("fer2013", path=str(fer2013_csv()), usage=("PublicTest",))
        faces = test.images[: args.faces]
        labels = list(test.label_names[: args.faces])
        print(f"{platform.node()}: {len(faces)} PublicTest faces, {args.steps} steps, "
              f"{args.seeds} random seeds, randomisation on {args.sanity_faces} faces, "
              f"threads {args.threads}")  # fmt: skip
        rows = []
        if "cnn" in args.parts:
            rows += evaluate("fer2013 CNN", ferengine.load("fer2013"), CNN_METHODS, faces,
                             labels, args)  # fmt: skip
        if "hog" in args.parts:
            crafted = hand_crafted(args.classical, args.train, retrain=False)
            rows += evaluate("hog → logistic", crafted, HOG_METHODS, faces, labels, args)
        if "classical-best" in args.parts:
            n = args.classical_best_faces
            rows += evaluate("classical-best (calibrated)", ferengine.load(args.classical_best),
                             OCCLUSION, faces[:n], labels[:n], args)  # fmt: skip
    total = time.perf_counter() - begin
    print()
    print(table(rows))
    by_model: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_model.setdefault(row["model"], []).append(row)
    for model, found in by_model.items():
        ranked = sorted(found, key=lambda r: r["faithfulness"]["deletion"]["auc"])
        print(f"ranking on {model} by deletion AUC (best first): "
              + " < ".join(f"{r['method']} {r['faithfulness']['deletion']['auc']:.3f}"
                           for r in ranked))  # fmt: skip
    gradcam = next((r for r in rows if r["method"] == "gradcam"), None)
    if gradcam is not None:
        cascade = ", ".join(f"{s['randomized'][-1]} {_num(s['spearman']['mean'])}"
                            for s in gradcam["sanity"]["stages"])  # fmt: skip
        print(f"Grad-CAM cascade (rank correlation as layers are randomised from the top): "
              f"{cascade}")  # fmt: skip
    print(f"total {total:.0f} s ({total / 60:.1f} min)")
    args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                    "seconds": round(total, 1), "rows": rows},
                                   indent=2, default=repr))  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
