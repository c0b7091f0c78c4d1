"""FER2013 PublicTest accuracy of every zoo architecture at an equal CPU training budget.

Each architecture is trained on FER2013 Training with the shipped fer2013 model's recipe
(``benchmarks/models/cnn-fer2013.toml``: AdamW one-cycle, lr 3e-3, weight decay 5e-4,
label smoothing 0.1, ``"fer"`` augmentation, batch 64, bf16 autocast) for as many
epochs as fit in ``--minutes`` of training, then scored on PublicTest. The epoch count
comes from a timed probe (one epoch on 1,024 training images); an architecture too slow
for one full epoch in the budget trains one epoch on a stratified subset of the size the
budget allows. An equal budget, not an equal epoch count, is the fair comparison on a
2-core CPU: it is the question "which network should I train here".

Results go to ``--out`` as one JSON file per architecture (plan, then result); a second
run skips finished architectures and resumes an interrupted training from its
per-epoch checkpoint, so the whole table is resumable.

With ``--rates``, nothing is trained past the probes: two probes an architecture, and the
time one epoch of all of Training and ``--epochs`` epochs would take at the faster rate
(``--width N`` sets ``module__width``, for architectures that have one).

Usage: python benchmarks/zoo_accuracy.py [--arch NAME ...] [--minutes 5] [--out zoo-accuracy]
       python benchmarks/zoo_accuracy.py --rates [--arch NAME ...] [--width N] [--epochs 80]
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from datapaths import fer2013_csv
from ferengine_deep.estimator import CNN
from sklearn.model_selection import train_test_split

import ferengine
from ferengine import runtime

PROBE = 1024
RECIPE = {"batch_size": 64, "optimizer": "adamw", "lr": 3e-3, "optimizer__weight_decay": 5e-4,
          "schedule": "onecycle", "criterion__label_smoothing": 0.1, "augment": "fer",
          "validation_fraction": 0.0}  # fmt: skip


def _cnn(arch: str, **params: object) -> CNN:
    """The recipe's estimator for ``arch`` at the architecture's own input size."""
    size = ferengine.registry.create("architecture", arch).native_size
    return CNN(module=arch, size=size, **{**RECIPE, **params})  # params override the recipe


def probe_rate(arch: str, X: np.ndarray, y: np.ndarray, **params: object) -> float:
    """Training images per second of ``arch`` (one epoch on ``PROBE`` images).

    ``params``: recipe options that change the cost of a step (``sam`` doubles it).
    """
    rows, _ = train_test_split(np.arange(len(y)), train_size=PROBE, stratify=y, random_state=1)
    cnn = _cnn(arch, **{**params, "max_epochs": 1})
    cnn.fit(X[rows], y[rows])
    return PROBE / cnn.history_[0]["dur"]


def plan(rate: float, n: int, minutes: float) -> dict:
    """Epochs and training-set size that fit ``minutes`` at ``rate`` images/s."""
    budget = rate * minutes * 60
    if budget >= n:
        return {"epochs": int(budget // n), "n_train": n}
    return {"epochs": 1, "n_train": max(int(budget), 100)}  # stratifying needs a few per class


def machine(threads: int) -> str:
    """The line naming the machine a table was measured on."""
    return (f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"{threads} threads")  # fmt: skip


def run(arch: str, data: dict, args: argparse.Namespace) -> dict:
    """Train and score one architecture, resuming from ``args.out``."""
    out = args.out / f"{arch}.json"
    record = json.loads(out.read_text()) if out.exists() else {"arch": arch}
    if record.get("budget_minutes", args.minutes) != args.minutes:
        raise SystemExit(f"{out}: planned for {record['budget_minutes']:g} minutes, not "
                         f"{args.minutes:g}; give another --out")  # fmt: skip
    if "accuracy" in record:
        return record
    X, y = data["train"]
    if "epochs" not in record:
        record["probe_images_per_s"] = probe_rate(arch, X, y)
        record.update(plan(record["probe_images_per_s"], len(y), args.minutes))
        record["budget_minutes"] = args.minutes
        out.write_text(json.dumps(record, indent=1))
    if record["n_train"] < len(y):
        rows, _ = train_test_split(np.arange(len(y)), train_size=record["n_train"], stratify=y,
                                   random_state=0)  # fmt: skip
        X, y = X[rows], y[rows]
    cnn = _cnn(arch, max_epochs=record["epochs"])
    cnn.fit(X, y, checkpoint_dir=args.out / "checkpoints" / arch)
    X_test, y_test = data["test"]
    start = time.perf_counter()
    record["accuracy"] = float(cnn.score(X_test, y_test))
    record["predict_s"] = time.perf_counter() - start
    record["train_minutes"] = sum(row["dur"] for row in cnn.history_) / 60
    record["parameters"] = cnn.n_parameters_
    out.write_text(json.dumps(record, indent=1))
    return record


def rates(args: argparse.Namespace) -> None:
    """Print two probe rates an architecture and the time of one and ``--epochs`` epochs."""
    ds = ferengine.load_dataset("fer2013", path=str(args.data), usage=["Training"])
    params = {} if args.width is None else {"module__width": args.width}
    print(f"{machine(args.threads)}; {len(ds)} training images; params {params or 'defaults'}")
    print(f"| arch | images/s (two probes) | one epoch | {args.epochs} epochs |")
    print("| --- | --- | --- | --- |")
    for arch in args.arch:
        with runtime.options(threads=args.threads):
            probes = [probe_rate(arch, ds.images, ds.labels, **params) for _ in range(2)]
        epoch = len(ds) / max(probes)
        print(f"| `{arch}` | {probes[0]:,.0f} / {probes[1]:,.0f} | {epoch:.0f} s | "
              f"{args.epochs * epoch / 3600:.1f} h |", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=ferengine.registry.names("architecture"))
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget per arch")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=fer2013_csv())
    parser.add_argument("--out", type=Path, default=Path("zoo-accuracy"))
    parser.add_argument("--rates", action="store_true", help="probe training rates only")
    parser.add_argument("--width", type=int, default=None, help="module__width (--rates)")
    parser.add_argument("--epochs", type=int, default=80, help="epochs to cost (--rates)")
    args = parser.parse_args()
    if args.rates:
        rates(args)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    ds = ferengine.load_dataset("fer2013", path=str(args.data), usage=["Training", "PublicTest"])
    train, test = ds.where(split="Training"), ds.where(split="PublicTest")
    data = {"train": (train.images, train.labels), "test": (test.images, test.labels)}
    print(f"{machine(args.threads)}; budget {args.minutes:g} min per architecture; "
          f"{len(train)} training, {len(test)} PublicTest images")  # fmt: skip
    print("| arch | images/s (probe) | epochs | training images | training min | accuracy |")
    print("| --- | --- | --- | --- | --- | --- |")
    for arch in args.arch:
        with runtime.options(threads=args.threads):
            r = run(arch, data, args)
        print(f"| `{arch}` | {r['probe_images_per_s']:,.0f} | {r['epochs']} | {r['n_train']:,} | "
              f"{r['train_minutes']:.1f} | {r['accuracy']:.4f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
