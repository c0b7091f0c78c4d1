"""CK+ in its original release layout: image sequences with per-sequence emotion files."""

from __future__ import annotations

from pathlib import Path

from ferengine.dataset import FaceDataset
from ferengine.errors import DatasetError
from ferengine.imageops import size_pair
from ferengine.labels import CKPLUS7, CKPLUS8
from ferengine.loading import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    Collector,
    LoadReport,
    check_max_pixels,
)
from ferengine.plugin import DatasetPlugin

#: CK+ emotion codes in Emotion/*_emotion.txt: 0 neutral, 1 anger, ..., 7 surprise.
CK_CODES = CKPLUS8.names


class CKPlus(DatasetPlugin):
    """CK+ from ``cohn-kanade-images/S005/001/*.png`` and ``Emotion/S005/001/*_emotion.txt``.

    Parameters
    ----------
    path : str or Path
        Folder holding ``cohn-kanade-images/`` and ``Emotion/``.
    last_n : int
        Peak frames kept from the end of each labelled sequence.
    neutral_first : bool
        Also keep each labelled sequence's first frame as ``neutral`` (label space
        ``ckplus8``); otherwise the space is ``ckplus7``.
    sequences : bool
        Keep every frame of each labelled sequence (for temporal models) instead of
        ``last_n``; ``meta["sequence"]`` and ``meta["frame"]`` identify each image.
    size : int or (int, int), optional
        Resize every frame; ``None`` keeps the original size (640×490 or 640×480, so all
        frames must match).
    color : bool
        Keep colour where a sequence has it.
    strict : bool
        Raise on the first bad file (True) or skip and report it (False).
    max_pixels : int or None
        Images whose header declares more pixels (width × height) are refused before
        decoding — a bad file (default 50 000 000; ``None``: no limit of ferengine's own).
    """

    name = "ckplus"

    def __init__(
        self,
        path,
        last_n: int = 3,
        neutral_first: bool = False,
        sequences: bool = False,
        size=None,
        color: bool = False,
        strict: bool = True,
        max_pixels: int | None = MAX_PIXELS,
    ) -> None:
        self.path = path
        self.last_n = last_n
        self.neutral_first = neutral_first
        self.sequences = sequences
        self.size = size
        self.color = color
        self.strict = strict
        self.max_pixels = max_pixels

    def load(self) -> FaceDataset:
        """Read every labelled sequence."""
        root = Path(self.path)
        images_root, emotion_root = root / "cohn-kanade-images", root / "Emotion"
        for folder in (images_root, emotion_root):
            if not folder.is_dir():
                raise DatasetError(f"ckplus: {folder} is missing (expected the CK+ release layout)")
        if not isinstance(self.last_n, int) or self.last_n < 1:
            raise ValueError(f"ckplus: last_n must be a positive int, got {self.last_n!r}")
        size = None if self.size is None else size_pair(self.size, "ckplus: size")
        max_pixels = check_max_pixels(self.max_pixels)
        space = CKPLUS8 if self.neutral_first else CKPLUS7
        report = LoadReport(f"ckplus {root}", self.strict)
        found = Collector(report)
        for emo_file in sorted(emotion_root.glob("S*/*/*_emotion.txt")):
            rel = emo_file.relative_to(root)
            try:
                code = int(float(emo_file.read_text().split()[0]))
            except (ValueError, IndexError):
                report.problem(rel, "emotion file does not hold a number")
                continue
            if not 1 <= code <= 7:
                report.problem(rel, f"emotion code {code} is not 1..7")
                continue
            subject, seq = emo_file.parent.parent.name, emo_file.parent.name
            seq_dir = images_root / subject / seq
            files = sorted(p for p in seq_dir.glob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                report.problem(seq_dir.relative_to(root), "labelled sequence has no images")
                continue
            picks: list[tuple[Path, str]] = []
            if self.sequences:
                picks = [(f, CK_CODES[code]) for f in files]
            else:
                if self.neutral_first:
                    picks.append((files[0], "neutral"))
                picks += [(f, CK_CODES[code]) for f in files[-self.last_n :] if f != files[0]]
            for f, label in picks:
                rel = f.relative_to(root)
                img = report.read(f, rel, self.color, size, max_pixels=max_pixels)
                if img is not None:
                    found.add(
                        img,
                        space.index(label),
                        rel,
                        subject=subject,
                        sequence=f"{subject}_{seq}",
                        frame=files.index(f),
                    )
        return found.dataset(space, f"no labelled sequences under {emotion_root}")
