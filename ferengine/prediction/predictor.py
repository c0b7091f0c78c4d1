"""Find, crop and classify the faces of one image or a batch of images with a saved model."""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ferengine.plugin import Face, FaceDetector, as_grey, as_uint8

UNCERTAIN = "uncertain"


@dataclass
class FoundFace:
    """A detected face before classification: its box, score, landmarks and model crop."""

    face: Face
    crop: np.ndarray
    landmarks: np.ndarray | None = None


@dataclass
class ImageFaces:
    """The faces of one image and the seconds spent finding and cropping them."""

    faces: list[FoundFace] = field(default_factory=list)
    seconds: float = 0.0


def input_format(model: Any) -> tuple[tuple[int, int], bool]:
    """Return the crop size (h, w) a fitted model was trained on and whether it took colour.

    Read from the first step's ``image_shape_`` (ferengine's image plugins) or a
    ``cnn``'s ``size_``; 48×48 grey when the model records neither.
    """
    steps = [s for _, s in getattr(model, "steps", [("", model)])]
    first = steps[0] if steps else model
    shape = getattr(first, "image_shape_", None)
    if shape is not None and len(shape) >= 2:
        return (int(shape[0]), int(shape[1])), len(shape) == 3 and shape[2] in (3, 4)
    size = getattr(first, "size_", None)
    if size:
        return (int(size), int(size)), False
    return (48, 48), False


def class_names(model: Any) -> list[str]:
    """Return the names of a fitted model's classes (from its label space when it has one)."""
    classes = list(getattr(model, "classes_", []))
    space = getattr(model, "label_space_", None)
    if space is not None:
        return [space.names[int(c)] for c in classes]
    return [str(c) for c in classes]


def crop_face(image: np.ndarray, box: tuple[int, int, int, int], margin: float,
              size: tuple[int, int]) -> np.ndarray:  # fmt: skip
    """Cut a face box widened by ``margin`` × its side on every side, resized to ``size``.

    Parts of the widened box outside the image repeat the border pixels.
    """
    x, y, w, h = box
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


class FacePredictor:
    """Detect every face of an image, crop it as the model expects and classify it.

    Parameters
    ----------
    model : str, Path or fitted estimator
        A saved model (a path, or "default" for the shipped CNN) or a fitted pipeline.
    detector : str or FaceDetector
        A detector plugin name ("haar", "dlib-hog", "dlib-mmod", "none", …) or instance.
    detector_params : dict, optional
        Parameters of the named detector.
    margin : float
        Share of the face box's side added on every side of the crop (FER2013's crops
        show the whole head; a detector's box stops at the brows and chin).
    min_confidence : float
        Faces whose top probability is lower are labelled "uncertain".
    valence : bool
        Also give a positive / neutral / negative label (probabilities summed per group).
    landmarks : bool or "auto"
        Place dlib's 68 landmarks in each box ("auto": when dlib is installed).
    """

    def __init__(self, model: Any = "default", detector: Any = "haar",
                 detector_params: dict | None = None, margin: float = 0.2,
                 min_confidence: float = 0.0, valence: bool = False,
                 landmarks: Any = "auto") -> None:  # fmt: skip
        import ferengine

        self.model = ferengine.load(model) if isinstance(model, str | Path) else model
        if not isinstance(detector, FaceDetector):
            detector = ferengine.registry.create("detector", detector, **(detector_params or {}))
        self.detector = detector
        if not margin >= 0:
            raise ValueError(f"margin must be ≥ 0, got {margin!r}")
        if not 0 <= min_confidence <= 1:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence!r}")
        self.margin = margin
        self.min_confidence = min_confidence
        self.size, self.colour = input_format(self.model)
        self.names = class_names(self.model)
        self.valence = self._valence_table() if valence else None
        if landmarks == "auto":
            landmarks = importlib.util.find_spec("dlib") is not None
        self.landmarks = bool(landmarks)
        self._landmark_model = None
        if self.landmarks:
            from ferengine_classic.features.landmarks import default_model_path

            self._landmark_model = str(default_model_path())
        self._warm_up()

    def _warm_up(self) -> None:
        """Load the detector's and the landmark predictor's models, so no image pays for it."""
        blank = np.zeros((64, 64), np.uint8)
        self.detector.detect(blank)
        if self.landmarks:
            self._landmarks(blank, (0, 0, 64, 64))

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

    def find(self, image: np.ndarray) -> ImageFaces:
        """Detect, landmark and crop the faces of one image (timed)."""
        start = time.perf_counter()
        image = as_uint8(image)
        grey = as_grey(image)
        source = image if self.colour else grey
        found = []
        for face in self.detector.detect(grey):
            points = self._landmarks(grey, face.box) if self.landmarks else None
            crop = crop_face(source, face.box, self.margin, self.size)
            found.append(FoundFace(face, crop, points))
        return ImageFaces(found, time.perf_counter() - start)

    def _landmarks(self, grey: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        from ferengine_classic.features.landmarks import shape_in_box

        return shape_in_box(grey, box, self._landmark_model)

    def probabilities(self, crops: list[np.ndarray]) -> np.ndarray:
        """Return the class probabilities of a list of crops (one batch through the model)."""
        if not crops:
            return np.zeros((0, len(self.names)))
        batch = np.stack(crops)
        if hasattr(self.model, "predict_proba"):
            return np.asarray(self.model.predict_proba(batch), dtype=float)
        codes = np.asarray(self.model.predict(batch))  # no probabilities: one-hot votes
        classes = list(self.model.classes_)
        return np.eye(len(classes))[[classes.index(c) for c in codes]]

    def describe(self, found: FoundFace, proba: np.ndarray) -> dict[str, Any]:
        """Return the output record of one face: box, landmarks, label, probabilities."""
        top = int(np.argmax(proba))
        record: dict[str, Any] = {
            "box": [int(v) for v in found.face.box],
            "score": None if found.face.score is None else round(float(found.face.score), 4),
            "landmarks": None if found.landmarks is None else np.round(found.landmarks, 1).tolist(),
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

    def predict_images(self, images: list[np.ndarray]) -> tuple[list[list[dict]], list[float]]:
        """Return each image's face records and its detection-and-crop seconds.

        The faces of all the images go through the model as one batch.
        """
        found = [self.find(image) for image in images]
        flat = [f for image in found for f in image.faces]
        proba = self.probabilities([f.crop for f in flat])
        records = iter(self.describe(f, p) for f, p in zip(flat, proba, strict=True))
        return [[next(records) for _ in image.faces] for image in found], [i.seconds for i in found]
