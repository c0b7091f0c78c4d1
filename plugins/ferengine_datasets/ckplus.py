"""CK+ in its original release layout: image sequences with per-sequence emotion files.

Two loaders share one reader (:func:`labelled_sequences`): ``ckplus`` gives still images
(the last frames of each labelled sequence, optionally its first frame as neutral), and
``ckplus-sequences`` gives each labelled sequence whole, as a clip.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

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
    fit_size,
    read_image,
    stack_images,
)
from ferengine.plugin import DatasetPlugin
from ferengine.sequences import ClipDataset

#: CK+ emotion codes in Emotion/*_emotion.txt: 0 neutral, 1 anger, ..., 7 surprise.
CK_CODES = CKPLUS8.names


def _check_layout(root: Path, loader: str) -> tuple[Path, Path]:
    """Return the images and emotion folders of a CK+ release, or raise naming the missing one."""
    images_root, emotion_root = root / "cohn-kanade-images", root / "Emotion"
    for folder in (images_root, emotion_root):
        if not folder.is_dir():
            raise DatasetError(f"{loader}: {folder} is missing (expected the CK+ release layout)")
    return images_root, emotion_root


def labelled_sequences(
    root: Path, report: LoadReport
) -> Iterator[tuple[str, str, int, list[Path]]]:
    """Yield ``(subject, sequence, code, frames)`` of every labelled sequence of a CK+ release.

    Sequences come in the sorted order of their emotion files; ``code`` is the CK+
    emotion code (1 anger … 7 surprise, :data:`CK_CODES`) and ``frames`` the sequence's
    image files sorted by name (time order). An emotion file that holds no code 1..7 and
    a labelled sequence without images are reported to ``report`` (an error when it is
    strict) and skipped.

    Parameters
    ----------
    root : Path
        Folder holding ``cohn-kanade-images/`` and ``Emotion/`` (checked by the caller).
    report : LoadReport
        Where problems go.
    """
    images_root, emotion_root = root / "cohn-kanade-images", root / "Emotion"
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
        yield subject, seq, code, files


class CKPlus(DatasetPlugin):
    """CK+ from ``cohn-kanade-images/S005/001/*.png`` and ``Emotion/S005/001/*_emotion.txt``.

    Still images: the last frames of each labelled sequence (its apex, as CK+ sequences
    end on it). For whole sequences as clips, use ``ckplus-sequences``.

    Parameters
    ----------
    path : str or Path
        Folder holding ``cohn-kanade-images/`` and ``Emotion/``.
    last_n : int
        Peak frames kept from the end of each labelled sequence.
    neutral_first : bool
        Also keep each labelled sequence's first frame as ``neutral`` (label space
        ``ckplus8``); otherwise the space is ``ckplus7``.
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
        size=None,
        color: bool = False,
        strict: bool = True,
        max_pixels: int | None = MAX_PIXELS,
    ) -> None:
        self.path = path
        self.last_n = last_n
        self.neutral_first = neutral_first
        self.size = size
        self.color = color
        self.strict = strict
        self.max_pixels = max_pixels

    def load(self) -> FaceDataset:
        """Read the last frames (and, with ``neutral_first``, the first) of each sequence."""
        root = Path(self.path)
        _check_layout(root, "ckplus")
        if not isinstance(self.last_n, int) or self.last_n < 1:
            raise ValueError(f"ckplus: last_n must be a positive int, got {self.last_n!r}")
        size = None if self.size is None else size_pair(self.size, "ckplus: size")
        max_pixels = check_max_pixels(self.max_pixels)
        space = CKPLUS8 if self.neutral_first else CKPLUS7
        report = LoadReport(f"ckplus {root}", self.strict)
        found = Collector(report)
        for subject, seq, code, files in labelled_sequences(root, report):
            picks: list[tuple[Path, str]] = []
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
        return found.dataset(space, f"no labelled sequences under {root / 'Emotion'}")


class CKPlusSequences(DatasetPlugin):
    """CK+ labelled sequences as clips, neutral onset to apex (the original release layout).

    One clip per labelled sequence of ``cohn-kanade-images/S005/001/*.png`` (frames in
    file-name order) with the label of ``Emotion/S005/001/*_emotion.txt`` (label space
    ``ckplus7``) and the subject of its folder (``S005``). ``frame_meta`` holds, per
    frame, ``"frame"`` (its index in the sequence) and ``"file"`` (its path under
    ``path``). CK+ sequences end on the apex, so ``frames("apex")`` takes the last frame.

    Parameters
    ----------
    path : str or Path
        Folder holding ``cohn-kanade-images/`` and ``Emotion/``.
    size : int or (int, int), optional
        Resize every frame; ``None`` keeps the original size (640×490 or 640×480: every
        frame of every sequence must then match).
    color : bool
        Keep colour where a sequence has it.
    strict : bool
        Raise on the first bad file (True), or skip the sequence it belongs to and report
        it (False): a clip never has a gap.
    max_pixels : int or None
        Images whose header declares more pixels (width × height) are refused before
        decoding — a bad file (default 50 000 000; ``None``: no limit of ferengine's own).
    """

    name = "ckplus-sequences"

    def __init__(
        self,
        path,
        size=None,
        color: bool = False,
        strict: bool = True,
        max_pixels: int | None = MAX_PIXELS,
    ) -> None:
        self.path = path
        self.size = size
        self.color = color
        self.strict = strict
        self.max_pixels = max_pixels

    def load(self) -> ClipDataset:
        """Read every labelled sequence whole."""
        root = Path(self.path)
        _, emotion_root = _check_layout(root, "ckplus-sequences")
        size = None if self.size is None else size_pair(self.size, "ckplus-sequences: size")
        max_pixels = check_max_pixels(self.max_pixels)
        source = f"ckplus-sequences {root}"
        report = LoadReport(source, self.strict)
        clips, labels, subjects = [], [], []
        meta: dict[str, list[np.ndarray]] = {"frame": [], "file": []}
        for subject, seq, code, files in labelled_sequences(root, report):
            names = [str(f.relative_to(root)) for f in files]
            frames = []
            for f, rel in zip(files, names, strict=True):
                try:
                    frames.append(fit_size(read_image(f, self.color, max_pixels=max_pixels), size))
                except DatasetError as exc:
                    reason = str(exc).split(": ", 1)[-1]
                    skipped = "" if self.strict else f" (sequence {subject}/{seq} skipped)"
                    report.problem(rel, reason + skipped)
                    break
            if len(frames) < len(files):
                continue
            clip = stack_images(frames, names, source)
            if clips and clip.shape[1:] != clips[0].shape[1:]:
                raise DatasetError(
                    f"{source}: {names[0]} has shape {clip.shape[1:]} but {meta['file'][0][0]} "
                    f"has {clips[0].shape[1:]}; pass size= to resize every frame"
                )
            clips.append(clip)
            labels.append(CKPLUS7.index(CK_CODES[code]))
            subjects.append(subject)
            meta["frame"].append(np.arange(len(clip), dtype=np.int64))
            meta["file"].append(np.array(names))
        if not clips:
            raise report.nothing_loaded(f"no labelled sequences under {emotion_root}")
        return ClipDataset(
            clips=clips,
            labels=np.array(labels, dtype=np.int64),
            label_space=CKPLUS7,
            subjects=subjects,
            source=source,
            frame_meta=meta,
            meta=report.meta(),
        )
