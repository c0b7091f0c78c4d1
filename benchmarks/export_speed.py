"""A shipped CNN on torch, exported to ONNX (float32) and quantised to int8.

Exports the registered ``--model`` (``fer2013`` or ``default``) with
``ferengine.export.export_model`` (as ``ferengine export MODEL --format onnx [--quantize
int8]`` does), the int8 form calibrated on ``--calibration-images`` FER2013 Training images
(seed 0), and measures the three side by side on the same FER2013 PublicTest crops, through
the public API (``predict_proba``: validation, grey, resize, scaling, the network) at
``--threads``:

- PublicTest accuracy against the labels the model was trained for (``fer2013``: FER2013's
  own, 3,589 faces; ``default``: the FER+ majority labels as its card scores them, 3,553
  faces) and agreement of predictions with torch's;
- batched: all crops in one call, best of ``--repeats`` → crops per second;
- batch size 1: ``--singles`` calls of one crop each → median and p95 ms per crop;
- the saved model file's size, and the export (and quantisation) time.

FER2013 and the FER+ votes come from ``$FERENGINE_DATA`` (default ``../shared/data``).

Usage: python benchmarks/export_speed.py [--model fer2013] [--threads 2]
                                         [--calibration-images 1000]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from datapaths import data_dir, fer2013_csv

import ferengine
from ferengine import runtime
from ferengine.export import calibration_images, export_model
from ferengine.persistence import model_path


def timed(args: argparse.Namespace, model, crops: np.ndarray) -> dict[str, float]:
    """Batched crops/s (best of repeats) and batch-1 median / p95 ms of ``model``."""
    model.predict_proba(crops[:256])  # warm-up (sessions, allocators)
    batched = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        model.predict_proba(crops)
        batched.append(time.perf_counter() - start)
    singles = []
    for i in range(args.singles):
        one = crops[i % len(crops)][None]
        start = time.perf_counter()
        model.predict_proba(one)
        singles.append(time.perf_counter() - start)
    ms = 1000 * np.asarray(singles)
    return {"crops_s": len(crops) / min(batched), "b1_median": float(np.median(ms)),
            "b1_p95": float(np.percentile(ms, 95))}  # fmt: skip


def main() -> None:
    """Export, quantise, measure, and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["fer2013", "default"], default="fer2013")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calibration-images", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--singles", type=int, default=1000)
    args = parser.parse_args()
    csv, model_name = fer2013_csv(), args.model
    # the default model's labels: FER+ majority, ties to the first class (as its card)
    votes = {"ferplus": str(data_dir() / "fer2013" / "fer2013new.csv.gz"),
             "ferplus_ties": "first"} if model_name == "default" else {}  # fmt: skip
    ds = ferengine.load_dataset("fer2013", path=str(csv), **votes)
    test = ds.subset(np.flatnonzero(ds.splits == "PublicTest"))
    crops, truth = test.images, test.labels
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{args.threads} threads; model {model_name}; crops: {len(crops)} FER2013 PublicTest "
          f"({ds.label_space.name} labels, {csv})")  # fmt: skip
    models, costs = {"torch": ferengine.load(model_name)}, {"torch": 0.0}
    start = time.perf_counter()
    models["onnx float32"] = export_model(model_name, "onnx")
    costs["onnx float32"] = time.perf_counter() - start
    start = time.perf_counter()
    calibration = calibration_images(ds, args.calibration_images)
    models["onnx int8"] = export_model(model_name, "onnx", quantize="int8", calibration=calibration)
    costs["onnx int8"] = time.perf_counter() - start
    rows = []
    with runtime.options(threads=args.threads), tempfile.TemporaryDirectory() as tmp:
        reference = None
        for name, model in models.items():
            predicted = model.predict(crops)
            reference = predicted if reference is None else reference
            saved = (model_path(model_name) if name == "torch"  # the shipped file
                     else ferengine.save(model, Path(tmp) / "m.fer"))  # fmt: skip
            size = saved.stat().st_size
            rows.append({"name": name, "accuracy": float(np.mean(predicted == truth)),
                         "agree": float(np.mean(predicted == reference)), "mb": size / 1e6,
                         "seconds": costs[name], **timed(args, model, crops)})  # fmt: skip
    torch_acc = rows[0]["accuracy"]
    print(f"\nint8 calibrated on {len(calibration)} FER2013 Training images (seed 0)\n")
    print("| form | PublicTest accuracy | Δ vs torch (points) | agreement with torch | "
          "crops/s batched | batch 1 median / p95 ms | file MB | export s |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['name']} | {r['accuracy']:.4f} | {100 * (r['accuracy'] - torch_acc):+.2f} | "
              f"{r['agree']:.4f} | {r['crops_s']:,.0f} | {r['b1_median']:.2f} / "
              f"{r['b1_p95']:.2f} | {r['mb']:.2f} | {r['seconds']:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
