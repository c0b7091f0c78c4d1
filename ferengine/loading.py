"""Helpers for dataset plugins: reading images and reporting bad files or rows.

Every loader takes ``strict``: when True the first bad row or file raises a
:class:`~ferengine.errors.DatasetError` naming it; when False it is skipped and
listed in ``FaceDataset.meta["skipped"]`` (where, reason), so nothing is lost
silently.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ferengine.dataset import FaceDataset
from ferengine.errors import DatasetError
from ferengine.imageops import from_opencv
from ferengine.labels import LabelSpace

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".webp", ".gif"}
)

#: Largest image (width × height) read by default, by the dataset loaders and by
#: ``predict``: 50 megapixels (an 8660×5773 photo). Larger ones are refused from their
#: header, before any decoding, so a small file declaring a huge image (a
#: decompression bomb) costs no memory. Each reader takes ``max_pixels`` to change it.
MAX_PIXELS = 50_000_000


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
        max_pixels: int | None = MAX_PIXELS,
    ) -> np.ndarray | None:
        """Read (or decode ``data`` of) an image and resize it.

        On failure (including an image above ``max_pixels``) the problem is recorded
        at ``where`` and None is returned.
        """
        try:
            return fit_size(read_image(path, color, data, max_pixels), size)
        except DatasetError as exc:
            self.problem(where, str(exc).split(": ", 1)[-1])
            return None

    def meta(self) -> dict[str, object]:
        """Return the ``meta`` entries describing what was skipped."""
        return {"skipped": list(self.skipped), "n_skipped": len(self.skipped)}

    def nothing_loaded(self, message: str) -> DatasetError:
        """Return the error for a load that accepted no image, with what was skipped.

        An empty dataset is never returned: every command would fail later on it
        with a less helpful message (scikit-learn's "Found array with 0 sample(s)").
        """
        if self.skipped:
            first = self.skipped[0]
            message += f" ({len(self.skipped)} skipped; first: {first['where']}: {first['reason']})"
        return DatasetError(f"{self.source}: {message}")


def check_max_pixels(max_pixels: object, param: str = "max_pixels") -> int | None:
    """Return ``max_pixels`` as an int (or None: no limit of ferengine's own); validate it."""
    if max_pixels is None:
        return None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int | np.integer):
        raise ValueError(f"{param} must be a positive int or None, got {max_pixels!r}")
    if max_pixels < 1:
        raise ValueError(f"{param} must be a positive int or None, got {max_pixels!r}")
    return int(max_pixels)


def pixel_limit_reason(width: int, height: int, max_pixels: int | None) -> str | None:
    """Return why an image of ``width`` × ``height`` is refused, or None when it is not."""
    if max_pixels is None or width * height <= max_pixels:
        return None
    return (
        f"image too large: {width * height} pixels ({width}×{height}), above "
        f"max_pixels={max_pixels} (raise max_pixels to read it)"
    )


def pillow_limit_reason(exc: Exception, max_pixels: int | None) -> str:
    """Word Pillow's ``DecompressionBombError`` (raised from a header) like ``max_pixels``'s.

    Pillow refuses images above 2 × ``PIL.Image.MAX_IMAGE_PIXELS`` (≈179 MP) in
    ``Image.open`` itself, before the size can be read; its message holds the count.
    """
    found = re.search(r"\((\d+) pixels\) exceeds limit of (\d+)", str(exc))
    if found is None:
        return f"image too large: {exc}"
    pixels, limit = int(found[1]), int(found[2])
    if max_pixels is not None and pixels > max_pixels:
        return (
            f"image too large: {pixels} pixels, above max_pixels={max_pixels} "
            "(raise max_pixels to read it)"
        )
    return (
        f"image too large: {pixels} pixels, above Pillow's own limit of {limit} "
        "(raise PIL.Image.MAX_IMAGE_PIXELS to read it)"
    )


def header_size(source: Path | bytes, max_pixels: int | None) -> tuple[int, int] | None:
    """Return ``(width, height)`` from an image file's header (or its bytes), not decoding it.

    Pillow's ``Image.open`` is lazy: it parses the header only. None when no Pillow
    decoder recognises the header. Pillow's own decompression-bomb warning is silenced
    (``max_pixels`` replaces it).

    Raises
    ------
    ValueError
        The image is above ``max_pixels`` or Pillow's own limit (the reason).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # BytesIO shares a bytes object's buffer (no copy); a path is read lazily.
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
                size = img.size
    except Image.DecompressionBombError as exc:
        raise ValueError(pillow_limit_reason(exc, max_pixels)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        return None
    reason = pixel_limit_reason(*size, max_pixels)
    if reason is not None:
        raise ValueError(reason)
    return size


def read_image(
    path: Path,
    color: bool = False,
    data: bytes | None = None,
    max_pixels: int | None = MAX_PIXELS,
) -> np.ndarray:
    """Read an image file as uint8 grey (H×W) or RGB (H×W×3).

    The size in the file's header is checked first (:func:`header_size`): an image of
    more than ``max_pixels`` pixels (default :data:`MAX_PIXELS`) is refused without
    being decoded. ``data``, when given, is the file's content already read (``path``
    then only names it).

    Raises
    ------
    DatasetError
        If the file cannot be read or decoded, or is above ``max_pixels`` (naming the file).
    """
    max_pixels = check_max_pixels(max_pixels)
    try:
        buf = np.fromfile(path, dtype=np.uint8) if data is None else np.frombuffer(data, np.uint8)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read file: {exc}") from exc
    try:
        # Only images whose header Pillow reads are decoded: the size is known first.
        size = header_size(path if data is None else bytes(data), max_pixels) if buf.size else None
    except ValueError as exc:
        raise DatasetError(f"{path}: {exc}") from None
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if size is not None else None
    if img is None:
        raise DatasetError(f"{path}: not a readable image (empty, truncated or unknown format)")
    return from_opencv(img, color)


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
    file of every image to ``meta["files"]``. These ``meta`` entries are declared
    per-sample (``FaceDataset.per_sample``), so they follow every subset.
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
        """Return the dataset; raise ``DatasetError`` with ``empty`` when nothing was accepted.

        ``empty`` should say where nothing was found (the source, naming the file or
        folder, is prepended; what was skipped is appended).
        """
        if not self.images:
            raise self.report.nothing_loaded(empty)
        extra = {k: np.asarray(v) for k, v in self.fields.items() if k not in ("subject", "split")}
        return FaceDataset(
            images=stack_images(self.images, self.files, self.report.source),
            labels=np.asarray(self.labels, dtype=np.int64),
            label_space=label_space,
            subjects=self._column("subject"),
            splits=self._column("split"),
            source=self.report.source,
            meta={"files": self.files, **extra, **meta, **self.report.meta()},
            per_sample=frozenset({"files", *extra}),
        )
