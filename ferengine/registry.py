"""The plugin registry: every dataset, preprocessor, augmenter, feature and classifier by name.

Module-level functions (:func:`names`, :func:`create`, :func:`info`,
:func:`records`) use a default registry built lazily from the ``ferengine``
entry points. Tests and embedding applications can build their own
:class:`Registry` from any plugin manager.

Plugin names
------------
A plugin is named ``[KIND:][PACKAGE:]NAME`` (see :func:`split_name`):

* ``NAME`` — kebab-case, unique within its kind unless two packages register it;
* ``PACKAGE:NAME`` — the plugin ``NAME`` of the distribution ``PACKAGE`` (compared
  after PEP 503 normalisation, so ``My_Plugin:pixels`` is ``my-plugin:pixels``);
  built-ins belong to the package ``ferengine``;
* ``KIND:NAME`` and ``KIND:PACKAGE:NAME`` — where the kind is not implied (pipeline
  steps). ``KIND`` is one of :data:`KINDS`; a two-part name whose first part is a kind
  is read as ``KIND:NAME``.

When a third-party package registers a name a built-in uses, the plain name keeps
resolving to the built-in and a :class:`~ferengine.errors.PluginWarning` says how to
reach the other one; when two third-party packages share a name, the plain name raises
:class:`~ferengine.errors.PluginConflictError` naming the qualified forms. In strict
mode (``FERENGINE_STRICT_PLUGINS=1``) every load failure, invalid class and name clash
raises while the registry is built.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib.util
import inspect
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from ferengine.docstrings import parameter_docs
from ferengine.errors import (
    InvalidPluginError,
    MissingParameterError,
    PluginConflictError,
    PluginLoadError,
    PluginUnavailableError,
    PluginWarning,
    UnknownPluginError,
    one_line,
)
from ferengine.extras import BUILTIN_PACKAGE, install_hint, metadata_extras, package_extra
from ferengine.hookspecs import KIND_HOOKS
from ferengine.plugin_manager import LoadedPlugins, LoadFailure, PluginSource, load_entry_points

KINDS: tuple[str, ...] = tuple(KIND_HOOKS)
_NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_MODULE_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
#: An extra (PEP 685 normalised names and their spellings), or a requirement naming extras.
_EXTRA_RE = re.compile(r"^[A-Za-z0-9]([\w.-]*[A-Za-z0-9])?(\[[\w.-]+(,\s*[\w.-]+)*\])?$")
NAME_GRAMMAR = "NAME, PACKAGE:NAME, KIND:NAME or KIND:PACKAGE:NAME"


def canonical_package(name: str) -> str:
    """Return a distribution name normalised as PEP 503 specifies (``My_Plugin`` -> ``my-plugin``).

    Hand-written: it is the one-line rule of PEP 503, not worth a dependency.
    """
    return re.sub(r"[-_.]+", "-", name).lower()


def split_name(text: str) -> tuple[str | None, str | None, str]:
    """Split ``[KIND:][PACKAGE:]NAME`` into ``(kind, package, name)``; absent parts are ``None``.

    A two-part name is ``KIND:NAME`` when its first part is one of :data:`KINDS`, else
    ``PACKAGE:NAME`` (so a package named like a kind needs ``KIND:PACKAGE:NAME``).

    Raises
    ------
    UnknownPluginError
        More than three parts, an empty part, or a three-part name whose first part
        is not a kind.
    """
    parts = text.split(":")
    if len(parts) > 3 or not all(parts):
        raise UnknownPluginError(f"{text!r} is not a plugin name; write {NAME_GRAMMAR}")
    if len(parts) == 1:
        return None, None, text
    if len(parts) == 2:
        return (parts[0], None, parts[1]) if parts[0] in KINDS else (None, parts[0], parts[1])
    if parts[0] not in KINDS:
        raise UnknownPluginError(
            f"{text!r}: {parts[0]!r} is not a plugin kind (one of: {', '.join(KINDS)}); "
            f"write {NAME_GRAMMAR}"
        )
    return parts[0], parts[1], parts[2]


@dataclass
class PluginRecord:
    """One registered plugin class and its state.

    ``status`` is ``"ok"``, ``"unavailable"`` (a dependency is missing),
    ``"conflict"`` (another third-party package registers the same name),
    ``"shadowed"`` (a built-in has the name; reach this one as ``package:name``)
    or ``"invalid"``.
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

    @property
    def qualified(self) -> str:
        """``package:name``, the name that always reaches this plugin."""
        return f"{self.package}:{self.name}"

    @property
    def builtin(self) -> bool:
        """Whether the plugin ships with ferengine itself."""
        return canonical_package(self.package) == BUILTIN_PACKAGE


def missing_requirements(cls: type) -> list[str]:
    """Return the modules of the class's ``requires`` that cannot be imported here."""
    missing = []
    for module in getattr(cls, "requires", ()):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(module)
    return missing


def _unavailable_reason(cls: type, missing: list[str], package: str) -> str:
    """Return why a plugin is unavailable, with how to install its extra when one is known.

    The class's ``extra`` is an extra of ``package``, the distribution registering it.
    """
    reason = "missing dependency: " + ", ".join(missing)
    declared = getattr(cls, "extra", None)
    extra = package_extra(package, declared) if declared else None
    extra = extra or next((e for e in map(metadata_extras().get, missing) if e), None)
    return f"{reason}; {install_hint(extra)}" if extra else reason


def check_class(kind: str, cls: Any) -> str:
    """Return why ``cls`` breaks the plugin contract of its kind's hook, or an empty string.

    The contract every hook's classes share: a class, with a kebab-case ``name``, a
    docstring (its first line describes the plugin), ``requires`` a tuple of module
    names and ``extra``, if set, an extra's name (``"deep"``) or a requirement naming
    extras (``"my-plugin[gpu]"``). The registry refuses (lists as invalid) a class
    that breaks it; :func:`ferengine.testing.check_plugin` reports it.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`, for the message.
    cls : object
        What the hook returned.
    """
    if not isinstance(cls, type):
        return f"the {kind} hook returned {cls!r}, which is not a class"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        return f"{cls.__qualname__}.name must be a kebab-case string, found {name!r}"
    if not inspect.getdoc(cls):
        return f"{cls.__qualname__} has no docstring (its first line is the plugin description)"
    requires = getattr(cls, "requires", ())
    if not isinstance(requires, tuple | list) or not all(
        isinstance(m, str) and _MODULE_RE.match(m) for m in requires
    ):
        return (
            f"{cls.__qualname__}.requires must be a tuple of module names such as "
            f"('torch',), found {requires!r}"
        )
    extra = getattr(cls, "extra", None)
    if extra is not None and not (isinstance(extra, str) and _EXTRA_RE.match(extra)):
        return (
            f"{cls.__qualname__}.extra must name an extra ('deep') or a requirement with "
            f"extras ('my-plugin[gpu]'), found {extra!r}"
        )
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


def _quoted_or(items: list[str]) -> str:
    quoted = [repr(i) for i in items]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


class Registry:
    """Plugins of every kind, indexed by name (see the module docstring for qualified names).

    Parameters
    ----------
    loaded : LoadedPlugins
        A plugin manager with its plugins registered, usually from
        :func:`ferengine.plugin_manager.load_entry_points`. Its ``strict`` flag makes
        a raising hook, an invalid class or a name clash raise here.
    """

    def __init__(self, loaded: LoadedPlugins) -> None:
        self.loaded = loaded
        self.strict = loaded.strict
        self._candidates: dict[str, dict[str, list[PluginRecord]]] = {kind: {} for kind in KINDS}
        self.invalid: list[PluginRecord] = []
        for kind, hook_name in KIND_HOOKS.items():
            hook = getattr(loaded.manager.hook, hook_name)
            for impl in hook.get_hookimpls():
                source = loaded.sources.get(
                    impl.plugin_name, PluginSource(impl.plugin_name, "?", impl.plugin_name)
                )
                self._collect(kind, impl, source)
        self._check_clashes()

    @classmethod
    def from_entry_points(cls, strict: bool | None = None) -> Registry:
        """Build a registry from every installed ``ferengine`` entry point."""
        return cls(load_entry_points(strict=strict))

    # -- building -----------------------------------------------------------------------
    def _collect(self, kind: str, impl: Any, source: PluginSource) -> None:
        hook = KIND_HOOKS[kind]
        try:
            result = impl.function()
            if isinstance(result, type | str | bytes) or result is None:
                raise TypeError(f"it returned {result!r}, not an iterable of classes")
            classes = list(result)
        except Exception as exc:
            error = f"{hook}() raised {type(exc).__name__}: {one_line(exc)}"
            if self.strict:
                raise PluginLoadError(
                    f"ferengine plugin {impl.plugin_name!r} from package {source.package!r}: "
                    f"{error}"
                ) from exc
            self.loaded.failures.append(
                LoadFailure(impl.plugin_name, source.package, source.version, error, kind=kind)
            )
            return
        for cls in classes:
            problem = check_class(kind, cls)
            if problem:
                self._invalid(
                    PluginRecord(
                        kind,
                        str(getattr(cls, "name", repr(cls))),
                        None,
                        source.package,
                        source.version,
                        "invalid",
                        problem,
                    ),
                    impl.plugin_name,
                )
                continue
            self._add(kind, cls, source)

    def _invalid(self, record: PluginRecord, plugin_name: str) -> None:
        if self.strict:
            raise InvalidPluginError(
                f"ferengine plugin {plugin_name!r} from package {record.package!r}: "
                f"{record.kind} {record.name!r} is invalid: {record.reason}"
            )
        self.invalid.append(record)

    def _add(self, kind: str, cls: type, source: PluginSource) -> None:
        record = PluginRecord(kind, cls.name, cls, source.package, source.version)  # type: ignore[attr-defined]
        candidates = self._candidates[kind].setdefault(record.name, [])
        for existing in candidates:
            if existing.cls is cls:  # the same class registered twice: harmless
                return
            if canonical_package(existing.package) == canonical_package(record.package):
                record.status = "invalid"
                record.reason = (
                    f"package {record.package!r} registers {kind} {record.name!r} twice "
                    f"({existing.module}.{getattr(existing.cls, '__qualname__', '?')} and "
                    f"{record.module}.{cls.__qualname__}); the first is kept"
                )
                self._invalid(record, source.entry_point)
                return
        missing = missing_requirements(cls)
        if missing:
            record.status = "unavailable"
            record.reason = _unavailable_reason(cls, missing, source.package)
        candidates.append(record)

    def _check_clashes(self) -> None:
        """Warn about (or, strict, raise on) every name that several packages register."""
        for kind, table in self._candidates.items():
            for name, candidates in table.items():
                if len(candidates) < 2:
                    continue
                winner = _winner(candidates)
                if winner is None:
                    if self.strict:
                        raise PluginConflictError(
                            self._conflict_reason(kind, name, candidates)
                            + " (strict mode refuses name clashes)"
                        )
                    continue
                for other in (c for c in candidates if c is not winner):
                    message = (
                        f"{other.package} also registers {kind} {name!r}; "
                        f"use {other.qualified!r} for it"
                    )
                    if self.strict:
                        raise PluginConflictError(f"{message} (strict mode refuses name clashes)")
                    warnings.warn(message, PluginWarning, stacklevel=2)

    @staticmethod
    def _conflict_reason(kind: str, name: str, candidates: list[PluginRecord]) -> str:
        packages = [c.package for c in candidates]
        return (
            f"{kind} {name!r} is registered by several packages: {_quoted_or(packages)}; "
            f"write {_quoted_or([c.qualified for c in candidates])}"
        )

    # -- queries ----------------------------------------------------------------------
    def _table(self, kind: str) -> dict[str, list[PluginRecord]]:
        if kind not in self._candidates:
            raise UnknownPluginError(
                f"unknown plugin kind {kind!r}; expected one of: {', '.join(KINDS)}"
            )
        return self._candidates[kind]

    def _default(self, kind: str, name: str, candidates: list[PluginRecord]) -> PluginRecord:
        """Return the record a plain (unqualified) name resolves to."""
        winner = _winner(candidates)
        if winner is not None:
            return winner
        first = candidates[0]
        return replace(
            first,
            cls=None,
            status="conflict",
            reason=self._conflict_reason(kind, name, candidates),
            others=[PluginSource(c.package, c.version, c.name) for c in candidates[1:]],
        )

    def candidates(self, kind: str, name: str) -> list[PluginRecord]:
        """Return every package's record of ``name`` (plain or qualified), built-in first.

        The records carry their listing status (``"conflict"``, ``"shadowed"``, ...) as
        :meth:`records` shows it. Raises :class:`UnknownPluginError` for an unknown name.
        """
        bare = self._parse(kind, name)[1]
        if bare not in self._table(kind):
            self.record(kind, name)  # raises, with close matches
        return self._listing(kind, bare)

    def _listing(self, kind: str, name: str) -> list[PluginRecord]:
        """Return the records of one name as listed: built-in first, clashes marked."""
        candidates = sorted(self._candidates[kind][name], key=lambda c: (not c.builtin, c.package))
        if len(candidates) == 1:
            return candidates
        winner = _winner(candidates)
        listed = []
        for rec in candidates:
            if rec.status != "ok" or rec is winner:
                listed.append(rec)
            elif winner is not None:
                reason = f"the built-in {kind} {name!r} has this name; use {rec.qualified!r}"
                listed.append(replace(rec, status="shadowed", reason=reason))
            else:
                reason = self._conflict_reason(kind, name, candidates)
                listed.append(replace(rec, status="conflict", reason=reason))
        return listed

    def _parse(self, kind: str, name: str) -> tuple[str | None, str]:
        """Return ``(package, bare name)`` of ``name`` given for ``kind``."""
        self._table(kind)
        named_kind, package, bare = split_name(name)
        if named_kind is not None and named_kind != kind:
            raise UnknownPluginError(f"{name!r} names a {named_kind}, not a {kind}")
        return package, bare

    def names(self, kind: str, pattern: str = "*", available_only: bool = False) -> list[str]:
        """Return the sorted names of plugins of ``kind`` matching a shell-style ``pattern``."""
        return sorted(
            name
            for name, candidates in self._table(kind).items()
            if fnmatch.fnmatchcase(name, pattern)
            and (not available_only or self._default(kind, name, candidates).status == "ok")
        )

    def record(self, kind: str, name: str) -> PluginRecord:
        """Return the record of one plugin, or raise with the closest matching names.

        ``name`` is ``NAME`` or ``PACKAGE:NAME`` (``KIND:`` may precede either). A plain
        name claimed by several third-party packages gives a record with status
        ``"conflict"``; one a built-in also has resolves to the built-in.
        """
        package, bare = self._parse(kind, name)
        table = self._table(kind)
        if bare not in table:
            close = difflib.get_close_matches(bare, list(table), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            known = ", ".join(sorted(table)) or "none"
            raise UnknownPluginError(
                f"no {kind} plugin named {bare!r}{hint} (registered {kind}s: {known})"
            )
        candidates = table[bare]
        if package is None:
            return self._default(kind, bare, candidates)
        wanted = canonical_package(package)
        for rec in candidates:
            if canonical_package(rec.package) == wanted:
                return rec
        raise UnknownPluginError(
            f"no {kind} {bare!r} from package {package!r}; {kind} {bare!r} comes from "
            f"{_quoted_or([c.package for c in candidates])} "
            f"(write {_quoted_or([c.qualified for c in candidates])})"
        )

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
        """Instantiate plugin ``name`` of ``kind`` with ``params``, checking parameter names.

        Raises
        ------
        InvalidPluginError
            A parameter the plugin does not take (naming the closest one it takes).
        MissingParameterError
            A parameter it requires is not given (its ``missing`` lists them).
        """
        cls = self.get(kind, name)
        accepted = parameters(cls)
        unknown = [p for p in params if p not in accepted]
        if unknown and not accepts_var_keyword(cls):
            hints = []
            for p in unknown:
                close = difflib.get_close_matches(p, list(accepted), n=1)
                hints.append(f"{p!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise InvalidPluginError(
                f"{kind} {name!r} has no parameter {', '.join(hints)}; "
                f"its parameters are: {', '.join(accepted) or 'none'}"
            )
        required = [p for p, d in accepted.items() if d is inspect.Parameter.empty]
        missing = [p for p in required if p not in params]
        if missing:
            raise MissingParameterError(
                f"{kind} {name!r} needs parameter{'s' if len(missing) > 1 else ''} "
                f"{', '.join(map(repr, missing))}",
                missing,
            )
        return cls(**params)

    def info(self, kind: str, name: str) -> dict[str, Any]:
        """Return package, version, description, parameters with defaults and status.

        ``parameter_docs`` gives each parameter's ``type`` and one-line ``description``
        from the numpy-style docstring (see :func:`ferengine.docstrings.parameter_docs`).
        ``candidates`` lists every package that registers the name (qualified name,
        package, version, status, description), so a clash shows all of them.
        """
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
            "parameter_docs": {
                k: {"type": d.type, "description": d.description}
                for k, d in (parameter_docs(rec.cls, list(params)) if rec.cls else {}).items()
            },
            "requires": list(getattr(rec.cls, "requires", ())),
            "weights": getattr(rec.cls, "weights", None),
            "status": rec.status,
            "reason": rec.reason,
            "candidates": [
                {
                    "name": c.qualified,
                    "package": c.package,
                    "version": c.version,
                    "status": c.status,
                    "description": c.description,
                }
                for c in self.candidates(kind, name)
            ],
        }

    def records(self, kind: str | None = None) -> Iterator[PluginRecord]:
        """Yield plugin records, of one kind or all, in kind, name, package order.

        Every package's record of a clashing name is yielded: with status ``"conflict"``
        between third-party packages, ``"shadowed"`` beside a built-in (unless it is
        unavailable anyway); then the invalid ones.
        """
        for k in [kind] if kind else KINDS:
            for name in sorted(self._table(k)):
                yield from self._listing(k, name)
        if kind is None:
            yield from self.invalid
        else:
            yield from (r for r in self.invalid if r.kind == kind)

    @property
    def failures(self) -> list[LoadFailure]:
        """Entry points that failed to import or register ("broken" plugins)."""
        return self.loaded.failures

    def _all(self) -> Iterator[PluginRecord]:
        for table in self._candidates.values():
            for candidates in table.values():
                yield from candidates

    def plugin_packages(self) -> set[str]:
        """Top-level module names of every registered plugin class (trusted on model load)."""
        return {rec.cls.__module__.split(".")[0] for rec in self._all() if rec.cls is not None}

    def module_extras(self) -> dict[str, str]:
        """Return module -> extra as the plugin classes declare (``requires`` and ``extra``).

        A third-party plugin's extra is its own package's: ``"my-plugin[fancy]"``.
        """
        found: dict[str, str] = {}
        for rec in self._all():
            extra = getattr(rec.cls, "extra", None)
            if extra:
                for module in getattr(rec.cls, "requires", ()):
                    found.setdefault(module.split(".")[0], package_extra(rec.package, extra))
        return found

    def find(self, name: str, kinds: Iterable[str]) -> list[str]:
        """Return which of ``kinds`` hold a plugin called ``name`` (plain or ``PACKAGE:NAME``)."""
        _, package, bare = split_name(name)
        wanted = None if package is None else canonical_package(package)
        return [
            k
            for k in kinds
            if any(
                wanted is None or canonical_package(c.package) == wanted
                for c in self._candidates[k].get(bare, [])
            )
        ]


def _winner(candidates: list[PluginRecord]) -> PluginRecord | None:
    """Return the record a plain name registered by ``candidates`` resolves to, if any.

    The one rule of name clashes: a lone registration wins; among several, the built-in
    one does (the others are "shadowed"); between third-party packages none does.
    """
    if len(candidates) == 1:
        return candidates[0]
    return next((c for c in candidates if c.builtin), None)


def accepts_var_keyword(cls: type) -> bool:
    """Whether the class's constructor takes ``**kwargs`` (prefix-routed parameters)."""
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


def create_for(owner: str, param: str, kind: str, name: str, params: dict | None = None) -> Any:
    """Create the plugin an estimator's parameters name (``arch`` + ``arch_params``, say).

    Raises
    ------
    ValueError
        Naming ``owner``'s ``param`` when the name is unknown (with the registry's
        suggestions), or ``param + "_params"`` when a parameter is not the plugin's.
    """
    try:
        return create(kind, name, **(params or {}))
    except UnknownPluginError as exc:
        raise ValueError(f"{owner}: {param}: {exc.args[0]}") from exc
    except (InvalidPluginError, TypeError) as exc:
        raise ValueError(f"{owner}: {param}_params: {exc}") from exc


def info(kind: str, name: str) -> dict[str, Any]:
    """Describe a plugin: package, version, parameters with defaults, description, status."""
    return get_registry().info(kind, name)


def records(kind: str | None = None) -> list[PluginRecord]:
    """Return every plugin record (including unavailable, conflicting and invalid ones)."""
    return list(get_registry().records(kind))


def failures() -> list[LoadFailure]:
    """Return the entry points that failed to load."""
    return list(get_registry().failures)
