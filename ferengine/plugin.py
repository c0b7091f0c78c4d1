"""Base classes for plugin authors: datasets, augmenters and face detectors.

Preprocessors, features and classifiers need no ferengine base class: they are
ordinary scikit-learn estimators with a ``name`` attribute (see
:mod:`ferengine.images` for helpers that validate image input).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from numbers import Integral
from typing import TYPE_CHECKING, ClassVar

import cv2
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from ferengine.imageops import as_grey

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
    """

    box: tuple[int, int, int, int]
    score: float | None = None

    @property
    def area(self) -> int:
        """Box area in pixels."""
        return self.box[2] * self.box[3]


class FaceDetector(BaseEstimator, ABC):
    """Find the faces in one image.

    Subclasses set ``name`` and implement :meth:`_find` on an 8-bit grey image; they
    take ``mode`` ("all" faces or the "largest") and ``max_side`` as constructor
    parameters. :meth:`detect` checks the parameters against ``_parameter_constraints``
    (subclasses extend this class's), converts any image (grey, RGB, RGBA, 16-bit,
    float), shrinks one whose longer side exceeds ``max_side`` for detection, maps the
    boxes back to the original pixels and sorts them largest first.

    Attributes
    ----------
    mode : {"all", "largest"}
        Return every face or only the largest.
    max_side : int or None
        Images with a longer side are shrunk to it for detection (None: never).
    """

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()
    mode: str = "all"
    max_side: int | None = 1024
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "mode": [StrOptions({"all", "largest"})],
        "max_side": [None, Interval(Integral, 1, None, closed="left")],
    }

    @abstractmethod
    def _find(self, grey: np.ndarray) -> list[tuple[float, float, float, float, float | None]]:
        """Return ``(x, y, width, height, score)`` of each face in an 8-bit grey image."""

    def detect(self, image: np.ndarray) -> list[Face]:
        """Return the faces of one image, largest first (only the largest in "largest" mode)."""
        self._validate_params()
        grey = as_grey(image)
        h, w = grey.shape
        scale = 1.0
        if self.max_side and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        faces = []
        for x, y, bw, bh, score in self._find(grey):
            x0, y0 = max(0, round(x / scale)), max(0, round(y / scale))
            x1, y1 = min(w, round((x + bw) / scale)), min(h, round((y + bh) / scale))
            if x1 > x0 and y1 > y0:
                faces.append(Face((x0, y0, x1 - x0, y1 - y0), score))
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces[:1] if self.mode == "largest" else faces
