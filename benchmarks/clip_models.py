"""Training time and accuracy of the end-to-end clip networks on ``synthetic-sequences``.

Loads ``synthetic-sequences`` with its defaults (20 subjects × 9 classes × 2 clips of 12–20
frames, 48×48: the seven fer7 expressions and the dynamics-only pair), holds out the first
of five subject-wise folds (4 subjects, 72 clips), and fits every model with its default
parameters on the other 16 subjects. Prints, per model: fit seconds, epochs trained
(early stopping on the 10 % validation split), seconds per epoch, learned weights, and
accuracy on the unseen subjects over all classes and on the dynamics pair's clips alone
(chance 0.5 there: apex frames and pooled frames cannot tell the pair apart).

Usage: python benchmarks/clip_models.py [--threads 2] [--models cnn-lstm c3d convlstm ...]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

import ferengine
from ferengine import runtime, splits

#: Models by name: classifier steps (or pipelines) on clips.
MODELS = {
    "cnn-lstm": "cnn-lstm",
    "c3d": "c3d",
    "convlstm": "convlstm",
    "clip-frames (hog, logistic)": ("clip-frames", {"estimator": ["hog", "logistic"]}),
    "clip-fusion average (c3d, clip-frames)": (
        "clip-fusion",
        {"members": [("c3d", {}), ("clip-frames", {"estimator": ["hog", "logistic"]})]},
    ),
}


def main() -> None:
    """Fit and score every model asked for; print one Markdown row each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args()
    ds = ferengine.load_dataset("synthetic-sequences")
    (train, test), *_ = splits.subject_kfold(ds, n_splits=5)
    train, test = ds.subset(train), ds.subset(test)
    pair = np.isin(test.label_names, ["surprise-onset", "surprise-offset"])
    print(f"{ds!r}; train {len(train)} clips, test {len(test)} ({int(pair.sum())} of the pair)")
    print(f"{platform.processor() or platform.machine()}, {args.threads} torch threads\n")
    print("| model | fit s | epochs | s/epoch | weights | accuracy | pair accuracy |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with runtime.options(threads=args.threads):
        for label in args.models:
            model = ferengine.pipeline(MODELS[label])
            start = time.perf_counter()
            model.fit(train.clips, train.labels)
            seconds = time.perf_counter() - start
            predicted = model.predict(test.clips)
            accuracy = float(np.mean(predicted == test.labels))
            pair_accuracy = float(np.mean(predicted[pair] == test.labels[pair]))
            net = model[-1]
            epochs = getattr(net, "n_epochs_", None)
            weights = getattr(net, "n_parameters_", None)
            per_epoch = f"{seconds / epochs:.1f}" if epochs else "–"
            print(f"| `{label}` | {seconds:.0f} | {epochs or '–'} | {per_epoch} | "
                  f"{weights if weights is not None else '–'} | {accuracy:.3f} | "
                  f"{pair_accuracy:.3f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
