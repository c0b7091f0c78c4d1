"""False-positive rate and recall of the audit's near-duplicate thresholds (issue 22).

Clean data: several renderings of the `synthetic` dataset (different seeds, so different
subjects), where no two images are copies of each other: every pair within a threshold is
a false positive. Planted copies: each image of the first set modified (Gaussian noise,
a brightness shift, a JPEG round trip) and compared with its original: the share within a
threshold is the recall. With --embeddings, the same for the cosine similarity of the
fer2013 CNN's centred embeddings (the deep extra).

Usage: python benchmarks/audit_thresholds.py [--sets 5] [--subjects 100] [--embeddings]
"""

import argparse
import time

import cv2
import numpy as np

import ferengine
from ferengine.audit import hashes, near

HAMMING = (12, 16, 20, 24, 28, 32)
COSINE = (0.9, 0.95, 0.97, 0.98, 0.99)


def modifications(images: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Return each planted near copy of every image, by name."""

    def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
        buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
        return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)

    def noise(sd: float) -> np.ndarray:
        return np.clip(images + rng.normal(0, sd, images.shape), 0, 255).astype(np.uint8)

    return {
        "noise σ 3": noise(3),
        "noise σ 6": noise(6),
        "brightness +10": np.clip(images.astype(int) + 10, 0, 255).astype(np.uint8),
        "JPEG quality 75": np.stack([jpeg(img, 75) for img in images]),
        "JPEG quality 50": np.stack([jpeg(img, 50) for img in images]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=5, help="clean renderings (seeds 1…N)")
    parser.add_argument("--subjects", type=int, default=100)
    parser.add_argument("--per-expression", type=int, default=3)
    parser.add_argument("--embeddings", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    sets = [
        ferengine.load_dataset(
            "synthetic", n_subjects=args.subjects, per_expression=args.per_expression, seed=seed
        )
        for seed in range(1, args.sets + 1)
    ]
    total = sum(len(ds) * (len(ds) - 1) // 2 for ds in sets)
    print(f"{args.sets} clean sets of {len(sets[0]):,} images (48×48): {total:,} pairs")

    hamming = np.zeros(HAMMING[-1] + 1, dtype=np.int64)
    same_face = 0  # pairs at <= 20 of one subject and expression (two takes)
    phashes = []
    for ds in sets:
        h = hashes.perceptual_hashes(ds.images)
        phashes.append(h)
        pairs, dist = near.hamming_pairs(h, HAMMING[-1])
        hamming += np.bincount(dist, minlength=len(hamming))
        close = pairs[dist <= 20]
        same_face += int(
            np.sum(
                (ds.subjects[close[:, 0]] == ds.subjects[close[:, 1]])
                & (ds.labels[close[:, 0]] == ds.labels[close[:, 1]])
            )
        )
    print("\npHash (256 bits): false pairs on clean data, and recall of planted copies\n")
    planted = modifications(sets[0].images, np.random.default_rng(0))
    print("| distance ≤ | false pairs | per pair | " + " | ".join(planted) + " |")
    print("| --- " * (3 + len(planted)) + "|")
    recall_dist = {
        name: np.bitwise_count(phashes[0] ^ hashes.perceptual_hashes(images)).sum(axis=1)
        for name, images in planted.items()
    }
    for t in HAMMING:
        false = int(hamming[: t + 1].sum())
        recalls = " | ".join(f"{np.mean(d <= t):.3f}" for d in recall_dist.values())
        print(f"| {t} | {false:,} | {false / total:.1e} | {recalls} |")
    print(f"\nof the false pairs at ≤ 20, {same_face} show one subject and expression")

    if args.embeddings:
        from ferengine.audit.embeddings import centred_embeddings

        print("\nCentred CNN embeddings (fer2013 model): false pairs and recall\n")
        cosine = []
        for ds in sets:
            _, sims = near.cosine_pairs(centred_embeddings([ds.images]), COSINE[0])
            cosine.append(sims)
        sims = np.concatenate(cosine)
        first = sets[0].images
        both = centred_embeddings([first, *planted.values()])  # one mean for all of them
        a = both[: len(first)]
        recall_sim = {}
        for k, name in enumerate(planted, start=1):
            b = both[k * len(first) : (k + 1) * len(first)]
            recall_sim[name] = np.sum(a * b, axis=1) / (
                np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
            )
        print("| cosine ≥ | false pairs | per pair | " + " | ".join(planted) + " |")
        print("| --- " * (3 + len(planted)) + "|")
        for t in COSINE:
            false = int(np.sum(sims >= t))
            recalls = " | ".join(f"{np.mean(s >= t):.3f}" for s in recall_sim.values())
            print(f"| {t} | {false:,} | {false / total:.1e} | {recalls} |")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
