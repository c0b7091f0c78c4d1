"""AffectNet from its CSV manifest, cropped to the annotated face boxes."""

from __future__ import annotations

import csv
from pathlib import Path

from ferengine.datacache import load_cached
from ferengine.dataset import FaceDataset
from ferengine.errors import DatasetError
from ferengine.imageops import size_pair
from ferengine.labels import AFFECTNET8
from ferengine.loading import (
    MAX_PIXELS,
    Collector,
    LoadReport,
    check_max_pixels,
    fit_size,
    read_image,
)
from ferengine.plugin import DatasetPlugin

COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "expression")
#: Expression codes 8, 9, 10 of the manifest: never a training label.
DROPPED = {8: "None", 9: "Uncertain", 10: "Non-Face"}


class AffectNet(DatasetPlugin):
    """AffectNet manifest (``subDirectory_filePath``, face box, ``expression``), faces cropped.

    Parameters
    ----------
    path : str or Path
        The manifest CSV (``training.csv`` or ``validation.csv``).
    images_dir : str or Path, optional
        Folder the ``subDirectory_filePath`` entries are relative to; default: the
        manifest's folder.
    size : int or (int, int)
        Side of the square face crops.
    split : str, optional
        Split name recorded for every image (default: the manifest's file stem).
    color : bool
        Keep RGB instead of grey.
    strict : bool
        Raise on the first bad row (True) or skip and report it (False). Rows labelled
        None, Uncertain or Non-Face are always dropped and counted in ``meta["dropped"]``.
    max_pixels : int or None
        Images whose header declares more pixels (width × height) are refused before
        decoding — a bad file (default 50 000 000; ``None``: no limit of ferengine's own).
    memmap : bool
        Return the faces memory-mapped from the dataset cache (see
        :mod:`ferengine.datacache`): the first load reads the images as usual and writes
        them to the cache, later loads with the same parameters and manifest (path, size,
        modification time) open the cache instead of reading any image.
    cache_dir : str, optional
        Cache folder for ``memmap=True``; default ``$FERENGINE_CACHE``, else the user
        cache folder.
    """

    name = "affectnet"

    def __init__(
        self,
        path,
        images_dir=None,
        size=96,
        split=None,
        color: bool = False,
        strict: bool = True,
        max_pixels: int | None = MAX_PIXELS,
        memmap: bool = False,
        cache_dir: str | None = None,
    ) -> None:
        self.path = path
        self.images_dir = images_dir
        self.size = size
        self.split = split
        self.color = color
        self.strict = strict
        self.max_pixels = max_pixels
        self.memmap = memmap
        self.cache_dir = cache_dir

    def load(self) -> FaceDataset:
        """Read the manifest and crop every face (or open the cached crops, with ``memmap``)."""
        manifest = Path(self.path)
        if not manifest.is_file():
            raise DatasetError(f"affectnet: manifest {manifest} does not exist")
        if self.memmap:
            return load_cached(
                self, lambda _: self._read(manifest), sources=[manifest], cache_dir=self.cache_dir
            )
        return self._read(manifest)

    def _read(self, manifest: Path) -> FaceDataset:
        base = Path(self.images_dir) if self.images_dir is not None else manifest.parent
        size = None if self.size is None else size_pair(self.size, "affectnet: size")
        max_pixels = check_max_pixels(self.max_pixels)
        report = LoadReport(f"affectnet {manifest}", self.strict)
        dropped = dict.fromkeys(DROPPED.values(), 0)
        found = Collector(report)
        split = self.split or manifest.stem
        with open(manifest, newline="", encoding="utf-8-sig") as fh:  # a BOM is no column
            reader = csv.DictReader(fh)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetError(
                    f"affectnet: {manifest}: columns {missing} missing; found {reader.fieldnames}"
                )
            for lineno, row in enumerate(reader, start=2):
                where = f"line {lineno}"
                try:
                    code = int(row["expression"])
                    x, y, w, h = (int(float(row[c])) for c in COLUMNS[1:5])
                except (TypeError, ValueError):
                    report.problem(where, "expression and face box must be numbers")
                    continue
                if code in DROPPED:
                    dropped[DROPPED[code]] += 1
                    continue
                if not 0 <= code < len(AFFECTNET8):
                    report.problem(where, f"expression {code} is not 0..10")
                    continue
                try:
                    img = read_image(
                        base / row["subDirectory_filePath"], self.color, max_pixels=max_pixels
                    )
                except DatasetError as exc:
                    report.problem(where, str(exc))
                    continue
                x0, y0 = max(x, 0), max(y, 0)
                crop = img[y0 : y + h, x0 : x + w]
                if w <= 0 or h <= 0 or crop.size == 0:
                    report.problem(
                        where,
                        f"face box {x, y, w, h} lies outside the "
                        f"{img.shape[1]}×{img.shape[0]} image",
                    )
                    continue
                found.add(fit_size(crop, size), code, row["subDirectory_filePath"], split=split)
        return found.dataset(AFFECTNET8, "no usable rows", dropped=dropped)
