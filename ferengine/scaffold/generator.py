"""Write a ready plugin package: ``ferengine new-plugin NAME --kind KIND``.

The package holds ``pyproject.toml`` (the ``ferengine`` entry point, a dependency on
ferengine, an example extra), the package with its hook module and one working plugin of
the kind, ``tests/`` running :func:`ferengine.testing.parametrize_plugin_checks` over it,
and a README. The files are rendered from the package data of :mod:`ferengine.scaffold`
(``templates/common`` and ``templates/<kind>``) with :class:`string.Template`.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from string import Template

from ferengine.errors import FerengineError
from ferengine.hookspecs import KIND_HOOKS
from ferengine.registry import Registry, get_registry
from ferengine.scaffold.kinds import TEMPLATES, supported_kinds, template_files

#: A distribution name ``new-plugin`` accepts: kebab-case, starting with a letter.
NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
#: The prefix the docs recommend for plugin distributions; the plugin name drops it.
PREFIX = "ferengine-"


class ScaffoldError(FerengineError, ValueError):
    """``new-plugin`` cannot write the package: a bad name, kind or destination."""


@dataclass(frozen=True)
class PluginNames:
    """The names of a generated package, all derived from the distribution name.

    Attributes
    ----------
    dist : str
        Distribution name, as given (``ferengine-grey-cells``).
    plugin : str
        The plugin's registered name: ``dist`` without a ``ferengine-`` prefix
        (``grey-cells``).
    package : str
        The import package: ``plugin`` with underscores (``grey_cells``).
    cls : str
        The plugin class: ``plugin`` in CamelCase (``GreyCells``).
    """

    dist: str
    plugin: str
    package: str
    cls: str


def plugin_names(name: str) -> PluginNames:
    """Return the names derived from a distribution name, after checking it.

    Raises
    ------
    ScaffoldError
        The name is not kebab-case starting with a letter, or its package name is a
        Python keyword.
    """
    if not NAME_RE.match(name):
        raise ScaffoldError(
            f"NAME {name!r} must be kebab-case, starting with a letter: lowercase letters "
            "and digits in words joined by '-' (such as grey-cells or ferengine-grey-cells)"
        )
    plugin = name.removeprefix(PREFIX) if name.startswith(PREFIX) else name
    if not plugin[0].isalpha():
        raise ScaffoldError(f"NAME {name!r}: the part after {PREFIX!r} must start with a letter")
    package = plugin.replace("-", "_")
    if keyword.iskeyword(package):
        raise ScaffoldError(f"NAME {name!r}: its package name {package!r} is a Python keyword")
    cls = "".join(part.capitalize() for part in plugin.split("-"))
    return PluginNames(dist=name, plugin=plugin, package=package, cls=cls)


def _ferengine_requirement() -> str:
    """Return ``ferengine>=X.Y,<X.(Y+1)`` for the installed version (the range tested)."""
    try:
        version = metadata.version("ferengine")
    except metadata.PackageNotFoundError:  # pragma: no cover - ferengine runs this
        return "ferengine"
    match = re.match(r"(\d+)\.(\d+)", version)
    if not match:  # pragma: no cover - a local build without a version
        return "ferengine"
    major, minor = map(int, match.groups())
    return f"ferengine>={major}.{minor},<{major}.{minor + 1}"


def _check_free(names: PluginNames, kind: str, registry: Registry | None) -> None:
    """Refuse names that would shadow an importable module or an installed plugin."""
    try:
        spec = importlib.util.find_spec(names.package)
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        where = spec.origin or ", ".join(spec.submodule_search_locations or [])
        raise ScaffoldError(
            f"NAME {names.dist!r}: a module named {names.package!r} is already importable "
            f"here ({where}); the package would shadow it or be shadowed, pick another NAME"
        )
    registry = registry if registry is not None else get_registry()
    for rec in registry.records(kind):
        if rec.name == names.plugin:
            raise ScaffoldError(
                f"NAME {names.dist!r}: package {rec.package} already registers the {kind} "
                f"{names.plugin!r}; pick another NAME (names need only be unique per kind)"
            )


def render(kind: str, names: PluginNames) -> dict[str, str]:
    """Return the generated package's files: path relative to its folder -> text.

    Parameters
    ----------
    kind : str
        One of :func:`~ferengine.scaffold.kinds.supported_kinds`.
    names : PluginNames
        From :func:`plugin_names`.
    """
    spec = TEMPLATES[kind]
    values = {
        "dist": names.dist,
        "plugin": names.plugin,
        "package": names.package,
        "cls": names.cls,
        "module": spec.module,
        "kind": kind,
        "hook": KIND_HOOKS[kind],
        "summary": spec.summary,
        "dependencies": ", ".join(f'"{d}"' for d in (_ferengine_requirement(), *spec.dependencies)),
    }
    common, own = template_files("common"), template_files(kind)

    def fill(name: str) -> str:
        source = own / name if (own / name).is_file() else common / name
        return Template(source.read_text(encoding="utf-8")).substitute(values)

    files = {
        "pyproject.toml": fill("pyproject.toml.tmpl"),
        "README.md": fill("README.md.tmpl"),
        f"{names.package}/__init__.py": fill("__init__.py.tmpl"),
        f"{names.package}/hooks.py": fill("hooks.py.tmpl"),
        f"{names.package}/{spec.module}.py": fill("plugin.py.tmpl"),
        f"tests/test_{names.package}.py": fill("test.py.tmpl"),
    }
    for data in sorted(p for p in own.iterdir() if p.name.endswith(".csv")):
        files[f"tests/data/{data.name}"] = data.read_text(encoding="utf-8")
    return files


def new_plugin(
    name: str, kind: str, out: str | Path = ".", *, registry: Registry | None = None
) -> Path:
    """Write a ready plugin package ``out/name`` holding one plugin of ``kind``.

    Installed with ``pip install -e out/name``, it passes its own tests
    (``pytest out/name``).

    Parameters
    ----------
    name : str
        Distribution name, kebab-case (``ferengine-grey-cells``). The plugin is named
        without a ``ferengine-`` prefix (``grey-cells``), its package likewise with
        underscores (``grey_cells``) and its class in CamelCase (``GreyCells``).
    kind : str
        One of :func:`~ferengine.scaffold.kinds.supported_kinds`.
    out : str or Path
        The folder to write the package folder into (created if missing).
    registry : Registry, optional
        The plugins the new name must not clash with (default: the process-wide
        registry).

    Returns
    -------
    Path
        The package folder written.

    Raises
    ------
    ScaffoldError
        An unsupported kind, a bad name, a name an importable module or an installed
        plugin of the kind already has, or an existing destination (never overwritten).
    """
    kinds = supported_kinds()
    if kind not in kinds:
        raise ScaffoldError(f"--kind {kind!r}: new-plugin writes one of {', '.join(kinds)}")
    names = plugin_names(name)
    target = Path(out) / name
    if target.exists():
        raise ScaffoldError(f"{target} already exists; new-plugin never overwrites, pick --out")
    _check_free(names, kind, registry)
    files = render(kind, names)
    target.mkdir(parents=True)
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target
