"""Validate a loaded model's objects before :func:`ferengine.load` returns them.

skops rebuilds only allow-listed types, but it cannot tell whether their arrays
are consistent, and compiled code (scikit-learn's trees, libsvm, XGBoost)
indexes some of them without bounds checks: a crafted file could crash the
interpreter or read out of bounds at the first prediction. :func:`validate_model`
walks the whole object graph (pipelines, lists, dicts, nested estimators and
their attributes) and runs every check registered for the class of each object,
or for one of its base classes.

A check is a function of the object that raises :class:`FieldError` naming the
field; :func:`validate_model` turns it into a one-line
:class:`~ferengine.errors.ModelFormatError` that names the file, the step and
the field. The core registers checks for the libraries it knows (scikit-learn,
XGBoost boosters, torch modules) by qualified name (``"package.module.Class"``,
so that registering imports nothing). A plugin package registers the checks of
its own classes with :func:`register_check`, in a module that the modules
defining those classes import, so the checks exist as soon as skops imports a
class; values that a class hands to a compiled parser while it is being rebuilt
need a check that runs before skops builds anything:
:func:`ferengine.model_checks.state.register_state_check` (:func:`ferengine.load`
imports every class of the payload before running those).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ferengine.errors import ModelFormatError

Check = Callable[[Any], None]
_CHECKS: dict[str, list[Check]] = {}
#: Classes whose instances are checked as a whole and not walked into (by qualified name).
_OPAQUE = {"torch.nn.modules.module.Module", "xgboost.core.Booster", "sklearn.tree._tree.Tree"}
_SCALARS = (str, bytes, bytearray, int, float, complex, bool, type(None), np.generic)


class FieldError(Exception):
    """An inconsistent field of a loaded object.

    Parameters
    ----------
    field : str
        The attribute path inside the object checked, e.g. ``"tree_.children_left[0]"``.
    problem : str
        What is wrong, e.g. ``"= 50000000 is outside [-1, 7)"``.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


def qualified_name(cls: type) -> str:
    """Return ``module.QualName`` of a class."""
    return f"{cls.__module__}.{cls.__qualname__}"


def register_check(target: type | str) -> Callable[[Check], Check]:
    """Register a check run on every loaded instance of ``target`` or of a subclass.

    Parameters
    ----------
    target : type or str
        The class, or its qualified name (``"sklearn.svm._base.BaseLibSVM"``).

    Returns
    -------
    callable
        A decorator that registers the check and returns it unchanged.
    """
    name = target if isinstance(target, str) else qualified_name(target)

    def decorator(check: Check) -> Check:
        if check not in _CHECKS.setdefault(name, []):
            _CHECKS[name].append(check)
        return check

    return decorator


def checks_for(cls: type) -> list[Check]:
    """Return the checks registered for ``cls`` and its base classes, most basic first."""
    out: list[Check] = []
    for base in reversed(cls.__mro__):
        out.extend(_CHECKS.get(qualified_name(base), ()))
    return out


def validate_model(obj: Any, where: str) -> None:
    """Run the registered checks on ``obj`` and every object it holds.

    Parameters
    ----------
    obj : object
        The loaded model.
    where : str
        The file, for messages.

    Raises
    ------
    ModelFormatError
        A check failed: ``"{where}: step 'name' (Class): field problem"``.
    """
    seen: set[int] = set()
    stack: list[tuple[Any, str]] = [(obj, _root_label(obj))]
    while stack:
        item, location = stack.pop()
        if id(item) in seen or isinstance(item, _SCALARS):
            continue
        seen.add(id(item))
        for check in checks_for(type(item)):
            try:
                check(item)
            except FieldError as exc:
                raise ModelFormatError(
                    f"{where}: {_join(location, exc.field)} {exc.problem}"
                ) from None
            except Exception as exc:  # a check tripping over a malformed value: malformed
                raise ModelFormatError(
                    f"{where}: {location.rstrip(': ') or type(item).__name__} is inconsistent: "
                    f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
                ) from None
        if not _opaque(type(item)):
            stack.extend(reversed(list(_children(item, location))))


def _opaque(cls: type) -> bool:
    return any(qualified_name(base) in _OPAQUE for base in cls.__mro__)


def _root_label(obj: Any) -> str:
    return "" if _steps(obj) is not None else f"{type(obj).__name__}: "


def _join(location: str, field: str) -> str:
    """Append an attribute path (``tree_``, ``[3]``) to a location."""
    if not field:
        return location.rstrip(": ")
    if not location or location.endswith(": ") or field.startswith("["):
        return location + field
    return f"{location}.{field}"


def _steps(obj: Any) -> list[tuple[str, Any]] | None:
    """Return a pipeline's ``(name, step)`` pairs, or None for anything else."""
    steps = getattr(obj, "steps", None) if hasattr(obj, "__dict__") else None
    if isinstance(steps, list) and all(
        isinstance(s, tuple) and len(s) == 2 and isinstance(s[0], str) for s in steps
    ):
        return steps
    return None


def _children(obj: Any, location: str) -> Iterator[tuple[Any, str]]:
    """Yield the objects ``obj`` holds, each with its location."""
    steps = _steps(obj)
    if steps is not None:
        prefix = location if not location or location.endswith(": ") else location + " "
        for name, step in steps:
            yield step, f"{prefix}step {name!r} ({type(step).__name__}): "
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield value, _join(location, f"[{key!r}]")
    elif isinstance(obj, list | tuple | set | frozenset):
        for i, value in enumerate(obj):
            yield value, _join(location, f"[{i}]")
    elif isinstance(obj, np.ndarray):
        if obj.dtype == object:
            for i, value in enumerate(obj.ravel()):
                yield value, _join(location, f"[{i}]")
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        for key, value in vars(obj).items():
            if key == "steps" and steps is not None:
                continue
            yield value, _join(location, key)


# The built-in checks register themselves on import.
from ferengine.model_checks import sklearn_models, torch_models, xgboost_models  # noqa: E402, F401
