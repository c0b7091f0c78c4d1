"""Base classes for image plugins: preprocessors (images → images) and features (images → vectors).

Plugin authors subclass :class:`ImageFeature` and implement ``_extract`` (one batch
of grey float32 images to an N×D array); batching, joblib parallelism, input
validation, the fitted-shape check, the output-shape check and float32 output come
from the base class.
:class:`ImagePreprocessor` does the same for per-image transforms. A feature built
from other features' outputs (``concat``) declares :class:`AssembledFeature`, so the
benchmark runner assembles it from its members' cached features.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar, Protocol

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ferengine.errors import InvalidPluginError, StepOutputError
from ferengine.imageops import to_grey
from ferengine.images import validate_images
from ferengine.steps import step_params


def batches(n: int, size: int) -> list[slice]:
    """Split ``range(n)`` into consecutive slices of at most ``size`` items."""
    return [slice(i, min(i + size, n)) for i in range(0, n, max(1, size))]


def map_batches(
    func: Any,
    X: np.ndarray,
    n_jobs: int | None,
    batch_size: int,
    prefer: str = "threads",
    source: str | None = None,
) -> np.ndarray:
    """Apply ``func`` to consecutive batches of ``X`` (in parallel with joblib) and stack.

    ``prefer="threads"`` suits work that releases the GIL (OpenCV, numpy, scipy.fft)
    and avoids copying images to worker processes; ``"processes"`` suits the rest.
    Each batch is read from ``X`` (``X[a:b]``) only when it is processed, so memory-mapped
    images (:class:`~ferengine.memmap.MemmapImages`) are read one batch at a time, and
    results go straight into the output array: the batches' results are never held
    twice.

    Raises
    ------
    StepOutputError
        A batch's result does not have one row per image, or not the first batch's
        shape; ``source`` (``"HOG._extract"``) names ``func`` in the message.
    """
    parts = batches(len(X), batch_size)
    if n_jobs in (None, 1) or len(parts) == 1:
        results = (func(X[s]) for s in parts)
    else:
        results = Parallel(n_jobs=n_jobs, prefer=prefer, return_as="generator")(
            delayed(func)(X[s]) for s in parts
        )
    out = None
    for part, result in zip(parts, results, strict=True):
        result = np.asarray(result)
        n = part.stop - part.start
        if len(result) != n or (out is not None and result.shape[1:] != out.shape[1:]):
            expected = f"{n} rows" if out is None else f"shape {(n, *out.shape[1:])}"
            raise StepOutputError(
                f"{source or getattr(func, '__qualname__', func)} returned shape {result.shape} "
                f"for images {part.start}–{part.stop - 1}; expected {expected} (one row per "
                "image, the same width for every batch)"
            )
        if out is None:
            out = np.empty((len(X), *result.shape[1:]), result.dtype)
        out[part] = result
    if out is None:
        raise ValueError("map_batches needs at least one image")
    return out


class _ImageBase(TransformerMixin, BaseEstimator):
    """Shared validation: images in, fitted shape remembered, same shape required later.

    ``fit`` first checks the parameters: each against the subclass's scikit-learn
    ``_parameter_constraints`` (:meth:`_validate_params`), then together in
    ``_check_params`` (what one constraint per parameter cannot say).
    """

    #: Estimator-check adapters and the docs read this: input must be images, not vectors.
    _image_input = True
    #: Whether ``transform`` needs images of the fitted height and width.
    _same_size = True
    #: Parameter name -> scikit-learn constraints (``sklearn.utils._param_validation``).
    _parameter_constraints: ClassVar[dict[str, list]] = {}

    def _check_params(self) -> None:
        """Raise ValueError naming a bad combination of parameters (subclasses override)."""

    def _validate(self, X: Any, reset: bool) -> np.ndarray:
        if reset:
            self._validate_params()
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
    N×H×W batch on the 0–255 scale, returning one row per image and the same width D
    for any batch; they may override ``_fit(grey, y)`` to learn something (a codebook,
    say). They declare their parameters' constraints in ``_parameter_constraints``
    (extending this class's), checked at ``fit``.

    The width D is the fitted attribute ``n_features_out_``. ``fit_transform`` (what a
    pipeline calls) takes it from the training output itself. ``fit`` alone asks
    ``_output_width(image_shape)``: a subclass whose width follows from its parameters
    and the image shape returns it there; the default, ``None``, makes ``fit`` describe
    the first training image to measure it. ``transform`` checks that every batch
    ``_extract`` returns has one row per image and one width (a
    :class:`~ferengine.errors.StepOutputError` otherwise).

    Attributes
    ----------
    image_shape_ : tuple of int
        Shape of one training image.
    n_features_out_ : int
        Width of the output.
    """

    n_jobs: int | None = None
    batch_size: int = 512
    #: Constraints of ``n_jobs`` and ``batch_size``; subclasses extend them.
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "n_jobs": [None, Integral],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }
    #: joblib's backend preference for ``n_jobs``: "threads" when ``_extract`` releases the
    #: GIL (OpenCV, numpy), "processes" when it holds it (dlib's shape predictor).
    _prefer = "threads"

    def _fit(self, grey: np.ndarray, y: Any) -> None:
        """Learn from the training images (nothing by default)."""

    def _extract(self, grey: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _output_width(self, image_shape: tuple[int, ...]) -> int | None:
        """Return the width of ``_extract``'s output for images of ``image_shape``, if known.

        Called by ``fit`` after ``_fit``. Override it when the width follows from the
        parameters and the shape (``size * size`` for raw pixels); the default ``None``
        makes ``fit`` measure it on the first training image. ``fit_transform`` checks a
        declared width against the real output.
        """
        return None

    def _learn(self, X: Any, y: Any) -> Any:
        """Validate the parameters and training images, and learn from them (``_fit``).

        Only a feature that learns from the images (overrides ``_fit``) gets them all
        converted to grey at once.
        """
        X = self._validate(X, reset=True)
        if self._learns_from_training():
            self._fit(to_grey(np.asarray(X)), y)
        return X

    def _learns_from_training(self) -> bool:
        """Whether ``fit`` learns from the images: the subclass overrides ``_fit``."""
        return type(self)._fit is not ImageFeature._fit

    def fit(self, X: Any, y: Any = None) -> ImageFeature:
        """Check the parameters, remember the image shape and learn what the feature needs.

        ``n_features_out_`` comes from ``_output_width``, or from describing the first
        training image when that returns ``None`` (see the class docstring).

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
        X = self._learn(X, y)
        width = self._output_width(tuple(self.image_shape_))
        if width is None:
            width = self._describe(X[:1]).shape[1]
        self.n_features_out_ = int(width)
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """Fit on the training images and return their N×D float32 features.

        ``n_features_out_`` is the width of that output (a width declared by
        ``_output_width`` must match it).

        Raises
        ------
        InvalidPluginError
            ``_output_width`` declares another width than ``_extract`` returns.
        """
        X = self._learn(X, y)
        out = self._describe(X)
        declared = self._output_width(tuple(self.image_shape_))
        if declared is not None and declared != out.shape[1]:
            raise InvalidPluginError(
                f"{type(self).__name__}._output_width says {declared} columns for images of "
                f"shape {tuple(self.image_shape_)}, but _extract returned {out.shape[1]}"
            )
        self.n_features_out_ = int(out.shape[1])
        return out

    def transform(self, X: Any) -> np.ndarray:
        """Return the N×D float32 feature matrix of a batch of images.

        The images are converted to grey and described ``batch_size`` at a time, so a
        large (or memory-mapped) batch never exists as one float32 copy.
        """
        return self._describe(self._validate(X, reset=False))

    def _describe(self, X: Any) -> np.ndarray:
        """Features of validated images, ``batch_size`` at a time, as float32."""
        source = f"{type(self).__name__}._extract"
        out = map_batches(
            self._extract_grey, X, self.n_jobs, self.batch_size, self._prefer, source=source
        )
        if out.ndim != 2:
            raise StepOutputError(
                f"{source} returned an array of shape {out.shape}; a feature returns a 2-D "
                "array, one row per image"
            )
        return np.ascontiguousarray(out, dtype=np.float32)

    def _extract_grey(self, images: np.ndarray) -> np.ndarray:
        return self._extract(to_grey(images))

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
    #: Whether output pixel (y, x) shows what the input showed at the same relative place
    #: (intensity steps and ``resize`` do; ``crop`` and ``align`` move the face): the
    #: feature explainers place feature columns on the input face only through such steps.
    keeps_framing: ClassVar[bool] = True

    #: Images per batch when ``transform`` reads memory-mapped images.
    batch_size: int = 1024

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
        X = self._validate(X, reset=True)
        if self._learns_from_training():
            self._fit(np.asarray(X))
        return self

    def _learns_from_training(self) -> bool:
        """Whether ``fit`` learns from the images: the subclass overrides ``_fit``."""
        return type(self)._fit is not ImagePreprocessor._fit

    def transform(self, X: Any) -> np.ndarray:
        """Return the preprocessed batch of images (in memory).

        Memory-mapped images are read and preprocessed ``batch_size`` at a time; the
        result is one in-memory array.
        """
        X = self._validate(X, reset=False)
        if isinstance(X, np.ndarray):
            return self._apply(X)
        return map_batches(
            self._apply, X, None, self.batch_size, source=f"{type(self).__name__}._apply"
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


class AssembledFeature(Protocol):
    """A feature whose output is assembled from the outputs of member features.

    The benchmark runner computes and caches each member on its own (a member that is
    also benchmarked alone, or shared by several assembled features, is computed once)
    and then assembles the feature from the cached blocks instead of fitting the
    members again. A feature class declares the protocol with:

    ``members_param``
        class attribute: the constructor parameter listing the member steps, declared
        ``"steps"`` in the class's ``step_params`` (so suites and specs check and build
        the members like any nested step);
    ``fit_blocks(blocks)``
        learn what the assembly needs (scalers, weights) from the training blocks, one
        per member in order, and return the assembled training features;
    ``fuse(blocks)``
        assemble more blocks (the test images' features) with what ``fit_blocks`` learned.

    ``fit_blocks`` and ``fuse`` must return what ``fit_transform`` and ``transform`` of
    the feature fitted on the images return. ``concat`` is the built-in example.
    """

    members_param: ClassVar[str]

    def fit_blocks(self, blocks: list[np.ndarray]) -> np.ndarray:
        """Fit the assembly on the members' training features and return it applied."""
        ...

    def fuse(self, blocks: list[np.ndarray]) -> np.ndarray:
        """Assemble the members' features of more images (after ``fit_blocks``)."""
        ...


def assembled_from(cls: type) -> str | None:
    """Return the parameter listing the members of an :class:`AssembledFeature` class.

    Returns
    -------
    str or None
        ``cls.members_param``, or ``None`` when the class does not declare the protocol.

    Raises
    ------
    InvalidPluginError
        The class sets ``members_param`` but it is not a ``"steps"`` entry of its
        ``step_params``, or ``fit_blocks`` or ``fuse`` is missing.
    """
    param = getattr(cls, "members_param", None)
    if param is None:
        return None
    name = cls.__qualname__
    if not isinstance(param, str) or step_params(cls).get(param) != "steps":
        raise InvalidPluginError(
            f"{name}.members_param is {param!r}; it must name a 'steps' parameter of "
            f"{name}.step_params"
        )
    missing = [m for m in ("fit_blocks", "fuse") if not callable(getattr(cls, m, None))]
    if missing:
        raise InvalidPluginError(
            f"{name} sets members_param but lacks {' and '.join(missing)} (AssembledFeature)"
        )
    return param


def learns_from_training(estimator: Any) -> bool:
    """Whether fitting ``estimator`` learns anything from the training data.

    A step that learns nothing maps every sample alone, by its parameters only, so its
    output on a sample can be computed once and reused by every fold (the benchmark's
    per-clip frame-feature cache relies on it). The answer errs on "learns": it is
    ``False`` only for

    * estimators that say so through a ``_learns_from_training()`` method (a feature
      reading a saved model, a step wrapping another; :class:`ImageFeature` and
      :class:`ImagePreprocessor` answer whether the subclass overrides ``_fit``);
    * :class:`sklearn.frozen.FrozenEstimator`, and pipelines of such steps.
    """
    from sklearn.frozen import FrozenEstimator
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, FrozenEstimator):
        return False
    if isinstance(estimator, Pipeline):
        return any(learns_from_training(step) for _, step in estimator.steps
                   if step not in (None, "passthrough"))  # fmt: skip
    declared = getattr(estimator, "_learns_from_training", None)
    if callable(declared):
        return bool(declared())
    return True
