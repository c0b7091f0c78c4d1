"""Torch building blocks of the zoo's networks, and the network ``cnn`` trains.

Every network is a :class:`FERNet`: ``normalize`` (input scaling, part of the model so
a saved model carries its statistics) → ``features`` (convolutions and dense layers up
to the penultimate layer: the embedding) → ``head`` (the final linear layer). An
architecture plugin builds ``features`` and ``head``; :func:`network` adds the scaling.
Transfer learning replaces ``head`` and freezes or retrains parts of ``features``; the
``cnn-embedding`` feature reads ``embed``.
"""

from __future__ import annotations

import torch
from torch import nn

from ferengine.architectures import Architecture
from ferengine_deep.params import NORMALIZATIONS


class Normalize(nn.Module):
    """Scale uint8-range input.

    "unit": to [0, 1]; "image": each image to zero mean and unit variance; "pixel":
    per pixel, with statistics learned from the training images by :meth:`fit`.
    """

    def __init__(self, mode: str, channels: int, size: int) -> None:
        super().__init__()
        if mode not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {mode!r}")
        self.mode = mode
        self.register_buffer("mean", torch.zeros(1, channels, size, size))
        self.register_buffer("std", torch.ones(1, channels, size, size))

    def fit(self, images: torch.Tensor) -> Normalize:
        """Learn per-pixel mean and standard deviation (mode "pixel") from N×C×H×W images."""
        if self.mode == "pixel":
            x = images.float() / 255.0
            self.mean.copy_(x.mean(dim=0, keepdim=True))
            self.std.copy_(x.std(dim=0, keepdim=True).clamp_min(1e-3))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the scaled float batch."""
        x = x.float() / 255.0
        if self.mode == "image":
            flat = x.flatten(1)
            mean = flat.mean(dim=1).view(-1, 1, 1, 1)
            std = flat.std(dim=1).clamp_min(1e-3).view(-1, 1, 1, 1)
            return (x - mean) / std
        if self.mode == "pixel":
            return (x - self.mean) / self.std
        return x


class FERNet(nn.Module):
    """normalize → features (embedding) → head."""

    def __init__(self, normalize: Normalize, features: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.normalize = normalize
        self.features = features
        self.head = head

    @property
    def embedding_size(self) -> int:
        """Width of the penultimate layer (input of the head)."""
        return int(self.head.in_features)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Return the penultimate-layer activations."""
        return self.features(self.normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class scores (logits)."""
        return self.head(self.embed(x))


def network(architecture: Architecture, n_classes: int, channels: int, size: int,
            normalize: str = "image") -> FERNet:  # fmt: skip
    """Return ``architecture``'s untrained network behind a ``normalize`` input scaling.

    Raises
    ------
    TypeError
        The architecture's ``build`` does not return a ``(features, head)`` pair of modules.
    """
    built = architecture.build(n_classes, channels, size)
    if not (isinstance(built, tuple) and len(built) == 2
            and all(isinstance(m, nn.Module) for m in built)):  # fmt: skip
        raise TypeError(
            f"architecture {architecture.name!r}: build() must return (features, head) "
            f"torch modules, got {type(built).__name__}"
        )
    features, head = built
    return FERNet(Normalize(normalize, channels, size), features, head)


def conv_bn(cin: int, cout: int, kernel: int = 3,
            act: type[nn.Module] = nn.ReLU) -> list[nn.Module]:  # fmt: skip
    """Convolution ('same' padding, no bias) → batch norm → ``act`` (ReLU)."""
    return [nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(cout), act(inplace=True)]  # fmt: skip


def vgg_blocks(channels: int, plan: list[list[int]], dropout: float = 0.0) -> list[nn.Module]:
    """VGG stages: each a list of conv widths, then 2×2 max pooling (and dropout)."""
    layers: list[nn.Module] = []
    for stage in plan:
        for width in stage:
            layers += conv_bn(channels, width)
            channels = width
        layers.append(nn.MaxPool2d(2))
        if dropout:
            layers.append(nn.Dropout(dropout))
    return layers


def dense(cin: int, cout: int, dropout: float) -> list[nn.Module]:
    """Linear → batch norm → ReLU → dropout."""
    return [nn.Linear(cin, cout), nn.BatchNorm1d(cout), nn.ReLU(inplace=True),
            nn.Dropout(dropout)]  # fmt: skip


def flat_size(layers: list[nn.Module], channels: int, size: int) -> int:
    """Return how many values ``layers`` output for one C×size×size input."""
    with torch.no_grad():
        return int(nn.Sequential(*layers)(torch.zeros(1, channels, size, size)).numel())


class Residual(nn.Module):
    """ResNet basic block: two 3×3 convolutions with a (projected) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
        )  # fmt: skip
        self.skip = (
            nn.Identity() if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual sum, then ReLU."""
        return torch.relu(self.body(x) + self.skip(x))


class DenseLayer(nn.Module):
    """DenseNet bottleneck layer, concatenated to its input.

    BN-ReLU-1×1 conv (4·growth) then BN-ReLU-3×3 conv (growth).
    """

    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, 4 * growth, 1, bias=False),
            nn.BatchNorm2d(4 * growth), nn.ReLU(inplace=True),
            nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Input and new features, side by side."""
        return torch.cat([x, self.body(x)], dim=1)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1×1 expansion, 3×3 depthwise, 1×1 linear projection, residual.

    The residual is added when the block keeps the shape (stride 1, same channels).
    """

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        expand = [] if expansion == 1 else conv_bn(cin, hidden, 1, nn.ReLU6)
        self.body = nn.Sequential(
            *expand,
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )  # fmt: skip
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the block's output, plus its input when shapes match."""
        out = self.body(x)
        return x + out if self.residual else out


class SeparableConv(nn.Sequential):
    """Depthwise 3×3 then pointwise 1×1 convolution, batch norm (Xception's separable conv)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
            nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )  # fmt: skip


class XceptionModule(nn.Module):
    """Xception residual module: ReLU → separable conv, ``repeats`` times, then a 3×3/2 pool.

    The shortcut is a stride-2 1×1 convolution with batch norm (``downsample``), or the
    identity (or a 1×1 convolution when the width changes) without downsampling.
    """

    def __init__(self, cin: int, cout: int, repeats: int = 2, downsample: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(repeats):
            layers += [nn.ReLU(), SeparableConv(cin if i == 0 else cout, cout)]
        if downsample:
            layers.append(nn.MaxPool2d(3, 2, padding=1))
        self.body = nn.Sequential(*layers)
        stride = 2 if downsample else 1
        self.skip = (
            nn.Identity() if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the module's output plus its shortcut."""
        return self.body(x) + self.skip(x)
