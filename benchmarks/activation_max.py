"""Seconds to picture all 7 class neurons of the shipped fer2013 CNN by activation maximisation.

Runs ``ferengine visualize fer2013 --method activation-max`` in-process
(:func:`ferengine.explain.visualize.visualize_model`) on one torch thread and on torch's
default thread count, each writing its pictures, ``grid.png`` and ``visualization.json``
into ``--out``/threads-N/. The seconds are those of the optimisation of all 7 classes
(``seconds`` in the report: model loading, the 500 faces' logits and the files are
outside). Prints them with, per class, the optimised picture's logit against the mean
and the largest logit of that class over the first ``--faces`` FER2013 PublicTest
faces, and how far the two runs' pictures differ. Target: ≤ 120 s (issue 21).

Usage: python benchmarks/activation_max.py [--faces 500] [--out bench-results/activation-max]
       [--param KEY=VALUE]...
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import cv2
import numpy as np
import torch
from datapaths import fer2013_csv

import ferengine
from ferengine import runtime
from ferengine.explain.visualize import visualize_model


def main() -> None:
    """Picture the classes on one thread and on the default threads; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("bench-results/activation-max"))
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="an activation-max parameter (a JSON value): steps=256")  # fmt: skip
    args = parser.parse_args()
    params = {}
    for item in args.param:
        key, _, value = item.partition("=")
        params[key] = json.loads(value)
    model = ferengine.load("fer2013")
    test = ferengine.load_dataset("fer2013", path=str(fer2013_csv()), usage=("PublicTest",))
    default_threads = torch.get_num_threads()
    print(f"{platform.node()}: torch {torch.__version__}, default {default_threads} threads")
    reports = {}
    for threads in (1, default_threads):
        with runtime.options(threads=threads):
            reports[threads] = visualize_model(
                model, "activation-max", out=args.out / f"threads-{threads}", params=params,
                dataset=test, split="PublicTest", limit=args.faces, name="fer2013",
            )  # fmt: skip
        print(f"{threads} thread(s): all {len(reports[threads]['classes'])} classes in "
              f"{reports[threads]['seconds']:.1f} s")  # fmt: skip
    first = reports[1]
    print(f"parameters: {first['params']}")
    print(f"{'class':10} {'picture':>8} {'faces mean':>11} {'faces max':>10}  above every face")
    for record in first["classes"]:
        faces = record["faces"]
        print(f"{record['class']:10} {record['logit']:8.2f} {faces['mean']:11.2f} "
              f"{faces['max']:10.2f}  {record['above_every_face']}")  # fmt: skip
    diffs = []
    for record in first["classes"]:
        pictures = [cv2.imread(str(args.out / f"threads-{t}" / record["file"]),
                               cv2.IMREAD_UNCHANGED).astype(int) for t in reports]  # fmt: skip
        diffs.append(np.abs(pictures[0] - pictures[-1]).max())
    print(f"largest pixel difference between the two runs' pictures: {max(diffs)} (of 255); "
          f"pictures in {args.out}")  # fmt: skip


if __name__ == "__main__":
    main()
