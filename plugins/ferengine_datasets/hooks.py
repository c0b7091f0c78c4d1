"""Entry point of the built-in dataset plugins."""

from ferengine import hookimpl
from ferengine_datasets.synthetic import SyntheticFaces


@hookimpl
def ferengine_register_datasets():
    """Register the built-in datasets."""
    return [SyntheticFaces]
