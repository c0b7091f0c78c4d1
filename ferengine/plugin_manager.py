"""Build the pluggy plugin manager and load ``ferengine`` entry points one by one.

One broken plugin must not take the others down, so every entry point is
imported and registered on its own; failures are kept as :class:`LoadFailure`
records (entry point, package, error) for ``ferengine plugins`` to show.
Set ``FERENGINE_STRICT_PLUGINS=1`` (or pass ``strict=True``) to re-raise
instead, which is what plugin authors and CI want.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from ferengine import hookspecs
from ferengine.errors import InvalidPluginError

ENTRY_POINT_GROUP = "ferengine"


@dataclass(frozen=True)
class LoadFailure:
    """An entry point that could not be imported or registered."""

    entry_point: str
    package: str
    version: str
    error: str
    traceback: str = field(repr=False, default="")


@dataclass
class PluginSource:
    """Where a registered plugin object came from."""

    package: str
    version: str
    entry_point: str


@dataclass
class LoadedPlugins:
    """A plugin manager together with what was loaded into it and what failed."""

    manager: pluggy.PluginManager
    sources: dict[str, PluginSource]
    failures: list[LoadFailure]


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
        if strict:
            raise InvalidPluginError(
                f"plugin {name!r} from package {source.package!r} is invalid: {exc}"
            ) from exc
        loaded.failures.append(
            LoadFailure(name, source.package, source.version, f"{type(exc).__name__}: {exc}")
        )
        return False
    loaded.sources[name] = source
    return True


def load_entry_points(strict: bool | None = None) -> LoadedPlugins:
    """Return a fresh plugin manager with every ``ferengine`` entry point loaded.

    Parameters
    ----------
    strict : bool, optional
        Re-raise the first import or validation error instead of recording it.
        Defaults to the ``FERENGINE_STRICT_PLUGINS`` environment variable.
    """
    strict = strict_from_env() if strict is None else strict
    loaded = LoadedPlugins(new_plugin_manager(), {}, [])
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
            if strict:
                raise ImportError(
                    f"ferengine plugin {ep.name!r} ({ep.value}) from package {package!r} "
                    f"failed to import: {exc}"
                ) from exc
            loaded.failures.append(
                LoadFailure(
                    ep.name,
                    package,
                    version,
                    f"{type(exc).__name__}: {exc}",
                    traceback.format_exc(),
                )
            )
            continue
        register_plugin(loaded, plugin, name, PluginSource(package, version, ep.name), strict)
    return loaded
