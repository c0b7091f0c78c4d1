"""Write CK+48's sequences as short video files, for the docs' video-to-leaderboard example.

CK+48 keeps the last three frames of each posed CK+ sequence (neutral → apex), named
``S010_006_00000013.png`` (subject, sequence, frame). Each sequence becomes one video,
``OUT/<class>/S010_006.mp4``: its frames in order, the 48×48 face enlarged to ``--face``
pixels on a 320×240 grey canvas and drifting a few pixels per frame, as a face in a
home video would — so ``video-folder`` must find, follow and crop it like any video.
Nothing is copied into the project: the videos go to ``OUT``.

Usage: python tools/ckplus_videos.py CKPLUS48_FOLDER OUT [--face 150] [--fps 10]
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

CANVAS = (240, 320)  # height, width
NAME = re.compile(r"(S\d+_\d+)_(\d+)\.png$")


def sequences(root: Path) -> dict[tuple[str, str], list[Path]]:
    """Frame files of every (class, sequence), in frame order."""
    found: dict[tuple[str, str], list[Path]] = defaultdict(list)
    for path in sorted(root.glob("*/*.png")):
        match = NAME.search(path.name)
        if match is None:
            raise SystemExit(f"{path}: not a CK+48 frame name (S010_006_00000013.png)")
        found[(path.parent.name, match[1])].append(path)
    if not found:
        raise SystemExit(f"{root}: no class folders of CK+48 frames")
    return {key: sorted(files, key=lambda p: int(NAME.search(p.name)[2]))
            for key, files in found.items()}  # fmt: skip


def write_video(files: list[Path], out: Path, face: int, fps: int) -> None:
    """Write the frames as a video: the face enlarged on a canvas, drifting right and down."""
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, CANVAS[::-1])
    if not writer.isOpened():
        raise SystemExit(f"{out}: OpenCV cannot write mp4v videos here")
    for t, path in enumerate(files):
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if grey is None:
            raise SystemExit(f"{path}: not a readable image")
        frame = np.full((*CANVAS, 3), 90, np.uint8)
        x, y = 60 + 4 * t, 30 + 2 * t
        frame[y : y + face, x : x + face] = cv2.cvtColor(
            cv2.resize(grey, (face, face), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2BGR
        )
        writer.write(frame)
    writer.release()


def main() -> None:
    """Write every sequence of the CK+48 folder as a video under OUT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ckplus48", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--face", type=int, default=150, help="side of the face in pixels")
    parser.add_argument("--fps", type=int, default=10)
    args = parser.parse_args()
    if not 48 <= args.face <= min(CANVAS) - 20:
        raise SystemExit(f"--face must be between 48 and {min(CANVAS) - 20}, got {args.face}")
    found = sequences(args.ckplus48)
    for (label, sequence), files in found.items():
        write_video(files, args.out / label / f"{sequence}.mp4", args.face, args.fps)
    print(f"{len(found)} videos of {sum(map(len, found.values()))} frames in {args.out}")


if __name__ == "__main__":
    main()
