"""The module named in this package's ``ferengine`` entry point."""

from ferengine import hookimpl
from ferengine_example.block_means import BlockMeans


@hookimpl
def ferengine_register_features():
    """Register this package's feature extractors."""
    return [BlockMeans]
