"""``ferengine.predict``: photos, folders and videos in; one row per image or frame out."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import cv2
import numpy as np

from ferengine.fileio import write_atomic
from ferengine.loading import MAX_PIXELS, check_max_pixels
from ferengine.prediction.annotate import annotate
from ferengine.prediction.inputs import InputError, expand, is_video, read_image
from ferengine.prediction.predictor import FacePredictor
from ferengine.prediction.video import predict_video

LABELS = ("fer7", "valence3")
NO_FACE = "no face found"


def timing_summary(seconds: list[float]) -> dict[str, Any]:
    """Return mean, sd, min and max milliseconds and the share under 100 ms."""
    if not seconds:
        return {"n": 0}
    ms = 1000 * np.asarray(seconds)
    return {
        "n": len(ms),
        "mean_ms": round(float(ms.mean()), 2),
        "sd_ms": round(float(ms.std()), 2),
        "min_ms": round(float(ms.min()), 2),
        "max_ms": round(float(ms.max()), 2),
        "share_under_100_ms": round(float(np.mean(ms < 100)), 4),
    }


def _items(inputs: Any) -> Iterator[tuple[str, Any]]:
    """Name and source of each input: a path (expanded) or an in-memory image (by index)."""
    if isinstance(inputs, str | Path | np.ndarray):
        inputs = [inputs]
    for i, item in enumerate(inputs):
        if isinstance(item, np.ndarray):
            yield f"<image {i}>", item
        else:
            for path in expand([item]):
                yield str(path), path


def _image_rows(batch: list[tuple[str, Any]], predictor: FacePredictor,
                annotated: AnnotatedCopies | None,
                max_pixels: int | None) -> Iterator[tuple[dict, float | None]]:  # fmt: skip
    """Rows of a batch of image inputs (their faces go through the model together)."""
    images, rows = [], []
    for name, source in batch:
        row = {"input": name, "faces": [], "error": None}
        try:
            array = source if isinstance(source, np.ndarray) else read_image(source, max_pixels)
            images.append(array)
        except InputError as exc:
            row["error"] = str(exc)
        rows.append(row)
    good = [row for row in rows if row["error"] is None]
    faces, seconds = predictor.predict_images(images) if images else ([], [])
    for row, image, found in zip(good, images, faces, strict=True):
        row["faces"] = found
        row["error"] = None if found else NO_FACE
        if annotated is not None:
            cv2.imwrite(str(annotated.path(row["input"])), annotate(image, found))
    times = iter(seconds)
    for row in rows:
        yield row, (next(times) if row["error"] in (None, NO_FACE) else None)


#: Image formats OpenCV writes: an annotated copy keeps its input's format when it is one.
WRITABLE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})


class AnnotatedCopies:
    """File names of annotated copies in one folder: the input's path as one name.

    ``photos/a.jpg`` becomes ``photos_a.jpg`` and ``../a.png`` becomes ``a.png`` (no
    hidden files, no doubled extension); videos become ``.mp4``, images in a format OpenCV
    cannot write ``.png``. Two inputs that would share a name get ``-2``, ``-3``, ….
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._used: set[str] = set()

    def path(self, name: str, video: bool = False) -> Path:
        """Return the path of the annotated copy of input ``name``."""
        source = PurePath(name)
        suffix = source.suffix if source.suffix.lower() in WRITABLE_SUFFIXES else ".png"
        if video:
            suffix = ".mp4"
        stem = source.with_suffix("") if source.suffix else source
        parts = [part for part in stem.parts if part not in (source.anchor, ".", "..")]
        flat = "".join(c if c.isalnum() or c in "-_." else "_" for c in "_".join(parts))
        flat = flat.strip("._")[-150:] or "input"
        candidate, n = flat + suffix, 1
        while candidate.lower() in self._used:
            n += 1
            candidate = f"{flat}-{n}{suffix}"
        self._used.add(candidate.lower())
        return self.folder / candidate


def predict(
    inputs: Any,
    model: Any = "default",
    detector: Any = "haar",
    *,
    out: str | Path | None = None,
    labels: str = "fer7",
    min_confidence: float = 0.0,
    margin: float = 0.2,
    detector_params: dict | None = None,
    stride: int = 1,
    smooth: int = 1,
    annotate_images: bool = True,
    batch_size: int = 16,
    progress: bool = False,
    max_pixels: int | None = MAX_PIXELS,
) -> list[dict[str, Any]]:
    """Find and classify every face of images, folders (recursively) and videos.

    Parameters
    ----------
    inputs : path, image array, or a list of them
        Image files, folders (every file under them, sorted), video files (by suffix:
        mp4, avi, mov, mkv, webm, …) or in-memory images (H×W or H×W×C arrays, RGB).
    model : str, Path or fitted estimator
        A saved model file, a registered model's name ("default", the shipped CNN;
        ``ferengine models``) or a fitted pipeline. The faces are cropped to the size
        the registered model's card gives, or that the model was fitted on.
    detector : str or FaceDetector
        Detector plugin ("haar", "dlib-hog", "dlib-mmod", "none" for ready crops).
    out : path, optional
        Folder for ``predictions.jsonl`` (one row per image or processed video frame),
        ``summary.json`` and annotated copies (``annotated/``). Nothing is written without it.
    labels : {"fer7", "valence3"}
        "valence3" adds a positive / neutral / negative label to every face.
    min_confidence : float
        Faces whose top probability is lower are labelled "uncertain".
    margin : float
        Share of the box side added around each face crop (see :class:`FacePredictor`).
    detector_params : dict, optional
        Parameters of the named detector (``scale_factor``, ``mode``, …).
    stride, smooth : int
        Videos: process every ``stride``-th frame; average each track's probabilities
        over its last ``smooth`` processed frames.
    annotate_images : bool
        With ``out``, write annotated images and videos.
    batch_size : int
        Images whose faces go through the model together.
    progress : bool
        Show a progress bar.
    max_pixels : int or None
        Image files (and video frames) whose header declares more pixels (width ×
        height) are not decoded: they get a row whose ``error`` says so. Default
        50 000 000 (``ferengine.loading.MAX_PIXELS``); None leaves only Pillow's own
        limit (2 × ``PIL.Image.MAX_IMAGE_PIXELS``, ≈179 MP). In-memory arrays are not
        checked.

    Returns
    -------
    list of dict
        ``{"input", "faces", "error"}`` per image (``"frame"`` too for video frames); each
        face has ``box`` [x, y, w, h], ``score``, ``landmarks`` (68 [x, y] or None),
        ``label``, ``confidence``, ``probabilities`` (and ``valence``,
        ``valence_probabilities``; ``track`` in videos). A bad input gets a row with
        ``faces`` empty and ``error`` giving the reason; so does an image with no face.
        A video that ends before its container's frame count, or has frames that do not
        decode, gets a last row with ``frame`` None, ``video`` ``{"frames_expected",
        "frames_read", "frames_skipped", "frames_missing"}`` and the ``error``.
    """
    if labels not in LABELS:
        raise ValueError(f"labels must be one of {LABELS}, got {labels!r}")
    max_pixels = check_max_pixels(max_pixels)
    predictor = FacePredictor(model, detector, detector_params, margin, min_confidence,
                              valence=labels == "valence3")  # fmt: skip
    folder = Path(out) if out is not None else None
    annotated = None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        if annotate_images:
            (folder / "annotated").mkdir(exist_ok=True)
            annotated = AnnotatedCopies(folder / "annotated")
    items = list(_items(inputs))
    rows, seconds, videos = [], [], []
    options = _Options(stride, smooth, batch_size, max_pixels)
    with _Progress(len(items), progress) as advance, _Jsonl(folder) as write:
        for row, secs in _rows(items, predictor, annotated, options, videos, advance):
            write(row)
            rows.append(row)
            if secs is not None:
                seconds.append(secs)
    if folder is not None:
        summary = {
            "inputs": len(items),
            "rows": len(rows),
            "faces": sum(len(r["faces"]) for r in rows),
            "errors": sum(r["error"] not in (None, NO_FACE) for r in rows),
            "no_face": sum(r["error"] == NO_FACE for r in rows),
            "preprocessing": timing_summary(seconds),
            "videos": videos,
        }
        write_atomic(folder / "summary.json", json.dumps(summary, indent=2))
    return rows


@dataclass
class _Options:
    """The per-input options of a run."""

    stride: int
    smooth: int
    batch_size: int
    max_pixels: int | None


def _rows(items: list[tuple[str, Any]], predictor: FacePredictor,
          annotated: AnnotatedCopies | None,
          options: _Options, videos: list[dict],
          advance: Any) -> Iterator[tuple[dict, float | None]]:  # fmt: skip
    """Rows of every input, in order; each video read adds its frame counts to ``videos``."""
    batch: list[tuple[str, Any]] = []
    for name, source in [*items, ("", None)]:  # a sentinel flushes the last batch
        video = isinstance(source, Path) and is_video(source)
        if batch and (video or source is None or len(batch) >= options.batch_size):
            yield from _image_rows(batch, predictor, annotated, options.max_pixels)
            advance(len(batch))
            batch = []
        if source is None:
            break
        if not video:
            batch.append((name, source))
            continue
        target = annotated.path(name, video=True) if annotated is not None else None
        try:
            counts = yield from predict_video(
                source, predictor, options.stride, options.smooth, target, options.max_pixels
            )
            videos.append({"input": name, **counts.as_dict()})
        except InputError as exc:
            yield {"input": name, "frame": None, "faces": [], "error": str(exc)}, None
        advance(1)


class _Jsonl:
    """Append rows to ``predictions.jsonl`` as they come (nothing without a folder)."""

    def __init__(self, folder: Path | None) -> None:
        self.path = None if folder is None else folder / "predictions.jsonl"

    def __enter__(self):
        self.file = None if self.path is None else self.path.open("w", encoding="utf-8")
        return self.write

    def write(self, row: dict) -> None:
        if self.file is not None:
            self.file.write(json.dumps(row) + "\n")

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()


class _Progress:
    """A rich progress bar over the inputs, or nothing."""

    def __init__(self, total: int, show: bool) -> None:
        self.total, self.show = total, show

    def __enter__(self):
        if not self.show:
            return lambda n: None
        from rich.progress import Progress

        self.bar = Progress(transient=True)
        self.bar.start()
        task = self.bar.add_task("predicting", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.show:
            self.bar.stop()


def read_jsonl(path: str | Path) -> Iterable[dict]:
    """Read back a ``predictions.jsonl``."""
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
