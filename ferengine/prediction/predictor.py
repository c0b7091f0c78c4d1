"""Find, crop and classify the faces of one image or a batch of images with a saved model."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ferengine.faces import Landmarker, landmarks_fit
from ferengine.imageops import as_grey, as_uint8
from ferengine.models import ModelCard
from ferengine.plugin import Face, FaceDetector
from ferengine.prediction.windows import SequenceModel
from ferengine.sequences import clip_frame_shape
from ferengine.step_checks import require_probabilities

UNCERTAIN = "uncertain"
#: The landmarker ``landmarks="auto"`` and ``landmarks=True`` use.
DEFAULT_LANDMARKER = "dlib-68"


#: How a face's crop was levelled: on its landmarks' eye line, on the detector's eye
#: keypoints when the landmark fit failed, or not at all (the plain box).
ALIGNMENTS = ("landmarks", "keypoints", "box")


@dataclass
class FoundFace:
    """A detected face before classification: its box, landmarks, crop and alignment."""

    face: Face
    crop: np.ndarray
    landmarks: np.ndarray | None = None
    alignment: str = "box"


@dataclass
class ImageFaces:
    """The faces of one image and the seconds spent per stage finding and cropping them."""

    faces: list[FoundFace] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def input_format(model: Any, card: ModelCard | None = None) -> tuple[tuple[int, int], bool]:
    """Return the crop size (h, w) a model takes and whether it takes colour.

    A registered model's ``card`` says so; any other fitted model records the images it
    was fitted on in its first step's ``image_shape_`` (every ferengine image plugin
    and a registered model's step do), and a model of clips the frames it was fitted on
    (:func:`ferengine.sequences.clip_frame_shape`).

    Raises
    ------
    ValueError
        Neither a card nor an ``image_shape_`` says what the model takes.
    """
    if card is not None:
        return (int(card.input_size[0]), int(card.input_size[1])), card.channels == 3
    steps = [s for _, s in getattr(model, "steps", [("", model)])]
    first = steps[0] if steps else model
    shape = getattr(first, "image_shape_", None) or clip_frame_shape(model)
    if shape is not None and len(shape) >= 2:
        return (int(shape[0]), int(shape[1])), len(shape) == 3 and shape[2] in (3, 4)
    raise ValueError(
        f"cannot tell which crop size {type(first).__name__} takes: it has no model card "
        "and records no image_shape_ (fit it on images with ferengine's image plugins)"
    )


def class_names(model: Any) -> list[str]:
    """Return the names of a fitted model's classes (from its label space when it has one)."""
    classes = list(getattr(model, "classes_", []))
    space = getattr(model, "label_space_", None)
    if space is not None:
        return [space.names[int(c)] for c in classes]
    return [str(c) for c in classes]


def crop_face(image: np.ndarray, box: tuple[int, int, int, int], margin: float,
              size: tuple[int, int], angle: float = 0.0) -> np.ndarray:  # fmt: skip
    """Cut a face box widened by ``margin`` × its side on every side, resized to ``size``.

    With ``angle`` (degrees, counter-clockwise), the region is turned about the box
    centre first, so that a face tilted by ``-angle`` comes out upright. Parts of the
    widened box outside the image repeat the border pixels.
    """
    x, y, w, h = box
    if abs(angle) >= 1.0:
        # Cut a square with room for the turn's corners, shrink it to about the output
        # size (so the turn costs little on large faces), turn it, then crop as usual.
        side = round(max(w, h) * (1 + 2 * margin) * 1.5)
        corner = round(x + w / 2 - side / 2), round(y + h / 2 - side / 2)
        small = 4 * max(size)  # 4× oversampled: the turn adds little blur
        k = min(1.0, small / side)
        region = crop_face(image, (*corner, side, side), 0.0, (round(side * k),) * 2)
        middle = region.shape[1] / 2, region.shape[0] / 2
        turn = cv2.getRotationMatrix2D(middle, angle, 1.0)
        region = cv2.warpAffine(region, turn, region.shape[1::-1], flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
        bw, bh = max(1, round(w * k)), max(1, round(h * k))
        return crop_face(region, (round(middle[0] - bw / 2), round(middle[1] - bh / 2), bw, bh),
                         margin, size)  # fmt: skip
    m = round(margin * max(w, h))
    x0, y0, x1, y1 = x - m, y - m, x + w + m, y + h + m
    ih, iw = image.shape[:2]
    pad = max(0, -x0, -y0, x1 - iw, y1 - ih)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    region = image[y0 + pad : y1 + pad, x0 + pad : x1 + pad]
    return cv2.resize(region, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def _rounded(names: list[str], proba: np.ndarray) -> dict[str, float]:
    return {n: round(float(p), 4) for n, p in zip(names, proba, strict=True)}


class FaceCropper:
    """Detect every face of an image, landmark it, level it and crop it to a fixed size.

    The face-finding half of :class:`FacePredictor`, with no model: loaders that crop
    faces from photos and videos (``video-folder``) find them exactly as ``predict`` does.

    Parameters
    ----------
    detector : str or FaceDetector
        A detector plugin name ("auto", the default: BlazeFace with fallbacks; "blazeface",
        "haar", "dlib-hog", "dlib-mmod", "none" for ready crops, …) or instance.
    detector_params : dict, optional
        Parameters of the named detector.
    margin : float
        Share of the face box's side added on every side of the crop (FER2013's crops
        show the whole head; a detector's box stops at the brows and chin).
    landmarks : str, bool or None
        The landmarker that places landmarks in each box: a registered landmarker's
        name ("dlib-68", "dlib-5", …; ``ferengine plugins landmarker``), "auto"
        ("dlib-68" when its packages are installed, else none), True ("dlib-68"), or
        False / None (no landmarks).
    align : bool
        Level each face before cropping: turn it about its box centre so that its eye
        line is horizontal — the landmarks' eyes when the landmark fit is plausible
        (:func:`ferengine.faces.landmarks_fit`), else the detector's eye keypoints
        when it places them, else no turn. Each face's ``alignment`` says which
        ("landmarks", "keypoints", "box"); a face whose landmarks do not fit gets
        ``landmarks`` None.
    size : (int, int)
        Height and width of the crops.
    colour : bool
        Crop from the RGB image (H×W×3 crops) instead of its grey version (H×W).
    """

    def __init__(self, detector: Any = "auto", detector_params: dict | None = None,
                 margin: float = 0.2, landmarks: str | bool | None = "auto",
                 align: bool = True, size: tuple[int, int] = (48, 48),
                 colour: bool = False) -> None:  # fmt: skip
        import ferengine

        if not isinstance(detector, FaceDetector):
            detector = ferengine.registry.create("detector", detector, **(detector_params or {}))
        self.detector = detector
        if not margin >= 0:
            raise ValueError(f"margin must be ≥ 0, got {margin!r}")
        self.margin = margin
        self.size, self.colour = (int(size[0]), int(size[1])), bool(colour)
        self.landmarker = self._landmarker(landmarks)
        self.align = bool(align)
        self._warm_up()

    @staticmethod
    def _landmarker(landmarks: str | bool | None) -> Landmarker | None:
        import ferengine

        if landmarks == "auto":
            available = ferengine.registry.get_registry().names("landmarker", available_only=True)
            landmarks = DEFAULT_LANDMARKER if DEFAULT_LANDMARKER in available else None
        elif landmarks is True:
            landmarks = DEFAULT_LANDMARKER
        if not landmarks:
            return None
        if not isinstance(landmarks, str):
            raise ValueError(
                f"landmarks must be a landmarker name, a bool or None, got {landmarks!r}"
            )
        return ferengine.registry.create("landmarker", landmarks)

    def _warm_up(self) -> None:
        """Load the detector's and the landmark predictor's models, so no image pays for it."""
        blank = np.zeros((64, 64), np.uint8)
        self.detector.detect(blank)
        if self.landmarker is not None:
            self.landmarker.locate(blank, np.array([(0, 0, 64, 64)]))

    def find(self, image: np.ndarray) -> ImageFaces:
        """Detect, landmark, level and crop the faces of one image (timed per stage)."""
        timings: dict[str, float] = {}
        image = as_uint8(image)
        faces = self.detector.detect(image, timings)
        return ImageFaces(self.crop(image, faces, timings), timings)

    def crop(self, image: np.ndarray, faces: Sequence[Face],
             timings: dict[str, float]) -> list[FoundFace]:  # fmt: skip
        """Landmark, level and crop given faces of one image (a video's tracked faces).

        The seconds spent are added to ``timings`` under "landmarks" and "crop".
        """
        start = time.perf_counter()
        image = as_uint8(image)
        grey = as_grey(image)
        points = (
            self.landmarker.locate(grey, np.array([f.box for f in faces]))
            if self.landmarker is not None and faces
            else [None] * len(faces)
        )
        timings["landmarks"] = timings.get("landmarks", 0.0) + time.perf_counter() - start
        start = time.perf_counter()
        source = image if self.colour else grey
        found = []
        for face, shape in zip(faces, points, strict=True):
            fits = shape is not None and landmarks_fit(self.landmarker, shape, face.box,
                                                       face.keypoints)  # fmt: skip
            alignment, angle = self._level(face, shape if fits else None)
            crop = crop_face(source, face.box, self.margin, self.size, angle)
            found.append(FoundFace(face, crop, shape if fits else None, alignment))
        timings["crop"] = timings.get("crop", 0.0) + time.perf_counter() - start
        return found

    def _level(self, face: Face, shape: np.ndarray | None) -> tuple[str, float]:
        """Return how a face is levelled and the turn (degrees) that levels it."""
        if not self.align:
            return "box", 0.0
        if shape is not None and self.landmarker is not None:
            left, right = self.landmarker.eye_centres(shape)
            alignment = "landmarks"
        elif face.keypoints is not None and len(face.keypoints) >= 2:
            left, right = face.keypoints[0], face.keypoints[1]
            alignment = "keypoints"
        else:
            return "box", 0.0
        dx, dy = np.asarray(right, float) - np.asarray(left, float)
        return alignment, float(np.degrees(np.arctan2(dy, dx)))


class FacePredictor(FaceCropper):
    """Detect every face of an image, crop it as the model expects and classify it.

    Parameters
    ----------
    model : str, Path or fitted estimator
        A saved model: a path or a registered model's name ("default", the shipped FER+ CNN;
        see :func:`ferengine.models.locate`), or a fitted pipeline. A registered model's
        card gives the crop size; otherwise the size the model was fitted on.
    detector, detector_params, margin
        As for :class:`FaceCropper`.
    min_confidence : float
        Faces whose top probability is lower are labelled "uncertain".
    valence : bool
        Also give a positive / neutral / negative label (probabilities summed per group).
    landmarks, align
        As for :class:`FaceCropper`.

    Attributes
    ----------
    sequence : SequenceModel or None
        How a model of clips (a temporal model,
        :func:`ferengine.sequences.clip_frame_shape`) runs on windows of a track's
        crops (:mod:`ferengine.prediction.windows`); None for a model of single images.

    Raises
    ------
    MissingProbabilitiesError
        The model has no ``predict_proba`` (the confidences are its probabilities); the
        message names the step that lacks it and how to add it.
    """

    def __init__(self, model: Any = "default", detector: Any = "auto",
                 detector_params: dict | None = None, margin: float = 0.2,
                 min_confidence: float = 0.0, valence: bool = False,
                 landmarks: str | bool | None = "auto", align: bool = True) -> None:  # fmt: skip
        import ferengine
        from ferengine.models import locate

        card, source = None, "the model"
        if isinstance(model, str | Path):
            path, plugin = locate(model)
            card = None if plugin is None else plugin.card
            model, source = ferengine.load(path), f"model {path}"
        require_probabilities(model, f"{source}: predict's confidences")
        self.model = model
        if not 0 <= min_confidence <= 1:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence!r}")
        self.min_confidence = min_confidence
        size, colour = input_format(self.model, card)
        self.sequence = None if clip_frame_shape(model) is None else SequenceModel(model)
        self.names = class_names(self.model)
        self.valence = self._valence_table() if valence else None
        super().__init__(detector, detector_params, margin, landmarks, align, size, colour)

    def _valence_table(self) -> tuple[list[str], np.ndarray]:
        from ferengine.labels import VALENCE3, mapping

        space = getattr(self.model, "label_space_", None)
        if space is None:
            raise ValueError("valence labels need a model trained on a known label space")
        table = mapping(space, VALENCE3).table
        onehot = np.zeros((len(self.names), len(VALENCE3.names)))
        for i, name in enumerate(self.names):
            if name in table:
                onehot[i, VALENCE3.index(table[name])] = 1.0
        return list(VALENCE3.names), onehot

    def probabilities(self, crops: list[np.ndarray]) -> np.ndarray:
        """Return the class probabilities of a list of crops (one batch through the model).

        Raises
        ------
        ValueError
            The model takes clips (:attr:`sequence`), not single crops.
        """
        if self.sequence is not None:
            raise ValueError(
                "the model is a temporal model: it classifies clips of video frames, not "
                "single face crops (predict on a video)"
            )
        if not crops:
            return np.zeros((0, len(self.names)))
        return np.asarray(self.model.predict_proba(np.stack(crops)), dtype=float)

    def locate(self, found: FoundFace) -> dict[str, Any]:
        """Return the record of one face without a label: box, score, landmarks, alignment."""
        return {
            "box": [int(v) for v in found.face.box],
            "score": None if found.face.score is None else round(float(found.face.score), 4),
            "found_by": found.face.found_by,
            "alignment": found.alignment,
            "landmarks": None if found.landmarks is None else np.round(found.landmarks, 1).tolist(),
        }

    def describe(self, found: FoundFace, proba: np.ndarray) -> dict[str, Any]:
        """Return the output record of one face: box, landmarks, label, probabilities."""
        return {**self.locate(found), **self.labelled(proba)}

    def labelled(self, proba: np.ndarray) -> dict[str, Any]:
        """Return the label, confidence and probabilities (and valence) of class probabilities.

        The label is "uncertain" when the top probability is below ``min_confidence``.
        """
        top = int(np.argmax(proba))
        record: dict[str, Any] = {
            "label": self.names[top] if proba[top] >= self.min_confidence else UNCERTAIN,
            "confidence": round(float(proba[top]), 4),
            "probabilities": _rounded(self.names, proba),
        }
        if self.valence is not None:
            names, onehot = self.valence
            grouped = proba @ onehot
            record["valence"] = names[int(np.argmax(grouped))]
            record["valence_probabilities"] = _rounded(names, grouped)
        return record

    def classify(self, found: list[ImageFaces | None]) -> list[list[dict]]:
        """Return the face records of images whose faces were found (one model batch).

        An entry None (an input that could not be read) gets an empty list.
        """
        flat = [f for image in found if image is not None for f in image.faces]
        proba = self.probabilities([f.crop for f in flat])
        records = iter(self.describe(f, p) for f, p in zip(flat, proba, strict=True))
        return [[next(records) for _ in (image.faces if image else [])] for image in found]
