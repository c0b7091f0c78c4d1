"""Parameters routed by prefix, as skorch routes them: ``module__width``, ``optimizer__eps``.

A torch classifier takes its own settings by name (``lr``, ``max_epochs``…) and those
of the parts it builds by prefix: ``module__<p>`` goes to its network (the architecture
``module`` names, or a head's layers), ``optimizer__<p>`` to the torch optimiser
``optimizer`` names, ``criterion__<p>`` to the loss ``criterion`` names. Prefixed
parameters arrive through ``**kwargs`` and are stored as attributes of their own name;
``get_params`` lists them, ``set_params`` sets them and :func:`sklearn.base.clone`
copies them, as in skorch's ``NeuralNet`` (scikit-learn's ``BaseEstimator`` alone lists
only the named constructor parameters). :class:`PrefixedParams` also checks them
against what each part accepts, for ``fit`` and for model specs and suites.

This module imports no torch: the optimiser and loss tables name torch classes, which
:func:`component` imports when a parameter is checked or a network trained.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from ferengine.registry import Registry

#: The prefixes a torch classifier routes, in the order its parts are built.
PREFIXES: tuple[str, ...] = ("module", "optimizer", "criterion")

#: ``optimizer`` names → ``torch.optim`` classes.
OPTIMIZERS: dict[str, str] = {"adam": "Adam", "adamw": "AdamW", "adadelta": "Adadelta",
                              "sgd": "SGD"}  # fmt: skip
#: Settings ferengine gives an optimiser beyond torch's defaults (``optimizer__`` overrides).
OPTIMIZER_DEFAULTS: dict[str, dict[str, Any]] = {"sgd": {"momentum": 0.9, "nesterov": True}}

#: ``criterion`` names → (``torch.nn`` loss class, the arguments that name fixes).
CRITERIA: dict[str, tuple[str, dict[str, Any]]] = {
    "cross-entropy": ("CrossEntropyLoss", {}),
    "hinge": ("MultiMarginLoss", {"p": 1}),
    "squared-hinge": ("MultiMarginLoss", {"p": 2}),
}

#: Arguments the estimator passes itself, so not open to ``optimizer__`` / ``criterion__``:
#: the network's parameters, the learning rate (``lr``), the class weights
#: (``class_weight``), the reduction skorch needs and torch's deprecated arguments.
_OWN = {
    "optimizer": {"params", "lr"},
    "criterion": {"weight", "reduction", "size_average", "reduce"},
}

#: ``normalize`` values of the networks ``cnn`` builds (:class:`ferengine_deep.layers.Normalize`).
NORMALIZATIONS: tuple[str, ...] = ("unit", "image", "pixel")


def component(prefix: str, name: str) -> tuple[type, dict[str, Any]]:
    """Return the torch class an ``optimizer`` or ``criterion`` name stands for.

    With it come the arguments the name fixes (``{"p": 2}`` for "squared-hinge") or
    ferengine's defaults for that optimiser (:data:`OPTIMIZER_DEFAULTS`).
    """
    import torch

    if prefix == "optimizer":
        return getattr(torch.optim, OPTIMIZERS[name]), dict(OPTIMIZER_DEFAULTS.get(name, {}))
    cls_name, fixed = CRITERIA[name]
    return getattr(torch.nn, cls_name), dict(fixed)


def component_parameters(prefix: str, name: str) -> tuple[str, dict[str, Any]] | None:
    """Describe what ``optimizer`` / ``criterion`` ``name`` accepts by prefix.

    Returns
    -------
    (str, dict) or None
        How to name it in messages and its accepted parameters with defaults; ``None``
        for a name that is not in the table (the estimator's parameter constraints
        report that).
    """
    table = OPTIMIZERS if prefix == "optimizer" else CRITERIA
    if not isinstance(name, str) or name not in table:
        return None
    cls, given = component(prefix, name)
    fixed = given if prefix == "criterion" else {}  # an optimiser's are defaults, overridable
    accepted = {
        p.name: given.get(p.name, p.default)
        for p in inspect.signature(cls).parameters.values()
        if p.name not in _OWN[prefix] and p.name not in fixed
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }  # fmt: skip
    where = "torch.optim" if prefix == "optimizer" else "torch.nn"
    return f"{prefix} {name!r} ({where}.{cls.__name__})", accepted


class PrefixedParams:
    """Mixin (left of ``BaseEstimator``) keeping, listing, setting and checking prefixed parameters.

    Subclasses name their parameters in ``__init__`` (each with its default), take
    ``**kwargs`` for the prefixed ones and store them all with ``self._store(locals())``.
    What ``module__`` reaches is the keyword parameters of the network factory
    ``_network``, unless the subclass overrides :meth:`_module_parameters`.
    """

    #: The prefixes this estimator routes.
    prefixes: ClassVar[tuple[str, ...]] = PREFIXES
    #: Returns the untrained network: ``_network(*inputs, **module_params)``. Its
    #: parameters without a default are the inputs the estimator passes (sizes, classes),
    #: those with one are the ``module__`` parameters.
    _network: ClassVar[Callable[..., Any]]
    #: How messages name the network (default: "the NAME network").
    _network_label: ClassVar[str | None] = None

    @classmethod
    def _named_params(cls) -> list[str]:
        """Return the constructor's named parameters (what ``BaseEstimator`` lists)."""
        return sorted(
            p.name
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        )

    @classmethod
    def _is_prefixed(cls, key: str) -> bool:
        prefix, sep, rest = key.partition("__")
        return bool(sep and rest) and prefix in cls.prefixes and not key.endswith("_")

    @classmethod
    def _unexpected(cls, key: str) -> str:
        """Explain why ``key`` is neither a named nor a prefixed parameter."""
        named = cls._named_params()
        close = difflib.get_close_matches(key, named, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        routes = ", ".join(f"{p}__NAME" for p in cls.prefixes)
        return (
            f"unexpected parameter {key!r}{hint}; its parameters are "
            f"{', '.join(named)}, and {routes} for the parts it builds"
        )

    @classmethod
    def _owner(cls) -> str:
        return getattr(cls, "name", cls.__name__)

    def _store(self, arguments: Mapping[str, Any]) -> None:
        """Store the constructor's arguments (``self._store(locals())`` in ``__init__``).

        The named parameters are stored unchanged under their names, as scikit-learn
        requires; ``kwargs``, the prefixed ones, as attributes of their own names. As in
        skorch (and scikit-learn's rule that ``__init__`` validates nothing), a keyword
        that is neither ``<prefix>__<name>`` nor accepted by the part it reaches is kept
        and listed, and refused when the estimator is fitted (or its spec loaded).

        Raises
        ------
        TypeError
            A keyword ending in ``_``: it would be taken for a fitted attribute.
        """
        kwargs = arguments.get("kwargs", {})
        for key in kwargs:
            if key.endswith("_"):
                raise TypeError(f"{self._owner()}: {self._unexpected(key)}; a parameter "
                                "never ends in '_'")  # fmt: skip
        for name in self._named_params():
            setattr(self, name, arguments[name])
        vars(self).update(kwargs)

    def _get_param_names(self) -> list[str]:
        """Named parameters, then the keyword ones this instance holds (as skorch lists them)."""
        named = self._named_params()
        held = (k for k in vars(self) if k not in named and not k.startswith("_")
                and not k.endswith("_"))  # fmt: skip
        return named + sorted(held)

    def set_params(self, **params: Any) -> Any:
        """Set named and prefixed parameters (``module__width=16``, ``optimizer__eps=1e-6``).

        Returns
        -------
        self
        """
        prefixed = {k: v for k, v in params.items() if self._is_prefixed(k)}
        for key in params:
            head, sep, _ = key.partition("__")
            if sep and head in self.prefixes and key not in prefixed:  # "module__", say
                raise ValueError(f"{self._owner()}: {self._unexpected(key)}")
        super().set_params(**{k: v for k, v in params.items() if k not in prefixed})  # type: ignore[misc]
        vars(self).update(prefixed)
        return self

    def get_params_for(self, prefix: str) -> dict[str, Any]:
        """Return the parameters given under ``prefix``, without it (as skorch names it)."""
        start = f"{prefix}__"
        return {k[len(start) :]: v for k, v in vars(self).items()
                if k.startswith(start) and self._is_prefixed(k)}  # fmt: skip

    # ---- checking -----------------------------------------------------------------------

    @classmethod
    def _module_parameters(
        cls, params: Mapping[str, Any], registry: Registry | None
    ) -> tuple[str, dict[str, Any]] | None:
        """Describe what ``module__`` reaches: a name for messages and its parameters.

        ``params`` holds every constructor parameter (defaults filled in). By default,
        the keyword parameters of ``_network``; a subclass whose network comes from the
        registry overrides this, returning ``None`` when ``module__`` parameters are not
        used (``cnn`` with ``init``).

        Raises
        ------
        ValueError
            The network the parameters name does not exist (message with suggestions).
        """
        signature = inspect.signature(cls._network).parameters.values()
        accepted = {p.name: p.default for p in signature if p.default is not p.empty}
        return cls._network_label or f"the {cls._owner()} network", accepted

    @classmethod
    def prefixed_param_issues(
        cls, params: Mapping[str, Any], registry: Registry | None = None
    ) -> list[tuple[str, str]]:
        """Return the problems of the parameters beyond the named ones, before any training.

        Every key of ``params`` that is not a named constructor parameter must be
        ``<prefix>__<name>`` with a name the part accepts: ``module__`` the network's
        parameters (an architecture's, through ``registry``), ``optimizer__`` and
        ``criterion__`` the torch class's. The network ``module`` names is checked too.
        Model specs and suites call this when they are loaded; ``fit`` raises them.

        Parameters
        ----------
        params : mapping
            Constructor parameters, as written (a spec's ``params``) or ``get_params()``.
        registry : Registry, optional
            Where architectures are looked up; defaults to the installed plugins.

        Returns
        -------
        list of (str, str)
            ``(parameter, problem)`` pairs, empty when all is well.
        """
        named = cls._named_params()
        defaults = {
            p.name: p.default
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.name in named
        }
        values = {**defaults, **params}
        issues: list[tuple[str, str]] = []
        parts: dict[str, tuple[str, dict[str, Any]] | None] = {}
        try:
            parts["module"] = cls._module_parameters(values, registry)
        except ValueError as exc:
            issues.append(("module", str(exc)))
            parts["module"] = None
        for key in params:
            if key in named:
                continue
            if not cls._is_prefixed(key):
                issues.append((key, cls._unexpected(key)))
                continue
            prefix, _, sub = key.partition("__")
            if prefix not in parts:
                parts[prefix] = component_parameters(prefix, values.get(prefix))
            part = parts[prefix]
            if part is None or sub in part[1]:
                continue
            what, accepted = part
            close = difflib.get_close_matches(sub, list(accepted), n=1)
            if sub in named or (prefix, sub) == ("criterion", "weight"):
                own = "class_weight" if sub == "weight" else sub
                hint = f" (it is set by {cls._owner()}'s own parameter {own!r})"
            else:
                hint = f" (did you mean '{prefix}__{close[0]}'?)" if close else ""
            issues.append((key, f"{what} has no parameter {sub!r}{hint}; its parameters: "
                                f"{', '.join(accepted) or 'none'}"))  # fmt: skip
        return issues

    def _check_prefixed(self, registry: Registry | None = None) -> None:
        """Raise ValueError listing the problems of :meth:`prefixed_param_issues`."""
        issues = self.prefixed_param_issues(self.get_params(deep=False), registry)  # type: ignore[attr-defined]
        if issues:
            raise ValueError(
                "\n".join(f"{self._owner()}: {key}: {problem}" for key, problem in issues)
            )
