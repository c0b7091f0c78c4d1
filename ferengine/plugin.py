"""Base classes for plugin authors: datasets, augmenters and face detectors.

Preprocessors, features and classifiers need no ferengine base class: they are
ordinary scikit-learn estimators with a ``name`` attribute (see
:mod:`ferengine.images` for helpers that validate image input).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Integral
from typing import TYPE_CHECKING, ClassVar, NamedTuple

import cv2
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from ferengine.imageops import as_uint8

if TYPE_CHECKING:
    from ferengine.dataset import FaceDataset


class DatasetPlugin(BaseEstimator, ABC):
    """A dataset loader: constructor parameters in, :class:`FaceDataset` out.

    Subclasses set ``name`` and implement :meth:`load`. Loading parameters are
    constructor keywords stored unchanged (``get_params`` works as in scikit-learn).
    """

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def load(self) -> FaceDataset:
        """Read the data and return it as a :class:`~ferengine.FaceDataset`."""


class Augmenter(BaseEstimator, ABC):
    """A random, label-preserving image transformation applied during training only.

    Subclasses set ``name`` and implement :meth:`augment`.
    """

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def augment(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return a randomly transformed copy of a batch of uint8 images."""


@dataclass
class Face:
    """A face found in an image.

    Attributes
    ----------
    box : (int, int, int, int)
        ``(x, y, width, height)`` in the pixels of the image given to the detector.
    score : float or None
        The detector's confidence (its own scale), if it gives one.
    keypoints : ndarray of shape (n, 2) or None
        Points the detector places with the box (BlazeFace: the image's left eye, right
        eye, nose tip, mouth centre, left and right ear tragion), (x, y) in the same pixels.
    found_by : str or None
        The detector, or the stage of a multi-stage detector, that found the face
        (``"blazeface"``, ``"blazeface-rotated"``, ``"whole-image"``, …).
    """

    box: tuple[int, int, int, int]
    score: float | None = None
    keypoints: np.ndarray | None = None
    found_by: str | None = None

    @property
    def area(self) -> int:
        """Box area in pixels."""
        return self.box[2] * self.box[3]


class Found(NamedTuple):
    """One face as :meth:`FaceDetector._find` reports it, in the pixels it was given.

    A plain ``(x, y, width, height, score)`` tuple is one too; ``keypoints`` and
    ``found_by`` are optional.
    """

    x: float
    y: float
    width: float
    height: float
    score: float | None = None
    keypoints: np.ndarray | None = None
    found_by: str | None = None


class FaceDetector(BaseEstimator, ABC):
    """Find the faces in one image.

    Subclasses set ``name`` and implement :meth:`_find` on an 8-bit grey image (an 8-bit
    RGB one when the class sets ``colour = True``); they take ``mode`` ("all" faces or
    the "largest") and ``max_side`` as constructor parameters. :meth:`detect` checks the
    parameters against ``_parameter_constraints`` (subclasses extend this class's),
    converts any image (grey, RGB, RGBA, 16-bit, float), shrinks one whose longer side
    exceeds ``max_side`` for detection, maps the boxes and keypoints back to the original
    pixels and sorts them largest first.

    Attributes
    ----------
    mode : {"all", "largest"}
        Return every face or only the largest.
    max_side : int or None
        Images with a longer side are shrunk to it for detection (None: never).
    colour : bool
        Class attribute: :meth:`_find` takes RGB rather than grey.
    weights : str or None
        Class attribute, the detector's card: the learned model files it runs, where they
        come from and their licence (``ferengine plugins show detector NAME`` prints it).
    """

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()
    colour: ClassVar[bool] = False
    weights: ClassVar[str | None] = None
    mode: str = "all"
    max_side: int | None = 1024
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "mode": [StrOptions({"all", "largest"})],
        "max_side": [None, Interval(Integral, 1, None, closed="left")],
    }

    @abstractmethod
    def _find(self, image: np.ndarray) -> Iterable[tuple]:
        """Return each face of an 8-bit image as a :class:`Found` or ``(x, y, w, h, score)``."""

    def _search(self, image: np.ndarray, timings: dict[str, float]) -> list[tuple]:
        """Run :meth:`_find`, adding its seconds to ``timings`` under the detector's name.

        A multi-stage detector overrides this to time each stage under its own name.
        """
        start = time.perf_counter()
        found = list(self._find(image))
        timings[self.name] = timings.get(self.name, 0.0) + time.perf_counter() - start
        return found

    def detect(self, image: np.ndarray, timings: dict[str, float] | None = None) -> list[Face]:
        """Return the faces of one image, largest first (only the largest in "largest" mode).

        Parameters
        ----------
        image : ndarray
            Grey, RGB or RGBA; 8-bit, 16-bit or float.
        timings : dict, optional
            Seconds spent are added to it under the detector's name (a multi-stage
            detector adds one entry per stage).
        """
        self._validate_params()
        pixels = as_uint8(image)
        if self.colour and pixels.ndim == 2:
            pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
        elif not self.colour and pixels.ndim == 3:
            pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
        h, w = pixels.shape[:2]
        scale = 1.0
        if self.max_side and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
        faces = []
        for item in self._search(pixels, {} if timings is None else timings):
            found = Found(*item)
            x0, y0 = max(0, round(found.x / scale)), max(0, round(found.y / scale))
            x1 = min(w, round((found.x + found.width) / scale))
            y1 = min(h, round((found.y + found.height) / scale))
            if x1 > x0 and y1 > y0:
                points = None if found.keypoints is None else np.asarray(found.keypoints) / scale
                score = None if found.score is None else float(found.score)
                faces.append(Face((x0, y0, x1 - x0, y1 - y0), score, points,
                                  found.found_by or self.name))  # fmt: skip
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces[:1] if self.mode == "largest" else faces
