"""What the pytest fixtures are built on, without pytest: temporary registries, fake packages.

* :func:`registry_of` builds a :class:`~ferengine.registry.Registry` holding given plugin
  classes (and, if asked, the installed ones); :func:`installed_as` makes a registry the
  process-wide one for a ``with`` block.
* :class:`FakePackages` writes installed-looking distributions (``.dist-info`` metadata
  with entry points, and their modules) into a folder on ``sys.path``.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from types import ModuleType

import ferengine.registry as registry_module
from ferengine.hookspecs import KIND_HOOKS, hookimpl
from ferengine.plugin_manager import (
    ENTRY_POINT_GROUP,
    LoadedPlugins,
    PluginSource,
    load_entry_points,
    new_plugin_manager,
    register_plugin,
)
from ferengine.registry import Registry
from ferengine.testing.target import distribution_of, infer_kind

Plugins = Mapping[str, Iterable[type]] | Iterable[type]


def _by_kind(plugins: Plugins) -> dict[str, list[type]]:
    if isinstance(plugins, Mapping):
        unknown = sorted(set(plugins) - set(KIND_HOOKS))
        if unknown:
            raise ValueError(f"unknown plugin kinds {unknown}; expected some of {list(KIND_HOOKS)}")
        return {kind: list(classes) for kind, classes in plugins.items()}
    grouped: dict[str, list[type]] = {}
    for cls in plugins:
        grouped.setdefault(infer_kind(cls), []).append(cls)
    return grouped


class _Hooks:
    """A plugin object whose hooks return given classes (one per package)."""

    def __init__(self, classes: dict[str, list[type]]) -> None:
        for kind, listed in classes.items():
            setattr(self, KIND_HOOKS[kind], _hook(KIND_HOOKS[kind], listed))


def _hook(hook_name: str, classes: list[type]) -> object:
    def impl() -> list[type]:
        return list(classes)

    impl.__name__ = hook_name
    return hookimpl(impl)


def registry_of(
    plugins: Plugins = (), *, installed: bool = False, strict: bool = False
) -> Registry:
    """Return a registry holding the given plugin classes.

    Parameters
    ----------
    plugins : mapping of kind to classes, or iterable of classes
        The classes, by kind (``{"feature": [Mean]}``); a plain iterable infers each
        class's kind from its base class (a transformer needs the mapping form, as it
        may be a feature or a preprocessor).
    installed : bool
        Also hold every installed plugin (the ``ferengine`` entry points); without it
        the registry holds only ``plugins`` (not even the built-in label spaces).
    strict : bool
        Raise on an invalid class or a name clash instead of listing it.

    Returns
    -------
    Registry
        Each class belongs to the distribution that provides its module (or, not
        installed, to a package named like its top-level module).
    """
    loaded = (
        load_entry_points(strict=strict)
        if installed
        else LoadedPlugins(new_plugin_manager(), {}, [], strict)
    )
    by_package: dict[str, dict[str, list[type]]] = {}
    for kind, classes in _by_kind(plugins).items():
        for cls in classes:
            package = distribution_of(cls) or cls.__module__.split(".")[0]
            by_package.setdefault(package, {}).setdefault(kind, []).append(cls)
    for package, classes in by_package.items():
        name = f"testing:{package}"
        register_plugin(loaded, _Hooks(classes), name, PluginSource(package, "0", name), strict)
    return Registry(loaded)


@contextmanager
def installed_as(registry: Registry | None) -> Iterator[Registry | None]:
    """Make ``registry`` the process-wide registry inside the block, then restore the previous one.

    ``None`` rebuilds the process-wide registry from the entry points on its next use
    (after :class:`FakePackages` installed some, say).
    """
    saved = registry_module._default
    registry_module.set_registry(registry)
    try:
        yield registry
    finally:
        registry_module.set_registry(saved)


class FakePackages:
    """Write fake installed distributions into ``site``, a folder the caller puts on ``sys.path``.

    Each is real ``.dist-info`` metadata (name, version, entry points) plus module
    files, so :mod:`importlib.metadata` and the ferengine plugin manager find it as
    they find a package installed with pip.

    Parameters
    ----------
    site : Path
        The folder (created if missing).
    """

    def __init__(self, site: Path) -> None:
        self.site = Path(site)
        self.site.mkdir(parents=True, exist_ok=True)

    def __call__(
        self,
        name: str,
        entry_points: Mapping[str, str],
        modules: Mapping[str, str],
        version: str = "1.0",
        group: str = ENTRY_POINT_GROUP,
    ) -> Path:
        """Write distribution ``name`` and return the folder it is in.

        Parameters
        ----------
        name : str
            Distribution name (``"my-plugin"``).
        entry_points : mapping of str to str
            Entry point name -> object reference (``{"feature": "my_plugin.hooks"}``).
        modules : mapping of str to str
            Path under ``site`` -> source (``{"my_plugin/hooks.py": "..."}``); the source
            is dedented.
        version : str
            The distribution's version.
        group : str
            The entry-point group (ferengine's by default).
        """
        info = self.site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        eps = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
        (info / "entry_points.txt").write_text(f"[{group}]\n{eps}\n")
        for rel, source in modules.items():
            path = self.site / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        return self.site

    def forget_modules(self) -> None:
        """Remove the modules imported from ``site`` from ``sys.modules``."""
        root = self.site.resolve()
        for name, module in list(sys.modules.items()):
            if not isinstance(module, ModuleType):
                continue
            paths = [getattr(module, "__file__", None)]
            with suppress(TypeError):
                paths += list(getattr(module, "__path__", None) or [])
            if any(isinstance(p, str) and Path(p).resolve().is_relative_to(root) for p in paths):
                del sys.modules[name]
