"""Save and load fitted pipelines without executing code from the file.

A model file is a zip archive holding

* ``manifest.json`` — format version, ferengine and dependency versions, the
  label space, and every step's class, plugin name and parameters (readable
  without ferengine: ``unzip -p model.fer manifest.json``);
* ``model.skops`` — the fitted object in the `skops <https://skops.readthedocs.io>`_
  format, which rebuilds objects from an explicit type allow-list instead of
  running pickle's arbitrary constructors.

On load, every type the skops payload needs beyond skops' own safe defaults
must be a class defined by ferengine or by a registered plugin package; any
other type (``os.system``, ``builtins.eval``, a class from an unknown module)
makes :func:`load` raise :class:`~ferengine.errors.UnsafeModelError` before a
single object is built. Plain pickle files are refused outright. Before that, the
sizes the archive declares are checked against limits (zip bombs,
:mod:`ferengine.model_archive`); saved values that reach a compiled parser while
objects are rebuilt are checked first (:mod:`ferengine.model_checks.state`); and
after skops has rebuilt the objects, every array that compiled code indexes is
validated before :func:`load` returns (:mod:`ferengine.model_checks`). Any damage
is a one-line :class:`~ferengine.errors.ModelFormatError`.
"""

from __future__ import annotations

import importlib
import json
import warnings
import zipfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from sklearn.base import BaseEstimator

from ferengine.errors import MissingPluginError, ModelFormatError, UnsafeModelError, one_line
from ferengine.extras import missing_extra_message, missing_module
from ferengine.fileio import atomic_path
from ferengine.labels import LabelSpace
from ferengine.model_archive import (
    MANIFEST,
    MANIFEST_MAX_BYTES,
    PAYLOAD,
    check_payload,
    describe_damage,
    max_model_bytes,
    read_archive,
)
from ferengine.model_checks import validate_model
from ferengine.model_checks.state import check_state
from ferengine.models import locate
from ferengine.registry import Registry, get_registry

FORMAT = "ferengine-model"
FORMAT_VERSION = 1
#: Non-estimator ferengine classes that may appear inside a model.
_TRUSTED_DATA_CLASSES: tuple[type, ...] = (LabelSpace,)
#: scikit-learn internals that fitted built-in classifiers hold and skops does not list
#: among its defaults: tree structures (decision-tree, forests), MLP optimiser state and
#: the per-fold calibrators of calibrated SVMs.
#: They are plain data holders of scikit-learn itself, not callables.
_TRUSTED_SKLEARN_TYPES = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.utils._bunch.Bunch",  # a dict: the named_estimators_ of sklearn's ensembles
    }
)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, LabelSpace):
        return {"name": value.name, "names": list(value.names)}
    return repr(value)


def _steps(obj: Any, registry: Registry) -> list[dict[str, Any]]:
    steps = getattr(obj, "steps", None) or [(getattr(type(obj), "name", "model"), obj)]
    by_class = {rec.cls: rec for rec in registry.records() if rec.cls is not None}
    out = []
    for name, est in steps:
        if est is None or est == "passthrough":
            continue
        rec = by_class.get(type(est))
        out.append(
            {
                "name": name,
                "class": f"{type(est).__module__}.{type(est).__qualname__}",
                "plugin": f"{rec.kind}:{rec.name}" if rec else None,
                "package": rec.package if rec else None,
                "package_version": rec.version if rec else None,
                "params": _jsonable(est.get_params(deep=False))
                if hasattr(est, "get_params")
                else {},
            }
        )
    return out


def manifest_for(
    obj: Any, registry: Registry | None = None, info: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return the manifest that :func:`save` writes for ``obj`` (with ``info`` if given)."""
    registry = registry or get_registry()
    space = getattr(obj, "label_space_", None)
    steps = _steps(obj, registry)
    packages = {d: _version(d) for d in ("ferengine", "scikit-learn", "numpy", "skops")}
    packages.update({s["package"]: s["package_version"] for s in steps if s["package"]})
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "object": f"{type(obj).__module__}.{type(obj).__qualname__}",
        "label_space": _jsonable(space) if space is not None else None,
        "classes": _jsonable(getattr(obj, "classes_", None)),
        "steps": steps,
        "packages": packages,
        "info": _jsonable(info) if info is not None else None,
    }


def save(
    obj: Any, path: str | Path, registry: Registry | None = None, info: dict | None = None
) -> Path:
    """Write a fitted pipeline or estimator to ``path`` (a zip: manifest + skops payload).

    ``info`` (JSON-able: the training spec and report, say) is stored in the manifest,
    which may take at most 1 MiB (:data:`ferengine.model_archive.MANIFEST_MAX_BYTES`):
    a larger ``info`` is left out, with a warning.

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    manifest = json.dumps(manifest_for(obj, registry, info), indent=2).encode()
    if len(manifest) > MANIFEST_MAX_BYTES:  # load() would refuse the file: keep the model
        warnings.warn(
            f"{path}: info= would make the manifest {len(manifest)} bytes, more than the "
            f"{MANIFEST_MAX_BYTES} a model file may hold; saving the model without it",
            stacklevel=2,
        )
        manifest = json.dumps(manifest_for(obj, registry, None), indent=2).encode()
    payload = _skops().dumps(obj)
    # the parent is created (hours of training must not die here); a crash never
    # leaves half a model under the real name
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, manifest)
        zf.writestr(PAYLOAD, payload)
    return path


def model_path(model: str | Path, registry: Registry | None = None) -> Path:
    """Return the file of a model given by path or by registered name ("default").

    See :func:`ferengine.models.locate`: a ``Path`` is a path, ``"model:NAME"`` and a
    registered model's name are that model's file, and a string that is both a
    registered name and a local file raises :class:`~ferengine.models.AmbiguousModelError`.
    """
    return locate(model, registry)[0]


def read_manifest(path: str | Path, max_bytes: int | None = None) -> dict[str, Any]:
    """Return the manifest of a model file (a path or a registered name) without loading it.

    ``max_bytes`` is the payload limit of :func:`load`.
    """
    path = model_path(path)
    return _manifest(read_archive(path, max_model_bytes(max_bytes))[0], path)


def _manifest(manifest: Any, path: Path) -> dict[str, Any]:
    """Check a parsed manifest's type, format and version."""
    if not isinstance(manifest, dict):
        raise ModelFormatError(
            f"{path}: {MANIFEST} holds a JSON {type(manifest).__name__}, expected an object"
        )
    if manifest.get("format") != FORMAT:
        raise ModelFormatError(
            f"{path}: format is {one_line(repr(manifest.get('format')), 80)}, expected {FORMAT!r}"
        )
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(
            f"{path}: format_version {one_line(repr(manifest.get('format_version')), 40)} is not "
            f"supported (this ferengine reads version {FORMAT_VERSION})"
        )
    return manifest


def _is_trusted(type_name: str, roots: set[str]) -> bool:
    """Return whether a fully qualified type from a payload may be built on load."""
    if type_name in _TRUSTED_SKLEARN_TYPES:
        return True
    cls = _resolve(type_name, roots)
    # Only estimator classes and ferengine's data classes; never functions or other callables.
    return cls is not None and (
        issubclass(cls, BaseEstimator) or issubclass(cls, _TRUSTED_DATA_CLASSES)
    )


def _resolve(type_name: str, roots: set[str]) -> type | None:
    """Return the class of a payload type from ferengine or a plugin package, or None."""
    module_name, _, qualname = type_name.rpartition(".")
    if module_name.split(".")[0] not in roots:
        return None
    try:  # the module belongs to ferengine or a registered plugin package: already trusted code
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj if isinstance(obj, type) else None


def _trusted_roots(registry: Registry | None) -> set[str]:
    """Return the top-level packages whose classes a model may use: ferengine and plugins."""
    return {"ferengine"} | (registry or get_registry()).plugin_packages()


def _refused(needed: list[str], roots: set[str]) -> list[str]:
    """Return which of the payload's non-default types :func:`load` must refuse."""
    return [t for t in needed if not _is_trusted(t, roots)]


def untrusted_types(payload: bytes, registry: Registry | None = None) -> list[str]:
    """Return the types in a skops payload that :func:`load` would refuse."""
    return _refused(_skops().get_untrusted_types(data=payload), _trusted_roots(registry))


def _missing_dependency(exc: BaseException, path: Path, registry: Registry | None) -> str | None:
    """Say which module (and extra) a failure to import or rebuild a class came from."""
    try:  # the plugins' own declarations (xgboost comes from the xgboost-cpu distribution)
        declared = (registry or get_registry()).module_extras()
    except Exception:
        declared = {}
    message = missing_extra_message(exc, str(path), declared)
    name = missing_module(exc)
    if message is None and name:
        message = f"{path} needs {name.split('.')[0]}, which is not installed"
    return message


def _missing_plugin(
    bad: list[str], manifest: dict[str, Any], path: Path, registry: Registry | None,
    roots: set[str],
) -> str | None:  # fmt: skip
    """Say which uninstalled package the refused types need, or None.

    Either a class of ferengine or of a registered plugin cannot be imported for
    want of a module (an extra), or the manifest names, for a step of that class's
    package, a plugin package that is not installed.
    """
    for type_name in bad:
        module_name = type_name.rpartition(".")[0]
        if module_name.split(".")[0] in roots:
            try:
                importlib.import_module(module_name)
            except ImportError as exc:
                message = _missing_dependency(exc, path, registry)
                if message:
                    return message
    steps = manifest.get("steps")
    if not isinstance(steps, list):
        return None
    bad_roots = {t.split(".")[0] for t in bad}
    for step in steps:
        if not isinstance(step, dict):
            continue
        cls, package = step.get("class"), step.get("package")
        if not (isinstance(cls, str) and isinstance(package, str) and package):
            continue
        if cls.split(".")[0] not in bad_roots:
            continue
        try:
            metadata.version(package)
        except (metadata.PackageNotFoundError, ValueError):
            version = step.get("package_version")
            shown = f" (version {one_line(version, 40)})" if isinstance(version, str) else ""
            # No install command: the name comes from the file, which may be hostile.
            return (
                f"{path} needs plugin package {one_line(package, 80)}{shown}, which is not "
                "installed"
            )
    return None


def load(path: str | Path, registry: Registry | None = None, max_bytes: int | None = None) -> Any:
    """Load a model written by :func:`save`, refusing anything that is not allow-listed.

    Before a single object is built, the sizes the archive declares are checked
    (see :mod:`ferengine.model_archive`) and every type the payload needs beyond
    skops' safe defaults must be a class of ferengine or of a registered plugin.
    After skops has rebuilt the objects, and before they are returned, every
    array that compiled code indexes is validated (see :mod:`ferengine.model_checks`).

    Parameters
    ----------
    path : str or Path
        A model file, or the name of a registered model (``ferengine models``;
        "default" is the recommended CNN of the ``deep`` extra, trained on the FER+
        votes; "fer2013" is trained on FER2013's own labels). A string that is both
        a local file and a registered name is refused: write ``./NAME`` for the file or
        ``model:NAME`` for the registered model (see :func:`ferengine.models.locate`).
    registry : Registry, optional
        Whose plugin packages are trusted and where model names are looked up (default:
        the process-wide registry).
    max_bytes : int, optional
        Payload limit in bytes: no member of the file, and not the payload's
        members together, may declare more. Default: the ``FERENGINE_MAX_MODEL_BYTES``
        environment variable, else 2 GiB. ``manifest.json`` is capped at 1 MiB.

    Raises
    ------
    ModelFormatError
        The file is not a ferengine model (a pickle, an empty or truncated file,
        say), is damaged (bad CRC, broken payload, inconsistent arrays), or
        declares more than a size limit.
    MissingPluginError
        The payload needs a plugin package the manifest names, or a module an extra
        provides (torch, xgboost), that is not installed.
    UnsafeModelError
        The payload needs types outside skops' defaults, ferengine and registered plugins.
    AmbiguousModelError
        ``path`` names both a local file and a registered model.
    """
    path = model_path(path, registry)
    limit = max_model_bytes(max_bytes)
    raw_manifest, payload = read_archive(path, limit)
    manifest = _manifest(raw_manifest, path)
    payload = check_payload(payload, path, limit)  # repacked: no member expands past its size
    try:
        needed = _skops().get_untrusted_types(data=payload)
    except Exception as exc:
        raise ModelFormatError(f"{path}: {PAYLOAD} is damaged: {describe_damage(exc)}") from exc
    roots = _trusted_roots(registry)
    bad = _refused(needed, roots)
    if bad:
        missing = _missing_plugin(bad, manifest, path, registry, roots)
        if missing:
            raise MissingPluginError(missing)
        raise UnsafeModelError(
            f"{path} refers to types that are neither scikit-learn/numpy defaults nor classes "
            f"of ferengine or a registered plugin: {one_line(', '.join(bad), 500)}; refusing to "
            "load it"
        )
    payload = check_state(payload, str(path), lambda name: _resolve(name, roots))  # libxgboost
    try:
        model = _skops().loads(payload, trusted=needed)
    except Exception as exc:  # rebuilding runs constructors on the file's values
        missing = _missing_dependency(exc, path, registry)  # xgboost is imported only here
        if missing:
            raise MissingPluginError(missing) from exc
        raise ModelFormatError(f"{path}: {PAYLOAD} is damaged: {describe_damage(exc)}") from exc
    validate_model(model, str(path))
    return model


def _skops() -> Any:
    """Import skops.io on first use.

    It pulls in torch through scikit-learn's array API support: seconds that every
    ``ferengine`` command would otherwise pay at start-up.
    """
    import skops.io

    return skops.io
