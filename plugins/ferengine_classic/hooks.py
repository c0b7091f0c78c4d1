"""Entry point of the built-in classical features and classifiers."""

from ferengine import hookimpl
from ferengine_classic.logistic import Logistic
from ferengine_classic.pixels import Pixels


@hookimpl
def ferengine_register_features():
    """Register the built-in feature extractors."""
    return [Pixels]


@hookimpl
def ferengine_register_classifiers():
    """Register the built-in classifiers."""
    return [Logistic]
