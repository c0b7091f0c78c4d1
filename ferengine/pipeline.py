"""Assemble registered plugins into a scikit-learn :class:`~sklearn.pipeline.Pipeline`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np
from sklearn import get_config
from sklearn.base import is_classifier
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline
from sklearn.utils.metadata_routing import process_routing
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ferengine.dataset import FaceDataset, LabelledSamples
from ferengine.errors import InvalidPluginError
from ferengine.labels import LabelSpace, get_label_space
from ferengine.memmap import MemmapImages
from ferengine.model_checks import FieldError, register_check
from ferengine.registry import Registry
from ferengine.step_checks import CheckedStep, check_output, naming, probabilities_problem
from ferengine.steps import StepBuilder


def _routing() -> bool:
    return bool(get_config().get("enable_metadata_routing", False))


def _final_has(method: str) -> Callable[[Pipeline], bool]:
    """``available_if`` check: the final step has ``method`` (else say which step lacks it)."""

    def check(self: Pipeline) -> bool:
        final = self._final_estimator
        if final != "passthrough" and hasattr(final, method):
            return True
        problem = probabilities_problem(self) if method == "predict_proba" else None
        name = self.steps[-1][0]
        raise AttributeError(problem or f"the final step {name!r} of the pipeline has no {method}")

    return check


def _can_transform(self: Pipeline) -> bool:
    final = self._final_estimator
    return final == "passthrough" or hasattr(final, "transform")


def _can_fit_transform(self: Pipeline) -> bool:
    return _can_transform(self) or hasattr(self._final_estimator, "fit_transform")


def _is_step(step: Any) -> bool:
    return step is not None and not (isinstance(step, str) and step == "passthrough")


class FERPipeline(Pipeline):
    """A scikit-learn Pipeline that also knows its label space.

    It behaves exactly like :class:`sklearn.pipeline.Pipeline` and adds:

    * ``fit``, ``predict``, ``predict_proba`` and ``score`` accept a
      :class:`~ferengine.FaceDataset` (or a :class:`~ferengine.sequences.ClipDataset`)
      in place of ``X`` (labels taken from it);
    * with a label space (given, or taken from the dataset), ``y`` may hold
      class names or codes: names are encoded, so the classifier always sees
      codes and ``predict`` returns codes; :meth:`predict_names` returns names;
    * memory-mapped images (a dataset loaded with ``memmap=True``, or
      :class:`~ferengine.memmap.MemmapImages`) are predicted and scored
      :attr:`predict_batch` images at a time, so only one batch of images and of
      their features is in memory. Fitting passes them to the steps as they are:
      image features read them a batch at a time, and the classifier gets the
      whole feature matrix;
    * every transformer step's output is checked when it is fitted and each time it
      transforms (:func:`ferengine.step_checks.check_output`): a 2-D array or sparse
      matrix with one row per input (a preprocessor: one image per input image), finite
      values, and the width it had when fitted. A defect raises
      :class:`~ferengine.errors.StepOutputError` naming the step's position, plugin and
      package, before the next step fails on it. ``predict_proba`` exists only when the
      final step has it (as in scikit-learn); asking for it otherwise says which step
      lacks it and how to add it.

    Parameters
    ----------
    steps : list of (str, estimator)
        As in :class:`~sklearn.pipeline.Pipeline`.
    label_space : str or LabelSpace, optional
        Label space of the targets; ``None`` takes the one of the training dataset,
        or leaves targets untouched when fitting on arrays.
    transform_input, memory, verbose
        As in :class:`~sklearn.pipeline.Pipeline`.

    Attributes
    ----------
    label_space_ : LabelSpace or None
        The label space of the targets.
    step_widths_ : dict of str to (int, int)
        Per transformer step whose training output is a matrix: its width and the
        number of rows it was fitted on (``transform`` and ``predict`` check the width).
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
        if isinstance(X, LabelledSamples):  # a FaceDataset or a ClipDataset
            if y is None:
                y = X.label_names if space is not None and space != X.label_space else X.labels
            X = X.samples
        if space is not None and y is not None:
            y = space.encode(np.asarray(y))
        return X, y

    def _training(self, X: Any, y: Any) -> tuple[Any, Any]:
        """Set ``label_space_`` and return the training images and encoded labels."""
        space = None if self.label_space is None else get_label_space(self.label_space)
        if space is None and isinstance(X, LabelledSamples):
            space = X.label_space
        self.label_space_ = space
        return self._targets(X, y, space)

    @contextmanager
    def _checked(self, final: bool) -> Iterator[None]:
        """Fit with the transformer steps (and the final one if ``final``) output-checked.

        The steps are wrapped in :class:`~ferengine.step_checks.CheckedStep` for the
        duration of scikit-learn's fit, which clones, caches (``memory``) and fits them
        as it does any transformer; the fitted steps are unwrapped afterwards.
        """
        last = len(self.steps) - 1
        self.step_widths_: dict[str, tuple[int, int]] = {}
        self.steps = [
            (name, CheckedStep(step, i, name) if _is_step(step) and (i < last or final) else step)
            for i, (name, step) in enumerate(self.steps)
        ]
        try:
            yield
            self.step_widths_ = {
                name: step.output_
                for name, step in self.steps
                if isinstance(step, CheckedStep) and getattr(step, "output_", None)
            }
        finally:
            self.steps = [
                (name, step.estimator if isinstance(step, CheckedStep) else step)
                for name, step in self.steps
            ]

    def fit(self, X: Any, y: Any = None, **params: Any) -> FERPipeline:
        """Fit on images (or a FaceDataset) and labels (names or codes), checking each step.

        A final step set to learn from annotators' votes (``targets="votes"``, as ``cnn``
        takes) gets them from the dataset: ``votes``, one column per training class.
        """
        samples = X
        X, y = self._training(X, y)
        params.update(self._vote_params(samples, y, params))
        with self._checked(final=False):
            super().fit(X, y, **params)
        return self

    def _vote_params(self, samples: Any, y: Any, params: dict[str, Any]) -> dict[str, Any]:
        """Return the fit parameter passing a dataset's votes to a final step that learns them."""
        name, final = self.steps[-1]
        key = f"{name}__votes"
        if getattr(final, "targets", None) != "votes" or key in params:
            return {}
        if not isinstance(samples, FaceDataset):
            raise ValueError(
                f"step {name!r}: targets='votes' learns from annotators' votes: fit the "
                "pipeline on a FaceDataset that carries them (fer2013 with ferplus=PATH), "
                f"or pass {key}=..."
            )
        names = [self.label_space_.names[c] for c in np.unique(y)]  # the training classes
        return {key: samples.vote_counts(names)}

    @available_if(_can_fit_transform)
    def fit_transform(self, X: Any, y: Any = None, **params: Any) -> Any:
        """Fit, checking each step (the last one too), and return the last step's output."""
        X, y = self._training(X, y)
        with self._checked(final=True):
            return super().fit_transform(X, y, **params)

    def _space(self) -> LabelSpace | None:
        return getattr(self, "label_space_", None)

    def _through(self, X: Any, routed: Any, with_final: bool = False) -> Any:
        """Transform ``X`` through the fitted transformer steps, checking each output."""
        widths = getattr(self, "step_widths_", {})
        stop = len(self.steps) if with_final else len(self.steps) - 1
        for i, (name, step) in enumerate(self.steps[:stop]):
            if not _is_step(step):
                continue
            with naming(i, name, step):
                out = step.transform(X, **({} if routed is None else routed[name].transform))
            check_output(i, name, step, X, out, widths.get(name))
            X = out
        return X

    def _final_call(self, method: str, X: Any, **params: Any) -> Any:
        """Transform ``X`` (checked) and call the final step's ``method`` on it."""
        check_is_fitted(self)
        routed = process_routing(self, method, **params) if _routing() else None
        Xt = self._through(X, routed)
        name, final = self.steps[-1]
        return getattr(final, method)(Xt, **(params if routed is None else routed[name][method]))

    @available_if(_final_has("predict"))
    def predict(self, X: Any, **params: Any) -> np.ndarray:
        """Predict labels (codes when the pipeline has a label space)."""
        X, _ = self._targets(X, None, None)
        return self._batched(partial(self._final_call, "predict"), X, **params)

    @available_if(_final_has("predict_proba"))
    def predict_proba(self, X: Any, **params: Any) -> np.ndarray:
        """Class probabilities, columns in ``classes_`` order."""
        X, _ = self._targets(X, None, None)
        return self._batched(partial(self._final_call, "predict_proba"), X, **params)

    @available_if(_final_has("decision_function"))
    def decision_function(self, X: Any, **params: Any) -> np.ndarray:
        """Decision values of the final step."""
        X, _ = self._targets(X, None, None)
        return self._batched(partial(self._final_call, "decision_function"), X, **params)

    @available_if(_can_transform)
    def transform(self, X: Any, **params: Any) -> Any:
        """Transform through every step, the last one included (checked as in ``fit``)."""
        check_is_fitted(self)
        if params and not _routing():
            raise TypeError(
                f"transform got parameters {sorted(params)}; passing them needs scikit-learn's "
                "metadata routing (sklearn.set_config(enable_metadata_routing=True))"
            )
        routed = process_routing(self, "transform", **params) if _routing() else None
        return self._through(X, routed, with_final=True)

    def predict_names(self, X: Any) -> np.ndarray:
        """Predict class names (needs a label space)."""
        space = self._space()
        if space is None:
            raise ValueError(
                "predict_names needs a label space: pass label_space= or fit on a FaceDataset"
            )
        return space.decode(self.predict(X))

    @available_if(_final_has("score"))
    def score(self, X: Any, y: Any = None, sample_weight: Any = None, **params: Any) -> float:
        """Accuracy of the final classifier on images (or a FaceDataset) and labels."""
        X, y = self._targets(X, y, self._space())
        if isinstance(X, MemmapImages) and is_classifier(self._final_estimator):
            predicted = self.predict(X, **params)
            return float(accuracy_score(y, predicted, sample_weight=sample_weight))
        check_is_fitted(self)
        if _routing():
            routed = process_routing(self, "score", sample_weight=sample_weight, **params)
            name, final = self.steps[-1]
            return final.score(self._through(X, routed), y, **routed[name].score)
        weights = {} if sample_weight is None else {"sample_weight": sample_weight}
        return self._final_estimator.score(self._through(X, None), y, **weights)


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


@register_check(FERPipeline)
def check_step_widths(pipe: FERPipeline) -> None:
    """Refuse a loaded pipeline whose ``step_widths_`` does not describe its own steps."""
    widths = getattr(pipe, "step_widths_", None)
    if widths is None:  # saved before the output checks existed
        return
    if not isinstance(widths, dict):
        raise FieldError("step_widths_", f"is a {type(widths).__name__}, not a dict")
    names = {name for name, _ in pipe.steps}
    for name, value in widths.items():
        if name not in names:
            raise FieldError(f"step_widths_[{name!r}]", f"names no step of {sorted(names)}")
        if not (
            isinstance(value, tuple | list)
            and len(value) == 2
            and all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in value)
            and min(value) >= 0
        ):
            raise FieldError(f"step_widths_[{name!r}]", f"= {value!r} is not (width, rows) ≥ 0")
