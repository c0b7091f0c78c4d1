"""Subject-independent k-fold accuracy of a model spec's pipeline (e.g. on CK+48).

Usage: python benchmarks/cross_validate.py SPEC [--data PATH] [--folds 10] [--seed 0]
Prints the accuracy of every fold and mean ± sd (sample standard deviation).
"""

import argparse
import os
import platform
import statistics
import time

from sklearn.base import clone

from ferengine import splits
from ferengine.spec import load_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec")
    parser.add_argument("--data", default=None)
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    spec = load_spec(args.spec)
    dataset = spec.load_data(args.data)
    print(f"{spec.source}: {spec.description}")
    print(f"{dataset}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    scores = []
    start = time.perf_counter()
    for i, (train, test) in enumerate(splits.subject_kfold(dataset, args.folds, args.seed), 1):
        model = clone(spec.pipeline()).fit(dataset.subset(train))
        scores.append(model.score(dataset.subset(test)))
        print(f"fold {i}: {len(test)} test images, accuracy {scores[-1]:.4f}", flush=True)
    print(
        f"subject-independent {args.folds}-fold accuracy: {statistics.mean(scores):.4f} ± "
        f"{statistics.stdev(scores):.4f} (sd over folds), {time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
