"""The plugin under test: a class, instance or registered name, with its kind and package."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from sklearn.base import ClassifierMixin, clone

from ferengine.architectures import Architecture
from ferengine.errors import UnknownPluginError
from ferengine.explain import Explainer
from ferengine.extractor import ImageFeature, ImagePreprocessor
from ferengine.faces import Landmarker
from ferengine.labels import LabelSpacePlugin
from ferengine.models import PretrainedModel
from ferengine.plugin import Augmenter, DatasetPlugin, FaceDetector
from ferengine.registry import KINDS, Registry, get_registry, parameters, split_name
from ferengine.testing.results import SkipCheck

#: Base class -> kind, most specific first (a pretrained model is also a classifier).
_KIND_BASES: tuple[tuple[type, str], ...] = (
    (DatasetPlugin, "dataset"),
    (Augmenter, "augmenter"),
    (FaceDetector, "detector"),
    (Landmarker, "landmarker"),
    (Architecture, "architecture"),
    (LabelSpacePlugin, "label-space"),
    (PretrainedModel, "model"),
    (Explainer, "explainer"),
    (ImageFeature, "feature"),
    (ImagePreprocessor, "preprocessor"),
    (ClassifierMixin, "classifier"),
)


def infer_kind(cls: type) -> str:
    """Return the plugin kind of a class from its ferengine or scikit-learn base class.

    Raises
    ------
    ValueError
        The class has none of those bases (a plain transformer may be a feature or a
        preprocessor): the message asks for the kind.
    """
    for base, kind in _KIND_BASES:
        if issubclass(cls, base):
            return kind
    raise ValueError(
        f"cannot tell the plugin kind of {cls.__module__}.{cls.__qualname__} from its base "
        f"classes; give it, e.g. kind='feature' (one of: {', '.join(KINDS)})"
    )


def distribution_of(cls: type) -> str | None:
    """Return the installed distribution that provides the class's top-level module, if any."""
    top = cls.__module__.split(".")[0]
    dists = metadata.packages_distributions().get(top, [])
    return dists[0] if dists else None


@dataclass(eq=False, repr=False)
class PluginUnderTest:
    """A plugin class of a kind, with how to make instances of it for the checks.

    Build one with :func:`resolve`. Instances come from the given instance (cloned) or
    from the class with its ``_test_params`` (a dict of constructor parameters for a
    small, fast instance).

    Attributes
    ----------
    kind : str
        The registry kind (``"feature"``…).
    cls : type
        The plugin class.
    package : str or None
        The distribution that registers (or, unregistered, provides) the class.
    registered : bool
        Whether the registry the checks use holds this very class.
    registry : Registry or None
        Where names are looked up (``None``: the process-wide registry).
    instance : object or None
        The instance given to the checks, if one was.
    """

    kind: str
    cls: type
    package: str | None
    registered: bool
    registry: Registry | None = None
    instance: Any = None
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """The plugin's ``name`` (the class name when it has none)."""
        name = getattr(self.cls, "name", None)
        return name if isinstance(name, str) else self.cls.__qualname__

    @property
    def id(self) -> str:
        """``kind:name``, as test ids show it."""
        return f"{self.kind}:{self.name}"

    def __str__(self) -> str:
        where = (
            f"package {self.package}"
            if self.package and self.registered
            else f"module {self.cls.__module__}"
            + (f" of package {self.package}" if self.package else "")
            + ", not registered"
        )
        return f"{self.kind} {self.name!r} ({where})"

    __repr__ = __str__

    def params(self) -> dict[str, Any]:
        """Return the constructor parameters the checks use."""
        if self.instance is not None and hasattr(self.instance, "get_params"):
            return dict(self.instance.get_params(deep=False))
        return dict(getattr(self.cls, "_test_params", {}))

    def missing_params(self) -> list[str]:
        """Return the constructor parameters without a default that ``_test_params`` lacks."""
        if self.instance is not None:
            return []
        given = self.params()
        return [
            p
            for p, d in parameters(self.cls).items()
            if d is inspect.Parameter.empty and p not in given
        ]

    def new(self, **overrides: Any) -> Any:
        """Return a fresh, unfitted instance (the given one cloned, or one from ``_test_params``).

        Raises
        ------
        SkipCheck
            The class needs parameters (a data path, say) that ``_test_params`` does not give.
        """
        if self.instance is not None:
            est = clone(self.instance)
            return est.set_params(**overrides) if overrides else est
        missing = self.missing_params()
        if missing:
            raise SkipCheck(
                f"{self.cls.__qualname__} needs {', '.join(missing)} (a data path, say): give "
                f"small values in {self.cls.__qualname__}._test_params to check it"
            )
        return self.cls(**{**self.params(), **overrides})

    def expected_failures(self) -> dict[str, str]:
        """Return check name -> reason from the plugin's ``_expected_failed_checks``."""
        source = self.instance if self.instance is not None else self.cls
        return {
            str(k): str(v) for k, v in dict(getattr(source, "_expected_failed_checks", {})).items()
        }

    def memo(self, key: str, make: Any) -> Any:
        """Return ``make()``, computed once per plugin under test (fitted models, data)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def lookup(self) -> Registry:
        """Return the registry names are looked up in."""
        return self.registry or get_registry()


def _record_of(registry: Registry, cls: type, kind: str | None) -> Any:
    for rec in registry.records(kind):
        if rec.cls is cls:
            return rec
    return None


def resolve(
    plugin: Any, kind: str | None = None, registry: Registry | None = None
) -> PluginUnderTest:
    """Return the plugin under test for a class, an instance or a registered name.

    Parameters
    ----------
    plugin : type, object or str
        A plugin class, an instance of one, or a registered name (``"feature:hog"``,
        ``"my-plugin:hog"`` or ``"hog"`` with ``kind``).
    kind : str, optional
        The kind; inferred from a class's registration or base class, or from a
        ``KIND:NAME`` string.
    registry : Registry, optional
        Where names are looked up (default: the process-wide registry).

    Raises
    ------
    UnknownPluginError
        An unknown name (with the closest names), or a name without a kind.
    PluginUnavailableError, PluginConflictError
        A registered name that cannot be used here (a missing dependency, a clash).
    ValueError
        A class whose kind cannot be inferred.
    """
    reg = registry or get_registry()
    if isinstance(plugin, str):
        named_kind = split_name(plugin)[0]
        kind = kind or named_kind
        if kind is None:
            raise UnknownPluginError(
                f"{plugin!r} names no kind: write KIND:NAME ('feature:{plugin}') or pass kind="
            )
        rec = reg.record(kind, plugin)
        cls = reg.get(kind, plugin)
        return PluginUnderTest(kind, cls, rec.package, True, registry)
    cls, instance = (plugin, None) if isinstance(plugin, type) else (type(plugin), plugin)
    rec = _record_of(reg, cls, kind)
    if kind is None:
        kind = rec.kind if rec is not None else infer_kind(cls)
    if kind not in KINDS:
        raise UnknownPluginError(
            f"unknown plugin kind {kind!r}; expected one of: {', '.join(KINDS)}"
        )
    package = rec.package if rec is not None else distribution_of(cls)
    return PluginUnderTest(kind, cls, package, rec is not None, registry, instance)
