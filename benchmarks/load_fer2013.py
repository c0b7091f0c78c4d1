"""Time loading the gzipped FER2013 CSV (target: <= 10 s on the 2-core CI machine).

Usage: python benchmarks/load_fer2013.py [PATH] [--repeat N]
PATH defaults to $FERENGINE_DATA/fer2013/fer2013.csv.gz or ../shared/data/fer2013/fer2013.csv.gz.
"""

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

from datapaths import fer2013_csv

import ferengine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=fer2013_csv())
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        ds = ferengine.load_dataset("fer2013", path=args.path)
        times.append(time.perf_counter() - t0)
    print(f"{ds}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(
        f"load time over {args.repeat} runs: min {min(times):.2f} s, "
        f"median {statistics.median(times):.2f} s, max {max(times):.2f} s (target <= 10 s)"
    )


if __name__ == "__main__":
    main()
