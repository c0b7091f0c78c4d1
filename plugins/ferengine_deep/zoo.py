"""The CNN zoo: architectures by name, each split into a backbone and a head.

Every model is a :class:`FERNet`: ``normalize`` (input scaling, part of the model so
a saved model carries its statistics) → ``features`` (convolutions and dense layers
up to the penultimate layer: the embedding) → ``head`` (the final linear layer).
Transfer learning replaces ``head`` and freezes or retrains parts of ``features``;
the ``cnn-embedding`` feature reads ``embed``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

#: Architecture name -> builder(n_classes, channels, size, **params) -> FERNet.
ARCHITECTURES: dict[str, Callable[..., FERNet]] = {}
NORMALIZATIONS = ("unit", "image", "pixel")
#: Input side an architecture was designed for, where it is not 48 (BKVGG12: 42×42
#: crops; the small CNN: 32×32). The ``cnn`` estimator resizes to its ``size``.
NATIVE_SIZES = {"small32": 32, "bkvgg12": 42}


def native_size(name: str) -> int:
    """Return the input side architecture ``name`` was designed for."""
    return NATIVE_SIZES.get(name, 48)


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


def register(name: str) -> Callable[[Callable[..., FERNet]], Callable[..., FERNet]]:
    """Return a decorator that adds an architecture builder under ``name``."""

    def add(builder: Callable[..., FERNet]) -> Callable[..., FERNet]:
        ARCHITECTURES[name] = builder
        return builder

    return add


def build(name: str, n_classes: int, channels: int, size: int, normalize: str = "image",
          **params: Any) -> FERNet:  # fmt: skip
    """Build architecture ``name`` for ``n_classes`` and C×size×size input."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; known: {sorted(ARCHITECTURES)}")
    net = ARCHITECTURES[name](n_classes, channels, size, **params)
    net.normalize = Normalize(normalize, channels, size)
    return net


def conv_bn(cin: int, cout: int, kernel: int = 3) -> list[nn.Module]:
    """Convolution ('same' padding, no bias) → batch norm → ReLU."""
    return [nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]  # fmt: skip


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


def _flat(layers: list[nn.Module], channels: int, size: int) -> int:
    with torch.no_grad():
        return int(nn.Sequential(*layers)(torch.zeros(1, channels, size, size)).numel())


def _identity() -> Normalize:
    return Normalize("unit", 1, 1)  # replaced by build()


@register("compact")
def compact(n_classes: int, channels: int, size: int, width: int = 32, dropout: float = 0.4,
            embedding: int = 256) -> FERNet:  # fmt: skip
    """Build the recommended default, a narrow VGG sized for a 2-core CPU.

    Stages of w, 2w, 4w and 8w filters (two 3×3 convolutions each but the last),
    global average pooling and a dense embedding layer.
    """
    w = width
    convs = vgg_blocks(channels, [[w, w], [2 * w, 2 * w], [4 * w, 4 * w], [8 * w]], 0.1)
    features = nn.Sequential(*convs, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             *dense(8 * w, embedding, dropout))  # fmt: skip
    return FERNet(_identity(), features, nn.Linear(embedding, n_classes))


@register("lenet")
def lenet(n_classes: int, channels: int, size: int) -> FERNet:
    """Build the LeNet-style base CNN: conv 5×5/6, pool, conv 5×5/16, pool, FC 120, FC 84."""
    convs = [nn.Conv2d(channels, 6, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
             nn.Conv2d(6, 16, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Flatten()]  # fmt: skip
    flat = _flat(convs, channels, size)
    features = nn.Sequential(*convs, nn.Linear(flat, 120), nn.ReLU(inplace=True),
                             nn.Linear(120, 84), nn.ReLU(inplace=True))  # fmt: skip
    return FERNet(_identity(), features, nn.Linear(84, n_classes))


@register("vgg")
def vgg(n_classes: int, channels: int, size: int, dropout: float = 0.5) -> FERNet:
    """Build the thesis VGG: conv 64-64, 128-128, 256-256, 256-256 stages and FC-256.

    Batch norm after every convolution; each stage is max-pooled with dropout 0.25.
    """
    convs = [*vgg_blocks(channels, [[64, 64], [128, 128], [256, 256], [256, 256]], 0.25),
             nn.Flatten()]  # fmt: skip
    features = nn.Sequential(*convs, *dense(_flat(convs, channels, size), 256, dropout))
    return FERNet(_identity(), features, nn.Linear(256, n_classes))


@register("vgg1024")
def vgg1024(n_classes: int, channels: int, size: int, dropout: float = 0.5) -> FERNet:
    """Build the custom VGG-like 48×48 CNN: conv 32-32, 64-64, 128-128, dense 1024."""
    convs = [*vgg_blocks(channels, [[32, 32], [64, 64], [128, 128]], 0.25), nn.Flatten()]
    features = nn.Sequential(*convs, *dense(_flat(convs, channels, size), 1024, dropout))
    return FERNet(_identity(), features, nn.Linear(1024, n_classes))


@register("small32")
def small32(n_classes: int, channels: int, size: int, dropout: float = 0.5) -> FERNet:
    """Build the small 32×32 CNN: conv 5×5/32, pool, conv 7×7/64, pool, dropout, dense 256.

    Unpadded convolutions: about 365k parameters at 32×32 grey input.
    """
    convs = [nn.Conv2d(channels, 32, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
             nn.Conv2d(32, 64, 7), nn.ReLU(inplace=True), nn.MaxPool2d(2),
             nn.Dropout(dropout), nn.Flatten()]  # fmt: skip
    flat = _flat(convs, channels, size)
    features = nn.Sequential(*convs, nn.Linear(flat, 256), nn.ReLU(inplace=True))
    return FERNet(_identity(), features, nn.Linear(256, n_classes))


@register("bkstart")
def bkstart(n_classes: int, channels: int, size: int, dropout: float = 0.5) -> FERNet:
    """Build BKStart, the plain start model of the BK family.

    Three 5×5 convolution stages of 32, 32 and 64 filters, each pooled, and a dense
    1024 layer.
    """
    convs = [*conv_bn(channels, 32, 5), nn.MaxPool2d(2), *conv_bn(32, 32, 5), nn.MaxPool2d(2),
             *conv_bn(32, 64, 5), nn.MaxPool2d(2), nn.Flatten()]  # fmt: skip
    features = nn.Sequential(*convs, *dense(_flat(convs, channels, size), 1024, dropout))
    return FERNet(_identity(), features, nn.Linear(1024, n_classes))


@register("bkvgg12")
def bkvgg12(n_classes: int, channels: int, size: int, dropout: float = 0.5) -> FERNet:
    """Build BKVGG12: twelve weight layers, VGG-style, for 42×42 crops.

    Conv 32-32, 64-64, 128-128-128, 256-256-256, then two dense 256 layers before the
    head.
    """
    convs = [*vgg_blocks(channels, [[32, 32], [64, 64], [128, 128, 128], [256, 256, 256]]),
             nn.Flatten()]  # fmt: skip
    flat = _flat(convs, channels, size)
    features = nn.Sequential(*convs, *dense(flat, 256, dropout), *dense(256, 256, dropout))
    return FERNet(_identity(), features, nn.Linear(256, n_classes))


class _Residual(nn.Module):
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


@register("resnet18")
def resnet18(n_classes: int, channels: int, size: int, width: int = 64) -> FERNet:
    """Build ResNet-18 for small faces.

    A 3×3 stem (no max pooling), four stages of two basic blocks (1, 2, 4, 8 × width),
    global average pooling.
    """
    layers: list[nn.Module] = [*conv_bn(channels, width)]
    cin = width
    for i, cout in enumerate([width, 2 * width, 4 * width, 8 * width]):
        layers += [_Residual(cin, cout, 1 if i == 0 else 2), _Residual(cout, cout, 1)]
        cin = cout
    features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return FERNet(_identity(), features, nn.Linear(cin, n_classes))


class _DenseLayer(nn.Module):
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


@register("densenet")
def densenet(n_classes: int, channels: int, size: int, growth: int = 12,
             blocks: tuple[int, ...] = (6, 12, 24, 16)) -> FERNet:  # fmt: skip
    """Build a reduced DenseNet-121 for 48×48 input.

    DenseNet-121's four dense blocks of 6, 12, 24 and 16 bottleneck layers with a
    growth rate of 12 (instead of 32); transitions halve the channels.
    """
    cin = 2 * growth
    layers: list[nn.Module] = [nn.Conv2d(channels, cin, 3, padding=1, bias=False)]
    for i, n in enumerate(blocks):
        for _ in range(n):
            layers.append(_DenseLayer(cin, growth))
            cin += growth
        if i < len(blocks) - 1:
            cout = cin // 2
            layers += [nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
                       nn.Conv2d(cin, cout, 1, bias=False), nn.AvgPool2d(2)]  # fmt: skip
            cin = cout
    layers += [nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return FERNet(_identity(), nn.Sequential(*layers), nn.Linear(cin, n_classes))
