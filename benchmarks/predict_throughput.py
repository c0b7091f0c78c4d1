"""End-to-end speed of ``ferengine.predict`` on 640×480 photos with one face each.

Photos are made in a temporary folder: each pastes one CK+48 face (upsampled to a
random side of 140–220 px) at a random place on a random smooth background, saved as
JPEG. The timed call is what a user runs — ``ferengine.predict(folder, model=...,
detector="haar")``: reading the files, Haar detection, dlib's 68 landmarks in every box,
cropping, the model on batches of faces, the JSONL rows — after one untimed warm-up
call. Prints faces per second (target ≥ 30) and the per-image detection-and-crop time.

Usage: python benchmarks/predict_throughput.py [--n 200] [--model default] [--threads 2]
"""

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
from ferengine import runtime


def make_photos(folder: Path, n: int, seed: int = 0) -> None:
    """Write ``n`` 640×480 JPEG photos with one CK+48 face each."""
    faces = ferengine.load_dataset("image-folder", path=str(data_dir() / "ckplus48")).images
    rng = np.random.default_rng(seed)
    for i in range(n):
        small = rng.integers(40, 200, (6, 8, 3), dtype=np.uint8)
        photo = cv2.resize(small, (640, 480), interpolation=cv2.INTER_CUBIC)
        side = int(rng.integers(140, 221))
        face = cv2.resize(
            faces[rng.integers(len(faces))], (side, side), interpolation=cv2.INTER_CUBIC
        )
        x, y = int(rng.integers(0, 640 - side)), int(rng.integers(0, 480 - side))
        photo[y : y + side, x : x + side] = face[..., None]
        cv2.imwrite(str(folder / f"photo-{i:04d}.jpg"), photo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--model", default="default")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with runtime.options(threads=args.threads), tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_photos(folder, args.n)
        ferengine.predict(sorted(folder.iterdir())[:4], model=args.model)  # warm-up
        start = time.perf_counter()
        rows = ferengine.predict(folder, model=args.model, detector="haar", out=folder / "out",
                                 annotate_images=False)  # fmt: skip
        seconds = time.perf_counter() - start
        timing = json.loads((folder / "out" / "summary.json").read_text())["preprocessing"]
    faces = sum(len(r["faces"]) for r in rows)
    found = np.mean([len(r["faces"]) >= 1 for r in rows])
    print(f"machine: {platform.machine()}, torch threads {args.threads}, model {args.model}")
    print(f"{args.n} photos 640×480, faces found in {found:.1%} of them, {faces} faces in all")
    print(f"end to end: {seconds:.2f} s → {faces / seconds:.1f} faces/s, "
          f"{args.n / seconds:.1f} photos/s (target ≥ 30 faces/s)")  # fmt: skip
    print(f"detection + landmarks + crop per photo: {timing['mean_ms']:.1f} ± "
          f"{timing['sd_ms']:.1f} ms (min {timing['min_ms']:.1f}, max {timing['max_ms']:.1f}; "
          f"{timing['share_under_100_ms']:.1%} under 100 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
