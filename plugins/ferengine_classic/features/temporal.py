"""Features of clips: an image feature per frame (``frame-features``), pooled (``temporal-pool``).

``frame-features`` turns clips (:func:`ferengine.sequences.as_clips`) into per-frame
feature sequences (:func:`ferengine.temporal.as_sequences`); ``temporal-pool`` turns
sequences into one vector per clip, so any registered classifier sits on top, and the
temporal heads of the deep extra (``temporal-rnn``, ``temporal-cnn``) take the sequences
themselves.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ferengine.errors import StepOutputError
from ferengine.extractor import learns_from_training
from ferengine.sequences import as_clips, clip_lengths
from ferengine.step_checks import describe
from ferengine.steps import StepSpec, build_model
from ferengine.temporal import as_sequences, sequence_tags, split_rows

#: How ``temporal-pool`` summarises a sequence, and how many vectors of width D each gives.
POOLINGS: dict[str, int] = {"mean": 1, "max": 1, "std": 1, "meanstd": 2, "apex": 1}
#: How ``temporal-pool`` picks the apex frame.
APEX_FRAMES = ("farthest-from-first", "farthest-from-ends", "farthest-from-mean", "last")

#: Why ferengine.testing's checks that fit on its sample data cannot run on these steps.
_CLIPS_ONLY = (
    "the check fits on ferengine.testing's still images (N×H×W), but frame-features takes "
    "clips, a 1-D object array of (T, H, W) frame stacks; tests/test_temporal.py checks "
    "its outputs, batching and persistence on clips"
)


def _frame_batches(clips: np.ndarray, size: int) -> Iterator[np.ndarray]:
    """Yield the frames of all clips in order, ``size`` at a time (across clip boundaries)."""
    pending: list[np.ndarray] = []
    count = 0
    for clip in clips:
        start = 0
        while start < len(clip):
            take = min(size - count, len(clip) - start)
            pending.append(clip[start : start + take])
            count += take
            start += take
            if count == size:
                yield np.concatenate(pending)
                pending, count = [], 0
    if pending:
        yield np.concatenate(pending)


class FrameFeatures(TransformerMixin, BaseEstimator):
    """An image feature on every frame of a clip: clips in, per-frame feature sequences out.

    Fitted on all frames of the training clips (each frame labelled with its clip's
    label); ``transform`` describes the frames of all clips together, ``batch_size``
    frames per call of the feature (never one call per frame or per clip), and returns
    one ``(T_i, D)`` float32 sequence per clip, for ``temporal-pool`` or a temporal head.

    Parameters
    ----------
    feature : step or list of steps
        The image feature, or a pipeline of preprocessors ending in one: a registry name,
        a ``(name, params)`` pair, a ``{"name": ..., "params": {...}}`` table or an
        estimator (:mod:`ferengine.steps`). ``cnn-embedding`` without a ``model`` trains
        its CNN on the training frames; a feature fitted elsewhere is used as it is
        through ``("cnn-embedding", {"model": "default"})`` (a saved model) or, in
        Python, an estimator wrapped in :class:`sklearn.frozen.FrozenEstimator`.
    batch_size : int
        Frames per call of the feature in ``transform`` (bounds the memory of one batch
        of frames and of their features).

    Attributes
    ----------
    feature_ : estimator
        The fitted feature.
    frame_shape_ : tuple of int
        Shape of one training frame.
    n_features_out_ : int
        Width ``D`` of every frame's features.
    """

    name = "frame-features"
    step_params: ClassVar[dict[str, str]] = {"feature": "pipeline"}
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "feature": [str, tuple, list, Mapping, StepSpec, HasMethods(["fit", "transform"])],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }
    _test_params: ClassVar[dict] = {"feature": ("pixels", {"size": 8})}
    _expected_failed_checks: ClassVar[dict[str, str]] = dict.fromkeys(
        ("check_output_shape", "check_output_rows", "check_output_dtype",
         "check_output_finite", "check_batch_width", "check_rows_independent",
         "check_persistence"),
        _CLIPS_ONLY,
    )  # fmt: skip

    def __init__(self, feature: Any = "hog", batch_size: int = 1024) -> None:
        self.feature = feature
        self.batch_size = batch_size

    def _learns_from_training(self) -> bool:
        """Whether fitting learns from the clips: only if the image feature does."""
        return learns_from_training(build_model(self.feature))

    def _clips(self, X: Any, y: Any) -> tuple[np.ndarray, Any]:
        """Validate the parameters and the training clips; return the clips and frame labels."""
        self._validate_params()
        clips = as_clips(X)
        if not len(clips):
            raise ValueError("frame-features: X holds no clips; fit needs at least one")
        lengths = clip_lengths(clips)
        if y is not None:
            y = np.asarray(y)
            if len(y) != len(clips):
                raise ValueError(f"frame-features: {len(clips)} clips but {len(y)} labels")
            y = np.repeat(y, lengths, axis=0)
        self.frame_shape_ = tuple(int(s) for s in clips[0].shape[1:])
        self.feature_ = build_model(self.feature)
        return clips, y

    def fit(self, X: Any, y: Any = None) -> FrameFeatures:
        """Fit the feature on every frame of the training clips.

        Parameters
        ----------
        X : array-like of clips
            A 1-D object array of ``(T, H, W)`` or ``(T, H, W, 3)`` uint8 clips (or an
            ``(n, T, H, W[, 3])`` array), see :func:`ferengine.sequences.as_clips`.
        y : array-like of shape (n_clips,), optional
            Clip labels, given to the feature for every frame of the clip.

        Returns
        -------
        self
        """
        clips, y = self._clips(X, y)
        frames = np.concatenate(list(clips))
        self.feature_.fit(frames, y)
        first = self._checked(self.feature_.transform(frames[:1]), 1, 0)
        self.n_features_out_ = int(first.shape[1])
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """Fit the feature on every frame of the training clips and return their sequences.

        The feature is fitted (and describes the training frames) in one call on all
        of them.
        """
        clips, y = self._clips(X, y)
        frames = np.concatenate(list(clips))
        out = self._checked(self.feature_.fit_transform(frames, y), len(frames), 0)
        self.n_features_out_ = int(out.shape[1])
        return split_rows(out, clip_lengths(clips))

    def transform(self, X: Any) -> np.ndarray:
        """Return one ``(T_i, D)`` float32 feature sequence per clip (a 1-D object array).

        Raises
        ------
        ValueError
            Frames of another size than the training frames, or input that is not clips.
        """
        check_is_fitted(self, "feature_")
        clips = as_clips(X)
        if len(clips) and clips[0].shape[1:] != self.frame_shape_:
            raise ValueError(
                f"frame-features: the clips' frames have shape {clips[0].shape[1:]}, but it "
                f"was fitted on frames of shape {self.frame_shape_}"
            )
        lengths = clip_lengths(clips)
        out = np.empty((int(lengths.sum()), self.n_features_out_), dtype=np.float32)
        start = 0
        for batch in _frame_batches(clips, self.batch_size):
            features = self.feature_.transform(batch)
            out[start : start + len(batch)] = self._checked(
                features, len(batch), start, self.n_features_out_
            )
            start += len(batch)
        return split_rows(out, lengths)

    def _checked(self, features: Any, n: int, first: int, width: int | None = None) -> np.ndarray:
        """Return the feature's output for ``n`` frames as float32, refusing other shapes.

        ``width`` is the number of columns it must have (the fitted width), if known.
        """
        features = np.asarray(features)
        if features.ndim != 2 or len(features) != n or width not in (None, features.shape[1]):
            expected = f"({n}, {width})" if width is not None else f"({n}, D)"
            raise StepOutputError(
                f"frame-features: its feature ({describe(self.feature_)}) returned shape "
                f"{features.shape} for frames {first}–{first + n - 1}; expected {expected}, "
                "one row per frame"
            )
        return features.astype(np.float32, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # clips (1-D object arrays of frame stacks), never tables: scikit-learn's
        # estimator checks, which feed tables, do not apply (they yield only the clone check)
        tags.input_tags.two_d_array = False
        tags.transformer_tags.preserves_dtype = []
        return tags


def _apex(seq: np.ndarray, how: str) -> np.ndarray:
    """Return the apex frame of a sequence (see :class:`TemporalPool`)."""
    if how == "last":
        return seq[-1]
    if how == "farthest-from-ends":
        distance = np.minimum(np.linalg.norm(seq - seq[0], axis=1),
                              np.linalg.norm(seq - seq[-1], axis=1))  # fmt: skip
        return seq[int(np.argmax(distance))]
    anchor = seq[0] if how == "farthest-from-first" else seq.mean(axis=0)
    return seq[int(np.argmax(np.linalg.norm(seq - anchor, axis=1)))]


class TemporalPool(TransformerMixin, BaseEstimator):
    """Pool per-frame feature sequences over time into one vector per clip.

    Takes one ``(T_i, D)`` sequence per clip (``frame-features``' output, see
    :func:`ferengine.temporal.as_sequences`) and returns an ``n × (k·D)`` float32
    table, so any registered classifier sits on top. Pooling forgets the order of the
    frames (but for the apex): it is the baseline temporal heads must beat.

    Parameters
    ----------
    pooling : str or list of str
        How each sequence is summarised, concatenated in the order given: ``"mean"``,
        ``"max"`` (per feature), ``"std"`` (per feature), ``"meanstd"`` (mean then std:
        ``k = 2``) or ``"apex"`` (the features of the apex frame).
    apex_frame : {"farthest-from-first", "farthest-from-ends", "farthest-from-mean", "last"}
        The apex frame: the one farthest (Euclidean distance) from the first frame
        (clips that start neutral); the one whose distance to the nearer of the first
        and last frames is largest (clips that start and end neutral; a clip and its
        time reversal get the same frame); the one farthest from the clip's mean
        frame; or the last frame (posed clips that end on the apex, as CK+'s).

    Attributes
    ----------
    n_features_in_ : int
        Width ``D`` of the frame features.
    n_features_out_ : int
        ``k·D``.
    """

    name = "temporal-pool"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "pooling": [StrOptions(set(POOLINGS)), list, tuple],
        "apex_frame": [StrOptions(set(APEX_FRAMES))],
    }
    _test_params: ClassVar[dict] = {"pooling": ["meanstd", "apex"]}

    def __init__(self, pooling: Any = "meanstd", apex_frame: str = "farthest-from-first") -> None:
        self.pooling = pooling
        self.apex_frame = apex_frame

    def _poolings(self) -> list[str]:
        names = [self.pooling] if isinstance(self.pooling, str) else list(self.pooling)
        bad = [p for p in names if p not in POOLINGS]
        if bad or not names:
            raise ValueError(
                f"temporal-pool: pooling must be one or more of {list(POOLINGS)}, got "
                f"{self.pooling!r}"
            )
        return names

    def _learns_from_training(self) -> bool:
        """Nothing is learnt: each sequence is pooled alone."""
        return False

    def fit(self, X: Any, y: Any = None) -> TemporalPool:
        """Check the parameters and remember the width of the frame features.

        Parameters
        ----------
        X : array-like of sequences
            One ``(T, D)`` sequence per clip (:func:`ferengine.temporal.as_sequences`).
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        poolings = self._poolings()
        sequences = as_sequences(X)
        if not len(sequences):
            raise ValueError("temporal-pool: X holds no sequences; fit needs at least one")
        self.n_features_in_ = int(sequences[0].shape[1])
        self.n_features_out_ = self.n_features_in_ * sum(POOLINGS[p] for p in poolings)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Return the ``n × (k·D)`` float32 table of pooled sequences."""
        check_is_fitted(self, "n_features_in_")
        sequences = as_sequences(X, width=self.n_features_in_)
        poolings = self._poolings()
        out = np.empty((len(sequences), self.n_features_out_), dtype=np.float32)
        for i, seq in enumerate(sequences):
            out[i] = np.concatenate([self._pool(seq, p) for p in poolings])
        return out

    def _pool(self, seq: np.ndarray, how: str) -> np.ndarray:
        if how == "mean":
            return seq.mean(axis=0)
        if how == "max":
            return seq.max(axis=0)
        if how == "std":
            return seq.std(axis=0)
        if how == "meanstd":
            return np.concatenate([seq.mean(axis=0), seq.std(axis=0)])
        return _apex(seq, self.apex_frame)

    def __sklearn_tags__(self):
        tags = sequence_tags(super().__sklearn_tags__())
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
