"""The plugin registry: every dataset, preprocessor, augmenter, feature and classifier by name.

Module-level functions (:func:`names`, :func:`create`, :func:`info`,
:func:`records`) use a default registry built lazily from the ``ferengine``
entry points. Tests and embedding applications can build their own
:class:`Registry` from any plugin manager.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib.util
import inspect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ferengine.errors import (
    InvalidPluginError,
    PluginConflictError,
    PluginUnavailableError,
    UnknownPluginError,
)
from ferengine.hookspecs import KIND_HOOKS
from ferengine.plugin_manager import LoadedPlugins, LoadFailure, PluginSource, load_entry_points

KINDS: tuple[str, ...] = tuple(KIND_HOOKS)
_NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass
class PluginRecord:
    """One registered plugin class and its state.

    ``status`` is ``"ok"``, ``"unavailable"`` (a dependency is missing),
    ``"conflict"`` (another package registers the same name) or ``"invalid"``.
    """

    kind: str
    name: str
    cls: type | None
    package: str
    version: str
    status: str = "ok"
    reason: str = ""
    others: list[PluginSource] = field(default_factory=list)

    @property
    def description(self) -> str:
        """First line of the class docstring."""
        doc = inspect.getdoc(self.cls) if self.cls is not None else None
        return doc.strip().splitlines()[0] if doc else ""

    @property
    def module(self) -> str:
        """Dotted module path of the plugin class."""
        return self.cls.__module__ if self.cls is not None else ""


def _missing_requirements(cls: type) -> list[str]:
    missing = []
    for module in getattr(cls, "requires", ()):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(module)
    return missing


def _check_class(kind: str, cls: Any) -> str:
    """Return why ``cls`` breaks the plugin contract, or an empty string."""
    if not isinstance(cls, type):
        return f"the {kind} hook returned {cls!r}, which is not a class"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        return f"{cls.__qualname__}.name must be a kebab-case string, found {name!r}"
    if not inspect.getdoc(cls):
        return f"{cls.__qualname__} has no docstring (its first line is the plugin description)"
    return ""


def parameters(cls: type) -> dict[str, Any]:
    """Return the constructor parameters of a plugin class with their defaults.

    Parameters without a default map to :data:`inspect.Parameter.empty`.
    """
    sig = inspect.signature(cls.__init__)
    return {
        p.name: p.default
        for p in list(sig.parameters.values())[1:]
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


class Registry:
    """Plugins of every kind, indexed by name.

    Parameters
    ----------
    loaded : LoadedPlugins
        A plugin manager with its plugins registered, usually from
        :func:`ferengine.plugin_manager.load_entry_points`.
    """

    def __init__(self, loaded: LoadedPlugins) -> None:
        self.loaded = loaded
        self._records: dict[str, dict[str, PluginRecord]] = {kind: {} for kind in KINDS}
        self.invalid: list[PluginRecord] = []
        for kind, hook_name in KIND_HOOKS.items():
            hook = getattr(loaded.manager.hook, hook_name)
            for impl in hook.get_hookimpls():
                source = loaded.sources.get(
                    impl.plugin_name, PluginSource(impl.plugin_name, "?", impl.plugin_name)
                )
                self._collect(kind, impl, source)

    @classmethod
    def from_entry_points(cls, strict: bool | None = None) -> Registry:
        """Build a registry from every installed ``ferengine`` entry point."""
        return cls(load_entry_points(strict=strict))

    # -- building -----------------------------------------------------------------------
    def _collect(self, kind: str, impl: Any, source: PluginSource) -> None:
        try:
            classes = list(impl.function())
        except Exception as exc:
            self.loaded.failures.append(
                LoadFailure(
                    impl.plugin_name,
                    source.package,
                    source.version,
                    f"{KIND_HOOKS[kind]}() raised {type(exc).__name__}: {exc}",
                )
            )
            return
        for cls in classes:
            problem = _check_class(kind, cls)
            if problem:
                self.invalid.append(
                    PluginRecord(
                        kind,
                        getattr(cls, "name", repr(cls)),
                        None,
                        source.package,
                        source.version,
                        "invalid",
                        problem,
                    )
                )
                continue
            self._add(PluginRecord(kind, cls.name, cls, source.package, source.version))

    def _add(self, record: PluginRecord) -> None:
        table = self._records[record.kind]
        existing = table.get(record.name)
        if existing is None:
            missing = _missing_requirements(record.cls)
            if missing:
                record.status = "unavailable"
                record.reason = "missing dependency: " + ", ".join(missing)
                extra = getattr(record.cls, "extra", None)
                if extra:
                    record.reason += f" (pip install 'ferengine[{extra}]')"
            table[record.name] = record
            return
        if existing.cls is record.cls:  # the same class registered twice by one package
            return
        existing.others.append(PluginSource(record.package, record.version, record.name))
        existing.status = "conflict"
        packages = [existing.package] + [o.package for o in existing.others]
        existing.reason = (
            f"{record.kind} {record.name!r} is registered by several packages: "
            + ", ".join(repr(p) for p in packages)
        )

    # -- queries ----------------------------------------------------------------------
    def _table(self, kind: str) -> dict[str, PluginRecord]:
        if kind not in self._records:
            raise UnknownPluginError(
                f"unknown plugin kind {kind!r}; expected one of: {', '.join(KINDS)}"
            )
        return self._records[kind]

    def names(self, kind: str, pattern: str = "*", available_only: bool = False) -> list[str]:
        """Return the sorted names of plugins of ``kind`` matching a shell-style ``pattern``."""
        return sorted(
            name
            for name, rec in self._table(kind).items()
            if fnmatch.fnmatchcase(name, pattern) and (rec.status == "ok" or not available_only)
        )

    def record(self, kind: str, name: str) -> PluginRecord:
        """Return the record of one plugin, or raise with the closest matching names."""
        table = self._table(kind)
        if name not in table:
            close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            known = ", ".join(sorted(table)) or "none"
            raise UnknownPluginError(
                f"no {kind} plugin named {name!r}{hint} (registered {kind}s: {known})"
            )
        return table[name]

    def get(self, kind: str, name: str) -> type:
        """Return the plugin class, raising if it is unavailable or in conflict."""
        rec = self.record(kind, name)
        if rec.status == "conflict":
            raise PluginConflictError(rec.reason)
        if rec.status != "ok":
            raise PluginUnavailableError(f"{kind} {name!r} is {rec.status}: {rec.reason}")
        assert rec.cls is not None
        return rec.cls

    def create(self, kind: str, name: str, **params: Any) -> Any:
        """Instantiate plugin ``name`` of ``kind`` with ``params``, checking parameter names."""
        cls = self.get(kind, name)
        accepted = parameters(cls)
        unknown = [p for p in params if p not in accepted]
        if unknown and not _accepts_var_keyword(cls):
            hints = []
            for p in unknown:
                close = difflib.get_close_matches(p, list(accepted), n=1)
                hints.append(f"{p!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise InvalidPluginError(
                f"{kind} {name!r} has no parameter {', '.join(hints)}; "
                f"its parameters are: {', '.join(accepted) or 'none'}"
            )
        return cls(**params)

    def info(self, kind: str, name: str) -> dict[str, Any]:
        """Return package, version, description, parameters with defaults and status."""
        rec = self.record(kind, name)
        params = parameters(rec.cls) if rec.cls is not None else {}
        return {
            "kind": kind,
            "name": name,
            "package": rec.package,
            "version": rec.version,
            "module": rec.module,
            "class": rec.cls.__qualname__ if rec.cls is not None else "",
            "description": rec.description,
            "parameters": {
                k: (None if v is inspect.Parameter.empty else v) for k, v in params.items()
            },
            "required_parameters": [k for k, v in params.items() if v is inspect.Parameter.empty],
            "requires": list(getattr(rec.cls, "requires", ())),
            "status": rec.status,
            "reason": rec.reason,
        }

    def records(self, kind: str | None = None) -> Iterator[PluginRecord]:
        """Yield plugin records, of one kind or all, in kind then name order."""
        for k in [kind] if kind else KINDS:
            table = self._table(k)
            yield from (table[n] for n in sorted(table))
        if kind is None:
            yield from self.invalid
        else:
            yield from (r for r in self.invalid if r.kind == kind)

    @property
    def failures(self) -> list[LoadFailure]:
        """Entry points that failed to import or register ("broken" plugins)."""
        return self.loaded.failures

    def plugin_packages(self) -> set[str]:
        """Top-level module names of every registered plugin class (trusted on model load)."""
        return {
            rec.cls.__module__.split(".")[0]
            for table in self._records.values()
            for rec in table.values()
            if rec.cls is not None
        }

    def find(self, name: str, kinds: Iterable[str]) -> list[str]:
        """Return which of ``kinds`` hold a plugin called ``name``."""
        return [k for k in kinds if name in self._records[k]]


def _accepts_var_keyword(cls: type) -> bool:
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())


_default: Registry | None = None


def get_registry() -> Registry:
    """Return the process-wide registry, building it from entry points on first use."""
    global _default
    if _default is None:
        _default = Registry.from_entry_points()
    return _default


def set_registry(registry: Registry | None) -> None:
    """Replace the process-wide registry (``None`` rebuilds it from entry points on next use)."""
    global _default
    _default = registry


def names(kind: str, pattern: str = "*") -> list[str]:
    """Return the names of registered plugins of ``kind`` matching ``pattern`` (fnmatch)."""
    return get_registry().names(kind, pattern)


def create(kind: str, name: str, **params: Any) -> Any:
    """Instantiate the plugin ``name`` of ``kind`` with keyword parameters."""
    return get_registry().create(kind, name, **params)


def info(kind: str, name: str) -> dict[str, Any]:
    """Describe a plugin: package, version, parameters with defaults, description, status."""
    return get_registry().info(kind, name)


def records(kind: str | None = None) -> list[PluginRecord]:
    """Return every plugin record (including unavailable, conflicting and invalid ones)."""
    return list(get_registry().records(kind))


def failures() -> list[LoadFailure]:
    """Return the entry points that failed to load."""
    return list(get_registry().failures)
