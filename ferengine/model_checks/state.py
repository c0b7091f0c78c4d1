"""Checks on a payload's raw values before skops rebuilds any object from them.

Some saved values reach a compiled parser while objects are being rebuilt, before
:func:`~ferengine.model_checks.validate_model` can see them: ferengine's
``xgboost`` classifier hands its booster bytes to libxgboost in ``__setstate__``,
and libxgboost's UBJSON parser crashes the interpreter on a damaged buffer. A
*state check*, registered for a class and one of its attributes stored as bytes,
receives those bytes and returns the bytes to rebuild from instead (validated,
and re-encoded in a form the parser handles), or raises
:class:`~ferengine.model_checks.FieldError`.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

from ferengine.errors import ModelFormatError
from ferengine.model_checks import FieldError, qualified_name

StateCheck = Callable[[bytes], bytes]
_STATE_CHECKS: dict[str, dict[str, StateCheck]] = {}
_BYTES_LOADERS = ("BytesNode", "BytearrayNode")


def register_state_check(target: type | str, attribute: str) -> Callable[[StateCheck], StateCheck]:
    """Register a check of the saved bytes of ``target.<attribute>`` (subclasses included).

    Parameters
    ----------
    target : type or str
        The class, or its qualified name.
    attribute : str
        The attribute whose saved ``bytes`` the check receives and returns.

    Returns
    -------
    callable
        A decorator that registers the check and returns it unchanged.
    """
    name = target if isinstance(target, str) else qualified_name(target)

    def decorator(check: StateCheck) -> StateCheck:
        _STATE_CHECKS.setdefault(name, {})[attribute] = check
        return check

    return decorator


def check_state(payload: bytes, where: str, resolve: Callable[[str], type | None]) -> bytes:
    """Run the state checks on a (repacked, uncompressed) skops payload; return it rewritten.

    Parameters
    ----------
    payload : bytes
        The skops payload, as :func:`ferengine.model_archive.check_payload` returns it.
    where : str
        The file, for messages.
    resolve : callable
        Returns the class of a qualified name, or None. It imports the class's module,
        which registers the state checks of a plugin's classes, and gives the base
        classes whose checks apply too.

    Raises
    ------
    ModelFormatError
        A state check failed: ``"{where}: step 'name' (Class): attribute field problem"``.
    """
    with zipfile.ZipFile(io.BytesIO(payload)) as zf:
        files = {info.filename: zf.read(info) for info in zf.infolist()}
    replaced: dict[str, bytes] = {}
    found: dict[str, dict[str, StateCheck]] = {}  # per class: thousands of nodes, few classes
    for node, label in _object_nodes(json.loads(files["schema.json"]), ""):
        name = f"{node.get('__module__')}.{node.get('__class__')}"
        if name not in found:
            found[name] = _checks_for(name, resolve)
        checks = found[name]
        attrs = node.get("content")
        attrs = attrs.get("content") if isinstance(attrs, dict) else None
        if not checks or not isinstance(attrs, dict):
            continue
        for attribute, check in checks.items():
            value = attrs.get(attribute)
            if not (isinstance(value, dict) and value.get("__loader__") in _BYTES_LOADERS):
                continue
            name = value.get("file")
            location = f"{where}: {label or node['__class__'] + '.'}{attribute}"
            try:
                replaced[name] = check(files[name])
            except FieldError as exc:
                field = f".{exc.field}" if exc.field else ""
                raise ModelFormatError(f"{location}{field} {exc.problem}") from None
            except Exception as exc:  # a check tripping over a malformed value: malformed
                raise ModelFormatError(
                    f"{location} is damaged: {type(exc).__name__}: {' '.join(str(exc).split())}"
                ) from None
    if not replaced:
        return payload
    files.update(replaced)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def _checks_for(name: str, resolve: Callable[[str], type | None]) -> dict[str, StateCheck]:
    # Resolve first: importing a plugin's class is what registers that plugin's state checks.
    cls = resolve(name)
    names = [qualified_name(base) for base in reversed(cls.__mro__)] if cls else [name]
    out: dict[str, StateCheck] = {}
    for base in names:
        out.update(_STATE_CHECKS.get(base, {}))
    return out


def _object_nodes(node: Any, label: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Yield every schema node naming a class, with the pipeline step it belongs to."""
    stack = [(node, label)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("__class__"), str) and isinstance(item.get("__module__"), str):
                yield item, where
            step = _step_label(item)
            for value in item.values():
                stack.append((value, step or where))
        elif isinstance(item, list):
            stack.extend((value, where) for value in item)


def _step_label(node: dict[str, Any]) -> str | None:
    """Return "step 'name' (Class): " for a pipeline's ``(name, estimator)`` tuple node."""
    content = node.get("content")
    if node.get("__loader__") != "TupleNode" or not isinstance(content, list) or len(content) != 2:
        return None
    name, step = content
    if not (isinstance(name, dict) and isinstance(step, dict) and name.get("is_json")):
        return None
    try:
        text = json.loads(name.get("content"))
    except (TypeError, ValueError):
        return None
    if not isinstance(text, str) or not isinstance(step.get("__class__"), str):
        return None
    return f"step {text!r} ({step['__class__']}): "
