"""Assertions on a loaded object's fields that raise :class:`FieldError` naming the field."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferengine.model_checks import FieldError

_KINDS = {"i": "integer", "f": "floating-point", "if": "numeric", "b": "boolean"}


def array(obj: Any, name: str, **checks: Any) -> np.ndarray:
    """Return ``obj.<name>`` after :func:`check_array` (ndim, kind, shape, finite)."""
    return check_array(getattr(obj, name), name, **checks)


def check_array(
    value: Any,
    name: str,
    *,
    ndim: int | None = None,
    kind: str | None = None,
    shape: tuple[int | None, ...] | None = None,
    finite: bool = False,
) -> np.ndarray:
    """Return ``value`` after checking it is an array of that ndim, dtype kind and shape.

    ``kind`` is "i" (integers, signed or not), "f" (floats), "if" (either) or "b";
    ``shape`` may hold None for any length.
    """
    if not isinstance(value, np.ndarray):
        raise FieldError(name, f"is a {type(value).__name__}, expected an array")
    if shape is not None:
        ndim = len(shape)
    if ndim is not None and value.ndim != ndim:
        raise FieldError(name, f"has shape {value.shape}, expected {ndim} dimension(s)")
    if shape is not None and any(
        want is not None and got != want for got, want in zip(value.shape, shape, strict=True)
    ):
        wanted = "(" + ", ".join("…" if s is None else str(s) for s in shape) + ")"
        raise FieldError(name, f"has shape {value.shape}, expected {wanted}")
    if kind is not None:
        kinds = "iu" if kind == "i" else ("iuf" if kind == "if" else kind)
        if value.dtype.kind not in kinds:
            raise FieldError(name, f"has dtype {value.dtype}, expected {_KINDS[kind]} values")
    if finite:
        all_finite(value, name)
    return value


def all_finite(value: np.ndarray, name: str) -> None:
    """Check that every element of a numeric array is finite."""
    if value.dtype.kind in "fc":
        bad = np.flatnonzero(~np.isfinite(value))
        if bad.size:
            raise FieldError(_at(name, value, bad[0]), f"= {value.ravel()[bad[0]]} is not finite")


def in_range(value: np.ndarray, name: str, low: int, high: int) -> None:
    """Check that every element lies in ``[low, high)``."""
    if value.size:
        bad = np.flatnonzero((value < low) | (value >= high))
        if bad.size:
            i = bad[0]
            raise FieldError(
                _at(name, value, i), f"= {value.ravel()[i]} is outside [{low}, {high})"
            )


def in_range_at(values: np.ndarray, at: np.ndarray, name: str, low: int, high: int) -> None:
    """Check ``values[at]`` lie in ``[low, high)``, naming the first bad element by its index."""
    bad = at[(values[at] < low) | (values[at] >= high)]
    if bad.size:
        i = int(bad[0])
        raise FieldError(f"{name}[{i}]", f"= {values[i]} is outside [{low}, {high})")


def finite_at(values: np.ndarray, at: np.ndarray, name: str) -> None:
    """Check ``values[at]`` are finite, naming the first bad element by its index."""
    bad = at[~np.isfinite(values[at])]
    if bad.size:
        i = int(bad[0])
        raise FieldError(f"{name}[{i}]", f"= {values[i]} is not finite")


def integer(obj: Any, name: str, low: int, high: int | None = None) -> int:
    """Return ``obj.<name>`` after checking it is an int in ``[low, high)`` (``high`` None: ∞)."""
    return check_integer(getattr(obj, name), name, low, high)


def check_integer(value: Any, name: str, low: int, high: int | None = None) -> int:
    """Check a value as :func:`integer` does and return it as an int."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise FieldError(name, f"= {value!r} is not an integer")
    if value < low or (high is not None and value >= high):
        upper = "∞" if high is None else str(high)
        raise FieldError(name, f"= {value} is outside [{low}, {upper})")
    return int(value)


def number(obj: Any, name: str) -> float:
    """Return ``obj.<name>`` after checking it is a finite real number."""
    value = getattr(obj, name)
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise FieldError(name, f"= {value!r} is not a number")
    if not np.isfinite(value):
        raise FieldError(name, f"= {value} is not finite")
    return float(value)


def equal(name: str, value: Any, other_name: str, other: Any) -> None:
    """Check that two sizes (or other plain values) agree."""
    for label, item in ((name, value), (other_name, other)):
        if isinstance(item, np.ndarray) and item.ndim:
            raise FieldError(label, f"is an array of shape {item.shape}, expected one value")
    if bool(value != other):
        raise FieldError(name, f"= {value} does not match {other_name} = {other}")


def one_of(obj: Any, name: str, allowed: tuple[Any, ...]) -> Any:
    """Return ``obj.<name>`` after checking it is one of ``allowed``."""
    value = getattr(obj, name)
    if not isinstance(value, str | int | float | type(None)) or value not in allowed:
        raise FieldError(name, f"= {value!r} is not one of {allowed}")
    return value


def classes(obj: Any, name: str = "classes_", at_least: int = 1) -> np.ndarray:
    """Return a classifier's ``classes_`` after checking it is a 1-D array of distinct values."""
    value = array(obj, name, ndim=1)
    if len(value) < at_least:
        raise FieldError(name, f"holds {len(value)} class(es), expected at least {at_least}")
    if value.dtype.kind == "f":
        all_finite(value, name)
    if value.dtype.kind != "O" and len(np.unique(value)) != len(value):
        raise FieldError(name, f"= {value.tolist()[:20]} repeats a class")
    return value


def codes(obj: Any, name: str, n_classes: int) -> None:
    """Check that ``obj.<name>`` are the label codes ``0 … n_classes-1`` in order."""
    value = classes(obj, name)
    if value.dtype.kind not in "iuf" or not np.array_equal(value, np.arange(len(value))):
        raise FieldError(name, f"= {value.tolist()[:20]} are not the codes 0…{n_classes - 1}")
    equal(f"len({name})", len(value), "the number of classes", n_classes)


def _at(name: str, value: np.ndarray, flat_index: int) -> str:
    index = np.unravel_index(flat_index, value.shape) if value.ndim else ()
    return f"{name}[{', '.join(str(int(i)) for i in index)}]"
