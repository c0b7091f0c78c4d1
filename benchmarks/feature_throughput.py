"""Feature extraction throughput on the whole FER2013 Training set (48×48 grey).

Targets on the 2-core machine: hog ≥ 2,500 images/s, lbp ≥ 2,500 images/s, landmarks ≥ 500.

Usage: python benchmarks/feature_throughput.py [PATH] [--features hog lbp landmarks] [--jobs 2]
PATH defaults to $FERENGINE_DATA/fer2013/fer2013.csv.gz or ../shared/data/fer2013/fer2013.csv.gz.
"""

import argparse
import os
import platform
import time
from pathlib import Path

from datapaths import fer2013_csv

import ferengine
from ferengine import registry

TARGETS = {"hog": 2500, "lbp": 2500, "landmarks": 500}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=fer2013_csv())
    parser.add_argument("--features", nargs="+", default=list(TARGETS))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    images = ferengine.load_dataset("fer2013", path=args.path, usage="Training").images
    print(f"{len(images)} FER2013 Training images {images.shape[1:]}, n_jobs={args.jobs}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    for name in args.features:
        feature = registry.create("feature", name, n_jobs=args.jobs).fit(images[:64])
        feature.transform(images[:64])  # start the worker processes outside the timing
        start = time.perf_counter()
        out = feature.transform(images)
        seconds = time.perf_counter() - start
        target = TARGETS.get(name)
        rate = len(images) / seconds
        verdict = ""
        if target is not None:
            verdict = f" (target ≥ {target}: {'met' if rate >= target else 'MISSED'})"
        print(f"{name}: {out.shape[1]} dims, {seconds:.1f} s, {rate:,.0f} images/s{verdict}")


if __name__ == "__main__":
    main()
