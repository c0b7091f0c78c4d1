"""Base classes for plugin authors: datasets and augmenters.

Preprocessors, features and classifiers need no ferengine base class: they are
ordinary scikit-learn estimators with a ``name`` attribute (see
:mod:`ferengine.images` for helpers that validate image input).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

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
