"""Entry point of the built-in deep models and augmenters (needs the ``deep`` extra)."""

from ferengine import hookimpl


@hookimpl
def ferengine_register_classifiers():
    """Register the torch classifiers and the composites built on them."""
    from ferengine_deep.embedding import SoftmaxHead
    from ferengine_deep.ensemble import TTA, Fusion
    from ferengine_deep.estimator import CNN
    from ferengine_deep.tree import CNNTree

    return [CNN, SoftmaxHead, CNNTree, TTA, Fusion]


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
