"""Entry point of the built-in meta-classifiers (TTA, fusion, class tree, temperature)."""

from ferengine import hookimpl


@hookimpl
def ferengine_register_classifiers():
    """Register the classifiers built from other steps."""
    from ferengine_ensembles.clip_fusion import ClipFrames, ClipFusion
    from ferengine_ensembles.fusion import Fusion
    from ferengine_ensembles.temperature import Temperature
    from ferengine_ensembles.tree import ClassifierTree
    from ferengine_ensembles.tta import TTA

    return [ClassifierTree, TTA, Fusion, ClipFrames, ClipFusion, Temperature]
