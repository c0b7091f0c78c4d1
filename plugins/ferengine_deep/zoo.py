"""The CNN zoo: the built-in ``architecture`` plugins that ``cnn`` trains by name.

Each class is a torch-free description (its options are constructor parameters); its
``build`` imports torch and returns the ``(features, head)`` layers, which
:func:`ferengine_deep.layers.network` puts behind ``cnn``'s input scaling. Layer and
parameter names are part of saved models (their state-dict keys): changing a network's
layers breaks every model trained with it.
"""

from __future__ import annotations

from typing import Any

from ferengine.architectures import Architecture


class Compact(Architecture):
    """A narrow VGG sized for a 2-core CPU: the recommended default.

    Stages of w, 2w, 4w and 8w filters (two 3×3 convolutions each but the last),
    global average pooling and a dense embedding layer.

    Parameters
    ----------
    width : int
        Filters of the first stage (w).
    dropout : float
        Dropout after the embedding layer.
    embedding : int
        Width of the embedding layer.
    """

    name = "compact"

    def __init__(self, width: int = 32, dropout: float = 0.4, embedding: int = 256) -> None:
        self.width = width
        self.dropout = dropout
        self.embedding = embedding

    def build(self, n_classes: int, in_channels: int, size: int) -> tuple[Any, Any]:
        """Return the features and head (see :meth:`Architecture.build`)."""
        from torch import nn

        from ferengine_deep.layers import dense, vgg_blocks

        w = self.width
        convs = vgg_blocks(in_channels, [[w, w], [2 * w, 2 * w], [4 * w, 4 * w], [8 * w]], 0.1)
        features = nn.Sequential(*convs, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                 *dense(8 * w, self.embedding, self.dropout))  # fmt: skip
        return features, nn.Linear(self.embedding, n_classes)


class LeNet(Architecture):
    """The LeNet-style base CNN: conv 5×5/6, pool, conv 5×5/16, pool, FC 120, FC 84."""

    name = "lenet"

    def build(self, n_classes: int, in_channels: int, size: int) -> tuple[Any, Any]:
        """Return the features and head (see :meth:`Architecture.build`)."""
        from torch import nn

        from ferengine_deep.layers import flat_size

        convs = [nn.Conv2d(in_channels, 6, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                 nn.Conv2d(6, 16, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                 nn.Flatten()]  # fmt: skip
        flat = flat_size(convs, in_channels, size)
        features = nn.Sequential(*convs, nn.Linear(flat, 120), nn.ReLU(inplace=True),
                                 nn.Linear(120, 84), nn.ReLU(inplace=True))  # fmt: skip
        return features, nn.Linear(84, n_classes)


class VGG(Architecture):
    """The thesis VGG: conv 64-64, 128-128, 256-256, 256-256 stages and FC-256.

    Batch norm after every convolution; each stage is max-pooled with dropout 0.25.

    Parameters
    ----------
    dropout : float
        Dropout after the dense layer.
    """

    name = "vgg"

    def __init__(self, dropout: float = 0.5) -> None:
        self.dropout = dropout

    def build(self, n_classes: int, in_channels: int, size: int) -> tuple[Any, Any]:
        """Return the features and head (see :meth:`Architecture.build`)."""
        from torch import nn

        from ferengine_deep.layers import dense, flat_size, vgg_blocks

        plan = [[64, 64], [128, 128], [256, 256], [256, 256]]
        convs = [*vgg_blocks(in_channels, plan, 0.25), nn.Flatten()]
        flat = flat_size(convs, in_channels, size)
        features = nn.Sequential(*convs, *dense(flat, 256, self.dropout))
        return features, nn.Linear(256, n_classes)


class VGG1024(Architecture):
    """The custom VGG-like 48×48 CNN: conv 32-32, 64-64, 128-128, dense 1024.

    Parameters
    ----------
    dropout : float
        Dropout after the dense layer.
    """

    name = "vgg1024"

    def __init__(self, dropout: float = 0.5) -> None:
        self.dropout = dropout

    def build(self, n_classes: int, in_channels: int, size: int) -> tuple[Any, Any]:
        """Return the features and head (see :meth:`Architecture.build`)."""
        from torch import nn

        from ferengine_deep.layers import dense, flat_size, vgg_blocks

        convs = [*vgg_blocks(in_channels, [[32, 32], [64, 64], [128, 128]], 0.25), nn.Flatten()]
        flat = flat_size(convs, in_channels, size)
        features = nn.Sequential(*convs, *dense(flat, 1024, self.dropout))
        return features, nn.Linear(1024, n_classes)


class Small32(Architecture):
    """The small 32×32 CNN: conv 5×5/32, pool, conv 7×7/64, pool, dropout, dense 256.

    Unpadded convolutions: about 365k parameters at 32×32 grey input.

    Parameters
    ----------
    dropout : float
        Dropout before the dense layer.
    """

    name = "small32"
    native_size = 32

    def __init__(self, dropout: float = 0.5) -> None:
        self.dropout = dropout

    def build(self, n_classes: int, in_channels: int, size: int) -> tuple[Any, Any]:
        """Return the features and head (see :meth:`Architecture.build`)."""
        from torch import nn

        from ferengine_deep.layers import flat_size

        convs = [nn.Conv2d(in_channels, 32, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                 nn.Conv2d(32, 64, 7), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                 nn.Dropout(self.dropout), nn.Flatten()]  # fmt: skip
        flat = flat_size(convs, in_channels, size)
        features = nn.Sequential(*convs, nn.Linear(flat, 256), nn.ReLU(inplace=True))
        return features, nn.Linear(256, n_classes)


class BKStart(Architecture):
    """BKStart, the plain start model of the BK family.

    Three 5×5 convolution stages of 32, 32 and 64 filters, each pooled, and a dense
    1024 layer.

    Parameters
    ----------
    dropout : float
        Dropout after the dense layer.
    """

    name = "bkstart"

    def __init__(self, dropout: float = 0.5) -> None:
        self.dropout = dropout

    def build(self, n_classes: int, in_channels: int, size: int) -> tuple[Any, Any]:
        """Return the features and head (see :meth:`Architecture.build`)."""
        from torch import nn

        from ferengine_deep.layers import conv_bn, dense, flat_size

        convs = [*conv_bn(in_channels, 32, 5), nn.MaxPool2d(2), *conv_bn(32, 32, 5),
                 nn.MaxPool2d(2), *conv_bn(32, 64, 5), nn.MaxPool2d(2), nn.Flatten()]  # fmt: skip
        flat = flat_size(convs, in_channels, size)
        features = nn.Sequential(*convs, *dense(flat, 1024, self.dropout))
        return features, nn.Linear(1024, n_classes)


class BKVGG12(Architecture):
    """BKVGG12: twelve weight layers, VGG-style, for 42×42 crops.

    Conv 32-32, 64-64, 128-128-128, 256-256-256, then two dense 256 layers before the
    head.

    Parameters
    ----------
    dropout : float
        Dropout after each dense layer.
    """

    name = "bkvgg12"
    native_size = 42

    def __init__(self, dropout: float = 0.5) -> None:
        self.dropout = dropout

    def build(self, n_classes: int, in_channels: int, size: int) -> tuple[Any, Any]:
        """Return the features and head (see :meth:`Architecture.build`)."""
        from torch import nn

        from ferengine_deep.layers import dense, flat_size, vgg_blocks

        plan = [[32, 32], [64, 64], [128, 128, 128], [256, 256, 256]]
        convs = [*vgg_blocks(in_channels, plan), nn.Flatten()]
        flat = flat_size(convs, in_channels, size)
        features = nn.Sequential(*convs, *dense(flat, 256, self.dropout),
                                 *dense(256, 256, self.dropout))  # fmt: skip
        return features, nn.Linear(256, n_classes)


class ResNet18(Architecture):
    """ResNet-18 for small faces.

    A 3×3 stem (no max pooling), four stages of two basic blocks (1, 2, 4, 8 × width),
    global average pooling.

    Parameters
    ----------
    width : int
        Filters of the stem and the first stage.
    """

    name = "resnet18"

    def __init__(self, width: int = 64) -> None:
        self.width = width

    def build(self, n_classes: int, in_channels: int, size: int) -> tuple[Any, Any]:
        """Return the features and head (see :meth:`Architecture.build`)."""
        from torch import nn

        from ferengine_deep.layers import Residual, conv_bn

        w = self.width
        layers: list[nn.Module] = [*conv_bn(in_channels, w)]
        cin = w
        for i, cout in enumerate([w, 2 * w, 4 * w, 8 * w]):
            layers += [Residual(cin, cout, 1 if i == 0 else 2), Residual(cout, cout, 1)]
            cin = cout
        features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        return features, nn.Linear(cin, n_classes)


class DenseNet(Architecture):
    """A reduced DenseNet-121 for 48×48 input.

    DenseNet-121's four dense blocks of 6, 12, 24 and 16 bottleneck layers with a
    growth rate of 12 (instead of 32); transitions halve the channels.

    Parameters
    ----------
    growth : int
        Channels each bottleneck layer adds.
    blocks : sequence of int
        Bottleneck layers per dense block.
    """

    name = "densenet"

    def __init__(self, growth: int = 12, blocks: tuple[int, ...] = (6, 12, 24, 16)) -> None:
        self.growth = growth
        self.blocks = blocks

    def build(self, n_classes: int, in_channels: int, size: int) -> tuple[Any, Any]:
        """Return the features and head (see :meth:`Architecture.build`)."""
        from torch import nn

        from ferengine_deep.layers import DenseLayer

        growth, blocks = self.growth, list(self.blocks)
        cin = 2 * growth
        layers: list[nn.Module] = [nn.Conv2d(in_channels, cin, 3, padding=1, bias=False)]
        for i, n in enumerate(blocks):
            for _ in range(n):
                layers.append(DenseLayer(cin, growth))
                cin += growth
            if i < len(blocks) - 1:
                cout = cin // 2
                layers += [nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
                           nn.Conv2d(cin, cout, 1, bias=False), nn.AvgPool2d(2)]  # fmt: skip
                cin = cout
        layers += [nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1),
                   nn.Flatten()]  # fmt: skip
        return nn.Sequential(*layers), nn.Linear(cin, n_classes)
