"""CNN architectures: the ``architecture`` plugin kind that the ``cnn`` classifier trains.

An :class:`Architecture` is a small, torch-free description of a network: its options
are constructor parameters (so the registry checks them by name and ``ferengine plugins
show architecture NAME`` lists them), and :meth:`Architecture.build` creates the torch
layers when a classifier needs them. ``cnn`` puts its own input scaling in front of the
layers, so every network trains, embeds and transfers the same way::

    normalize (cnn's) → features (build's first module) → head (build's second)

This module belongs to the core so that any package can add a network without
importing the deep plugin, and the registry is built without importing torch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from sklearn.base import BaseEstimator

__all__ = ["Architecture"]


class Architecture(BaseEstimator, ABC):
    """A CNN the ``cnn`` classifier trains by name: the ``architecture`` plugin kind.

    Subclasses set ``name`` (kebab-case), a docstring whose first line describes the
    network, ``native_size`` when it was designed for another input side than 48, take
    their options as keyword parameters stored under the same names (scikit-learn's
    convention) and implement :meth:`build`, importing torch inside it.

    Attributes
    ----------
    native_size : int
        Input side (pixels, square) the network was designed for; ``cnn`` resizes to
        its ``size`` parameter, and benchmarks train each network at this side.
    requires : tuple of str
        Modules the network needs (torch); without them the plugin is listed as
        unavailable instead of failing on use.
    """

    name: ClassVar[str]
    native_size: ClassVar[int] = 48
    requires: ClassVar[tuple[str, ...]] = ("torch",)
    extra: ClassVar[str | None] = "deep"

    @abstractmethod
    def build(self, n_classes: int, in_channels: int, size: int) -> tuple[Any, Any]:
        """Return the untrained ``(features, head)`` torch modules for this input and output.

        Parameters
        ----------
        n_classes : int
            Outputs of the head (one logit per class).
        in_channels : int
            Channels of the input (1 for the grey images ``cnn`` feeds).
        size : int
            Side of the square input.

        Returns
        -------
        features : torch.nn.Module
            Maps a normalised float batch N×C×size×size to N×E embeddings (the
            penultimate layer, which ``cnn-embedding`` reads).
        head : torch.nn.Linear
            The final layer, E → ``n_classes``; transfer learning replaces it.
        """
