"""Neutral-frame trimming of clips: the frames before the expression rises and after it fades.

Posed and spontaneous clips alike start (and often end) on a neutral face; a classifier
of the whole clip then sees many frames that carry no expression. ``trim-neutral`` scores
the expression intensity of every frame and cuts, at the start and at the end of each
clip, the frames scoring below half the clip's highest score, never more than half the
clip — the rule of the thesis this project follows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ferengine.faces import create_landmarker, whole_image
from ferengine.imageops import as_grey
from ferengine.labels import canonical
from ferengine.sequences import as_clips
from ferengine.temporal import sequence_tags

#: How ``trim-neutral`` scores a frame's expression intensity.
SCORES = ("landmarks", "model")

#: Why ferengine.testing's checks that fit on its sample data cannot run on trim-neutral.
_CLIPS_ONLY = (
    "the check fits on ferengine.testing's still images (N×H×W), but trim-neutral takes "
    "clips, a 1-D object array of (T, H, W) frame stacks; tests/test_sequence_data.py "
    "checks its outputs on clips"
)


def trim_bounds(scores: Any, threshold: float = 0.5, max_cut: float = 0.5) -> tuple[int, int]:
    """Return the ``(start, stop)`` of the frames of a clip that trimming keeps.

    The frames at the start and at the end of the clip whose score is below
    ``threshold`` × the clip's highest score are cut, but never more than
    ``max_cut`` × its length (rounded down) in all; when the two runs of low frames are
    longer together, each is cut in proportion to its length. A clip whose highest
    score is not positive (no frame moves) is kept whole.

    Parameters
    ----------
    scores : array-like of shape (T,)
        Expression intensity of every frame, in time order (any non-negative scale).
    threshold : float
        Share of the clip's highest score a frame must reach to stop the cut.
    max_cut : float
        Largest share of the clip cut (start and end together).

    Returns
    -------
    (int, int)
        The kept frames are ``clip[start:stop]``; at least one is kept.
    """
    scores = np.asarray(scores, dtype=float).reshape(-1)
    n = len(scores)
    peak = float(np.max(scores)) if n else 0.0
    if n < 2 or not peak > 0:
        return 0, n
    high = np.flatnonzero(scores >= threshold * peak)  # never empty: the peak is in it
    lead, tail = int(high[0]), int(n - 1 - high[-1])
    budget = int(n * max_cut)
    if lead + tail > budget:
        cut_lead = round(budget * lead / (lead + tail))
        lead, tail = cut_lead, budget - cut_lead
    return lead, n - tail


class TrimNeutral(TransformerMixin, BaseEstimator):
    """Cut the near-neutral frames at the start and end of every clip (clips in, clips out).

    Each frame gets an expression-intensity score; the frames at the start and at the end
    of a clip scoring below ``threshold`` × the clip's highest score are cut, never more
    than ``max_cut`` of the clip (see :func:`trim_bounds`). Scores:

    - ``"landmarks"``: the displacement of the face's landmarks from the clip's first
      frame — each frame's points are mapped onto the first frame's by the similarity
      (rotation, scale, shift) that fits most of them (least median of squares, so head
      motion cancels and moving brows and lips do not), then their mean distance is
      divided by the first frame's eye distance. The landmarker (``dlib-68`` by default,
      ``ferengine[landmarks]``) places the points in the whole frame: clips must be face
      crops.
    - ``"model"``: 1 − p(neutral) of a still-image model that has a neutral class (a
      saved model, a registered model such as ``"default"``, or a fitted estimator
      wrapped in :class:`sklearn.frozen.FrozenEstimator`), given every frame as it is.

    Parameters
    ----------
    score : {"landmarks", "model"}
        How frames are scored.
    threshold : float
        Share of the clip's highest score below which frames at the start and end are cut.
    max_cut : float
        Largest share of a clip cut, start and end together.
    landmarker : str
        Registered landmarker for ``score="landmarks"``.
    landmarker_params : dict, optional
        Its parameters.
    model : str, Path or estimator, optional
        The still model for ``score="model"``: a saved model's path, a registered
        model's name, or a fitted estimator with ``predict_proba`` (wrap it in
        ``FrozenEstimator`` so that cloning keeps it fitted).
    neutral : str
        The model's neutral class (aliases accepted).
    batch_size : int
        Frames per call of the model.

    Attributes
    ----------
    landmarker_ : Landmarker or None
        The landmarker (``score="landmarks"``).
    model_ : estimator or None
        The loaded model (``score="model"``).
    neutral_index_ : int or None
        Column of the neutral class in the model's probabilities.
    """

    name = "trim-neutral"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "score": [StrOptions(set(SCORES))],
        "threshold": [Interval(Real, 0, 1, closed="neither")],
        "max_cut": [Interval(Real, 0, 1, closed="left")],
        "landmarker": [str],
        "landmarker_params": [None, Mapping],
        "model": [None, str, os.PathLike, HasMethods(["predict_proba"])],
        "neutral": [str],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }
    _expected_failed_checks: ClassVar[dict[str, str]] = dict.fromkeys(
        ("check_output_shape", "check_output_rows", "check_output_dtype",
         "check_output_finite", "check_batch_width", "check_rows_independent",
         "check_persistence"),
        _CLIPS_ONLY,
    )  # fmt: skip

    def __init__(
        self,
        score: str = "landmarks",
        threshold: float = 0.5,
        max_cut: float = 0.5,
        landmarker: str = "dlib-68",
        landmarker_params: Mapping | None = None,
        model: Any = None,
        neutral: str = "neutral",
        batch_size: int = 512,
    ) -> None:
        self.score = score
        self.threshold = threshold
        self.max_cut = max_cut
        self.landmarker = landmarker
        self.landmarker_params = landmarker_params
        self.model = model
        self.neutral = neutral
        self.batch_size = batch_size

    def __sklearn_tags__(self):
        tags = sequence_tags(super().__sklearn_tags__())
        tags.requires_fit = True
        return tags

    def _learns_from_training(self) -> bool:
        """Nothing is learnt: each clip is trimmed by its own scores."""
        return False

    def fit(self, X: Any = None, y: Any = None) -> TrimNeutral:
        """Check the parameters and load the landmarker or the model (nothing is learnt).

        Parameters
        ----------
        X : array-like of clips, optional
            Ignored (checked as clips when given).
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        if X is not None:
            as_clips(X)
        self.landmarker_ = self.model_ = self.neutral_index_ = None
        if self.score == "landmarks":
            self.landmarker_ = create_landmarker(
                self.landmarker, dict(self.landmarker_params or {}), self.name
            )
        else:
            self.model_, self.neutral_index_ = self._model()
        return self

    def _model(self) -> tuple[Any, int]:
        """Return the still model and the column of its neutral class."""
        from ferengine.persistence import load
        from ferengine.prediction.predictor import class_names

        if self.model is None:
            raise ValueError(
                "trim-neutral: score='model' needs model= (a saved model, a registered "
                "model's name or a fitted estimator)"
            )
        model = load(self.model) if isinstance(self.model, str | Path) else self.model
        try:
            check_is_fitted(model)
        except NotFittedError:
            raise ValueError(
                f"trim-neutral: model {type(model).__name__} is not fitted (clone() unfits "
                "estimators given as parameters: wrap a fitted one in "
                "sklearn.frozen.FrozenEstimator, or pass a saved model)"
            ) from None
        names = class_names(model)
        matches = [i for i, n in enumerate(names) if canonical(n) == canonical(self.neutral)]
        if not matches:
            raise ValueError(
                f"trim-neutral: the model's classes {names} have no {self.neutral!r} "
                "(set neutral= to its neutral class)"
            )
        return model, matches[0]

    def frame_scores(self, X: Any) -> list[np.ndarray]:
        """Return the expression-intensity score of every frame of every clip.

        Parameters
        ----------
        X : array-like of clips

        Returns
        -------
        list of ndarray
            One float array per clip, as long as the clip.
        """
        check_is_fitted(self, "neutral_index_")
        clips = as_clips(X)
        if self.score == "landmarks":
            return [self._displacement(clip) for clip in clips]
        frames = np.concatenate(list(clips)) if len(clips) else np.zeros((0, 1, 1), np.uint8)
        proba = [
            np.asarray(self.model_.predict_proba(frames[i : i + self.batch_size]))
            for i in range(0, len(frames), self.batch_size)
        ]
        neutral = np.concatenate(proba)[:, self.neutral_index_] if proba else np.zeros(0)
        ends = np.cumsum([len(c) for c in clips])
        return [1.0 - p for p in np.split(neutral, ends[:-1])] if len(clips) else []

    def _displacement(self, clip: np.ndarray) -> np.ndarray:
        """Landmark displacement of every frame from the first, head motion removed."""
        box = np.array([whole_image(clip.shape[1:])])
        points = np.stack([self.landmarker_.locate(as_grey(f), box)[0] for f in clip])
        ref = points[0].astype(np.float32)
        left, right = self.landmarker_.eye_centres(ref)
        scale = max(float(np.hypot(*(right - left))), 1.0)
        out = np.zeros(len(clip))
        for t in range(1, len(clip)):
            moved = points[t].astype(np.float32)
            matrix, _ = cv2.estimateAffinePartial2D(moved, ref, method=cv2.LMEDS)
            if matrix is not None:
                moved = moved @ matrix[:, :2].T + matrix[:, 2]
            out[t] = float(np.linalg.norm(moved - ref, axis=1).mean()) / scale
        return out

    def bounds(self, X: Any) -> np.ndarray:
        """Return the ``(start, stop)`` of the frames kept of every clip, shape (n, 2)."""
        return np.array(
            [trim_bounds(s, self.threshold, self.max_cut) for s in self.frame_scores(X)],
            dtype=np.int64,
        ).reshape(-1, 2)

    def transform(self, X: Any) -> np.ndarray:
        """Return every clip with its near-neutral start and end cut.

        Parameters
        ----------
        X : array-like of clips
            A 1-D object array of ``(T, H, W)`` or ``(T, H, W, 3)`` uint8 clips
            (:func:`ferengine.sequences.as_clips`).

        Returns
        -------
        ndarray of object, shape (n,)
            The trimmed clips (views of the input frames).
        """
        clips = as_clips(X)
        out = np.empty(len(clips), dtype=object)
        for i, (clip, (start, stop)) in enumerate(zip(clips, self.bounds(clips), strict=True)):
            out[i] = clip[start:stop]
        return out
