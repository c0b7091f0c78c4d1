"""JAFFE: 213 TIFFs of 10 Japanese women, labels and subjects in the file names."""

from __future__ import annotations

import re
from pathlib import Path

from ferengine.dataset import FaceDataset
from ferengine.errors import DatasetError
from ferengine.imageops import size_pair
from ferengine.labels import FER7
from ferengine.loading import MAX_PIXELS, Collector, LoadReport, check_max_pixels
from ferengine.plugin import DatasetPlugin

#: ``KA.AN1.39.tiff``: subject, expression code and take, image number.
JAFFE_NAME = re.compile(r"^([A-Z]{2})\.([A-Z]{2})(\d+)\.(\d+)\.tiff?$", re.IGNORECASE)
JAFFE_CODES = {
    "AN": "angry",
    "DI": "disgust",
    "FE": "fear",
    "HA": "happy",
    "SA": "sad",
    "SU": "surprise",
    "NE": "neutral",
}


class JAFFE(DatasetPlugin):
    """JAFFE (Lyons et al. 1998): posed expressions, 7 classes, subjects from file names.

    Parameters
    ----------
    path : str or Path
        Folder holding the ``*.tiff`` files (searched recursively).
    size : int or (int, int), optional
        Resize every image (JAFFE images are 256×256).
    strict : bool
        Raise on the first bad file (True) or skip and report it (False).
    max_pixels : int or None
        Images whose header declares more pixels (width × height) are refused before
        decoding — a bad file (default 50 000 000; ``None``: no limit of ferengine's own).
    """

    name = "jaffe"

    def __init__(
        self, path, size=None, strict: bool = True, max_pixels: int | None = MAX_PIXELS
    ) -> None:
        self.path = path
        self.size = size
        self.strict = strict
        self.max_pixels = max_pixels

    def load(self) -> FaceDataset:
        """Read every TIFF whose name follows the JAFFE pattern."""
        root = Path(self.path)
        if not root.is_dir():
            raise DatasetError(f"jaffe: {root} is not a folder")
        size = None if self.size is None else size_pair(self.size, "jaffe: size")
        max_pixels = check_max_pixels(self.max_pixels)
        report = LoadReport(f"jaffe {root}", self.strict)
        found = Collector(report)
        for f in sorted(p for p in root.rglob("*") if p.suffix.lower() in (".tiff", ".tif")):
            rel = f.relative_to(root)
            m = JAFFE_NAME.match(f.name)
            if m is None or m.group(2).upper() not in JAFFE_CODES:
                report.problem(
                    rel,
                    "name does not follow SUBJECT.EXPRn.NUMBER.tiff "
                    f"with EXPR in {sorted(JAFFE_CODES)}",
                )
                continue
            img = report.read(f, rel, size=size, max_pixels=max_pixels)
            if img is not None:
                code = FER7.index(JAFFE_CODES[m.group(2).upper()])
                found.add(img, code, rel, subject=m.group(1).upper())
        return found.dataset(FER7, f"no JAFFE images under {root}")
