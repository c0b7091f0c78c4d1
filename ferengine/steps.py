"""The step grammar: how a pipeline step is written, parsed and built, in one place.

A *step* is written as one of:

* a plugin name, ``"hog"``, or a qualified one, ``"feature:hog"``, ``"my-plugin:hog"``,
  ``"feature:my-plugin:hog"`` (``[KIND:][PACKAGE:]NAME``, see
  :func:`ferengine.registry.split_name`);
* a ``(name, params)`` tuple, ``("hog", {"cell": 6})`` (Python only);
* a table with a name and its parameters, ``{"name": "hog", "params": {"cell": 6}}``,
  written in TOML as ``{ name = "hog", params = { cell = 6 } }`` — the one form model
  specs and suites use;
* an estimator instance, used as given.

A list is never one step: where a parameter takes "a step or a list of steps", a list
is a pipeline.

:class:`StepSpec` is the parsed, registry-free form (picklable, hashable by content);
:class:`StepBuilder` carries a :class:`~ferengine.registry.Registry` and builds
estimators from steps with it.

Nested steps
------------
A plugin whose parameters hold steps (``concat``'s ``features``, ``tta``'s
``estimator``…) declares them in a ``step_params`` class attribute mapping each such
parameter to its *shape*:

``"steps"``
    a list of steps;
``"pipeline"``
    a step, or a list of steps forming a pipeline;
``"members"``
    a list whose items are saved-model names or paths (strings, kept as they are) or
    pipelines;
``"pipeline-map"``
    a mapping of keys to pipelines;
``"augmenters"``
    a list of augmenter steps (built as augmenters, :class:`~ferengine.Augmenter`
    instances kept as given); any other value (``cnn``'s preset name, say) is left for
    the plugin to read.

When :class:`StepBuilder` builds such a plugin from a name or a table, it builds the
nested steps too, with the same registry, and sets them on the plugin as estimators:
they survive :func:`sklearn.base.clone`, show in ``get_params`` and need no registry at
fit time. A plugin constructed directly with names in those parameters builds them when
it is fitted, on the process-wide registry (:func:`build_step`, :func:`build_model`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sklearn.base import clone

from ferengine.errors import InvalidPluginError, UnknownPluginError
from ferengine.plugin import Augmenter
from ferengine.registry import Registry, get_registry, split_name

#: Kinds a pipeline step may come from, in lookup order (a ``model`` step is a
#: registered pretrained model, predicting with its weights as trained).
STEP_KINDS: tuple[str, ...] = ("preprocessor", "feature", "classifier", "model")

#: Shapes a plugin's ``step_params`` may declare (see the module docstring).
SHAPES: tuple[str, ...] = ("steps", "pipeline", "members", "pipeline-map", "augmenters")

_TABLE_KEYS = frozenset({"name", "params"})


@dataclass(frozen=True)
class StepSpec:
    """One parsed step: a plugin name with parameters, or an estimator instance.

    Parameters
    ----------
    name : str or None
        The name as written (``[KIND:][PACKAGE:]NAME``); ``None`` for an instance.
    params : mapping
        Constructor parameters of the plugin.
    estimator : object, optional
        The estimator of an instance step.
    """

    name: str | None
    params: Mapping[str, Any] = field(default_factory=dict)
    estimator: Any = None

    @classmethod
    def parse(cls, step: Any) -> StepSpec:
        """Parse any written form of a step (see the module docstring).

        Raises
        ------
        InvalidPluginError
            The value is none of the step forms; the message says which form it nearly is.
        """
        if isinstance(step, StepSpec):
            return step
        if isinstance(step, str):
            return cls(step, {})
        if isinstance(step, tuple):
            if len(step) != 2 or not isinstance(step[0], str) or not isinstance(step[1], Mapping):
                raise InvalidPluginError(f"a tuple step must be (name, params dict), got {step!r}")
            return cls(step[0], dict(step[1]))
        if isinstance(step, Mapping):
            name = step.get("name")
            if not isinstance(name, str):
                raise InvalidPluginError(f"a step table needs a 'name' string, got {dict(step)!r}")
            extra = sorted(set(step) - _TABLE_KEYS)
            if extra:
                raise InvalidPluginError(
                    f"step {name!r}: unknown keys {extra}; a step table holds only 'name' and "
                    f"'params' (write params = {{ {extra[0]} = ... }})"
                )
            params = step.get("params", {})
            if not isinstance(params, Mapping):
                raise InvalidPluginError(
                    f"step {name!r}: params must be a table of parameters, got {params!r}"
                )
            return cls(name, dict(params))
        if isinstance(step, list):
            raise InvalidPluginError(
                f"a list is a pipeline, not one step: {step!r}; give one step here"
            )
        if hasattr(step, "fit") or hasattr(step, "transform"):
            return cls(None, {}, step)
        raise InvalidPluginError(
            f"step {step!r} is neither a plugin name, a (name, params) pair, a "
            "{name, params} table nor an estimator"
        )

    @property
    def bare(self) -> str:
        """The plugin name without kind or package (names the step in a pipeline)."""
        if self.name is None:
            return getattr(type(self.estimator), "name", type(self.estimator).__name__.lower())
        return split_name(self.name)[2]

    def to_dict(self) -> dict[str, Any]:
        """Return the table form, ``{"name": ..., "params": {...}}`` (named steps only)."""
        if self.name is None:
            raise InvalidPluginError(f"an estimator step has no table form: {self.estimator!r}")
        return {"name": self.name, "params": dict(self.params)}


def step_params(cls: type) -> dict[str, str]:
    """Return the parameters of a plugin class that hold steps, with their shapes."""
    declared = dict(getattr(cls, "step_params", {}) or {})
    bad = {p: s for p, s in declared.items() if s not in SHAPES}
    if bad:
        raise InvalidPluginError(
            f"{cls.__qualname__}.step_params: unknown shapes {bad}; shapes are {list(SHAPES)}"
        )
    return declared


class StepBuilder:
    """Build estimators from steps with one registry (nested steps included).

    Parameters
    ----------
    registry : Registry, optional
        Where plugin names are looked up; defaults to the process-wide registry.
    kinds : tuple of str
        Plugin kinds a plain name may come from (pipeline steps: preprocessors,
        features, classifiers; augment lists: augmenters).
    """

    def __init__(self, registry: Registry | None = None, kinds: Iterable[str] = STEP_KINDS):
        self.registry = registry or get_registry()
        self.kinds = tuple(kinds)

    def resolve(self, name: str) -> tuple[str, str]:
        """Return ``(kind, lookup name)`` of a step name ``[KIND:][PACKAGE:]NAME``.

        Raises
        ------
        UnknownPluginError
            No plugin of the step kinds has the name (closest names suggested).
        InvalidPluginError
            Several kinds have it: the message shows the kind-qualified names.
        """
        kind, package, bare = split_name(name)
        lookup = f"{package}:{bare}" if package else bare
        if kind is not None or len(self.kinds) == 1:
            kind = kind or self.kinds[0]
            self.registry.record(kind, lookup)  # raises with close matches
            return kind, lookup
        kinds = self.registry.find(lookup, self.kinds)
        if len(kinds) == 1:
            return kinds[0], lookup
        if len(kinds) > 1:
            raise InvalidPluginError(
                f"step {name!r} is ambiguous: it names a {' and a '.join(kinds)}; write "
                + " or ".join(f"'{k}:{name}'" for k in kinds)
            )
        elsewhere = self.registry.find(bare, self.kinds)
        if package is not None and elsewhere:  # the name exists, from other packages
            self.registry.record(elsewhere[0], lookup)  # raises, naming those packages
        candidates = {n: k for k in self.kinds for n in self.registry.names(k)}
        close = difflib.get_close_matches(bare, list(candidates), n=3, cutoff=0.5)
        hint = (
            "; did you mean " + ", ".join(f"{candidates[c]}:{c}" for c in close) + "?"
            if close
            else ""
        )
        raise UnknownPluginError(f"no {_or(self.kinds)} named {name!r}{hint}")

    def build(self, step: Any) -> tuple[str, Any]:
        """Return ``(step name, estimator)`` of one step; nested steps are built too.

        An estimator instance is returned as given (its nested steps untouched).
        """
        spec = StepSpec.parse(step)
        if spec.name is None:
            if not hasattr(spec.estimator, "fit") and not hasattr(spec.estimator, "transform"):
                raise InvalidPluginError(f"step {spec.estimator!r} is not an estimator")
            return spec.bare, spec.estimator
        kind, lookup = self.resolve(spec.name)
        estimator = self.registry.create(kind, lookup, **dict(spec.params))
        nested = {
            param: self.nested(shape, getattr(estimator, param, None))
            for param, shape in step_params(type(estimator)).items()
        }
        if nested:
            estimator.set_params(**nested)
        return spec.bare, estimator

    def build_all(self, steps: Iterable[Any]) -> list[tuple[str, Any]]:
        """Build several steps, making repeated step names unique (``name``, ``name-2``…)."""
        built: list[tuple[str, Any]] = []
        used: set[str] = set()
        for step in steps:
            name, est = self.build(step)
            unique, i = name, 2
            while unique in used:
                unique, i = f"{name}-{i}", i + 1
            used.add(unique)
            built.append((unique, est))
        return built

    def model(self, spec: Any) -> Any:
        """Return the estimator of a step, or a :class:`~ferengine.FERPipeline` of a list."""
        if isinstance(spec, list):
            from ferengine.pipeline import FERPipeline  # pipeline.py imports this module

            if not spec:
                raise InvalidPluginError("a pipeline needs at least one step, got []")
            return FERPipeline(self.build_all(spec))
        return self.build(spec)[1]

    def nested(self, shape: str, value: Any) -> Any:
        """Build the value of a parameter of ``shape`` (see the module docstring)."""
        if value is None:
            return None
        if shape == "steps":
            if isinstance(value, str | Mapping) or not isinstance(value, Iterable):
                raise InvalidPluginError(f"expected a list of steps, got {value!r}")
            return [self.build(step)[1] for step in value]
        if shape == "pipeline":
            return self.model(value)
        if shape == "members":
            if isinstance(value, str | Mapping) or not isinstance(value, Iterable):
                raise InvalidPluginError(f"expected a list of members, got {value!r}")
            return [m if isinstance(m, str) else self.model(m) for m in value]
        if shape == "pipeline-map":
            if not isinstance(value, Mapping):
                raise InvalidPluginError(f"expected a table of pipelines, got {value!r}")
            return {key: self.model(v) for key, v in value.items()}
        if shape == "augmenters":
            if not isinstance(value, list | tuple):
                return value  # not steps: a name the plugin itself resolves
            builder = StepBuilder(self.registry, ("augmenter",))
            return [a if isinstance(a, Augmenter) else builder.build(a)[1] for a in value]
        raise InvalidPluginError(f"unknown step shape {shape!r}; shapes are {list(SHAPES)}")


def build_step(
    step: Any, registry: Registry | None = None, kinds: Iterable[str] = STEP_KINDS
) -> tuple[str, Any]:
    """Return ``(step name, estimator)`` of one step (see :meth:`StepBuilder.build`)."""
    return StepBuilder(registry, kinds).build(step)


def build_model(spec: Any, registry: Registry | None = None) -> Any:
    """Return a fresh, unfitted estimator from a step or a list of steps (a pipeline).

    Plugins call it at fit time on their nested-step parameters; an estimator given
    (or built earlier by :class:`StepBuilder`) is cloned, so fitting never changes it.
    """
    return clone(StepBuilder(registry).model(spec))


def _or(items: tuple[str, ...]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
