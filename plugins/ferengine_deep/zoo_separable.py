"""Depthwise-separable networks of the zoo: MobileNetV2 and (mini-)Xception, sized for 48×48.

One of the theses compared MobileNet, Xception, VGG16 and a small CNN on standard and
preprocessed faces; the `fer` package's model is a mini-Xception (Arriaga, Valdenegro-Toro
& Plöger 2017, "Real-time convolutional neural networks for emotion and gender
classification"). Both families are built here from their papers' blocks, resized for
48×48 grey faces (fewer downsamplings than ImageNet's 224×224 networks), as ``cnn``
architectures like the rest of the zoo (:mod:`ferengine_deep.zoo`). Layer names are part
of saved models.
"""

from __future__ import annotations

from typing import Any

from ferengine.architectures import Architecture

#: MobileNetV2's inverted-residual stages for 48×48 inputs after its stride-2 stem:
#: (expansion, channels, blocks, first stride). ImageNet's 224×224 network downsamples
#: 32×; here 8× (48 → 6), with the paper's expansion 6 and channels up to 160.
MOBILENET_V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 1))  # fmt: skip


def _channels(value: float, divisor: int = 8) -> int:
    """Round a width-multiplied channel count to a multiple of ``divisor`` (MobileNet's rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class MobileNetV2(Architecture):
    """MobileNetV2 (Sandler et al. 2018) for 48×48 faces: inverted residuals, linear bottlenecks.

    A stride-2 3×3 stem, the inverted-residual stages of
    :data:`MOBILENET_V2_STAGES` (1×1 expansion, 3×3 depthwise, 1×1 linear projection,
    a residual when shape allows), a 1×1 convolution to ``last`` channels, global
    average pooling and dropout before the classifier.

    Parameters
    ----------
    width : float
        Width multiplier of every layer (the paper's α).
    last : int
        Channels of the last 1×1 convolution (the embedding).
    dropout : float
        Dropout before the classifier.
    """

    name = "mobilenet-v2"

    def __init__(self, width: float = 1.0, last: int = 640, dropout: float = 0.2) -> None:
        self.width = width
        self.last = last
        self.dropout = dropout

    def build(self, n_classes: int, in_channels: int, size: int) -> tuple[Any, Any]:
        """Return the features and head (see :meth:`Architecture.build`)."""
        from torch import nn

        from ferengine_deep.layers import InvertedResidual, conv_bn

        stem = _channels(32 * self.width)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, stem, 3, 2, 1, bias=False),
                                   nn.BatchNorm2d(stem), nn.ReLU6(inplace=True)]  # fmt: skip
        channels = stem
        for expansion, out, blocks, stride in MOBILENET_V2_STAGES:
            out = _channels(out * self.width)
            for i in range(blocks):
                layers.append(InvertedResidual(channels, out, stride if i == 0 else 1, expansion))
                channels = out
        layers += [*conv_bn(channels, self.last, 1, nn.ReLU6), nn.AdaptiveAvgPool2d(1),
                   nn.Flatten(), nn.Dropout(self.dropout)]  # fmt: skip
        return nn.Sequential(*layers), nn.Linear(self.last, n_classes)


class MiniXception(Architecture):
    """Mini-Xception (Arriaga et al. 2017), the `fer` package's network: about 60,000 weights.

    Two 3×3 convolutions of ``base`` filters, then four residual modules of two
    depthwise-separable 3×3 convolutions each (16, 32, 64, 128 filters × ``width``)
    ending in a stride-2 3×3 max pool, with a stride-2 1×1 convolution on the shortcut;
    global average pooling of the last module is the embedding (the paper ends in a
    convolution to the classes and pools that; here a linear head on the pooled
    features plays its part).

    Parameters
    ----------
    width : int
        Multiplier of the modules' filters (1: the paper's 16–128).
    base : int
        Filters of the two entry convolutions.
    """

    name = "mini-xception"

    def __init__(self, width: int = 1, base: int = 8) -> None:
        self.width = width
        self.base = base

    def build(self, n_classes: int, in_channels: int, size: int) -> tuple[Any, Any]:
        """Return the features and head (see :meth:`Architecture.build`)."""
        from torch import nn

        from ferengine_deep.layers import XceptionModule, conv_bn

        layers: list[nn.Module] = [*conv_bn(in_channels, self.base, 3),
                                   *conv_bn(self.base, self.base, 3)]  # fmt: skip
        channels = self.base
        for filters in (16, 32, 64, 128):
            out = filters * self.width
            layers.append(XceptionModule(channels, out, repeats=2))
            channels = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        return nn.Sequential(*layers), nn.Linear(channels, n_classes)


class Xception(Architecture):
    """An Xception-style network for 48×48 faces: entry, middle and exit flows, separable convs.

    Chollet's (2017) three flows, scaled down: an entry flow of two 3×3 convolutions
    (32, 64 filters) and three residual modules (128, 256, 728 × ``width`` / 8 filters)
    that halve the side (48 → 6), a middle flow of ``middle`` residual modules of three
    separable convolutions at that width, and an exit flow of one module to 1024 ×
    ``width`` / 8 filters and a separable convolution to ``embedding`` filters, globally
    pooled.

    Parameters
    ----------
    width : int
        Eighths of the paper's filters (8: the paper's 128–1024; 2, the default, a
        quarter of them for a 2-core CPU).
    middle : int
        Residual modules of the middle flow (the paper has 8).
    embedding : int
        Filters of the last separable convolution (the paper's 2048 × width / 8).
    dropout : float
        Dropout before the classifier.
    """

    name = "xception"

    def __init__(self, width: int = 2, middle: int = 4, embedding: int = 512,
                 dropout: float = 0.3) -> None:  # fmt: skip
        self.width = width
        self.middle = middle
        self.embedding = embedding
        self.dropout = dropout

    def build(self, n_classes: int, in_channels: int, size: int) -> tuple[Any, Any]:
        """Return the features and head (see :meth:`Architecture.build`)."""
        from torch import nn

        from ferengine_deep.layers import SeparableConv, XceptionModule, conv_bn

        def scaled(filters: int) -> int:
            return max(8, filters * self.width // 8)

        layers: list[nn.Module] = [*conv_bn(in_channels, 32, 3),
                                   *conv_bn(32, 64, 3)]  # fmt: skip
        channels = 64
        for filters in (128, 256, 728):
            layers.append(XceptionModule(channels, scaled(filters), repeats=2))
            channels = scaled(filters)
        for _ in range(self.middle):
            layers.append(XceptionModule(channels, channels, repeats=3, downsample=False))
        layers.append(XceptionModule(channels, scaled(1024), repeats=2, downsample=False))
        layers += [SeparableConv(scaled(1024), self.embedding), nn.AdaptiveAvgPool2d(1),
                   nn.Flatten(), nn.Dropout(self.dropout)]  # fmt: skip
        return nn.Sequential(*layers), nn.Linear(self.embedding, n_classes)
