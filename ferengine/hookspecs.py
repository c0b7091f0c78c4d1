"""Hook specifications: the whole plugin surface of ferengine.

A plugin is a module (or object) that implements some of these hooks with the
:data:`ferengine.hookimpl` marker and is announced in the ``ferengine``
entry-point group of its package's metadata.  Every hook returns an iterable of
plugin *classes*; each class carries a unique kebab-case ``name`` within its kind
and a docstring whose first line describes it.
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

PROJECT = "ferengine"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def ferengine_register_datasets() -> Iterable[type]:
    """Return dataset plugin classes (subclasses of :class:`ferengine.DatasetPlugin`)."""


@hookspec
def ferengine_register_preprocessors() -> Iterable[type]:
    """Return face preprocessing classes: scikit-learn transformers, images in, images out."""


@hookspec
def ferengine_register_augmenters() -> Iterable[type]:
    """Return training-time augmenter classes (subclasses of :class:`ferengine.Augmenter`)."""


@hookspec
def ferengine_register_features() -> Iterable[type]:
    """Return feature extractor classes: scikit-learn transformers, images in, vectors out."""


@hookspec
def ferengine_register_classifiers() -> Iterable[type]:
    """Return classifier classes: scikit-learn classifiers on features or images."""


@hookspec
def ferengine_register_detectors() -> Iterable[type]:
    """Return face detector classes (subclasses of :class:`ferengine.FaceDetector`)."""


#: Registry kind -> the hook that registers plugins of that kind.
KIND_HOOKS: dict[str, str] = {
    "dataset": "ferengine_register_datasets",
    "preprocessor": "ferengine_register_preprocessors",
    "augmenter": "ferengine_register_augmenters",
    "feature": "ferengine_register_features",
    "classifier": "ferengine_register_classifiers",
    "detector": "ferengine_register_detectors",
}
