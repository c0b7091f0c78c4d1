"""Time the `landmarks` feature on FER2013 PublicTest 48×48 crops (target >= 500 images/s, 2 jobs).

Usage: python benchmarks/landmarks_throughput.py [PATH] [-n 3000] [--n-jobs 2] [--repeat 3]
PATH defaults to $FERENGINE_DATA/fer2013/fer2013.csv.gz or ../shared/data/fer2013/fer2013.csv.gz.
"Cold" includes starting the joblib workers and loading the dlib model (about 1 s each);
"warm" reuses them, as every later transform in the same process does.
"""

import argparse
import os
import platform
import time
from pathlib import Path

from ferengine_classic.features.landmarks import Landmarks

import ferengine

ROOT = Path(__file__).resolve().parents[1]


def default_path() -> Path:
    base = Path(os.environ.get("FERENGINE_DATA", ROOT.parent / "shared" / "data"))
    return base / "fer2013" / "fer2013.csv.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=default_path())
    parser.add_argument("-n", type=int, default=3000, help="images")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())  # before our own work
    X = ferengine.load_dataset("fer2013", path=args.path, usage="PublicTest").images[: args.n]
    feature = Landmarks(n_jobs=args.n_jobs, batch_size=args.batch_size).fit(X[:1])
    rates = []
    for _ in range(args.repeat + 1):
        t0 = time.perf_counter()
        F = feature.transform(X)
        rates.append(len(X) / (time.perf_counter() - t0))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average before {load}")
    shape = f"{X.shape[1]}×{X.shape[2]}"
    print(f"{len(X)} images {shape} -> {F.shape[1]} features, n_jobs={args.n_jobs}")
    warm = rates[1:]
    print(
        f"cold {rates[0]:.0f} images/s; warm best {max(warm):.0f}, worst {min(warm):.0f} images/s "
        "(target >= 500)"
    )


if __name__ == "__main__":
    main()
