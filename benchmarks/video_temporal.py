"""Speed of ``ferengine predict`` on a video with a temporal model (issue 20 target: ≥ 25 fps).

In a temporary folder: a 640×480 video (300 frames, 25 fps, MP4) of one real face — a
wild photo (``--photo``, default the first by name) pasted whole, with soft edges, on
a smooth random background, drifting along a Lissajous path at up to ~3 px a frame,
with mild sensor noise — and a small temporal model trained on ``synthetic-sequences``
(48×48 clips, 8 subjects, 2 clips per class): ``frame-features`` (HOG) → ``temporal-rnn``
(an LSTM, 32 units), or ``--model c3d`` (16 frames, the end-to-end path: every window
goes through the network as stacked crops). Then the command users run,
``ferengine predict VIDEO --model MODEL --out OUT`` with its defaults (stride 1, the
``auto`` detector every 5 frames and optical flow between, a clip per frame once a
track holds 16 frames, an annotated video written), is timed three ways:

- **including interpreter start**: the command in a new process, wall time from its
  launch to its exit (Python start-up, imports, model and detector loading included);
- **excluding interpreter start**: the command's entry point called in this process
  (``ferengine`` imported, nothing else loaded or warmed up);
- **warm**: the same call repeated (``--repeats``, median), the model and detector
  already loaded.

Frames per second are the video's 300 processed frames over those seconds. The per-stage
times (milliseconds per frame) come from the run's ``summary.json`` (``video_stages``).

``--clip-every K`` adds that option to the command (a clip every K frames of a track).

Usage: python benchmarks/video_temporal.py [--model rnn|c3d] [--clip-every K]
       [--photo NAME] [--repeats 3]
"""

import argparse
import contextlib
import io
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from datapaths import wild_dir

import ferengine
from ferengine.cli import main as cli

FRAMES, WIDTH, HEIGHT, FPS = 300, 640, 480, 25
TARGET_FPS = 25.0
MODELS = {
    "rnn": [("frame-features", {"feature": "hog"}),
            ("temporal-rnn", {"module__hidden": 32, "max_epochs": 10})],
    "c3d": [("c3d", {"frames": 16, "max_epochs": 3})],
}  # fmt: skip


def make_video(path: Path, photo: Path, side: int = 240, seed: int = 0) -> None:
    """Write the 300-frame 640×480 video of ``photo`` (``side`` px) drifting over a background."""
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 200, (6, 8, 3), dtype=np.uint8)
    background = cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    face = cv2.resize(cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB), (side, side),
                      interpolation=cv2.INTER_AREA).astype(np.float32)  # fmt: skip
    ramp = np.minimum(1, np.minimum(np.arange(side), np.arange(side)[::-1]) / 20)
    alpha = np.minimum.outer(ramp, ramp)[..., None]  # soft edges, 20 px
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    for t in range(FRAMES):
        x = round((WIDTH - side) / 2 + 150 * np.sin(t / 50))  # ≤ 3 px a frame
        y = round((HEIGHT - side) / 2 + 80 * np.sin(t / 37))  # ≤ 2.2 px a frame
        frame = background.astype(np.float32)
        part = frame[y : y + side, x : x + side]
        part[:] = part * (1 - alpha) + face * alpha
        frame += rng.normal(0, 3, frame.shape).astype(np.float32)
        writer.write(cv2.cvtColor(np.clip(frame, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    writer.release()


def train(kind: str, path: Path) -> float:
    """Train the temporal model on synthetic-sequences, save it to ``path``; return seconds."""
    start = time.perf_counter()
    ds = ferengine.load_dataset("synthetic-sequences", n_subjects=8, clips_per_class=2)
    model = ferengine.pipeline(*MODELS[kind], label_space=ds.label_space)
    model.fit(ds.clips, ds.label_names)
    ferengine.save(model, path)
    return time.perf_counter() - start


def in_process(args: list[str]) -> float:
    """Run ``ferengine ARGS`` through its entry point in this process; return wall seconds."""
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        cli.main(args, standalone_mode=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="rnn")
    parser.add_argument("--photo", default=None, help="a file name in the wild photos")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clip-every", type=int, default=1)
    args = parser.parse_args()
    photos = sorted((wild_dir() / "img").glob("*.jpg"))
    photo = photos[0] if args.photo is None else wild_dir() / "img" / args.photo
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        video, model = folder / "face.mp4", folder / f"{args.model}.fer"
        make_video(video, photo)
        train_seconds = train(args.model, model)
        command = ["predict", str(video), "--model", str(model)]
        if args.clip_every != 1:
            command += ["--clip-every", str(args.clip_every)]

        start = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "ferengine"), *command, "--out",
                        str(folder / "out-process")], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)  # fmt: skip
        with_start = time.perf_counter() - start

        cold = in_process([*command, "--out", str(folder / "out-cold")])
        summary = json.loads((folder / "out-cold" / "summary.json").read_text())
        warm = [in_process([*command, "--out", str(folder / f"out-warm-{i}")])
                for i in range(args.repeats)]  # fmt: skip
        warm_summary = json.loads((folder / "out-warm-0" / "summary.json").read_text())

    rows = summary["rows"]
    print(f"machine: {platform.machine()}, {platform.python_version()}; video: {FRAMES} frames "
          f"{WIDTH}×{HEIGHT} at {FPS} fps, one face ({photo.name}); model: {args.model} "
          f"({' → '.join(step for step, _ in MODELS[args.model])}), trained in "
          f"{train_seconds:.1f} s; `ferengine predict VIDEO --model MODEL "
          f"{' '.join(command[4:])}` (stride 1, detect every 5, window 16, a clip every "
          f"{args.clip_every} frame(s) of a track, annotated video)")  # fmt: skip
    print(f"rows: {rows}, clips: {summary['clips']}, tracks too short: {summary['short_tracks']}")
    print("| run | seconds | processed frames / s |")
    print("| --- | --- | --- |")
    for name, seconds in (
        ("including interpreter start (new process)", with_start),
        ("excluding interpreter start (entry point, cold)", cold),
        (f"warm (median of {args.repeats})", float(np.median(warm))),
    ):
        print(f"| {name} | {seconds:.2f} | {FRAMES / seconds:.1f} |")
    print("\nper stage, ms per frame (cold run / warm run):")
    print("| stage | cold | warm |")
    print("| --- | --- | --- |")
    cold_ms = {k: c["ms_per_frame"] for k, c in summary["video_stages"].items()}
    warm_ms = {k: c["ms_per_frame"] for k, c in warm_summary["video_stages"].items()}
    for stage, ms in cold_ms.items():
        print(f"| {stage} | {ms:.2f} | {warm_ms.get(stage, 0.0):.2f} |")
    print(f"| all stages | {sum(cold_ms.values()):.2f} | {sum(warm_ms.values()):.2f} |")
    verdict = "met" if FRAMES / cold >= TARGET_FPS else "NOT met"
    print(f"\ntarget ≥ {TARGET_FPS:.0f} fps end to end (excluding interpreter start): "
          f"{FRAMES / cold:.1f} fps, {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
