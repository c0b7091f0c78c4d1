"""Build the pluggy plugin manager and load ``ferengine`` entry points one by one.

One broken plugin must not take the others down, so every entry point is
imported and registered on its own; failures are kept as :class:`LoadFailure`
records (entry point, package, error) for ``ferengine plugins`` to show.
Set ``FERENGINE_STRICT_PLUGINS=1`` (or pass ``strict=True``) to raise instead,
which is what plugin authors and CI want: an import error raises
:class:`~ferengine.errors.PluginLoadError`, a hook-validation error
:class:`~ferengine.errors.InvalidPluginError`, each in one line naming the
package and the entry point (the registry raises on the rest, see
:mod:`ferengine.registry`).
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from ferengine import hookspecs
from ferengine.errors import InvalidPluginError, PluginLoadError, one_line

ENTRY_POINT_GROUP = "ferengine"


@dataclass(frozen=True)
class LoadFailure:
    """An entry point that could not be imported or registered.

    ``kind`` is the plugin kind whose hook failed, or ``None`` when the whole entry
    point did (it could have registered any kind).
    """

    entry_point: str
    package: str
    version: str
    error: str
    traceback: str = field(repr=False, default="")
    kind: str | None = None


@dataclass
class PluginSource:
    """Where a registered plugin object came from."""

    package: str
    version: str
    entry_point: str


@dataclass
class LoadedPlugins:
    """A plugin manager together with what was loaded into it and what failed.

    ``strict`` tells the registry built on it to raise on load problems too.
    """

    manager: pluggy.PluginManager
    sources: dict[str, PluginSource]
    failures: list[LoadFailure]
    strict: bool = False


def strict_from_env() -> bool:
    """Return whether ``FERENGINE_STRICT_PLUGINS`` asks for strict loading."""
    return os.environ.get("FERENGINE_STRICT_PLUGINS", "").lower() in {"1", "true", "yes"}


def new_plugin_manager() -> pluggy.PluginManager:
    """Return an empty plugin manager that knows the ferengine hook specifications."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _dist_of(ep: metadata.EntryPoint) -> tuple[str, str]:
    dist = ep.dist
    if dist is None:
        return "?", "?"
    return dist.metadata["Name"], dist.version


def register_plugin(
    loaded: LoadedPlugins, plugin: object, name: str, source: PluginSource, strict: bool
) -> bool:
    """Register one plugin object; on a hook-validation error record a failure and undo it."""
    pm = loaded.manager
    try:
        pm.register(plugin, name=name)
        # A misspelled hook implementation is an error, not silence.
        pm.check_pending()
    except Exception as exc:
        if pm.is_registered(plugin):
            pm.unregister(plugin)
        error = f"{type(exc).__name__}: {one_line(exc)}"
        if strict:
            raise InvalidPluginError(
                f"ferengine plugin {name!r} from package {source.package!r} is invalid: {error}"
            ) from exc
        loaded.failures.append(LoadFailure(name, source.package, source.version, error))
        return False
    loaded.sources[name] = source
    return True


def load_entry_points(strict: bool | None = None) -> LoadedPlugins:
    """Return a fresh plugin manager with every ``ferengine`` entry point loaded.

    Parameters
    ----------
    strict : bool, optional
        Raise on the first import or validation error instead of recording it (and
        let the registry built on the result raise on the rest). Defaults to the
        ``FERENGINE_STRICT_PLUGINS`` environment variable.

    Raises
    ------
    PluginLoadError
        In strict mode, an entry point that fails to import.
    InvalidPluginError
        In strict mode, a plugin pluggy refuses (a misspelled hook, say).
    """
    strict = strict_from_env() if strict is None else strict
    loaded = LoadedPlugins(new_plugin_manager(), {}, [], strict)
    seen: set[tuple[str, str]] = set()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        package, version = _dist_of(ep)
        if (ep.name, ep.value) in seen:  # the same distribution visible twice on sys.path
            continue
        seen.add((ep.name, ep.value))
        name = ep.name if ep.name not in loaded.sources else f"{package}:{ep.name}"
        try:
            plugin = ep.load()
        except Exception as exc:
            error = f"{type(exc).__name__}: {one_line(exc)}"
            if strict:
                raise PluginLoadError(
                    f"ferengine plugin {ep.name!r} ({ep.value}) from package {package!r} "
                    f"failed to import: {error}"
                ) from exc
            loaded.failures.append(
                LoadFailure(ep.name, package, version, error, traceback.format_exc())
            )
            continue
        register_plugin(loaded, plugin, name, PluginSource(package, version, ep.name), strict)
    return loaded
