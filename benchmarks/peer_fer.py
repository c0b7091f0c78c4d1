"""The peer package ``fer`` 25.10.3 end to end on a folder of photos, one JSON line per photo.

Runs in the peer's own venv (not ferengine's; this script imports nothing from
ferengine), as a user of ``fer`` would: ``fer.fer.FER()`` with its defaults (OpenCV Haar
detection, its TFLite model), then ``detect_emotions(path)`` on every image file of the
folder (recursively, sorted). Writes per photo ``{"file", "faces", "found", "top",
"box", "emotions", "error"}`` (``top``: the top emotion of the largest face, None without
a face) and prints the photos, the faces found and photos/s of the loop (model loading
excluded).

The side-by-side throughput comparison is timed outside, with the same photos, one
command after the other (never at the same time)::

    /work/peer-fer/bin/python benchmarks/peer_fer.py /work/shared/data/wild/img --out peer.jsonl
    .venv/bin/ferengine predict /work/shared/data/wild/img --out D --no-annotate --json

``python benchmarks/faces_in_photos.py --accuracy --predictions D --peer peer.jsonl`` then
scores both on the photos' labels.

Usage: /work/peer-fer/bin/python benchmarks/peer_fer.py FOLDER --out FILE
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def photos(folder: Path) -> list[Path]:
    """Image files under ``folder``, sorted."""
    if not folder.is_dir():
        raise SystemExit(f"peer_fer: {folder} is not a folder")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def record(folder: Path, path: Path, found: list[dict]) -> dict:
    """The output row of one photo from ``detect_emotions``' list of faces."""
    boxes = [[int(v) for v in face["box"]] for face in found]
    largest = max(range(len(found)), key=lambda i: boxes[i][2] * boxes[i][3], default=None)
    emotions = None if largest is None else found[largest]["emotions"]
    return {
        "file": str(path.relative_to(folder)),
        "faces": len(found),
        "found": bool(found),
        "top": None if emotions is None else max(emotions, key=emotions.get),
        "box": None if largest is None else boxes[largest],
        "emotions": emotions,
        "error": None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="JSON lines file to write")
    args = parser.parse_args()
    files = photos(args.folder)
    import fer.fer  # the peer; slow to import (TensorFlow)

    detector = fer.fer.FER()
    faces = with_face = errors = 0
    start = time.perf_counter()
    with args.out.open("w", encoding="utf-8") as out:
        for path in files:
            try:
                row = record(args.folder, path, detector.detect_emotions(str(path)))
            except Exception as exc:  # the peer's own errors on one photo
                row = {"file": str(path.relative_to(args.folder)), "faces": 0, "found": False,
                       "top": None, "box": None, "emotions": None, "error": repr(exc)}  # fmt: skip
                errors += 1
            faces += row["faces"]
            with_face += row["found"]
            out.write(json.dumps(row) + "\n")
    seconds = time.perf_counter() - start
    share = with_face / max(len(files), 1)
    print(f"fer {getattr(fer, '__version__', '?')}: {len(files)} photos, {faces} faces, "
          f"a face in {with_face} ({share:.1%}), {errors} errors; {seconds:.1f} s, "
          f"{len(files) / seconds:.1f} photos/s (model loading excluded)")  # fmt: skip


if __name__ == "__main__":
    main()
