"""``ferengine.predict``: photos, folders and videos in; one row per image or frame out."""

from __future__ import annotations

import contextlib
import json
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from ferengine import runtime
from ferengine.fileio import write_atomic
from ferengine.loading import MAX_PIXELS, check_max_pixels
from ferengine.prediction.annotate import annotate
from ferengine.prediction.frame import import_pandas, to_frame
from ferengine.prediction.inputs import InputError, expand, is_video, read_photo
from ferengine.prediction.predictor import FacePredictor, ImageFaces
from ferengine.prediction.video import (
    DETECT_EVERY,
    VideoFrames,
    check_detect_every,
    labeller,
    predict_video,
)

if TYPE_CHECKING:
    import pandas as pd

LABELS = ("model", "valence3")
NO_FACE = "no face found"
#: The error of a photo given to a temporal model.
PHOTO_FOR_CLIPS = (
    "not a video: the model is a temporal model, it classifies clips of video frames, not photos"
)


def timing_summary(seconds: list[float]) -> dict[str, Any]:
    """Return the count and mean, sd, min, median and max milliseconds of ``seconds``."""
    if not seconds:
        return {"n": 0}
    ms = 1000 * np.asarray(seconds)
    return {
        "n": len(ms),
        "mean_ms": round(float(ms.mean()), 2),
        "sd_ms": round(float(ms.std()), 2),
        "min_ms": round(float(ms.min()), 2),
        "median_ms": round(float(np.median(ms)), 2),
        "max_ms": round(float(ms.max()), 2),
    }


def stage_summary(rows: list[dict], timings: list[dict[str, float]]) -> dict[str, Any]:
    """Return, per stage of finding faces, the faces it found and its time.

    ``timings`` holds one ``{stage: seconds}`` per processed image or frame; a detector
    stage that did not run on an image has no entry for it. Faces are counted by their
    ``found_by``.
    """
    found: dict[str, int] = {}
    for row in rows:
        for face in row["faces"]:
            stage = str(face.get("found_by"))
            found[stage] = found.get(stage, 0) + 1
    stages: dict[str, Any] = {}
    for stage in dict.fromkeys(k for t in timings for k in t):
        spent = [t[stage] for t in timings if stage in t]
        stages[stage] = {
            "images": len(spent),
            "faces": found.pop(stage, 0),
            "seconds": round(float(sum(spent)), 3),
            "mean_ms": round(1000 * float(np.mean(spent)), 2),
        }
    for stage, n in found.items():  # stages that time nothing of their own ("tracked")
        stages[stage] = {"images": 0, "faces": n, "seconds": 0.0, "mean_ms": 0.0}
    return stages


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


@dataclass
class _Prepared:
    """One image input read and its faces found and cropped, before classification."""

    row: dict
    image: np.ndarray | None = None
    found: ImageFaces | None = None
    factor: float = 1.0  # the file's pixels per pixel of ``image`` (large JPEGs: > 1)


def _prepare(name: str, source: Any, predictor: FacePredictor,
             max_pixels: int | None) -> _Prepared:  # fmt: skip
    """Read one image input and find, level and crop its faces (timed per stage)."""
    row = {"input": name, "faces": [], "error": None}
    start = time.perf_counter()
    image, factor = source, 1.0
    try:
        if not isinstance(source, np.ndarray):
            image, factor = read_photo(source, max_pixels, predictor.detector.max_side)
    except InputError as exc:
        row["error"] = str(exc)
        return _Prepared(row)
    read = time.perf_counter() - start
    found = predictor.find(image)
    found.timings = {"read": read, **found.timings}
    return _Prepared(row, image, found, factor)


def _to_file_pixels(record: dict, factor: float) -> dict:
    """Scale a face record's box and landmarks from a reduced decode to the file's pixels."""
    record["box"] = [round(v * factor) for v in record["box"]]
    if record["landmarks"] is not None:
        record["landmarks"] = np.round(np.asarray(record["landmarks"]) * factor, 1).tolist()
    return record


def _image_rows(batch: list[_Prepared], predictor: FacePredictor,
                annotated: AnnotatedCopies | None,
                bars: bool) -> Iterator[tuple[dict, dict | None]]:  # fmt: skip
    """Rows of a batch of prepared image inputs (their faces go through the model together)."""
    for item, records in zip(batch, predictor.classify([p.found for p in batch]), strict=True):
        row = item.row
        if item.found is None:
            yield row, None
            continue
        row["faces"] = records
        row["error"] = None if records else NO_FACE
        if annotated is not None:  # drawn on the decoded image, reduced or not
            cv2.imwrite(str(annotated.path(row["input"])), annotate(item.image, records, bars=bars))
        if item.factor != 1.0:
            row["faces"] = [_to_file_pixels(record, item.factor) for record in records]
        yield row, item.found.timings


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
    detector: Any = "auto",
    *,
    out: str | Path | None = None,
    labels: str = "model",
    min_confidence: float = 0.0,
    margin: float = 0.2,
    detector_params: dict | None = None,
    stride: int = 1,
    smooth: int = 1,
    annotate_images: bool = True,
    batch_size: int = 16,
    progress: bool = False,
    max_pixels: int | None = MAX_PIXELS,
    detect_every: int = DETECT_EVERY,
    bars: bool = False,
    align: bool = True,
    as_frame: bool = False,
    window: int | None = None,
    clip_every: int | None = None,
) -> list[dict[str, Any]] | pd.DataFrame:
    """Find and classify every face of images, folders (recursively) and videos.

    With a temporal model (a model of clips: ``frame-features`` and a temporal head,
    ``c3d``, ``convlstm``, ``cnn-lstm``…; :func:`ferengine.sequences.clip_frame_shape`),
    videos get clip-level predictions per face track over a sliding window, beside the
    per-frame rows (see ``window``, ``clip_every`` and Returns); photos cannot be
    classified by such a model.

    Parameters
    ----------
    inputs : path, image array, or a list of them
        Image files, folders (every file under them, sorted), video files (by suffix:
        mp4, avi, mov, mkv, webm, …) or in-memory images (H×W or H×W×C arrays, RGB).
    model : str, Path or fitted estimator
        A saved model file, a registered model's name ("default", the shipped FER+ CNN;
        ``ferengine models``) or a fitted pipeline. The faces are cropped to the size
        the registered model's card gives, or that the model was fitted on (its frames,
        for a temporal model).
    detector : str or FaceDetector
        Detector plugin: "auto" (BlazeFace, then rotated passes, dlib's MMOD and whole
        face crops where it finds nothing), "blazeface", "haar", "dlib-hog", "dlib-mmod",
        "none" (inputs are ready face crops), a third-party name, or an instance.
    out : path, optional
        Folder for ``predictions.jsonl`` (one row per image or processed video frame),
        ``summary.json`` and annotated copies (``annotated/``). Nothing is written without it.
    labels : {"model", "valence3"}
        "model": each face's label is one of the model's classes; "valence3" adds a
        positive / neutral / negative label to every face.
    min_confidence : float
        Faces whose top probability is lower are labelled "uncertain".
    margin : float
        Share of the box side added around each face crop (see :class:`FacePredictor`).
    detector_params : dict, optional
        Parameters of the named detector (``scale_factor``, ``mode``, …).
    stride, smooth : int
        Videos: process every ``stride``-th frame; average each track's probabilities
        over its last ``smooth`` processed frames (a temporal model: its last ``smooth``
        clips).
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
    detect_every : int
        Videos: run the detector on every ``detect_every``-th processed frame and move
        the boxes by optical flow on the others (1: detect on every processed frame).
    bars : bool
        Annotated images get a side panel with each face's class probabilities as bars
        (videos keep the compact labels).
    align : bool
        Turn each face upright on its eye line before cropping (see
        :class:`FacePredictor`); False crops every box as it is.
    as_frame : bool
        Return a pandas DataFrame (the ``frame`` extra) with one row per face instead of
        the rows (see :func:`ferengine.prediction.frame.to_frame`). No input is lost:
        an input, frame or video with no face or an error gets one row with NA face
        columns and the ``error``. With a temporal model, clips are rows too (``kind``
        "clip", beside the faces' "frame").
    window : int, optional
        Temporal models: frames per clip, the last ``window`` processed frames a track
        was seen in (default: the model's ``frames`` parameter when it declares one, as
        ``c3d`` does, else 16).
    clip_every : int, optional
        Temporal models: a track's clip is classified once it has been seen in
        ``window`` processed frames, then every ``clip_every`` processed frames it is
        seen in (default 1).

    Returns
    -------
    list of dict or pandas.DataFrame
        ``{"input", "faces", "error"}`` per image (``"frame"`` too for video frames); each
        face has ``box`` [x, y, w, h], ``score``, ``landmarks`` (68 [x, y] or None),
        ``label``, ``confidence``, ``probabilities`` (and ``valence``,
        ``valence_probabilities``; ``track`` in videos, and ``found_by`` "tracked" when
        optical flow moved the box). A bad input gets a row with
        ``faces`` empty and ``error`` giving the reason; so does an image with no face.
        A video that ends before its container's frame count, or has frames that do not
        decode, gets a last row with ``frame`` None, ``video`` ``{"frames_expected",
        "frames_read", "frames_skipped", "frames_missing"}`` and the ``error``.
        With ``as_frame``, the same as a DataFrame of one row per face, and one per row
        without a face, so no input is lost (:func:`~ferengine.prediction.frame.to_frame`).

        With a temporal model, faces have no ``label``, ``confidence`` nor
        ``probabilities``; every video frame row has ``clips``, the clips classified on
        that frame, each ``{"track", "first_frame", "last_frame", "first_time",
        "last_time", "frames", "label", "confidence", "probabilities", "error"}`` (times
        in seconds; ``valence`` too with ``labels="valence3"``), and a track that never
        held a whole window gets a record with no label and a note as its ``error``
        ("track 3 lasted 9 processed frames (frames 40–48), the model needs 16"), in a
        last, video-level row (``frame`` None; see
        :func:`~ferengine.prediction.video.predict_video`). A photo gets a row whose
        ``error`` says a temporal model classifies video clips.

    Raises
    ------
    ImportError
        ``as_frame`` without pandas installed (the ``frame`` extra), before any work.
    ValueError
        A temporal model and no video among the inputs; ``window`` or ``clip_every``
        not an int ≥ 1, or given for a model of single images.
    """
    if labels not in LABELS:
        raise ValueError(f"labels must be one of {LABELS}, got {labels!r}")
    if as_frame:
        import_pandas()  # fail before any work when pandas is missing
    max_pixels = check_max_pixels(max_pixels)
    detect_every = check_detect_every(detect_every)
    predictor = _predictor(model, detector, detector_params, margin, min_confidence,
                           labels == "valence3", align)  # fmt: skip
    folder = Path(out) if out is not None else None
    annotated = None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        if annotate_images:
            (folder / "annotated").mkdir(exist_ok=True)
            annotated = AnnotatedCopies(folder / "annotated")
    items = list(_items(inputs))
    if predictor.sequence is not None and not any(_is_video(source) for _, source in items):
        raise ValueError(
            f"the model is a temporal model (it classifies clips of video frames), but no "
            f"input is a video: {_names(items)}"
        )
    labeller(predictor, smooth, window, clip_every)  # check window and clip_every first
    rows, timings, videos = [], [], []
    start = time.perf_counter()
    options = _Options(stride, smooth, batch_size, max_pixels, detect_every, bars, window,
                       clip_every)  # fmt: skip
    # The model runs on one torch thread while a worker thread reads the next photos and
    # finds their faces: torch's default of one thread per core would fight that thread
    # for the cores (measured 10× slower on 2 cores). ``ferengine --threads N`` overrides.
    # One photo has nothing to overlap: OpenCV then keeps its parallel loops.
    threads = 1 if runtime.current().threads is None else None
    with runtime.options(threads=threads), _opencv_threads(1 if len(items) > 1 else None), \
            _Progress(len(items), progress) as advance, _Jsonl(folder) as write:  # fmt: skip
        for row, secs in _rows(items, predictor, annotated, options, videos, advance):
            write(row)
            rows.append(row)
            if secs is not None:
                timings.append(secs)
    if folder is not None:
        summary = {
            "inputs": len(items),
            "rows": len(rows),
            "faces": sum(len(r["faces"]) for r in rows),
            "errors": sum(r["error"] not in (None, NO_FACE) for r in rows),
            "no_face": sum(r["error"] == NO_FACE for r in rows),
            "seconds": round(time.perf_counter() - start, 3),
            "preprocessing": timing_summary([sum(t.values()) for t in timings]),
            "stages": stage_summary(rows, timings),
            "videos": [{"input": name, **counts.as_dict()} for name, counts in videos],
            "video_stages": video_stages([counts for _, counts in videos]),
        }
        if predictor.sequence is not None:
            clips = [c for r in rows for c in r.get("clips", [])]
            summary["clips"] = sum(c["label"] is not None for c in clips)
            summary["short_tracks"] = sum(c["label"] is None for c in clips)
        write_atomic(folder / "summary.json", json.dumps(summary, indent=2))
    if as_frame:
        valence = predictor.valence[0] if predictor.valence is not None else None
        return to_frame(rows, predictor.names, valence, clips=predictor.sequence is not None)
    return rows


def video_stages(videos: list[VideoFrames]) -> dict[str, dict[str, float]]:
    """Return the seconds spent per stage over every video, and milliseconds per frame read.

    Stages: "decode", each stage of finding faces (the detector's, "tracked",
    "landmarks", "crop"), the model ("model"; a temporal model's "features" and
    "clip-model") and "annotate".
    """
    frames = max(1, sum(v.frames_read for v in videos))
    stages: dict[str, float] = {}
    for video in videos:
        for stage, seconds in video.seconds.items():
            stages[stage] = stages.get(stage, 0.0) + seconds
    return {
        stage: {"seconds": round(s, 3), "ms_per_frame": round(1000 * s / frames, 2)}
        for stage, s in stages.items()
    }


def _is_video(source: Any) -> bool:
    return isinstance(source, Path) and is_video(source)


def _names(items: list[tuple[str, Any]], most: int = 3) -> str:
    """Return the first ``most`` input names, and how many more."""
    names = ", ".join(name for name, _ in items[:most])
    return names + (f" and {len(items) - most} more" if len(items) > most else "")


#: Predictors of recent calls, so that calling ``predict`` once per photo does not load the
#: model and the detector's networks each time. Keyed by the model file's path and
#: modification time and every option that shapes the predictor.
_PREDICTORS: OrderedDict[tuple, FacePredictor] = OrderedDict()
_PREDICTOR_CACHE_SIZE = 4


def _predictor(model: Any, detector: Any, detector_params: dict | None, margin: float,
               min_confidence: float, valence: bool, align: bool) -> FacePredictor:  # fmt: skip
    """Return a :class:`FacePredictor` for these options, reused from a recent call if any.

    Only models given by path or registered name and detectors given by name are
    reused; a fitted estimator or a detector instance gets a new predictor every time.
    """
    build = lambda: FacePredictor(model, detector, detector_params, margin,  # noqa: E731
                                  min_confidence, valence=valence, align=align)  # fmt: skip
    if not isinstance(model, str | Path) or not isinstance(detector, str):
        return build()
    from ferengine.models import locate

    path = locate(model)[0]
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return build()  # FacePredictor names the problem
    key = (str(path.resolve()), stamp, detector, json.dumps(detector_params, sort_keys=True,
           default=str), margin, min_confidence, valence, align)  # fmt: skip
    if key not in _PREDICTORS:
        _PREDICTORS[key] = build()
        while len(_PREDICTORS) > _PREDICTOR_CACHE_SIZE:
            _PREDICTORS.popitem(last=False)
    _PREDICTORS.move_to_end(key)
    return _PREDICTORS[key]


@dataclass
class _Options:
    """The per-input options of a run."""

    stride: int
    smooth: int
    batch_size: int
    max_pixels: int | None
    detect_every: int
    bars: bool
    window: int | None
    clip_every: int | None


#: Threads that read images and find their faces beside the one that runs the model.
FIND_THREADS = 2


@contextlib.contextmanager
def _opencv_threads(n: int | None) -> Iterator[None]:
    """Run OpenCV's own loops on ``n`` threads inside the block (restored after it).

    The find threads already keep the cores busy; OpenCV's parallel loops inside each
    of them would only add threads that wait for one another. None changes nothing.
    """
    if n is None:
        yield
        return
    before = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def _rows(items: list[tuple[str, Any]], predictor: FacePredictor,
          annotated: AnnotatedCopies | None,
          options: _Options, videos: list[tuple[str, VideoFrames]],
          advance: Any) -> Iterator[tuple[dict, dict | None]]:  # fmt: skip
    """Rows of every input, in order; each video read adds its frame counts to ``videos``."""
    # Worker threads read the next images and find their faces while this thread
    # classifies the current batch: I/O, detection and the model overlap. OpenCV and dlib
    # release the GIL; models with scratch state lock themselves (BlazeFace's networks
    # are per thread). Videos are read in order on this thread.
    with ThreadPoolExecutor(max_workers=FIND_THREADS, thread_name_prefix="ferengine-find") as pool:
        window: deque[Future[_Prepared]] = deque()

        def flush(keep: int) -> Iterator[tuple[dict, dict | None]]:
            while len(window) > keep:
                n = min(options.batch_size, len(window) - keep)
                batch = [window.popleft().result() for _ in range(n)]
                yield from _image_rows(batch, predictor, annotated, options.bars)
                advance(n)

        for name, source in items:
            if not _is_video(source) and predictor.sequence is not None:
                yield from flush(0)
                yield {"input": name, "faces": [], "error": PHOTO_FOR_CLIPS}, None
                advance(1)
                continue
            if not _is_video(source):
                window.append(pool.submit(_prepare, name, source, predictor, options.max_pixels))
                yield from flush(options.batch_size)
                continue
            yield from flush(0)
            yield from _video_rows(name, source, predictor, annotated, options, videos)
            advance(1)
        yield from flush(0)


def _video_rows(name: str, source: Path, predictor: FacePredictor,
                annotated: AnnotatedCopies | None, options: _Options,
                videos: list[tuple[str, VideoFrames]],
                ) -> Iterator[tuple[dict, dict | None]]:  # fmt: skip
    """Rows of one video; its frame counts are added to ``videos``."""
    target = annotated.path(name, video=True) if annotated is not None else None
    try:
        counts = yield from predict_video(
            source, predictor, options.stride, options.smooth, target, options.max_pixels,
            options.detect_every, options.window, options.clip_every
        )  # fmt: skip
        videos.append((name, counts))
    except InputError as exc:
        yield {"input": name, "frame": None, "faces": [], "error": str(exc)}, None


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
