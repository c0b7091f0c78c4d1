"""Face clips from videos or frame folders: the face found, followed and cropped in every frame.

Clips are video files or folders of frames (sorted by file name), found in one folder per
class (optionally under split folders, as ``image-folder`` reads stills) or listed in a
CSV manifest. Each clip's face is found as ``ferengine predict`` finds faces in a video
(:class:`~ferengine.prediction.video.VideoFaces`: the detector every ``detect_every``
frames, optical flow between, landmarks and levelling), the longest face track is kept,
and its crops are cached per clip (:mod:`ferengine.clipcache`).
"""

from __future__ import annotations

import csv
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
from sklearn.utils._param_validation import Interval

import ferengine.prediction.predictor
import ferengine.prediction.tracking
import ferengine.prediction.video
from ferengine import registry
from ferengine.clipcache import cached_arrays, code_digest
from ferengine.errors import DatasetError
from ferengine.imageops import size_pair
from ferengine.labels import LabelSpace
from ferengine.loading import IMAGE_EXTENSIONS, MAX_PIXELS, LoadReport, read_image
from ferengine.plugin import DatasetPlugin, FaceDetector
from ferengine.prediction.inputs import VIDEO_SUFFIXES, InputError
from ferengine.prediction.predictor import DEFAULT_LANDMARKER, FaceCropper
from ferengine.prediction.video import DETECT_EVERY, VideoFaces, open_video, read_frames
from ferengine.sequences import ClipDataset
from ferengine_datasets.image_folder import class_folders, class_label_space

#: Columns a manifest must have (``split`` is optional).
MANIFEST_COLUMNS = ("path", "label", "subject")

#: Parameters that shape the cached crops of a clip (the others apply after the cache).
CROP_PARAMS = ("size", "color", "detector", "detector_params", "landmarks", "align",
               "margin", "detect_every", "stride", "max_pixels")  # fmt: skip


@dataclass(slots=True)
class _Clip:
    """A clip to read: its source, where problems are reported, label, subject and split."""

    path: Path
    where: str
    label: str
    subject: Any  # str, None, or _NO_MATCH
    split: str | None


def _frames_of(path: Path) -> list[Path]:
    """Return the frame files of a folder of frames, sorted by name."""
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _is_clip(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES or path.is_dir()


class VideoFolder(DatasetPlugin):
    r"""Face clips from video files or frame folders, in class folders or listed in a CSV.

    Layouts (``path``):

    - a folder of class folders (``happy/``, ``surprise/``, …), optionally under split
      folders (``train/``, ``test/``, …, as ``image-folder``), each holding clips: video
      files (``.mp4``, ``.avi``, ``.mov``, ``.mkv``, ``.webm``, ``.m4v``, ``.mpg``,
      ``.mpeg``) and folders of frames (images, in file-name order);
    - a CSV manifest with columns ``path,label,subject`` and optionally ``split``;
      ``path`` is a video file or a folder of frames, relative to the manifest's folder.

    Every ``stride``-th frame of a clip is decoded (OpenCV) and its faces found as
    ``ferengine predict`` finds them in a video: the detector on every ``detect_every``-th
    of those frames, optical flow moving the boxes between detections, then landmarks,
    levelling and a crop of ``size`` pixels (grey, or RGB with ``color``). Faces get
    track ids, and the clip keeps the longest track (ties: the larger mean box), so a
    passer-by in a few frames never replaces the subject; frames where that face was lost
    are left out (``frame_meta["frame"]`` gives each kept frame's index in the source).
    The crops of each clip are cached (:mod:`ferengine.clipcache`, keyed by the clip's
    file and the parameters that shape the crops), so a second load reads no video.

    A bad clip — an unreadable video, a folder without frames or with an unreadable
    frame, a clip in which no face is found, or one whose face is found in fewer than
    ``min_frames`` frames — raises a :class:`~ferengine.errors.DatasetError` naming it
    when ``strict``, and is otherwise skipped and listed in ``meta["skipped"]``. A video
    that ends before the frame count its container announces, or has frames that do not
    decode, keeps the frames that do and is listed in ``meta["incomplete"]``.

    Parameters
    ----------
    path : str or Path
        The root folder, or the manifest (a ``.csv`` file).
    label_space : str or LabelSpace, optional
        Space of the class names (matched through aliases); ``None`` picks the first of
        fer7, ckplus7, ckplus8, ferplus8, affectnet8 holding all of them; ``"folders"``
        makes a space of the names as they are, sorted.
    subject_regex : str, optional
        In the folder layout: a regular expression searched in each clip's file or folder
        name, its first group the subject (``S(\d+)_``); a clip it does not match is a
        bad clip. Without it clips have no subject. A manifest gives subjects itself.
    size : int or (int, int)
        Side (or height and width) of the face crops.
    color : bool
        RGB crops (T×H×W×3) instead of grey.
    detector : str or FaceDetector
        The face detector (a registered name: "auto", "blazeface", "haar", …).
    detector_params : dict, optional
        Parameters of the named detector.
    landmarks : str, bool or None
        Landmarker used to level the faces ("auto": "dlib-68" when installed; False: none),
        as ``ferengine predict``'s.
    align : bool
        Level each face on its eye line before cropping.
    margin : float
        Share of the face box's side added on every side of the crop.
    detect_every : int
        Processed frames per detection; optical flow follows the faces in between.
    stride : int
        Keep every ``stride``-th frame of each clip.
    min_frames : int
        Fewest frames (with the face) a clip must keep.
    strict : bool
        Raise on the first bad clip (True) or skip and report it (False).
    max_pixels : int or None
        Frames larger than this (width × height, from the video's header or the image's)
        make a bad clip, refused before decoding.
    cache : bool
        Keep each clip's crops in the cache folder and read them from there next time.
    cache_dir : str, optional
        Cache folder; default ``$FERENGINE_CACHE``, else the user cache folder
        (:func:`ferengine.datacache.cache_root`).

    Notes
    -----
    ``frame_meta`` holds, per kept frame, ``"frame"`` (its index in the video, or in the
    sorted frame folder), ``"box"`` (the face box, ``x, y, width, height`` in the frame's
    pixels) and ``"file"`` (the video, or the frame's image, relative to the root folder
    or manifest folder).
    """

    name = "video-folder"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "path": [str, os.PathLike],
        "label_space": [None, str, LabelSpace],
        "subject_regex": [None, str],
        "size": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "color": ["boolean"],
        "detector": [str, FaceDetector],
        "detector_params": [None, dict],
        "landmarks": [None, "boolean", str],
        "align": ["boolean"],
        "margin": [Interval(Real, 0, None, closed="left")],
        "detect_every": [Interval(Integral, 1, None, closed="left")],
        "stride": [Interval(Integral, 1, None, closed="left")],
        "min_frames": [Interval(Integral, 1, None, closed="left")],
        "strict": ["boolean"],
        "max_pixels": [None, Interval(Integral, 1, None, closed="left")],
        "cache": ["boolean"],
        "cache_dir": [None, str, os.PathLike],
    }

    def __init__(
        self,
        path,
        label_space=None,
        subject_regex: str | None = None,
        size=48,
        color: bool = False,
        detector="auto",
        detector_params: dict | None = None,
        landmarks: str | bool | None = "auto",
        align: bool = True,
        margin: float = 0.2,
        detect_every: int = DETECT_EVERY,
        stride: int = 1,
        min_frames: int = 2,
        strict: bool = True,
        max_pixels: int | None = MAX_PIXELS,
        cache: bool = True,
        cache_dir: str | None = None,
    ) -> None:
        self.path = path
        self.label_space = label_space
        self.subject_regex = subject_regex
        self.size = size
        self.color = color
        self.detector = detector
        self.detector_params = detector_params
        self.landmarks = landmarks
        self.align = align
        self.margin = margin
        self.detect_every = detect_every
        self.stride = stride
        self.min_frames = min_frames
        self.strict = strict
        self.max_pixels = max_pixels
        self.cache = cache
        self.cache_dir = cache_dir

    def load(self) -> ClipDataset:
        """Find the clips, then read (or open the cached) face crops of each."""
        self._validate_params()
        size_pair(self.size, "video-folder: size")
        root = Path(self.path)
        report = LoadReport(f"video-folder {root}", self.strict)
        if root.is_file():
            base, clips, space = root.parent, *self._manifest(root, report)
        elif root.is_dir():
            base, clips, space = root, *self._folders(root, report)
        else:
            raise DatasetError(f"video-folder: {root} is neither a folder nor a manifest file")
        cropper = _Lazy(self._cropper)
        out: dict[str, list] = {"clips": [], "labels": [], "subjects": [], "splits": []}
        frame_meta: dict[str, list[np.ndarray]] = {"frame": [], "box": [], "file": []}
        incomplete = []
        for clip in clips:
            try:
                found = self._faces(clip.path, cropper)
            except InputError as exc:
                report.problem(clip.where, str(exc))
                continue
            except DatasetError as exc:  # from a frame file: the where is the clip's
                report.problem(clip.where, str(exc).split(": ", 1)[-1])
                continue
            problem = self._problem(found)
            if problem is not None:
                report.problem(clip.where, problem)
                continue
            if str(found["incomplete"]):
                incomplete.append({"where": clip.where, "reason": str(found["incomplete"])})
            out["clips"].append(found["crops"])
            out["labels"].append(space.index(clip.label))
            out["subjects"].append(clip.subject)
            out["splits"].append(clip.split)
            frame_meta["frame"].append(found["frames"])
            frame_meta["box"].append(found["boxes"])
            frame_meta["file"].append(_relative(found["files"], base))
        if not out["clips"]:
            raise report.nothing_loaded(f"no usable clips under {root}")
        column = lambda k: None if all(v is None for v in out[k]) else out[k]  # noqa: E731
        return ClipDataset(
            clips=out["clips"],
            labels=np.array(out["labels"], dtype=np.int64),
            label_space=space,
            subjects=column("subjects"),
            splits=column("splits"),
            source=report.source,
            frame_meta=frame_meta,
            meta={**report.meta(), "incomplete": incomplete},
        )

    # -- finding the clips ---------------------------------------------------------------

    def _folders(self, root: Path, report: LoadReport) -> tuple[list[_Clip], LabelSpace]:
        """List the clips of a folder of class folders (and their label space)."""
        layout = class_folders(root, "video-folder")
        space = class_label_space(self.label_space, sorted({d.name for _, d in layout}),
                                  root.name, "video-folder")  # fmt: skip
        regex = self._regex()
        clips = []
        for split, folder in layout:
            entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
            found = [p for p in entries if _is_clip(p)]
            if not found:
                report.problem(folder.relative_to(root), "class folder holds no clips")
            for path in found:
                subject = None
                if regex is not None:
                    match = regex.search(path.name)
                    subject = match.group(1) if match else _NO_MATCH
                clips.append(_Clip(path, str(path.relative_to(root)), folder.name, subject, split))
        return self._checked(clips, report), space

    def _manifest(self, manifest: Path, report: LoadReport) -> tuple[list[_Clip], LabelSpace]:
        """List the clips of a CSV manifest (and their label space)."""
        with open(manifest, newline="", encoding="utf-8-sig") as fh:  # a BOM is no column
            reader = csv.DictReader(fh)
            missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetError(
                    f"video-folder: {manifest}: columns {missing} missing; found "
                    f"{reader.fieldnames} (expected {', '.join(MANIFEST_COLUMNS)}[, split])"
                )
            rows = list(enumerate(reader, start=2))
        clips = []
        for lineno, row in rows:
            path = Path(row["path"] or "")
            path = path if path.is_absolute() else manifest.parent / path
            split = (row.get("split") or "").strip() or None
            clips.append(_Clip(path, f"line {lineno} ({row['path']})", (row["label"] or "").strip(),
                               (row["subject"] or "").strip(), split))  # fmt: skip
        labels = sorted({c.label for c in clips if c.label})
        if not labels:
            raise DatasetError(f"video-folder: {manifest} lists no labelled clip")
        space = class_label_space(
            self.label_space, labels, manifest.stem, "video-folder", what="labels"
        )
        return self._checked(clips, report), space

    def _regex(self) -> re.Pattern | None:
        if not self.subject_regex:
            return None
        regex = re.compile(self.subject_regex)
        if regex.groups < 1:
            raise ValueError(f"video-folder: subject_regex {self.subject_regex!r} has no group")
        return regex

    def _checked(self, clips: list[_Clip], report: LoadReport) -> list[_Clip]:
        """Return the clips whose listing is usable; report the others (as bad clips)."""
        good = []
        for clip in clips:
            if not clip.label:
                report.problem(clip.where, "label is empty")
            elif clip.subject == "":
                report.problem(clip.where, "subject is empty")
            elif clip.subject is _NO_MATCH:
                report.problem(clip.where, f"name does not match subject_regex "
                                           f"{self.subject_regex!r}")  # fmt: skip
            elif not clip.path.exists():
                report.problem(clip.where, "no such file or folder")
            elif not _is_clip(clip.path):
                report.problem(clip.where, "neither a video file nor a folder of frames")
            else:
                good.append(clip)
        return good

    # -- reading a clip --------------------------------------------------------------------

    def _cropper(self) -> FaceCropper:
        size = size_pair(self.size, "video-folder: size")
        return FaceCropper(self.detector, self.detector_params, self.margin, self.landmarks,
                           self.align, size, self.color)  # fmt: skip

    def _faces(self, path: Path, cropper: _Lazy) -> dict[str, np.ndarray]:
        """Return the crops, frame indices, boxes and files of a clip's longest face track."""

        def build() -> dict[str, np.ndarray]:
            notes: list[str] = []
            found = _track(self._decode(path, notes), cropper(), self.detect_every, self._shape())
            return {**found, "incomplete": np.array(notes[0] if notes else "")}

        if not self.cache:
            return build()
        return cached_arrays(self.name, [self._crop_params(), _CODE], path, build, self.cache_dir)

    def _crop_params(self) -> dict[str, Any]:
        """Return the parameters that shape the crops (part of each clip's cache key)."""
        params = {k: v for k, v in self.get_params(deep=False).items() if k in CROP_PARAMS}
        if params["landmarks"] == "auto":  # what "auto" means depends on what is installed
            available = registry.get_registry().names("landmarker", available_only=True)
            params["landmarks"] = DEFAULT_LANDMARKER if DEFAULT_LANDMARKER in available else None
        return params

    def _shape(self) -> tuple[int, ...]:
        h, w = size_pair(self.size, "video-folder: size")
        return (h, w, 3) if self.color else (h, w)

    def _decode(self, path: Path, notes: list[str]) -> Iterator[tuple[int, np.ndarray, str]]:
        """Yield ``(index, RGB frame, file)`` of every ``stride``-th frame of a clip.

        A video that ended early or had frames that did not decode adds what is wrong
        to ``notes`` (its frames that decode are yielded).
        """
        if path.is_dir():
            files = _frames_of(path)
            if not files:
                raise DatasetError(f"{path}: frame folder holds no images")
            first = None
            for index in range(0, len(files), self.stride):
                frame = read_image(files[index], color=True, max_pixels=self.max_pixels)
                first = frame.shape if first is None else first
                if frame.shape != first:
                    raise DatasetError(
                        f"{files[index]}: frame {files[index].name} is {frame.shape[1]}×"
                        f"{frame.shape[0]}, the folder's first frame {first[1]}×{first[0]}"
                    )
                yield index, frame, str(files[index])
            return
        with open_video(path, self.max_pixels) as (capture, counts):
            for index, bgr in read_frames(capture, counts):
                if index % self.stride == 0:
                    yield index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), str(path)
        problem = counts.problem()
        if problem is not None:
            notes.append(problem)

    def _problem(self, found: dict[str, np.ndarray]) -> str | None:
        """Say why a clip's faces make a bad clip, or None."""
        kept, seen = len(found["crops"]), int(found["n_frames"])
        if not kept:
            return f"no face found in any of its {seen} frames"
        if kept < self.min_frames:
            return (
                f"the face is found in {kept} of its {seen} frames, fewer than "
                f"min_frames={self.min_frames}"
            )
        return None


#: A subject that ``subject_regex`` did not match (told apart from every real subject).
_NO_MATCH: Any = object()

#: Digest of the code that shapes the crops: a change to it never serves stale crops.
_CODE = code_digest(
    [
        sys.modules[__name__],
        ferengine.prediction.predictor,
        ferengine.prediction.video,
        ferengine.prediction.tracking,
    ]
)


class _Lazy:
    """Build a value on first call (the cropper loads detector and landmark models)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make, self.value = make, None

    def __call__(self) -> Any:
        if self.value is None:
            self.value = self.make()
        return self.value


def _relative(files: np.ndarray, base: Path) -> np.ndarray:
    """Return file paths relative to ``base`` where they lie under it."""
    out = []
    for f in files.tolist():
        try:
            out.append(str(Path(f).relative_to(base)))
        except ValueError:
            out.append(f)
    return np.array(out)


def _track(frames: Iterator[tuple[int, np.ndarray, str]], cropper: FaceCropper,
           detect_every: int, shape: tuple[int, ...]) -> dict[str, np.ndarray]:  # fmt: skip
    """Follow the faces through the frames; return the longest track's crops and where from."""
    faces = VideoFaces(cropper, detect_every)
    tracks: dict[int, list[tuple[int, np.ndarray, tuple, str]]] = {}
    seen = 0
    for index, rgb, file in frames:
        seen += 1
        found, ids = faces.find(rgb, cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        for face, track in zip(found.faces, ids, strict=True):
            tracks.setdefault(track, []).append((index, face.crop, face.face.box, file))
    best: list = []
    if tracks:
        area = lambda t: float(np.mean([b[2] * b[3] for _, _, b, _ in t]))  # noqa: E731
        best = max(tracks.values(), key=lambda t: (len(t), area(t)))
    return {
        "crops": np.stack([c for _, c, _, _ in best]) if best else np.zeros((0, *shape), np.uint8),
        "frames": np.array([i for i, _, _, _ in best], dtype=np.int64),
        "boxes": np.array([b for _, _, b, _ in best], dtype=np.int64).reshape(-1, 4),
        "files": np.array([f for _, _, _, f in best], dtype=str),
        "n_frames": np.array(seen),
    }
