"""Helpers for dataset plugins: reading images and reporting bad files or rows.

Every loader takes ``strict``: when True the first bad row or file raises a
:class:`~ferengine.errors.DatasetError` naming it; when False it is skipped and
listed in ``FaceDataset.meta["skipped"]`` (where, reason), so nothing is lost
silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ferengine.dataset import FaceDataset
from ferengine.errors import DatasetError
from ferengine.labels import LabelSpace

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".webp", ".gif"}
)


@dataclass
class LoadReport:
    """Collects problems met while loading; raises on the first one when ``strict``."""

    source: str
    strict: bool = True
    skipped: list[dict[str, str]] = field(default_factory=list)

    def problem(self, where: str | Path, reason: str) -> None:
        """Record (or, when strict, raise) a problem at a file, row or folder."""
        if self.strict:
            raise DatasetError(f"{self.source}: {where}: {reason} (pass strict=False to skip it)")
        self.skipped.append({"where": str(where), "reason": reason})

    def read(
        self,
        path: Path,
        where: str | Path,
        color: bool = False,
        size: tuple[int, int] | None = None,
        data: bytes | None = None,
    ) -> np.ndarray | None:
        """Read (or decode ``data`` of) an image and resize it.

        On failure the problem is recorded at ``where`` and None is returned.
        """
        try:
            return fit_size(read_image(path, color, data), size)
        except DatasetError as exc:
            self.problem(where, str(exc).split(": ", 1)[-1])
            return None

    def meta(self) -> dict[str, object]:
        """Return the ``meta`` entries describing what was skipped."""
        return {"skipped": list(self.skipped), "n_skipped": len(self.skipped)}


def to_uint8(img: np.ndarray, color: bool) -> np.ndarray:
    """Convert any OpenCV image (grey, BGR, BGRA, 16-bit, float) to uint8 grey or RGB."""
    if img.dtype == np.uint16:
        img = (img / 257).round().astype(np.uint8)
    elif img.dtype.kind == "f":
        scale = 255.0 if img.max(initial=0) <= 1.0 else 1.0
        img = np.clip(img * scale, 0, 255).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if color:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB if img.ndim == 2 else cv2.COLOR_BGR2RGB)
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def read_image(path: Path, color: bool = False, data: bytes | None = None) -> np.ndarray:
    """Read an image file as uint8 grey (H×W) or RGB (H×W×3).

    ``data``, when given, is the file's content already read (``path`` then only names it).

    Raises
    ------
    DatasetError
        If the file cannot be read or decoded (naming the file).
    """
    try:
        buf = np.fromfile(path, dtype=np.uint8) if data is None else np.frombuffer(data, np.uint8)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read file: {exc}") from exc
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if img is None:
        raise DatasetError(f"{path}: not a readable image (empty, truncated or unknown format)")
    return to_uint8(img, color)


def parse_size(size: int | tuple[int, int] | None, param: str = "size") -> tuple[int, int] | None:
    """Return ``(height, width)`` for an int or pair, ``None`` for None; validate."""
    if size is None:
        return None
    hw = (size, size) if isinstance(size, int | np.integer) else tuple(size)
    if len(hw) != 2 or not all(isinstance(v, int | np.integer) and v > 0 for v in hw):
        raise ValueError(f"{param} must be a positive int or (height, width), got {size!r}")
    return int(hw[0]), int(hw[1])


def fit_size(img: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize to ``size`` (area interpolation when shrinking) or return unchanged."""
    if size is None or img.shape[:2] == size:
        return img
    h, w = size
    shrink = h * w < img.shape[0] * img.shape[1]
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def stack_images(images: list[np.ndarray], names: list[str], source: str) -> np.ndarray:
    """Stack same-sized images, or raise naming the first file whose size differs."""
    if not images:
        return np.zeros((0, 1, 1), np.uint8)
    first = images[0].shape
    for img, name in zip(images, names, strict=True):
        if img.shape != first:
            raise DatasetError(
                f"{source}: {name} has shape {img.shape} but {names[0]} has {first}; "
                "pass size= to resize every image"
            )
    return np.stack(images)


@dataclass
class Collector:
    """Accumulates the images a loader accepts, then builds the :class:`FaceDataset`.

    Per-image ``subject`` and ``split`` become the dataset's columns (left ``None`` when
    no image has one); any other per-image field goes to ``meta`` as an array, and the
    file of every image to ``meta["files"]``.
    """

    report: LoadReport
    images: list[np.ndarray] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    fields: dict[str, list] = field(default_factory=dict)

    def add(self, image: np.ndarray, label: int, file: str | Path, **per_image: object) -> None:
        """Accept one image with its label code, file and further per-image values."""
        self.images.append(image)
        self.labels.append(label)
        self.files.append(str(file))
        for key, value in per_image.items():
            self.fields.setdefault(key, []).append(value)

    def _column(self, key: str) -> np.ndarray | None:
        values = self.fields.get(key)
        return None if values is None or all(v is None for v in values) else np.asarray(values)

    def dataset(self, label_space: LabelSpace, empty: str, **meta: object) -> FaceDataset:
        """Return the dataset; raise ``DatasetError`` with ``empty`` when nothing was accepted."""
        if not self.images:
            raise DatasetError(f"{self.report.source}: {empty}")
        extra = {k: np.asarray(v) for k, v in self.fields.items() if k not in ("subject", "split")}
        return FaceDataset(
            images=stack_images(self.images, self.files, self.report.source),
            labels=np.asarray(self.labels, dtype=np.int64),
            label_space=label_space,
            subjects=self._column("subject"),
            splits=self._column("split"),
            source=self.report.source,
            meta={"files": self.files, **extra, **meta, **self.report.meta()},
        )
