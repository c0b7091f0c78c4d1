"""Base classes for image plugins: preprocessors (images → images) and features (images → vectors).

Plugin authors subclass :class:`ImageFeature` and implement ``_extract`` (one batch
of grey float32 images to an N×D array); batching, joblib parallelism, input
validation, the fitted-shape check and float32 output come from the base class.
:class:`ImagePreprocessor` does the same for per-image transforms.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ferengine.imageops import to_grey
from ferengine.images import validate_images


def batches(n: int, size: int) -> list[slice]:
    """Split ``range(n)`` into consecutive slices of at most ``size`` items."""
    return [slice(i, min(i + size, n)) for i in range(0, n, max(1, size))]


def map_batches(
    func: Any, X: np.ndarray, n_jobs: int | None, batch_size: int, prefer: str = "threads"
) -> np.ndarray:
    """Apply ``func`` to consecutive batches of ``X`` (in parallel with joblib) and stack.

    ``prefer="threads"`` suits work that releases the GIL (OpenCV, numpy, scipy.fft)
    and avoids copying images to worker processes; ``"processes"`` suits the rest.
    """
    parts = batches(len(X), batch_size)
    if n_jobs in (None, 1) or len(parts) == 1:
        out = [func(X[s]) for s in parts]
    else:
        out = Parallel(n_jobs=n_jobs, prefer=prefer)(delayed(func)(X[s]) for s in parts)
    return np.concatenate(out)


class _ImageBase(TransformerMixin, BaseEstimator):
    """Shared validation: images in, fitted shape remembered, same shape required later."""

    #: Estimator-check adapters and the docs read this: input must be images, not vectors.
    _image_input = True
    #: Whether ``transform`` needs images of the fitted height and width.
    _same_size = True

    def _check_params(self) -> None:
        """Raise ValueError naming a bad parameter (subclasses override)."""

    def _validate(self, X: Any, reset: bool) -> np.ndarray:
        if reset:
            self._check_params()
            return validate_images(self, X, reset=True, flat_ok=False)
        check_is_fitted(self, "image_shape_")
        X = validate_images(self, X, reset=False, flat_ok=False)
        if self._same_size and X.shape[1:3] != tuple(self.image_shape_[:2]):
            raise ValueError(
                f"{type(self).__name__}: images are {X.shape[1]}×{X.shape[2]} but it was fitted "
                f"on {self.image_shape_[0]}×{self.image_shape_[1]}; add a 'resize' step"
            )
        return X


class ImageFeature(_ImageBase):
    """Base class of feature extractors: a batch of images in, an N×D float32 matrix out.

    Subclasses store their constructor parameters (including ``n_jobs`` and
    ``batch_size``) and implement ``_extract(grey)``, where ``grey`` is a float32
    N×H×W batch on the 0–255 scale; they may override ``_fit(grey, y)`` to learn
    something (a codebook, say) and ``_check_params`` to reject bad parameters.
    """

    n_jobs: int | None = None
    batch_size: int = 512
    #: joblib's backend preference for ``n_jobs``: "threads" when ``_extract`` releases the
    #: GIL (OpenCV, numpy), "processes" when it holds it (dlib's shape predictor).
    _prefer = "threads"

    def _fit(self, grey: np.ndarray, y: Any) -> None:
        """Learn from the training images (nothing by default)."""

    def _extract(self, grey: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self, X: Any, y: Any = None) -> ImageFeature:
        """Check the parameters, remember the image shape and learn what the feature needs.

        Parameters
        ----------
        X : array-like of shape (n_images, height, width) or (n_images, height, width, channels)
            Training images (colour is converted to grey).
        y : array-like, optional
            Ignored by unsupervised features.

        Returns
        -------
        self
        """
        grey = to_grey(self._validate(X, reset=True))
        self._fit(grey, y)
        self.n_features_out_ = int(self._extract(grey[:1]).shape[1])
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Return the N×D float32 feature matrix of a batch of images."""
        grey = to_grey(self._validate(X, reset=False))
        out = map_batches(self._extract, grey, self.n_jobs, self.batch_size, self._prefer)
        return np.ascontiguousarray(out, dtype=np.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


class ImagePreprocessor(_ImageBase):
    """Base class of preprocessors: a batch of images in, a batch of images out.

    Subclasses implement ``_apply(images)`` on a validated batch and may override
    ``_fit(images)`` to learn statistics from the training images. Unless a
    subclass sets ``_same_size = True``, any image size is accepted after fitting.
    """

    _same_size = False

    def _fit(self, X: np.ndarray) -> None:
        """Learn from the training images (nothing by default)."""

    def _apply(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self, X: Any, y: Any = None) -> ImagePreprocessor:
        """Check the parameters and remember the image shape (and learn statistics if any).

        Returns
        -------
        self
        """
        self._fit(self._validate(X, reset=True))
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Return the preprocessed batch of images."""
        return self._apply(self._validate(X, reset=False))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
