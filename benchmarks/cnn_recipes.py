"""Training recipes for one CNN at an equal compute budget, chosen on a held-out share of Training.

Each variant is the shipped fer2013 model's recipe (``benchmarks/zoo_accuracy.py``: AdamW
one-cycle, lr 3e-3, weight decay 5e-4, label smoothing 0.1, ``"fer"`` augmentation,
batch 64, bf16) on one architecture, plus the options the variant names (mixup, CutMix,
EMA, SWA, SAM, random erasing, de-duplicated training data). The budget is ``--epochs``
passes over the training images, the same for every variant but SAM, whose every step
runs the network twice and so gets half the epochs; mixing, erasing and weight averaging
add next to nothing to a step. (A timed budget, as the zoo benchmark's, was tried first
and dropped: its one-epoch probe on 1,024 images measured 960 to 1,978 images/s for
variants of the same cost on a machine other jobs shared, so the epoch counts it planned
differed by 2×.) Each variant trains on FER2013 Training without a stratified 10 %
(``ferengine.splits.held_out_share``, seed 0) and is scored on that 10 %; the training
minutes are recorded. PublicTest is never read: the winner is chosen here, its
PublicTest figure is measured once by its model spec.

Results go to ``--out`` as one JSON file per variant; a rerun skips finished variants and
resumes an interrupted one from its per-epoch checkpoint.

Usage: python benchmarks/cnn_recipes.py [--arch bkstart] [--epochs 18] [--variant NAME ...]
       [--out cnn-recipes]
"""

import argparse
import json
from pathlib import Path

import numpy as np
from datapaths import fer2013_csv
from ferengine_deep.augment import PRESETS
from zoo_accuracy import _cnn, machine

import ferengine
from ferengine import runtime
from ferengine.splits import held_out_share

ERASE = [*PRESETS["fer"], "random-erasing"]  # the recipe's augmentation, then random erasing
#: Options each variant adds to the recipe ("dedup" is data, not an option: see below).
VARIANTS: dict[str, dict] = {
    "baseline": {},
    "mixup": {"mixup": 0.2},
    "cutmix": {"cutmix": 1.0, "mix_prob": 0.5},
    "ema": {"ema": 0.999},
    "swa": {"swa": 3},
    "sam": {"sam": 0.05},
    "erasing": {"augment": ERASE},
    "dedup": {},
    "cutmix+ema+erasing": {"cutmix": 1.0, "mix_prob": 0.5, "ema": 0.999, "augment": ERASE},
}


def dedup_rows(images: np.ndarray) -> np.ndarray:
    """Rows to keep so that no two training images are byte-identical (first copy kept)."""
    from ferengine.audit.hashes import content_hashes

    _, first = np.unique(content_hashes(images), return_index=True)
    return np.sort(first)


def run(name: str, data: dict, args: argparse.Namespace) -> dict:
    """Train one variant on the fitting share and score it on the held-out share."""
    out = args.out / f"{args.arch}-{name}.json"
    record = json.loads(out.read_text()) if out.exists() else {"arch": args.arch, "variant": name}
    if "accuracy" in record:
        return record
    X, y = data["fit"]
    if name == "dedup":
        keep = dedup_rows(X)
        record["dropped_copies"] = int(len(X) - len(keep))
        X, y = X[keep], y[keep]
    options = VARIANTS[name]
    if record.setdefault("budget_epochs", args.epochs) != args.epochs:
        raise SystemExit(f"{out}: planned for {record['budget_epochs']} epochs, not "
                         f"{args.epochs}; give another --out")  # fmt: skip
    # SAM's step is two forward-backward passes: half the epochs for the same compute
    epochs = record["epochs"] = max(1, args.epochs // 2) if "sam" in options else args.epochs
    record["n_train"] = len(y)
    out.write_text(json.dumps(record, indent=1))
    if "swa" in options:  # the last epochs of the budget are averaged
        options = {**options, "swa": min(options["swa"], epochs)}
    cnn = _cnn(args.arch, max_epochs=epochs, **options)
    cnn.fit(X, y, checkpoint_dir=args.out / "checkpoints" / f"{args.arch}-{name}")
    X_held, y_held = data["held"]
    record["accuracy"] = float(cnn.score(X_held, y_held))
    record["train_minutes"] = sum(row["dur"] for row in cnn.history_) / 60
    out.write_text(json.dumps(record, indent=1))
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="bkstart")
    parser.add_argument("--variant", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=18, help="training passes per variant")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=fer2013_csv())
    parser.add_argument("--out", type=Path, default=Path("cnn-recipes"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    train = ferengine.load_dataset("fer2013", path=str(args.data), usage=["Training"])
    fit, held = held_out_share(train.labels, 0.1, seed=0)
    data = {"fit": (train.images[fit], train.labels[fit]),
            "held": (train.images[held], train.labels[held])}  # fmt: skip
    print(
        f"{machine(args.threads)}; {args.arch}, {args.epochs} epochs per variant; "
        f"{len(fit)} training, {len(held)} held-out Training images (PublicTest unused)"
    )
    print("| variant | epochs | training images | training min | held-out accuracy |")
    print("| --- | --- | --- | --- | --- |")
    for name in args.variant:
        with runtime.options(threads=args.threads):
            r = run(name, data, args)
        print(f"| {name} | {r['epochs']} | {r['n_train']:,} | {r['train_minutes']:.1f} | "
              f"{r['accuracy']:.4f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
