"""The ``explainer`` plugin kind: :class:`Explainer`, and the :class:`Explanation` it returns.

An explainer answers *why did the model say that?* for face crops: one map per face,
in the face's own pixels, whose large values mark the pixels that carried the model
towards a target class (by default the class it predicted). The base class does what
every explainer shares — checks the faces, refuses a model it cannot explain before any
work (:meth:`Explainer.supports`), runs the model once for its probabilities, resolves
the target class, checks the maps and times them — so a subclass implements only
:meth:`Explainer._maps`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from ferengine.errors import LabelError, UnsupportedModelError
from ferengine.explain.stats import map_statistics
from ferengine.prediction.predictor import class_names
from ferengine.sequences import clip_frame_shape
from ferengine.step_checks import plugin_of, probabilities_problem

__all__ = ["Explainer", "Explanation", "check_faces", "describe_model", "resolve_targets"]


@dataclass
class Explanation:
    """The maps of one :meth:`Explainer.explain` call, with what the model said of each face.

    Attributes
    ----------
    method : str
        The explainer's name (``"occlusion"``, ``"gradcam"``…).
    maps : ndarray of shape (n, H, W), float32
        One map per face, the face's height and width. Large positive values mark
        evidence for the target class; what the values measure is the explainer's
        ``shows`` (a drop in probability, a gradient…), so compare maps of one method.
    classes : tuple of str
        The model's class names, in its ``classes_`` (probability column) order.
    targets : ndarray of shape (n,), int
        The class each map explains, as a column of ``probabilities``.
    predicted : ndarray of shape (n,), int
        The class the model predicts for each face (the most probable column).
    probabilities : ndarray of shape (n, n_classes)
        The model's class probabilities for each (unaltered) face.
    params : dict
        The explainer's parameters (``get_params``).
    seconds : float
        Time spent computing the maps (the model's probabilities excluded).
    """

    method: str
    maps: np.ndarray
    classes: tuple[str, ...]
    targets: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.maps)

    @property
    def target_names(self) -> list[str]:
        """Name of the class each map explains."""
        return [self.classes[int(t)] for t in self.targets]

    @property
    def predicted_names(self) -> list[str]:
        """Name of the class predicted for each face."""
        return [self.classes[int(p)] for p in self.predicted]

    @property
    def target_probabilities(self) -> np.ndarray:
        """The model's probability of each map's target class, per face."""
        return self.probabilities[np.arange(len(self.targets)), self.targets]

    def statistics(self) -> list[dict[str, Any]]:
        """Return each map's statistics (:func:`ferengine.explain.stats.map_statistics`).

        Each also holds the map's target class and its probability, and the predicted
        class and its probability.
        """
        rows = []
        for i, values in enumerate(self.maps):
            t, p = int(self.targets[i]), int(self.predicted[i])
            rows.append({
                "target": self.classes[t],
                "target_probability": round(float(self.probabilities[i, t]), 4),
                "predicted": self.classes[p],
                "predicted_probability": round(float(self.probabilities[i, p]), 4),
                **map_statistics(values),
            })  # fmt: skip
        return rows


def describe_model(model: Any) -> str:
    """Return a fitted model's steps by plugin name: ``"hog → svm-linear"``."""
    steps = getattr(model, "steps", None)
    estimators = [s for _, s in steps] if isinstance(steps, list) else [model]
    names = [
        plugin_of(s)[1] if not isinstance(s, str) else s
        for s in estimators
        if s is not None and s != "passthrough"
    ]
    return " → ".join(names) or type(model).__name__


def check_faces(images: Any) -> np.ndarray:
    """Return face crops as an N×H×W or N×H×W×C array (C 1, 3 or 4), as a dataset holds them.

    Raises
    ------
    ValueError
        Not a batch of images (one H×W face must be given as ``face[None]``), or no face.
    """
    faces = np.asarray(images)
    if faces.ndim not in (3, 4) or (faces.ndim == 4 and faces.shape[-1] not in (1, 3, 4)):
        raise ValueError(
            f"explain takes face crops as N×H×W or N×H×W×C (C 1, 3 or 4) arrays, got shape "
            f"{faces.shape} (give one face as face[None])"
        )
    if not len(faces):
        raise ValueError("explain got no face (an empty batch)")
    if faces.dtype.kind not in "uif":
        raise ValueError(f"face crops must hold numbers, got dtype {faces.dtype}")
    return faces


def resolve_targets(target: Any, classes: Sequence[str], labels: Sequence[Any],
                    predicted: np.ndarray) -> np.ndarray:  # fmt: skip
    """Return the probability column each face's map explains.

    Parameters
    ----------
    target : None, str, int or sequence
        None: each face's predicted class. A class name (``"happy"``), or a label of the
        model's ``classes_`` (``3``), for every face; or one of those per face.
    classes : sequence of str
        The model's class names, in column order.
    labels : sequence
        The model's ``classes_``, in the same order.
    predicted : ndarray of shape (n,)
        The predicted column of each face.

    Raises
    ------
    LabelError
        A class the model does not have; the message lists the model's classes.
    """
    n = len(predicted)
    if target is None:
        return np.asarray(predicted, dtype=np.int64)
    if isinstance(target, str | int | np.integer):
        return np.full(n, _column(target, classes, labels), dtype=np.int64)
    wanted = list(target)
    if len(wanted) != n:
        raise ValueError(f"target gives {len(wanted)} classes for {n} faces; give one per face")
    return np.asarray([_column(t, classes, labels) for t in wanted], dtype=np.int64)


def _column(target: Any, classes: Sequence[str], labels: Sequence[Any]) -> int:
    if isinstance(target, str) and target in classes:
        return list(classes).index(target)
    if not isinstance(target, str):
        found = [i for i, label in enumerate(labels) if label == target]
        if found:
            return found[0]
    raise LabelError(f"class {target!r} is not one of the model's classes: {', '.join(classes)}")


class Explainer(BaseEstimator, ABC):
    """Explain a fitted model's decisions on face crops: the ``explainer`` plugin kind.

    Subclasses set ``name`` (kebab-case), a docstring whose first line describes the
    method, ``shows`` (one line: what a map's value measures), take their options as
    keyword parameters stored unchanged (scikit-learn's convention, checked against
    ``_parameter_constraints`` when it is declared) and implement :meth:`_maps`. Those
    that cannot explain every model override :meth:`supports`; the default asks only
    for ``predict_proba``.

    Attributes
    ----------
    shows : str
        Class attribute: what a map's values measure, in one line (written beside the
        maps in ``explanations.json``).
    requires : tuple of str
        Class attribute: modules the method needs (``("torch", "captum")``); without
        them the plugin is listed as unavailable instead of failing on use.
    """

    name: ClassVar[str]
    shows: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()

    def supports(self, model: Any) -> str | None:
        """Return None when this explainer can explain ``model``, else why it cannot.

        The reason is one clause naming what is missing (``"its last step 'svm-linear'
        holds no torch network"``); :meth:`explain` raises it with the method and the
        model named. The default needs class probabilities (``predict_proba``).

        Parameters
        ----------
        model : estimator
            A fitted classifier or pipeline.
        """
        return probabilities_problem(model)

    def check_model(self, model: Any) -> None:
        """Raise :class:`~ferengine.errors.UnsupportedModelError` unless :meth:`supports` allows.

        Call it before any costly work (finding faces, loading data): the message names
        the method, the model (its steps) and the reason. A model of clips (a temporal
        model, :func:`ferengine.sequences.clip_frame_shape`) is refused by every
        explainer: explanations are of single face crops. The explainer's parameters are
        checked first (``_parameter_constraints``, as scikit-learn checks them).
        """
        if getattr(self, "_parameter_constraints", None):
            self._validate_params()
        reason = (
            "it classifies clips of video frames, and explanations are of single face crops"
            if clip_frame_shape(model) is not None
            else self.supports(model)
        )
        if reason is not None:
            raise UnsupportedModelError(
                f"explainer {self.name!r} cannot explain the model {describe_model(model)}: "
                f"{reason}"
            )

    def explain(self, model: Any, images: Any, target: Any = None) -> Explanation:
        """Return one map per face crop: where the model found evidence for the target class.

        Parameters
        ----------
        model : estimator
            A fitted classifier or pipeline that takes the face crops (and has
            ``predict_proba``).
        images : array-like of shape (n, H, W) or (n, H, W, C)
            Face crops, as a dataset holds them (uint8 grey or colour).
        target : None, str, int or sequence, optional
            The class to explain: None for each face's predicted class, a class name or a
            label of ``model.classes_`` for every face, or one of those per face.

        Returns
        -------
        Explanation
            Maps of shape (n, H, W), with the target, the predicted class and the
            probabilities of each face.

        Raises
        ------
        UnsupportedModelError
            The method cannot explain this model (:meth:`supports` says why).
        LabelError
            ``target`` names a class the model does not have.
        ValueError
            ``images`` is not a batch of face crops, or a parameter is invalid.
        """
        faces = check_faces(images)
        self.check_model(model)
        probabilities = np.asarray(model.predict_proba(faces), dtype=np.float64)
        classes = tuple(class_names(model))
        labels = list(getattr(model, "classes_", range(probabilities.shape[1])))
        predicted = probabilities.argmax(axis=1)
        targets = resolve_targets(target, classes, labels, predicted)
        start = time.perf_counter()
        maps = np.asarray(self._maps(model, faces, targets, probabilities), dtype=np.float32)
        seconds = time.perf_counter() - start
        expected = faces.shape[:3]
        if maps.shape != expected:
            raise ValueError(
                f"explainer {self.name!r} returned maps of shape {maps.shape} for faces of shape "
                f"{faces.shape}; _maps must return one H×W map per face, {expected}"
            )
        if not np.isfinite(maps).all():
            raise ValueError(f"explainer {self.name!r} returned NaN or infinite map values")
        return Explanation(
            method=self.name,
            maps=maps,
            classes=classes,
            targets=targets,
            predicted=predicted,
            probabilities=probabilities,
            params=self.get_params(deep=False),
            seconds=seconds,
        )

    @abstractmethod
    def _maps(self, model: Any, faces: np.ndarray, targets: np.ndarray,
              probabilities: np.ndarray) -> np.ndarray:  # fmt: skip
        """Return the maps, one H×W array per face (an N×H×W array).

        Parameters
        ----------
        model : estimator
            The fitted model, which :meth:`supports` accepted.
        faces : ndarray of shape (n, H, W) or (n, H, W, C)
            The face crops, as given.
        targets : ndarray of shape (n,), int
            The probability column (class) each map explains.
        probabilities : ndarray of shape (n, n_classes)
            The model's probabilities for the faces, computed once by :meth:`explain`.
        """
