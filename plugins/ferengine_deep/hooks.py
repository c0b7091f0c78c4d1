"""Entry point of the built-in deep models and augmenters (needs the ``deep`` extra)."""

from ferengine import hookimpl


@hookimpl
def ferengine_register_classifiers():
    """Register the torch classifiers."""
    from ferengine_deep.clip_nets import CNNLSTM, C3DClassifier, ConvLSTMClassifier
    from ferengine_deep.embedding import SoftmaxHead
    from ferengine_deep.estimator import CNN
    from ferengine_deep.temporal import TemporalCNN, TemporalRNN

    return [CNN, SoftmaxHead, TemporalRNN, TemporalCNN, CNNLSTM, C3DClassifier,
            ConvLSTMClassifier]  # fmt: skip


@hookimpl
def ferengine_register_features():
    """Register CNN embeddings as a feature."""
    from ferengine_deep.embedding import CNNEmbedding

    return [CNNEmbedding]


@hookimpl
def ferengine_register_augmenters():
    """Register the augmenters."""
    from ferengine_deep.augment import AUGMENTERS

    return AUGMENTERS


@hookimpl
def ferengine_register_architectures():
    """Register the CNN zoo (torch is imported only when a network is built)."""
    from ferengine_deep.zoo import (
        BKVGG12,
        VGG,
        VGG1024,
        BKStart,
        Compact,
        DenseNet,
        LeNet,
        ResNet18,
        Small32,
    )
    from ferengine_deep.zoo_separable import MiniXception, MobileNetV2, Xception

    return [Compact, LeNet, VGG, VGG1024, Small32, BKStart, BKVGG12, ResNet18, DenseNet,
            MobileNetV2, MiniXception, Xception]  # fmt: skip


@hookimpl
def ferengine_register_models():
    """Register the shipped pretrained models."""
    from ferengine_deep.cards import Default, Fer2013

    return [Default, Fer2013]
