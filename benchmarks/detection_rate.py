"""Face detection rate and time of every detector on the datasets' face crops, upsampled.

FER datasets ship 48×48 crops, on which detectors fail by design; upsampled to 192×192
(bicubic) they are small portraits. For each detector: the share of crops with at least
one face found, the share with exactly one, and the detection time per image (mean,
sd, min, max, share under 100 ms). CK+48: all 981 crops; FER2013: the first
``--fer-limit`` PublicTest crops.

Usage: python benchmarks/detection_rate.py [--fer-limit 1000] [--detectors haar dlib-hog ...]
"""

import argparse
import platform
import time

import cv2
import numpy as np
from datapaths import data_dir, fer2013_csv

import ferengine
from ferengine.prediction.run import timing_summary

DETECTORS = {
    "haar": ("haar", {}),
    "haar alt2": ("haar", {"cascade": "alt2"}),
    "dlib-hog": ("dlib-hog", {}),
    "dlib-mmod": ("dlib-mmod", {}),
}


def crops(fer_limit: int) -> dict[str, np.ndarray]:
    """The datasets' crops, upsampled to 192×192."""
    ck = ferengine.load_dataset("image-folder", path=str(data_dir() / "ckplus48"))
    fer = ferengine.load_dataset("fer2013", path=str(fer2013_csv()), usage=["PublicTest"])
    up = lambda images: np.stack(  # noqa: E731
        [cv2.resize(im, (192, 192), interpolation=cv2.INTER_CUBIC) for im in images]
    )
    return {"CK+48": up(ck.images), "FER2013 PublicTest": up(fer.images[:fer_limit])}


COLUMNS = ["dataset", "detector", "images", "≥ 1 face", "exactly 1", "ms/image mean ± sd",
           "min–max ms", "< 100 ms"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fer-limit", type=int, default=1000)
    parser.add_argument("--detectors", nargs="+", default=list(DETECTORS), choices=DETECTORS)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + " --- |" * len(COLUMNS))
    for dataset, images in crops(args.fer_limit).items():
        for label in args.detectors:
            name, params = DETECTORS[label]
            detector = ferengine.registry.create("detector", name, **params)
            detector.detect(images[0])  # load the model outside the timing
            counts, seconds = [], []
            for image in images:
                start = time.perf_counter()
                counts.append(len(detector.detect(image)))
                seconds.append(time.perf_counter() - start)
            t = timing_summary(seconds)
            n = np.array(counts)
            cells = [
                dataset,
                label,
                len(images),
                f"{np.mean(n >= 1):.3f}",
                f"{np.mean(n == 1):.3f}",
                f"{t['mean_ms']:.1f} ± {t['sd_ms']:.1f}",
                f"{t['min_ms']:.1f}–{t['max_ms']:.1f}",
                f"{t['share_under_100_ms']:.3f}",
            ]
            print("| " + " | ".join(map(str, cells)) + " |")


if __name__ == "__main__":
    main()
