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


@hookspec
def ferengine_register_landmarkers() -> Iterable[type]:
    """Return landmarker classes (subclasses of :class:`ferengine.faces.Landmarker`).

    A landmarker places a fixed set of points in face boxes with
    ``locate(grey, boxes) -> points`` and names its point layout and eye points.
    """


@hookspec
def ferengine_register_architectures() -> Iterable[type]:
    """Return CNN architectures (subclasses of :class:`ferengine.architectures.Architecture`).

    An architecture takes its options (``width``, ``dropout``, …) as constructor
    parameters and builds the torch layers ``cnn`` trains with
    ``build(n_classes, in_channels, size) -> (features, head)``.
    """


@hookspec
def ferengine_register_label_spaces() -> Iterable[type]:
    """Return label space classes (subclasses of :class:`ferengine.labels.LabelSpacePlugin`).

    Each class declares one ordered set of class names (``name``, ``names``);
    :func:`ferengine.get_label_space` turns it into a :class:`ferengine.LabelSpace`.
    """


@hookspec
def ferengine_register_models() -> Iterable[type]:
    """Return pretrained model classes (subclasses of :class:`ferengine.models.PretrainedModel`).

    Each class carries a frozen :class:`ferengine.models.ModelCard` naming its weights
    file inside a package; ``ferengine.load(name)`` reads that file and the class is a
    pipeline step that predicts with the weights as trained.
    """


@hookspec
def ferengine_register_explainers() -> Iterable[type]:
    """Return explainer classes (subclasses of :class:`ferengine.explain.Explainer`).

    An explainer maps why a fitted model classifies face crops as it does:
    ``explain(model, images, target=None)`` returns one map per face, in the face's
    pixels, and ``supports(model)`` says early why a model cannot be explained.
    """


#: Registry kind -> the hook that registers plugins of that kind.
KIND_HOOKS: dict[str, str] = {
    "dataset": "ferengine_register_datasets",
    "preprocessor": "ferengine_register_preprocessors",
    "augmenter": "ferengine_register_augmenters",
    "feature": "ferengine_register_features",
    "classifier": "ferengine_register_classifiers",
    "detector": "ferengine_register_detectors",
    "landmarker": "ferengine_register_landmarkers",
    "architecture": "ferengine_register_architectures",
    "label-space": "ferengine_register_label_spaces",
    "model": "ferengine_register_models",
    "explainer": "ferengine_register_explainers",
}
