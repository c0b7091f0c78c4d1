"""Prediction methods and persistence shared by the torch classifiers."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferengine.classifier import ProbaClassifier
from ferengine_deep import model_checks  # noqa: F401 (registers the load-time checks)


class LogitsClassifier(ProbaClassifier):
    """Prediction methods of a torch classifier, from its ``_logits(X)`` (N×K).

    Its fitted network ``module_`` is pickled as a state dict of numpy arrays (which
    skops stores safely), never as a torch module; ``_new_module`` rebuilds the
    untrained network the arrays are loaded into.
    """

    def _logits(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def _new_module(self) -> Any:
        raise NotImplementedError

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        module = state.pop("module_", None)
        if module is not None:
            state["module_state_"] = {k: v.detach().cpu().numpy()
                                      for k, v in module.state_dict().items()}  # fmt: skip
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        weights = state.pop("module_state_", None)
        # A model saved before a parameter existed was trained without that option, which
        # is what the parameter's default means (new options are off by default): give it
        # the default, so get_params, clone and save work on the loaded model.
        self.__dict__.update({k: v for k, v in _defaults(type(self)).items() if k not in state})
        self.__dict__.update(state)
        if weights is not None:
            import torch

            # The file's parameters (sizes, widths) decide how large a network
            # ``_new_module`` builds: lay it out on the meta device first (no memory)
            # and compare its shapes with the stored arrays, so a crafted parameter
            # cannot allocate gigabytes before the weights are found not to fit.
            with torch.device("meta"):
                layout = self._new_module().state_dict()
            _check_layout(type(self).__name__, layout, weights)
            module = self._new_module()
            module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
            self.module_ = module.eval()

    def decision_function(self, X: Any) -> np.ndarray:
        """Class scores (logits) in ``classes_`` order.

        For two classes, as scikit-learn expects, one column: the score of
        ``classes_[1]`` minus that of ``classes_[0]``.
        """
        logits = self._logits(X)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict_proba(self, X: Any) -> np.ndarray:
        """Softmax of the class scores (for hinge losses: a monotone stand-in)."""
        logits = self._logits(X)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def _check_layout(owner: str, layout: dict[str, Any], weights: dict[str, Any]) -> None:
    """Raise ModelFormatError unless ``weights`` has exactly the names and shapes of ``layout``."""
    from ferengine.errors import ModelFormatError

    if not isinstance(weights, dict) or set(layout) != set(weights):
        names = sorted(weights) if isinstance(weights, dict) else type(weights).__name__
        raise ModelFormatError(
            f"{owner}: module_state_ holds {names}, but the network its parameters "
            f"describe has {sorted(layout)}"
        )
    for name, tensor in layout.items():
        shape = tuple(np.shape(weights[name]))
        if shape != tuple(tensor.shape):
            raise ModelFormatError(
                f"{owner}: module_state_[{name!r}] has shape {shape}, but the network its "
                f"parameters describe needs {tuple(tensor.shape)}"
            )


def _defaults(cls: type) -> dict[str, Any]:
    """Return the defaults of ``cls``'s named constructor parameters."""
    import inspect

    return {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if p.default is not p.empty and p.kind is p.POSITIONAL_OR_KEYWORD
    }
