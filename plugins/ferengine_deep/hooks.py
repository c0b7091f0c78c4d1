"""Entry point of the built-in deep models and augmenters (needs the ``deep`` extra)."""

from ferengine import hookimpl


@hookimpl
def ferengine_register_classifiers():
    """Register the torch classifiers."""
    from ferengine_deep.estimator import CNN

    return [CNN]


@hookimpl
def ferengine_register_augmenters():
    """Register the augmenters."""
    from ferengine_deep.augment import AUGMENTERS

    return AUGMENTERS
