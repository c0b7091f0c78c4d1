"""Tight face-crop sets, made in memory from the wild photos and the FER datasets' crops.

A *tight crop* is an image that is itself a face, filling the frame as a FER2013 crop
does, at any size from 32 to 300 px (longer side). Three sets, each drawn from a seeded
generator so a run is reproducible, none ever written into the project:

- ``wild crops``: per photo of ``wild/img``, the largest face dlib-mmod finds at full
  resolution (``max_side=None``; a model family other than the default detector's, so
  the benchmark does not grade a detector on its own boxes), the box widened by
  ``WIDEN`` of its side (half on each side), clipped to the photo, resized to a random
  size. dlib-mmod runs with ``upsample=0`` first, and again with ``upsample=1`` (faces
  down to about 40 px) on the photos where it found nothing. Photos where neither finds
  a face are left out and counted.
- ``FER2013 PublicTest``: the first N crops, and ``CK+48``: all 981 crops, each resized
  (bicubic) to a random size.

dlib-mmod at full resolution costs about 1 s per 350×350 photo at ``upsample=0`` and 4 s
at ``upsample=1`` on a 2-core CPU (dlib built without BLAS), so each photo's box is
cached on disk, outside the project, under ``ferengine.datacache.cache_root() /
"benchmarks" / "wild-boxes"`` (joblib.Memory, keyed by the photo's path, size and
modification time, the detector's passes and this module's ``_largest_box`` code): the
first run fills it (``--jobs`` processes), later runs read it.
"""

from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import joblib
import numpy as np

import ferengine
from ferengine.datacache import cache_root, source_identity
from ferengine.prediction.inputs import read_image

#: Share of the box side added to a wild face box (half on each side) to make its crop.
WIDEN = 0.2
#: Smallest and largest side (px) a crop is resized to, inclusive.
SIDES = (32, 300)
#: Size bands the detection rates are reported by: (label, smallest, largest side).
BANDS = (("32-63 px", 32, 63), ("64-127 px", 64, 127), ("128-300 px", 128, 300))
#: The detector giving the wild crops' boxes, and its parameters pass by pass: a pass runs
#: only on the photos where the ones before it found no face.
BOX_DETECTOR = "dlib-mmod"
BOX_PASSES = ({"upsample": 0, "max_side": None}, {"upsample": 1, "max_side": None})

Box = tuple[int, int, int, int]


@dataclass
class CropSet:
    """Images of one crop set, their sizes, and the sources left out of it."""

    name: str
    images: list[np.ndarray]
    sides: np.ndarray
    left_out: int = 0
    sources: list[str] = field(default_factory=list)

    def bands(self) -> list[tuple[str, np.ndarray]]:
        """Return each size band's label and the mask of the crops in it."""
        return [(label, (self.sides >= lo) & (self.sides <= hi)) for label, lo, hi in BANDS]


def wild_photos(folder: Path) -> list[Path]:
    """Return the photos listed in ``folder/labels.csv``, in its order, under ``folder/img``.

    Raises
    ------
    FileNotFoundError
        The labels file or a photo it lists is missing (naming which).
    """
    labels = folder / "labels.csv"
    if not labels.is_file():
        raise FileNotFoundError(f"wild photos: no labels file {labels}")
    with labels.open(newline="", encoding="utf-8") as fh:
        paths = [folder / "img" / row["file"] for row in csv.DictReader(fh)]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{labels} lists {len(missing)} missing photos: {missing[:3]}")
    return paths


def wild_labels(folder: Path) -> dict[str, str]:
    """Return ``{file name: label}`` from ``folder/labels.csv``."""
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as fh:
        return {row["file"]: row["label"] for row in csv.DictReader(fh)}


def _largest_box(identity: list, detector: str, passes: tuple[dict, ...]) -> Box | None:
    """Largest face box of the photo ``identity[0]`` (its size and time key the cache)."""
    image = read_image(Path(identity[0]))
    for params in passes:
        faces = ferengine.registry.create("detector", detector, **params).detect(image)
        if faces:
            return tuple(int(v) for v in faces[0].box)  # type: ignore[return-value]
    return None


def wild_boxes(paths: list[Path], jobs: int = 1, cache: Path | None = None) -> list[Box | None]:
    """Return the largest ``BOX_DETECTOR`` face box of each photo (None: no face), cached.

    Parameters
    ----------
    paths : list of Path
        The photos.
    jobs : int
        Processes computing the boxes not cached yet.
    cache : Path, optional
        Cache folder (default: ``cache_root() / "benchmarks" / "wild-boxes"``).
    """
    memory = joblib.Memory(cache or cache_root() / "benchmarks" / "wild-boxes", verbose=0)
    box = memory.cache(_largest_box)
    calls = (joblib.delayed(box)(source_identity(p), BOX_DETECTOR, BOX_PASSES) for p in paths)
    return list(joblib.Parallel(n_jobs=jobs)(calls))


def tight_crop(image: np.ndarray, box: Box, widen: float = WIDEN) -> np.ndarray:
    """Cut ``box`` widened by ``widen`` × its side (half each side), clipped to the image."""
    x, y, w, h = box
    dx, dy = widen * w / 2, widen * h / 2
    x0, y0 = max(0, round(x - dx)), max(0, round(y - dy))
    x1, y1 = min(image.shape[1], round(x + w + dx)), min(image.shape[0], round(y + h + dy))
    return image[y0:y1, x0:x1]


def resized(image: np.ndarray, side: int, interpolation: int | None = None) -> np.ndarray:
    """Resize so the longer side is ``side`` px (area when shrinking, else bicubic)."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if interpolation is None:
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(image, size, interpolation=interpolation)


def random_sides(n: int, name: str, seed: int) -> np.ndarray:
    """Draw ``n`` crop sides uniformly from ``SIDES`` (inclusive), one stream per set name."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    return rng.integers(SIDES[0], SIDES[1] + 1, n)


def wild_crops(paths: list[Path], boxes: list[Box | None], seed: int = 0) -> CropSet:
    """Tight crops of the photos with a box, each at a random size (see the module docstring)."""
    kept = [(p, b) for p, b in zip(paths, boxes, strict=True) if b is not None]
    sides = random_sides(len(kept), "wild crops", seed)
    images = [
        resized(tight_crop(read_image(p), b), int(s)) for (p, b), s in zip(kept, sides, strict=True)
    ]
    return CropSet("wild crops", images, sides, len(paths) - len(kept), [p.name for p, _ in kept])


def dataset_crops(name: str, images: np.ndarray, seed: int = 0) -> CropSet:
    """A dataset's crops, each resized (bicubic) to a random size."""
    sides = random_sides(len(images), name, seed)
    out = [resized(im, int(s), cv2.INTER_CUBIC) for im, s in zip(images, sides, strict=True)]
    return CropSet(name, out, sides)


def fer_crops(csv_path: Path, limit: int, seed: int = 0) -> CropSet:
    """The first ``limit`` FER2013 PublicTest crops (from the gzipped CSV) at random sizes."""
    ds = ferengine.load_dataset("fer2013", path=str(csv_path), usage=["PublicTest"])
    return dataset_crops("FER2013 PublicTest", np.asarray(ds.images[:limit]), seed)


def ck_crops(folder: Path, seed: int = 0) -> CropSet:
    """Every CK+48 crop (one folder per class under ``folder``) at a random size."""
    ds = ferengine.load_dataset("image-folder", path=str(folder))
    return dataset_crops("CK+48", np.asarray(ds.images), seed)
