"""Inference speed of a saved model (the shipped ``default`` CNN unless told otherwise).

Runs the whole fitted pipeline through its public API (``predict_proba``), as a user
would: image validation, grey conversion, resizing, normalisation and the network.

- batched: all crops in one call, best of ``--repeats`` runs → crops per second;
- batch size 1: ``--singles`` calls of one crop each → median, p95 and mean ms per crop.

Crops are FER2013 PublicTest images when ``--data`` (or ``$FERENGINE_DATA``) holds
``fer2013/fer2013.csv.gz``, otherwise random 48×48 grey images (speed does not depend on
the content).

Usage: python benchmarks/default_inference.py [--model default] [--threads 2]
"""

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

import ferengine
from ferengine import runtime


def _crops(data: str | None, n: int) -> tuple[np.ndarray, str]:
    csv = Path(data or os.environ.get("FERENGINE_DATA", "../shared/data")) / "fer2013"
    csv = csv / "fer2013.csv.gz"
    if csv.is_file():
        ds = ferengine.load_dataset("fer2013", path=str(csv), usage=["PublicTest"])
        return ds.images[:n], f"FER2013 PublicTest ({csv})"
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 48, 48), dtype=np.uint8), "random 48×48 grey"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--data", default=None, help="folder holding fer2013/fer2013.csv.gz")
    parser.add_argument("--crops", type=int, default=3589)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--singles", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with runtime.options(threads=args.threads):  # torch threads while the model predicts
        measure(args)


def measure(args: argparse.Namespace) -> None:
    """Time batched and single-crop prediction and print the figures."""
    model = ferengine.load(args.model)
    crops, source = _crops(args.data, args.crops)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {args.threads} threads")  # fmt: skip
    print(f"model: {args.model}; crops: {len(crops)} from {source}")
    model.predict_proba(crops[:256])  # warm-up
    batched = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        model.predict_proba(crops)
        batched.append(time.perf_counter() - start)
    print(f"batched: {len(crops) / min(batched):,.0f} crops/s "
          f"(best of {args.repeats}; {1000 * min(batched) / len(crops):.3f} ms/crop)")  # fmt: skip
    singles = []
    for i in range(args.singles):
        one = crops[i % len(crops)][None]
        start = time.perf_counter()
        model.predict_proba(one)
        singles.append(time.perf_counter() - start)
    ms = 1000 * np.asarray(singles)
    print(f"batch size 1: median {np.median(ms):.2f} ms, p95 {np.percentile(ms, 95):.2f} ms, "
          f"mean {ms.mean():.2f} ms per crop ({args.singles} calls)")  # fmt: skip


if __name__ == "__main__":
    main()
