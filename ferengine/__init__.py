"""ferengine: a plugin-based facial expression recognition engine.

Datasets, face preprocessing, feature extractors and classifiers are plugins,
found through the ``ferengine`` entry-point group, and assembled into
scikit-learn pipelines.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from ferengine import registry, splits
from ferengine.dataset import FaceDataset
from ferengine.hookspecs import hookimpl
from ferengine.labels import LabelMapping, LabelSpace, get_label_space, mapping
from ferengine.persistence import load, save
from ferengine.pipeline import FERPipeline, pipeline
from ferengine.plugin import Augmenter, DatasetPlugin, Face, FaceDetector

try:
    __version__ = metadata.version("ferengine")
except metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"


def load_dataset(name: str, **params: Any) -> FaceDataset:
    """Load a dataset through its plugin, e.g. ``load_dataset("synthetic", seed=1)``.

    Parameters
    ----------
    name : str
        Registered dataset plugin name (see ``ferengine plugins dataset``).
    **params
        The plugin's parameters (``path=`` for datasets read from disk).
    """
    return registry.create("dataset", name, **params).load()


def predict(inputs: Any, model: Any = "default", detector: Any = "auto", **options: Any) -> Any:
    """Find, align and classify every face of images, folders and videos.

    See :func:`ferengine.prediction.predict` for the options and the rows returned (a
    pandas DataFrame, one row per face, with ``as_frame=True``).
    """
    from ferengine.prediction import predict as run

    return run(inputs, model, detector, **options)


__all__ = [
    "Augmenter",
    "DatasetPlugin",
    "FERPipeline",
    "Face",
    "FaceDataset",
    "FaceDetector",
    "LabelMapping",
    "LabelSpace",
    "__version__",
    "get_label_space",
    "hookimpl",
    "load",
    "load_dataset",
    "mapping",
    "pipeline",
    "predict",
    "registry",
    "save",
    "splits",
]
