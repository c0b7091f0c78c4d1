"""Latency of one 640×480 photo with one face through ``ferengine.predict``.

A ``wild`` photo (a real web photo, one face) is placed on a 640×480 canvas at its own
size, written as a JPEG, and ``ferengine.predict(path)`` is called on it ``--repeats``
times after one warm-up call (the first call loads the model and the detector's
networks; later calls reuse them). Prints the median, p10 and p90 milliseconds per call
from a file path and from an in-memory array, and the median of each stage that
``summary.json`` reports.

Usage: python benchmarks/predict_latency.py [--photos 5] [--repeats 20] [--detector auto]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from datapaths import data_dir

import ferengine


def canvas(photo: Path) -> np.ndarray:
    """Return a 640×480 BGR picture with ``photo`` in its middle (mid-grey around it)."""
    image = cv2.imread(str(photo))
    h, w = image.shape[:2]
    k = min(1.0, 440 / max(h, w))
    image = cv2.resize(image, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA)
    out = np.full((480, 640, 3), 128, np.uint8)
    y, x = (480 - image.shape[0]) // 2, (640 - image.shape[1]) // 2
    out[y : y + image.shape[0], x : x + image.shape[1]] = image
    return out


def main() -> None:
    """Time predict on a few 640×480 photos and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--detector", default="auto")
    args = parser.parse_args()
    photos = sorted((data_dir() / "wild" / "img").glob("*.jpg"))[:: 1200 // args.photos]
    file_ms, array_ms, stages = [], [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for photo in photos[: args.photos]:
            picture = canvas(photo)
            path = Path(tmp) / "photo.jpg"
            cv2.imwrite(str(path), picture)
            rgb = cv2.cvtColor(picture, cv2.COLOR_BGR2RGB)
            ferengine.predict(path, detector=args.detector)  # warm-up: loads the networks
            for _ in range(args.repeats):
                start = time.perf_counter()
                (row,) = ferengine.predict(path, detector=args.detector)
                file_ms.append(1000 * (time.perf_counter() - start))
                start = time.perf_counter()
                ferengine.predict(rgb, detector=args.detector)
                array_ms.append(1000 * (time.perf_counter() - start))
                assert len(row["faces"]) == 1, f"{photo.name}: {len(row['faces'])} faces"
            out = Path(tmp) / "out"
            ferengine.predict(path, detector=args.detector, out=out, annotate_images=False)
            for name, stage in json.loads((out / "summary.json").read_text())["stages"].items():
                stages.setdefault(name, []).append(stage["mean_ms"])
    pct = lambda v, q: float(np.percentile(v, q))  # noqa: E731
    print(f"# predict latency, 640×480, one face — {platform.processor() or platform.machine()}")
    print("| input | calls | median ms | p10 ms | p90 ms |")
    print("| --- | --- | --- | --- | --- |")
    for name, values in (("JPEG file", file_ms), ("RGB array", array_ms)):
        print(f"| {name} | {len(values)} | {pct(values, 50):.1f} | {pct(values, 10):.1f} | "
              f"{pct(values, 90):.1f} |")  # fmt: skip
    print("\nstage medians (ms):", {k: round(float(np.median(v)), 2) for k, v in stages.items()})


if __name__ == "__main__":
    main()
