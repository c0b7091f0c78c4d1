"""Assemble registered plugins into a scikit-learn :class:`~sklearn.pipeline.Pipeline`."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import is_classifier
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline

from ferengine.dataset import FaceDataset
from ferengine.errors import InvalidPluginError
from ferengine.labels import LabelSpace, get_label_space
from ferengine.memmap import MemmapImages
from ferengine.registry import Registry
from ferengine.steps import StepBuilder


class FERPipeline(Pipeline):
    """A scikit-learn Pipeline that also knows its label space.

    It behaves exactly like :class:`sklearn.pipeline.Pipeline` and adds:

    * ``fit``, ``predict``, ``predict_proba`` and ``score`` accept a
      :class:`~ferengine.FaceDataset` in place of ``X`` (labels taken from it);
    * with a label space (given, or taken from the dataset), ``y`` may hold
      class names or codes: names are encoded, so the classifier always sees
      codes and ``predict`` returns codes; :meth:`predict_names` returns names;
    * memory-mapped images (a dataset loaded with ``memmap=True``, or
      :class:`~ferengine.memmap.MemmapImages`) are predicted and scored
      :attr:`predict_batch` images at a time, so only one batch of images and of
      their features is in memory. Fitting passes them to the steps as they are:
      image features read them a batch at a time, and the classifier gets the
      whole feature matrix.

    Parameters
    ----------
    steps : list of (str, estimator)
        As in :class:`~sklearn.pipeline.Pipeline`.
    label_space : str or LabelSpace, optional
        Label space of the targets; ``None`` takes the one of the training dataset,
        or leaves targets untouched when fitting on arrays.
    transform_input, memory, verbose
        As in :class:`~sklearn.pipeline.Pipeline`.
    """

    def __init__(
        self,
        steps: list[tuple[str, Any]],
        *,
        label_space: str | LabelSpace | None = None,
        transform_input: list[str] | None = None,
        memory: Any = None,
        verbose: bool = False,
    ) -> None:
        super().__init__(steps, transform_input=transform_input, memory=memory, verbose=verbose)
        self.label_space = label_space

    #: Images per batch when predicting or scoring memory-mapped images.
    predict_batch: int = 8192

    def _batched(self, method: Any, X: Any, **params: Any) -> np.ndarray:
        """Call ``method`` on memory-mapped ``X`` a batch at a time; in-memory ``X`` at once."""
        if not isinstance(X, MemmapImages):
            return method(X, **params)
        n, size = len(X), max(1, int(self.predict_batch))
        return np.concatenate([method(X[i : i + size], **params) for i in range(0, n, size)])

    def _targets(self, X: Any, y: Any, space: LabelSpace | None) -> tuple[Any, Any]:
        if isinstance(X, FaceDataset):
            if y is None:
                y = X.label_names if space is not None and space != X.label_space else X.labels
            X = X.images
        if space is not None and y is not None:
            y = space.encode(np.asarray(y))
        return X, y

    def fit(self, X: Any, y: Any = None, **params: Any) -> FERPipeline:
        """Fit on images (or a FaceDataset) and labels (names or codes)."""
        space = None if self.label_space is None else get_label_space(self.label_space)
        if space is None and isinstance(X, FaceDataset):
            space = X.label_space
        self.label_space_ = space
        X, y = self._targets(X, y, space)
        return super().fit(X, y, **params)

    def _space(self) -> LabelSpace | None:
        return getattr(self, "label_space_", None)

    def predict(self, X: Any, **params: Any) -> np.ndarray:
        """Predict labels (codes when the pipeline has a label space)."""
        X, _ = self._targets(X, None, None)
        return self._batched(super().predict, X, **params)

    def predict_proba(self, X: Any, **params: Any) -> np.ndarray:
        """Class probabilities, columns in ``classes_`` order."""
        X, _ = self._targets(X, None, None)
        return self._batched(super().predict_proba, X, **params)

    def predict_names(self, X: Any) -> np.ndarray:
        """Predict class names (needs a label space)."""
        space = self._space()
        if space is None:
            raise ValueError(
                "predict_names needs a label space: pass label_space= or fit on a FaceDataset"
            )
        return space.decode(self.predict(X))

    def score(self, X: Any, y: Any = None, sample_weight: Any = None, **params: Any) -> float:
        """Accuracy of the final classifier on images (or a FaceDataset) and labels."""
        X, y = self._targets(X, y, self._space())
        if isinstance(X, MemmapImages) and is_classifier(self._final_estimator):
            predicted = self._batched(super().predict, X, **params)
            return float(accuracy_score(y, predicted, sample_weight=sample_weight))
        return super().score(X, y, sample_weight=sample_weight, **params)


def pipeline(
    *steps: Any,
    label_space: str | LabelSpace | None = None,
    memory: Any = None,
    registry: Registry | None = None,
) -> FERPipeline:
    """Build a :class:`FERPipeline` from steps written in the step grammar.

    Parameters
    ----------
    *steps
        Each a registry name (``"pixels"``), a name qualified by kind, package or both
        (``"feature:pixels"``, ``"my-plugin:pixels"``, ``"feature:my-plugin:pixels"``),
        a ``(name, params)`` pair, a ``{"name": ..., "params": {...}}`` table or an
        estimator instance (see :mod:`ferengine.steps`). The step is named by the plain
        plugin name; a repeated name gets a suffix (``pixels-2``).
    label_space : str or LabelSpace, optional
        See :class:`FERPipeline`.
    memory : str or joblib.Memory, optional
        Cache fitted transformers, as in scikit-learn.
    registry : Registry, optional
        Where to look names up, for these steps and the steps nested in them
        (``concat``'s features, ``fusion``'s members…); defaults to the installed plugins.

    Examples
    --------
    >>> pipe = pipeline(("pixels", {"size": 24}), "logistic")  # doctest: +SKIP
    """
    if not steps:
        raise InvalidPluginError("pipeline() needs at least one step")
    built = StepBuilder(registry).build_all(steps)
    return FERPipeline(built, label_space=label_space, memory=memory)
