"""A dataset loader: faces in a CSV file, one row per image."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ferengine import DatasetPlugin, FaceDataset, get_label_space
from ferengine.errors import DatasetError

COLUMNS = ("label", "subject", "pixels")


class CsvFaces(DatasetPlugin):
    """Faces in a CSV file: one row per image with its label, subject and pixels.

    Parameters
    ----------
    path : str
        The CSV file: a header row, then the columns ``label`` (a class name of
        ``label_space``), ``subject`` and ``pixels`` (the grey levels 0–255 of a square
        image, row by row, separated by spaces).
    label_space : str
        The label space the labels belong to (``ferengine plugins label-space``).
    """

    name = "csv-faces"

    def __init__(self, path: str, label_space: str = "fer7"):
        self.path = path
        self.label_space = label_space

    def load(self):
        """Read the file and return its faces."""
        path = Path(self.path)
        space = get_label_space(self.label_space)
        try:
            with path.open(newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise DatasetError(f"{self.name}: cannot read {path}: {exc}") from exc
        if not rows:
            raise DatasetError(f"{self.name}: {path} has no data rows")
        missing = [c for c in COLUMNS if c not in rows[0]]
        if missing:
            columns = ", ".join(missing)
            raise DatasetError(f"{self.name}: {path} has no column {columns}")
        images, labels, subjects = [], [], []
        for line, row in enumerate(rows, start=2):
            where = f"{self.name}: {path}, line {line}"
            if row["label"] not in space:
                label = row["label"]
                raise DatasetError(f"{where}: {label!r} is not a class of {space.name}")
            try:
                pixels = np.array(row["pixels"].split(), dtype=np.int64)
            except ValueError as exc:
                raise DatasetError(f"{where}: pixels are not integers: {exc}") from exc
            side = int(np.sqrt(pixels.size))
            if pixels.size == 0 or side * side != pixels.size:
                size = pixels.size
                raise DatasetError(f"{where}: {size} pixels do not make a square image")
            if pixels.min() < 0 or pixels.max() > 255:
                raise DatasetError(f"{where}: pixels must be grey levels 0–255")
            images.append(pixels.astype(np.uint8).reshape(side, side))
            labels.append(row["label"])
            subjects.append(row["subject"])
        if len({image.shape for image in images}) > 1:
            raise DatasetError(f"{self.name}: {path} holds images of different sizes")
        return FaceDataset(
            images=np.stack(images),
            labels=np.array(labels),
            label_space=space,
            subjects=np.array(subjects),
            source=f"{self.name}:{path}",
        )
