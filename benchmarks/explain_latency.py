"""Seconds to explain one face: Grad-CAM on the fer2013 CNN, occlusion on a hand-crafted model.

Trains ``hog → logistic`` on a class-stratified sample of ``--train`` FER2013 Training
faces (seed 0) and saves it to ``--model`` (kept: later runs load it; ``--retrain`` fits
it again) — and, for ``importances``, ``hog → xgboost`` on the same faces, saved beside
it as ``hog-xgboost-4k.fer`` —, loads the shipped ``fer2013`` CNN, and times
``explainer.explain(model, face[None])`` on each of the first ``--faces`` PublicTest
faces: the first call of each method cold (Captum imported and the network's last
convolution found on that call), then ``--repeats`` calls per face. Interpreter start,
imports of ferengine and torch, and model loading are outside the timings. Prints the
median, p10 and p90 seconds per face of every method asked for.

Usage: python benchmarks/explain_latency.py [--train 4000] [--faces 5] [--repeats 5]
       [--methods gradcam occlusion integrated-gradients saliency feature-view
                  feature-weights importances] [--threads N]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
from datapaths import fer2013_csv

import ferengine
from ferengine import registry, runtime

#: Which model each method explains.
ON_CNN = ("gradcam", "integrated-gradients", "saliency")


def hand_crafted(path: Path, n_train: int, retrain: bool,
                 classifier: str = "logistic") -> object:  # fmt: skip
    """Return the saved hog → ``classifier`` model at ``path``, training it first if needed."""
    if path.exists() and not retrain:
        return ferengine.load(path)
    train = ferengine.load_dataset("fer2013", path=str(fer2013_csv()), usage=("Training",))
    rng = np.random.default_rng(0)
    share = n_train / len(train)
    rows = np.concatenate([
        rng.choice(np.flatnonzero(train.labels == c), round(share * np.sum(train.labels == c)),
                   replace=False)
        for c in np.unique(train.labels)
    ])  # fmt: skip
    start = time.perf_counter()
    model = ferengine.pipeline("hog", classifier).fit(train.subset(np.sort(rows)))
    print(f"trained hog → {classifier} on {len(rows)} Training faces in "
          f"{time.perf_counter() - start:.1f} s; saved {path}")  # fmt: skip
    ferengine.save(model, path)
    return model


def main() -> None:
    """Time each method on single faces and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--model", type=Path, default=Path("bench-results/hog-logistic-4k.fer"))
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--faces", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--methods", nargs="+", default=["gradcam", "occlusion"])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    args.model.parent.mkdir(parents=True, exist_ok=True)
    with runtime.options(threads=args.threads):
        crafted = hand_crafted(args.model, args.train, args.retrain)
        trees = args.model.with_name("hog-xgboost-4k.fer")
        if "importances" in args.methods:
            trees_model = hand_crafted(trees, args.train, args.retrain, "xgboost")
        cnn = ferengine.load("fer2013")
        test = ferengine.load_dataset("fer2013", path=str(fer2013_csv()), usage=("PublicTest",))
        faces = test.images[: args.faces]
        print(f"{platform.node()}: {args.faces} PublicTest faces, {args.repeats} repeats each")
        for method in args.methods:
            model = cnn if method in ON_CNN else trees_model if method == "importances" else crafted
            explainer = registry.create("explainer", method)
            start = time.perf_counter()
            explainer.explain(model, faces[:1])
            cold = time.perf_counter() - start
            seconds = []
            for face in faces:
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    explainer.explain(model, face[None])
                    seconds.append(time.perf_counter() - start)
            p10, median, p90 = np.percentile(seconds, [10, 50, 90])
            which = ("fer2013 CNN" if method in ON_CNN else f"hog → xgboost ({trees})"
                     if method == "importances" else f"hog → logistic ({args.model})")  # fmt: skip
            print(f"{method} on {which}: median {median:.3f} s per face (p10 {p10:.3f}, "
                  f"p90 {p90:.3f}; first call {cold:.3f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
