"""Parameters routed by prefix, as skorch routes them: ``module__width``, ``optimizer__eps``.

A torch classifier takes its own settings by name (``lr``, ``max_epochs``…) and those
of the parts it builds by prefix: ``module__<p>`` goes to its network (the architecture
``module`` names, or a head's layers), ``optimizer__<p>`` to the torch optimiser
``optimizer`` names, ``criterion__<p>`` to the loss ``criterion`` names. Prefixed
parameters arrive through ``**kwargs`` and are stored as attributes of their own name;
``get_params`` lists them, ``set_params`` sets them and :func:`sklearn.base.clone`
copies them, as in skorch's ``NeuralNet`` (scikit-learn's ``BaseEstimator`` alone lists
only the named constructor parameters).

This module imports no torch: the optimiser and loss tables name torch classes, which
:func:`component` imports when a parameter is checked or a network trained.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any, ClassVar

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
    """Mixin (left of ``BaseEstimator``) keeping, listing and setting prefixed parameters.

    Subclasses take ``**kwargs`` in ``__init__`` and pass them to :meth:`_store_kwargs`.
    """

    #: The prefixes this estimator routes.
    prefixes: ClassVar[tuple[str, ...]] = PREFIXES

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

    def _store_kwargs(self, kwargs: dict[str, Any]) -> None:
        """Store the keyword parameters as attributes of their own names (constructor use).

        As in skorch (and scikit-learn's rule that ``__init__`` validates nothing), a
        name that is neither ``<prefix>__<name>`` nor accepted by the part it reaches is
        kept and listed, and refused when the estimator is fitted (or its spec loaded).

        Raises
        ------
        TypeError
            A name ending in ``_``: it would be taken for a fitted attribute.
        """
        for key in kwargs:
            if key.endswith("_"):
                raise TypeError(f"{self._owner()}: {self._unexpected(key)}; a parameter "
                                "never ends in '_'")  # fmt: skip
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
