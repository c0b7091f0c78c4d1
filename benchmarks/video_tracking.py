"""Video speed and box fidelity of ``predict(..., detect_every=N)``: detect every N, track between.

A 640×480 video (300 frames, 25 fps, MP4) is generated in a temporary folder: two
faces from the wild photos (the middle of the photo, under a soft elliptical mask)
glide over a smooth random background along Lissajous paths at up to ~5 px a frame,
growing and shrinking by ±20 % and turning in plane by ±8°, with mild sensor noise
and a slow brightness drift. Each ``detect_every`` runs ``ferengine.predict(video,
model=..., detector=..., detect_every=N, annotate_images=False)`` — what a user
runs — after one untimed warm-up call, ``--repeats`` times, the settings interleaved;
the median wall time gives frames per second and the median CPU time of the process
(all its threads) frames per CPU-second, less swayed by other programs' load;
``summary.json`` gives the time spent finding faces (detector or optical flow, then
landmarks and crops) per frame, without decoding or the model.
Boxes and labels are compared with those of ``detect_every=1`` (the detector on every
frame): per frame, each reference face is matched with the run's face of largest IoU;
a reference face with no face of IoU ≥ 0.3 counts as missed.

Usage: python benchmarks/video_tracking.py [--every 1 2 3 5 10] [--model default]
       [--detector auto] [--repeats 3] [--threads N]
"""

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from datapaths import wild_dir

import ferengine
from ferengine import runtime
from ferengine.prediction.tracking import iou_matrix

FRAMES, WIDTH, HEIGHT = 300, 640, 480


def face_patch(path: Path, side: int = 220) -> tuple[np.ndarray, np.ndarray]:
    """Return the middle of a wild photo (RGB) and its soft elliptical mask, ``side`` px."""
    photo = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    h, w = photo.shape[:2]
    s = int(0.85 * min(h, w))
    middle = photo[(h - s) // 2 : (h + s) // 2, (w - s) // 2 : (w + s) // 2]
    mask = np.zeros((side, side), np.float32)
    axes = (int(0.36 * side), int(0.46 * side))
    cv2.ellipse(mask, (side // 2, side // 2), axes, 0, 0, 360, 1, -1)
    face = cv2.resize(middle, (side, side), interpolation=cv2.INTER_AREA)
    return face, cv2.GaussianBlur(mask, (0, 0), side / 30)


def make_video(path: Path, photos: list[Path], seed: int = 0) -> None:
    """Write the 300-frame 640×480 test video with one moving face per photo."""
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 200, (6, 8, 3), dtype=np.uint8)
    background = cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    background = background.astype(np.float32)
    patches = [face_patch(p) for p in photos]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (WIDTH, HEIGHT))
    for t in range(FRAMES):
        frame = background * (1 + 0.08 * np.sin(t / 60))
        for k, (face, mask) in enumerate(patches):
            side = int(170 * (1 + 0.2 * np.sin(t / 45 + k)))
            cx = WIDTH * (0.27 + 0.46 * k) + 80 * np.sin(t / 40 + 2 * k)
            cy = HEIGHT / 2 + 100 * np.sin(t / 27 + k)
            half = face.shape[0] / 2
            turn = cv2.getRotationMatrix2D((half, half), 8 * np.sin(t / 35 + k), side / 2 / half)
            turn[:, 2] += (cx - half, cy - half)
            placed = cv2.warpAffine(face, turn, (WIDTH, HEIGHT)).astype(np.float32)
            alpha = cv2.warpAffine(mask, turn, (WIDTH, HEIGHT))[..., None]
            frame = frame * (1 - alpha) + placed * alpha
        frame += rng.normal(0, 3, frame.shape).astype(np.float32)
        rgb = np.clip(frame, 0, 255).astype(np.uint8)
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()


def compare(rows: list[dict], reference: list[dict]) -> dict[str, float]:
    """Return IoU, centre error, misses and label agreement of ``rows`` against ``reference``."""
    ious, errors, agree, missed, total = [], [], [], 0, 0
    for row, ref in zip(rows, reference, strict=True):
        boxes = [f["box"] for f in row["faces"]]
        overlap = iou_matrix([f["box"] for f in ref["faces"]], boxes)
        for i, face in enumerate(ref["faces"]):
            total += 1
            j = int(np.argmax(overlap[i])) if boxes else -1
            if j < 0 or overlap[i, j] < 0.3:
                missed += 1
                continue
            a, b = np.asarray(face["box"], float), np.asarray(boxes[j], float)
            ious.append(overlap[i, j])
            errors.append(np.hypot(*(a[:2] + a[2:] / 2 - b[:2] - b[2:] / 2)) / a[2])
            agree.append(face["label"] == row["faces"][j]["label"])
    return {
        "faces": total,
        "missed": missed,
        "iou_mean": float(np.mean(ious)),
        "iou_p05": float(np.percentile(ious, 5)),
        "centre_err_median": float(np.median(errors)),
        "centre_err_p95": float(np.percentile(errors, 95)),
        "label_agreement": float(np.mean(agree)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, nargs="+", default=[1, 2, 3, 5, 10])
    parser.add_argument("--model", default="default")
    parser.add_argument("--detector", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of the model (default: predict's own, 1)")  # fmt: skip
    args = parser.parse_args()
    photos = sorted((wild_dir() / "img").glob("*.jpg"))[:2]
    every = sorted(set(args.every) | {1})
    with runtime.options(threads=args.threads), tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "faces.mp4"
        make_video(video, photos)
        run = dict(model=args.model, detector=args.detector, annotate_images=False)
        ferengine.predict(video, **run, stride=50)  # warm-up
        walls: dict[int, list[float]] = {n: [] for n in every}
        cpus: dict[int, list[float]] = {n: [] for n in every}
        finding: dict[int, list[float]] = {n: [] for n in every}  # mean ms per frame
        rows: dict[int, list[dict]] = {}
        for _ in range(args.repeats):  # interleaved, so a busy spell slows every setting
            for n in every:
                start, cpu = time.perf_counter(), time.process_time()
                out = Path(tmp) / f"out-{n}"
                rows[n] = ferengine.predict(video, **run, detect_every=n, out=out)
                walls[n].append(time.perf_counter() - start)
                cpus[n].append(time.process_time() - cpu)
                summary = json.loads((out / "summary.json").read_text())
                finding[n].append(summary["preprocessing"]["mean_ms"])
    threads = args.threads or "predict's default"
    print(f"machine: {platform.machine()}, torch threads: {threads}, model {args.model}, "
          f"detector {args.detector}; {FRAMES} frames 640×480, 2 faces ({photos[0].name}, "
          f"{photos[1].name}); median of {args.repeats} runs")  # fmt: skip
    print("| detect_every | frames/s (wall) | frames per CPU-second | speed-up (wall / CPU) "
          "| finding faces, ms per frame | faces missed | mean IoU | 5th pct IoU "
          "| centre error (median / 95th pct, × box width) | same label |")  # fmt: skip
    print("|" + " --- |" * 10)
    wall1, cpu1 = np.median(walls[1]), np.median(cpus[1])
    for n in every:
        wall, cpu = np.median(walls[n]), np.median(cpus[n])
        c = compare(rows[n], rows[1])
        cells = [
            str(n),
            f"{FRAMES / wall:.1f}",
            f"{FRAMES / cpu:.1f}",
            f"{wall1 / wall:.2f}× / {cpu1 / cpu:.2f}×",
            f"{np.median(finding[n]):.1f}",
            f"{c['missed']} / {c['faces']}",
            f"{c['iou_mean']:.3f}",
            f"{c['iou_p05']:.3f}",
            f"{c['centre_err_median']:.3f} / {c['centre_err_p95']:.3f}",
            f"{c['label_agreement']:.1%}",
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
