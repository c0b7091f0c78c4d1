"""Assemble registered plugins into a scikit-learn :class:`~sklearn.pipeline.Pipeline`."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from ferengine.dataset import FaceDataset
from ferengine.errors import InvalidPluginError, UnknownPluginError
from ferengine.labels import LabelSpace, get_label_space
from ferengine.registry import Registry, get_registry, split_name

#: Kinds a pipeline step may come from, in lookup order.
STEP_KINDS = ("preprocessor", "feature", "classifier")


class FERPipeline(Pipeline):
    """A scikit-learn Pipeline that also knows its label space.

    It behaves exactly like :class:`sklearn.pipeline.Pipeline` and adds:

    * ``fit``, ``predict``, ``predict_proba`` and ``score`` accept a
      :class:`~ferengine.FaceDataset` in place of ``X`` (labels taken from it);
    * with a label space (given, or taken from the dataset), ``y`` may hold
      class names or codes: names are encoded, so the classifier always sees
      codes and ``predict`` returns codes; :meth:`predict_names` returns names.

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
        return super().predict(X, **params)

    def predict_proba(self, X: Any, **params: Any) -> np.ndarray:
        """Class probabilities, columns in ``classes_`` order."""
        X, _ = self._targets(X, None, None)
        return super().predict_proba(X, **params)

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
        return super().score(X, y, sample_weight=sample_weight, **params)


def _resolve(spec: str, registry: Registry) -> tuple[str, str, str]:
    """Return ``(kind, name to look up, step name)`` of a step ``[KIND:][PACKAGE:]NAME``."""
    kind, package, bare = split_name(spec)
    lookup = f"{package}:{bare}" if package else bare
    if kind is not None:
        registry.record(kind, lookup)
        return kind, lookup, bare
    kinds = registry.find(lookup, STEP_KINDS)
    if len(kinds) == 1:
        return kinds[0], lookup, bare
    if len(kinds) > 1:
        raise InvalidPluginError(
            f"step {spec!r} is ambiguous: it names a {' and a '.join(kinds)}; write "
            + " or ".join(f"'{k}:{spec}'" for k in kinds)
        )
    if package is not None and registry.find(bare, STEP_KINDS):  # the name, from elsewhere
        kind = registry.find(bare, STEP_KINDS)[0]
        registry.record(kind, lookup)  # raises, naming the packages that have it
    # Not found anywhere: suggest close matches across kinds.
    candidates = {n: k for k in STEP_KINDS for n in registry.names(k)}
    close = difflib.get_close_matches(bare, list(candidates), n=3, cutoff=0.5)
    hint = (
        "; did you mean " + ", ".join(f"{candidates[c]}:{c}" for c in close) + "?" if close else ""
    )
    raise UnknownPluginError(f"no preprocessor, feature or classifier named {spec!r}{hint}")


def make_step(step: Any, registry: Registry | None = None) -> tuple[str, Any]:
    """Turn one step description into a ``(name, estimator)`` pair."""
    registry = registry or get_registry()
    params: Mapping[str, Any] = {}
    if isinstance(step, Mapping):  # {"name": ..., **params}, as written in TOML specs
        if not isinstance(step.get("name"), str):
            raise InvalidPluginError(f"a step table needs a 'name' string, got {dict(step)!r}")
        params = {k: v for k, v in step.items() if k != "name"}
        step = step["name"]
    elif isinstance(step, tuple | list):  # (name, params); TOML and JSON give lists
        if len(step) != 2 or not isinstance(step[1], Mapping):
            raise InvalidPluginError(f"a tuple step must be (name, params dict), got {step!r}")
        step, params = step
    if isinstance(step, str):
        kind, lookup, name = _resolve(step, registry)
        return name, registry.create(kind, lookup, **dict(params))
    if params:
        raise InvalidPluginError(f"params can only accompany a registry name, not {step!r}")
    if not hasattr(step, "fit") and not hasattr(step, "transform"):
        raise InvalidPluginError(f"step {step!r} is neither a registry name nor an estimator")
    return getattr(type(step), "name", type(step).__name__.lower()), step


def pipeline(
    *steps: Any,
    label_space: str | LabelSpace | None = None,
    memory: Any = None,
    registry: Registry | None = None,
) -> FERPipeline:
    """Build a :class:`FERPipeline` from registry names, ``(name, params)`` pairs or estimators.

    Parameters
    ----------
    *steps
        Each a registry name (``"pixels"``), a name qualified by kind, package or both
        (``"feature:pixels"``, ``"my-plugin:pixels"``, ``"feature:my-plugin:pixels"``;
        see :mod:`ferengine.registry`), a ``(name, params)`` pair, a
        ``{"name": ..., **params}`` mapping or an estimator instance. The step is
        named by the plain plugin name.
    label_space : str or LabelSpace, optional
        See :class:`FERPipeline`.
    memory : str or joblib.Memory, optional
        Cache fitted transformers, as in scikit-learn.
    registry : Registry, optional
        Where to look names up; defaults to the installed plugins.

    Examples
    --------
    >>> pipe = pipeline(("pixels", {"size": 24}), "logistic")  # doctest: +SKIP
    """
    if not steps:
        raise InvalidPluginError("pipeline() needs at least one step")
    built: list[tuple[str, Any]] = []
    used: set[str] = set()
    for step in steps:
        name, est = make_step(step, registry)
        unique, i = name, 2
        while unique in used:
            unique, i = f"{name}-{i}", i + 1
        used.add(unique)
        built.append((unique, est))
    return FERPipeline(built, label_space=label_space, memory=memory)
