"""Late fusion over clips: ``clip-frames`` (a still model on every frame) and ``clip-fusion``.

``clip-frames`` makes any still-image classifier a clip classifier: it is fitted on
frames of the training clips and its per-frame probabilities are averaged over each
clip. ``clip-fusion`` is ``fusion`` for clips: it combines the clip probabilities of
several clip pipelines (a temporal model, ``clip-frames`` over a still model...) by
averaging, weighted averaging, maximum or stacking on cross-fitted probabilities. Both
take ``X`` as a 1-D object array of clips (:func:`ferengine.sequences.as_clips`).
"""

from __future__ import annotations

from collections.abc import Iterator
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ferengine.classifier import ProbaClassifier
from ferengine.sequences import as_clips, clip_lengths
from ferengine.step_checks import require_probabilities
from ferengine.steps import build_model
from ferengine.temporal import sequence_tags
from ferengine_ensembles import model_checks  # noqa: F401 (registers the load-time checks)
from ferengine_ensembles.fusion import Fusion
from ferengine_ensembles.params import STEP

#: Which frames of each training clip ``clip-frames`` fits its still model on.
FIT_FRAMES = ("all", "last", "farthest-from-first")

#: Why ferengine.testing's checks that fit on its sample data cannot run on these steps.
_CLIPS_ONLY = (
    "the check fits on ferengine.testing's still images or tables, but it takes clips, one "
    "(T, H, W) frame stack each; tests/test_clip_models.py checks classes, probabilities "
    "and persistence on clips"
)
_CLIP_CHECKS = ("check_classifier_classes", "check_predict_proba", "check_persistence")


def _labelled_clips(owner: str, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return validated training clips and their 1-D labels, or raise naming ``owner``."""
    if y is None:
        raise ValueError(f"{owner} requires y to be passed, but the target y is None")
    clips = as_clips(X, f"{owner}: X")
    if not len(clips):
        raise ValueError(f"{owner}: X holds no clips; fit needs at least one")
    y = column_or_1d(y, warn=True)
    if len(y) != len(clips):
        raise ValueError(f"{owner}: {len(clips)} clips but {len(y)} labels")
    check_classification_targets(y)
    return clips, y


def _apex(clip: np.ndarray) -> int:
    """Return the index of the frame farthest (in pixels) from the clip's first frame."""
    flat = clip.reshape(len(clip), -1).astype(np.float32)
    return int(np.argmax(np.linalg.norm(flat - flat[0], axis=1)))


class ClipFrames(ProbaClassifier):
    """A still-image classifier on every frame of a clip, its probabilities averaged over the clip.

    Makes a still model a clip classifier, so it can be a ``clip-fusion`` member beside
    temporal models: fitted on frames of the training clips (each labelled with its
    clip's label), it predicts every frame of a clip and the clip's probabilities are
    the mean over its frames.

    Parameters
    ----------
    estimator : step or list of steps
        The still-image classifier or pipeline (it must give ``predict_proba``):
        ``["hog", "svm-linear"]``, ``("cnn", {...})``. A registered model step
        ("default") loads its weights instead of training; in Python, a fitted model
        wrapped in :class:`sklearn.frozen.FrozenEstimator` is used as it is.
    fit_frames : {"all", "last", "farthest-from-first"}
        The frames of each training clip the estimator is fitted on: every frame, the
        last (posed clips that end on the apex, as CK+'s), or the apex estimated as the
        frame farthest in pixels from the first (clips that start neutral).
    batch_size : int
        Frames per ``predict_proba`` call of the estimator (whole clips are batched
        together up to this many frames; a longer clip goes alone).

    Attributes
    ----------
    estimator_ : estimator
        The fitted still-image classifier.
    classes_ : ndarray
        Its classes.
    frame_shape_ : tuple of int
        Shape of one training frame.
    """

    name = "clip-frames"
    step_params: ClassVar[dict[str, str]] = {"estimator": "pipeline"}
    _parameter_constraints: ClassVar[dict] = {
        "estimator": [None, *STEP],
        "fit_frames": [StrOptions(set(FIT_FRAMES))],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }
    _test_params: ClassVar[dict] = {"estimator": [("pixels", {"size": 8}), "logistic"]}
    _expected_failed_checks: ClassVar[dict[str, str]] = dict.fromkeys(_CLIP_CHECKS, _CLIPS_ONLY)

    def __init__(self, estimator: Any = None, fit_frames: str = "all",
                 batch_size: int = 1024) -> None:  # fmt: skip
        self.estimator = estimator
        self.fit_frames = fit_frames
        self.batch_size = batch_size

    def _picks(self, clip: np.ndarray) -> np.ndarray:
        if self.fit_frames == "all":
            return np.arange(len(clip))
        return np.array([len(clip) - 1 if self.fit_frames == "last" else _apex(clip)])

    def fit(self, X: Any, y: Any) -> ClipFrames:
        """Fit the still-image classifier on frames of the training clips.

        Parameters
        ----------
        X : array-like of clips
            A 1-D object array of ``(T, H, W)`` or ``(T, H, W, 3)`` uint8 clips.
        y : array-like of shape (n_clips,)
            Clip labels, given to every frame the estimator is fitted on.

        Returns
        -------
        self

        Raises
        ------
        MissingProbabilitiesError
            The estimator has no ``predict_proba`` (checked before it is fitted).
        """
        self._validate_params()
        if self.estimator is None:
            raise ValueError(
                f"{self.name}: the 'estimator' parameter needs a still-image classifier or "
                "pipeline, e.g. ['hog', 'svm-linear']"
            )
        clips, y = _labelled_clips(self.name, X, y)
        self.estimator_ = build_model(self.estimator)
        require_probabilities(self.estimator_, f"{self.name}'s estimator")
        picks = [self._picks(clip) for clip in clips]
        frames = np.concatenate([clip[p] for clip, p in zip(clips, picks, strict=True)])
        self.estimator_.fit(frames, np.repeat(y, [len(p) for p in picks]))
        self.classes_ = np.asarray(self.estimator_.classes_)
        self.frame_shape_ = tuple(int(s) for s in clips[0].shape[1:])
        return self

    def _batches(self, clips: np.ndarray) -> Iterator[tuple[int, int]]:
        """Yield ``(start, stop)`` runs of whole clips of at most ``batch_size`` frames."""
        lengths = clip_lengths(clips)
        start = 0
        while start < len(clips):
            stop, total = start + 1, lengths[start]
            while stop < len(clips) and total + lengths[stop] <= self.batch_size:
                total += lengths[stop]
                stop += 1
            yield start, stop
            start = stop

    def predict_proba(self, X: Any) -> np.ndarray:
        """Mean of the frames' class probabilities per clip, columns in ``classes_`` order.

        Raises
        ------
        ValueError
            Input that is not clips, or frames of another shape than the training frames.
        """
        check_is_fitted(self, "estimator_")
        clips = as_clips(X, f"{self.name}: X")
        if len(clips) and clips[0].shape[1:] != self.frame_shape_:
            raise ValueError(
                f"{self.name}: the clips' frames have shape {clips[0].shape[1:]}, but it was "
                f"fitted on frames of shape {self.frame_shape_}"
            )
        out = np.zeros((len(clips), len(self.classes_)))
        for start, stop in self._batches(clips):
            batch = clips[start:stop]
            proba = np.asarray(self.estimator_.predict_proba(np.concatenate(list(batch))))
            ends = np.cumsum(clip_lengths(batch))
            for i, (a, b) in enumerate(zip(ends - clip_lengths(batch), ends, strict=True)):
                out[start + i] = proba[a:b].mean(axis=0)
        return out

    def __sklearn_tags__(self):
        # clips, never tables: scikit-learn's estimator checks yield only the clone check
        return sequence_tags(super().__sklearn_tags__())


class ClipFusion(Fusion):
    """Late fusion of several clip pipelines' class probabilities (``fusion`` for clips).

    Each member is a pipeline on clips — a temporal model (``["frame-features",
    "temporal-rnn"]``, ``"c3d"``…) or a still model through ``clip-frames`` — or a saved
    clip model; their clip probabilities are averaged, weighted, maximised or stacked
    exactly as ``fusion`` does for still images, on scikit-learn's ensembles.

    Parameters
    ----------
    members : list
        Each a saved model (a path, or a registered model's name) used as saved, or a
        clip pipeline to fit: a list of steps or a single classifier step. At least one.
    method : {"average", "weighted", "max", "stacking"}
        "average": soft voting (:class:`~sklearn.ensemble.VotingClassifier`);
        "weighted": soft voting weighted by each member's cross-fitted accuracy;
        "max": the element-wise maximum of the members' probabilities, renormalised;
        "stacking": a logistic regression on the members' cross-fitted probabilities
        (:class:`~sklearn.ensemble.StackingClassifier`, out-of-fold, ``passthrough=False``).
    cv : int
        Number of stratified folds (of clips) of the cross-fitted predictions
        ("weighted" and "stacking"), at least 2. Clips of one subject may fall on both
        sides of a fold: with several clips per subject, the weights and the
        meta-learner see optimistic member probabilities.
    holdout : float, optional
        "weighted" and "stacking": fit the members once without a stratified held-out
        share of the clips and learn the fusion on it (see
        :class:`~ferengine_ensembles.fusion.Fusion`).
    random_state : int
        Seed of the held-out share.

    Attributes
    ----------
    ensemble_ : VotingClassifier or StackingClassifier
        The fitted ensemble; its ``estimators_`` are the members.
    weights_ : ndarray of shape (n_members,)
        "weighted" only: each member's cross-fitted accuracy, its voting weight.
    classes_ : ndarray
        The training labels.
    """

    name = "clip-fusion"
    _image_input = False
    _test_params: ClassVar[dict] = {
        "members": [[("clip-frames", {"estimator": [("pixels", {"size": 8}), "logistic"]})]] * 2
    }
    _expected_failed_checks: ClassVar[dict[str, str]] = dict.fromkeys(
        (*_CLIP_CHECKS, "check_seed_determinism"), _CLIPS_ONLY
    )

    def _training_inputs(self, X: Any, y: Any) -> tuple[Any, np.ndarray]:
        """Return the validated training clips and labels."""
        return _labelled_clips(self.name, X, y)

    def _inputs(self, X: Any) -> Any:
        """Return validated clips to predict."""
        return as_clips(X, f"{self.name}: X")

    def __sklearn_tags__(self):
        # clips, never tables: scikit-learn's estimator checks yield only the clone check
        return sequence_tags(super().__sklearn_tags__())


__all__ = ["FIT_FRAMES", "ClipFrames", "ClipFusion"]
