"""Declared schemas of the TOML files (model specs, benchmark suites) and their plugin checks.

The files' shapes are pydantic models (:class:`Table` and its subclasses, declared in
:mod:`ferengine.spec` and :mod:`ferengine.bench.suite`); the steps and datasets they
name are checked against a :class:`~ferengine.registry.Registry` passed in the
validation context (``{"registry": registry}``): the plugin exists and is available,
every parameter is one its constructor takes (closest name suggested), required
parameters are given, values satisfy the plugin's scikit-learn
``_parameter_constraints`` where it declares them, and steps nested in parameters
(``concat``'s ``features``…, see :mod:`ferengine.steps`) pass the same checks.

:func:`validate` reads a whole file this way and reports every problem at once, one line
each, with its TOML path: ``suite.toml: classifiers[0].params.kk: unknown parameter of
classifier 'knn'; did you mean 'k'?``. Array indices count from 0.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from sklearn.model_selection import ParameterGrid

# scikit-learn's own checker of ``_parameter_constraints`` (private module, but the one its
# estimators' ``_validate_params`` calls), so specs are checked exactly as ``fit`` would.
from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

from ferengine.errors import FerengineError
from ferengine.plugin import Augmenter
from ferengine.registry import Registry, parameters
from ferengine.steps import STEP_KINDS, StepBuilder, StepSpec, step_params

Loc = tuple[str | int, ...]
Issue = tuple[Loc, str]
T = TypeVar("T", bound=BaseModel)


# --- errors -----------------------------------------------------------------------------


def problem(message: str) -> PydanticCustomError:
    """Return the error a validator raises to report ``message`` as it is (no "Value error")."""
    return PydanticCustomError("ferengine", "{message}", {"message": message})


def _error(loc: Loc, message: str, value: Any = None) -> InitErrorDetails:
    """One pydantic line error carrying ``message`` as it is."""
    return InitErrorDetails(type=problem(message), loc=loc, input=value)


def raise_issues(title: str, issues: list[Issue]) -> None:
    """Raise a :class:`~pydantic.ValidationError` holding ``issues`` (if any)."""
    if issues:
        errors = list(dict.fromkeys(issues))  # the same problem once, in order
        raise ValidationError.from_exception_data(title, [_error(loc, msg) for loc, msg in errors])


def path_of(loc: Loc) -> str:
    """Render a location as a TOML path: ``pipelines[2].steps[0].params.kk``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "top level"


def validate(model: type[T], raw: Any, source: str, registry: Registry | None, error: type) -> T:
    """Validate ``raw`` (parsed TOML) against ``model``, raising ``error`` listing every problem.

    Parameters
    ----------
    model : type
        The :class:`Table` of the whole file.
    raw : dict
        The parsed file.
    source : str
        Names the file in messages.
    registry : Registry or None
        Checks plugin names and parameters; ``None`` checks only the shape.
    error : type
        Exception class raised, with one ``SOURCE: PATH: problem`` line per problem.
    """
    try:
        return model.model_validate(raw, context={"registry": registry})
    except ValidationError as exc:
        lines = [f"{source}: {path_of(e['loc'])}: {e['msg']}" for e in exc.errors()]
        head = f"{source}: {len(lines)} problems\n" if len(lines) > 1 else ""
        raise error(head + "\n".join(lines)) from None


def _registry(info: ValidationInfo) -> Registry | None:
    return (info.context or {}).get("registry")


# --- tables -----------------------------------------------------------------------------


class Table(BaseModel):
    """A TOML table: unknown keys are errors that name the closest allowed key."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @classmethod
    def _unknown_key(cls, key: str) -> str:
        allowed = [field.alias or name for name, field in cls.model_fields.items()]
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        if close:
            hint = f"; did you mean {close[0]!r}?"
        elif "params" in allowed:  # a plugin parameter written beside the name
            hint = f"; parameters go in params = {{ {key} = ... }}"
        else:
            hint = ""
        return f"unknown key{hint} (allowed: {', '.join(allowed)})"

    @model_validator(mode="wrap")
    @classmethod
    def _explain_unknown_keys(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            issues = [
                (e["loc"], cls._unknown_key(str(e["loc"][0])))
                if e["type"] == "extra_forbidden" and len(e["loc"]) == 1
                else (e["loc"], e["msg"])
                for e in exc.errors()
            ]
            raise_issues(cls.__name__, issues)
            raise


class StepTable(Table):
    """A step: ``{ name = "hog", params = { cell = 6 } }``, or just its name, ``"hog"``."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the step as the grammar's table (:meth:`ferengine.steps.StepSpec.to_dict`)."""
        return StepSpec(self.name, self.params).to_dict()


def _shorthand(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


def checked(kinds: tuple[str, ...] = STEP_KINDS) -> AfterValidator:
    """Check a :class:`StepTable` against the registry in the context; it must be of ``kinds``."""

    def check(step: StepTable, info: ValidationInfo) -> StepTable:
        registry = _registry(info)
        if registry is not None:
            raise_issues("step", step_issues(step.name, step.params, registry, kinds))
        return step

    return AfterValidator(check)


#: A step in a file: a name or a step table, checked as a preprocessor, feature or classifier.
Step = Annotated[StepTable, BeforeValidator(_shorthand), checked()]
#: A step that must be a preprocessor.
PreprocessorStep = Annotated[StepTable, BeforeValidator(_shorthand), checked(("preprocessor",))]


class DatasetTable(Table):
    """A dataset plugin and its parameters: ``{ name = "fer2013", params = { path = ... } }``.

    Required parameters are not demanded here: a ``path`` may come from ``--data``.
    """

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self, info: ValidationInfo) -> DatasetTable:
        registry = _registry(info)
        if registry is not None:
            raise_issues("dataset", plugin_issues("dataset", self.name, self.params, registry))
        return self


class GridTable(Table):
    """A ``[[features]]`` or ``[[classifiers]]`` entry: one plugin, fixed params and a grid."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(default_factory=dict)
    label: str | None = None

    def points(self) -> list[dict[str, Any]]:
        """Return the parameters of every grid setting (scikit-learn ``ParameterGrid``)."""
        return [{**self.params, **point} for point in ParameterGrid(self.grid or {})]


def grid_checked(kind: str) -> AfterValidator:
    """Check every setting of a :class:`GridTable` as a step of ``kind``."""

    def check(entry: GridTable, info: ValidationInfo) -> GridTable:
        registry = _registry(info)
        if registry is None:
            return entry
        issues: list[Issue] = []
        for params in entry.points():
            for loc, msg in step_issues(entry.name, params, registry, (kind,)):
                if loc[:1] == ("params",) and len(loc) > 1 and loc[1] in entry.grid:
                    loc = ("grid", *loc[1:])
                issues.append((loc, msg))
        raise_issues("grid", issues)
        return entry

    return AfterValidator(check)


# --- plugin checks ----------------------------------------------------------------------


def step_issues(
    name: str, params: Mapping[str, Any], registry: Registry, kinds: tuple[str, ...] = STEP_KINDS
) -> list[Issue]:
    """Problems of one step (name and params), located relative to its table.

    The name resolves as :class:`~ferengine.steps.StepBuilder` resolves it when building
    (so a name two kinds share is ambiguous here too); with one of ``kinds`` given that
    is narrower than the step kinds, the plugin must be of one of them.
    """
    # Steps of other kinds than a pipeline's (augmenters) resolve among their own kinds.
    resolving = STEP_KINDS if set(kinds) <= set(STEP_KINDS) else kinds
    try:
        kind, lookup = StepBuilder(registry, resolving).resolve(name)
    except FerengineError as exc:
        problem = _message(exc)
        if len(kinds) == 1:  # the registry's message for that kind names close matches
            try:
                StepBuilder(registry, kinds).resolve(name)
            except FerengineError as narrow:
                problem = _message(narrow)
        return [(("name",), problem)]
    if kind not in kinds:
        return [(("name",), f"{name!r} is a {kind}; a {' or '.join(kinds)} is expected here")]
    return plugin_issues(kind, lookup, params, registry, required=True)


def plugin_issues(
    kind: str, name: str, params: Mapping[str, Any], registry: Registry, required: bool = False
) -> list[Issue]:
    """Problems of a plugin's parameters: unknown, missing (if ``required``), invalid values."""
    try:
        cls = registry.get(kind, name)
    except FerengineError as exc:
        return [(("name",), _message(exc))]
    accepted = parameters(cls)
    issues: list[Issue] = []
    takes_any = any(
        p.kind is p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values()
    )
    # A plugin taking **kwargs may say which of them it accepts (``cnn``'s module__width).
    extra = getattr(cls, "prefixed_param_issues", None)
    if takes_any and callable(extra):
        issues += [
            (("params", key), f"{kind} {name!r}: {msg}") for key, msg in extra(params, registry)
        ]
    for key in params:
        if key not in accepted and not takes_any:
            close = difflib.get_close_matches(key, list(accepted), n=1)
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else f" (its parameters: {', '.join(accepted) or 'none'})"
            )
            issues.append((("params", key), f"unknown parameter of {kind} {name!r}{hint}"))
    if required:
        for key, default in accepted.items():
            if default is inspect.Parameter.empty and key not in params:
                issues.append((("params",), f"{kind} {name!r} needs parameter {key!r}"))
    constraints = getattr(cls, "_parameter_constraints", None)
    if isinstance(constraints, Mapping):
        for key, value in params.items():
            if key in constraints:
                try:
                    validate_parameter_constraints(
                        {key: constraints[key]}, {key: value}, caller_name=f"{kind} {name!r}"
                    )
                except InvalidParameterError as exc:
                    issues.append((("params", key), str(exc)))
    for key, shape in step_params(cls).items():
        if key in params:
            nested = nested_issues(shape, params[key], registry)
            issues += [(("params", key, *loc), msg) for loc, msg in nested]
    return issues


def nested_issues(shape: str, value: Any, registry: Registry) -> list[Issue]:
    """Problems of a parameter value holding steps of ``shape`` (see :mod:`ferengine.steps`)."""
    if value is None:
        return []
    if shape == "pipeline":
        return _pipeline_issues(value, registry)
    if shape == "pipeline-map":
        if not isinstance(value, Mapping):
            return [((), f"expected a table of pipelines, got {value!r}")]
        return [
            ((key, *loc), msg)
            for key, item in value.items()
            for loc, msg in _pipeline_issues(item, registry)
        ]
    if shape == "augmenters":
        if not isinstance(value, list | tuple):
            return []  # not steps: the plugin's own parameter constraints check it
        return [
            ((i, *loc), msg)
            for i, step in enumerate(value)
            for loc, msg in _any_step(step, registry, ("augmenter",))
        ]
    if isinstance(value, str | Mapping) or not isinstance(value, list | tuple):
        return [((), f"expected a list of {'members' if shape == 'members' else 'steps'}")]
    issues: list[Issue] = []
    for i, item in enumerate(value):
        if shape == "members" and isinstance(item, str):
            continue  # a saved model, by name or path
        check = _pipeline_issues if shape == "members" else _any_step
        found = check(item, registry)
        issues += [((i, *loc), msg) for loc, msg in found]
    return issues


def _pipeline_issues(value: Any, registry: Registry) -> list[Issue]:
    if isinstance(value, list):
        if not value:
            return [((), "a pipeline needs at least one step")]
        return [
            ((i, *loc), msg)
            for i, step in enumerate(value)
            for loc, msg in _any_step(step, registry)
        ]
    return _any_step(value, registry)


def _any_step(step: Any, registry: Registry, kinds: tuple[str, ...] = STEP_KINDS) -> list[Issue]:
    """Problems of a step written in any form (a nested step value) of one of ``kinds``."""
    if "augmenter" in kinds and isinstance(step, Augmenter):
        return []  # an augmenter, used as given
    try:
        spec = StepSpec.parse(step)
    except FerengineError as exc:
        return [((), _message(exc))]
    if spec.name is None:
        return []  # an estimator, used as given
    issues = step_issues(spec.name, spec.params, registry, kinds)
    if isinstance(step, str):  # the name is the value itself
        issues = [(loc[1:] if loc[:1] == ("name",) else loc, msg) for loc, msg in issues]
    return issues


def _message(exc: Exception) -> str:
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
