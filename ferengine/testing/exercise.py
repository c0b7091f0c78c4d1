"""How the checks exercise a plugin of each kind: its training data, a fitted instance, its outputs.

Fitted instances and outputs are computed once per plugin under test (see
:meth:`~ferengine.testing.target.PluginUnderTest.memo`) and shared by the checks that
read them; checks that need their own fits (determinism, persistence) make them.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ferengine.testing.data import check_faces, table
from ferengine.testing.target import PluginUnderTest

#: Kinds fitted with ``fit(X, y)`` and the method that gives their output.
ESTIMATOR_KINDS = ("preprocessor", "feature", "classifier", "model")


def takes_images(cls: type) -> bool:
    """Whether a classifier takes images (``_image_input = True``) rather than vectors."""
    return bool(getattr(cls, "_image_input", False))


def model_images(cls: type, images: np.ndarray) -> np.ndarray:
    """Return grey faces resized to a pretrained model's card input (colour if it takes RGB)."""
    h, w = cls.card.input_size
    out = np.stack([cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA) for im in images])
    return np.repeat(out[..., None], 3, axis=-1) if cls.card.channels == 3 else out


def training_data(plugin: PluginUnderTest) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the ``(X, y)`` a plugin of an estimator kind is fitted on.

    Preprocessors and features get 56 grey faces (:func:`~ferengine.testing.data.check_faces`)
    and their label codes; classifiers the faces (``_image_input``) or 64-value tables of
    them, and the codes; pretrained models 14 faces at their card's input size and no labels.
    """
    faces = check_faces()
    if plugin.kind == "classifier":
        X = faces.images if takes_images(plugin.cls) else table(faces.images)
        return X, faces.labels
    if plugin.kind == "model":
        return model_images(plugin.cls, faces.images[::4]), None
    return faces.images, faces.labels


def fit(plugin: PluginUnderTest, **overrides: Any) -> Any:
    """Return a new instance fitted on :func:`training_data`."""
    X, y = training_data(plugin)
    return plugin.new(**overrides).fit(X, y)


def fitted(plugin: PluginUnderTest) -> Any:
    """Return the plugin's instance fitted on :func:`training_data`, shared by the checks."""
    return plugin.memo("fitted", lambda: fit(plugin))


def offers_proba(estimator: Any) -> bool:
    """Whether a (fitted) classifier, or a pipeline's last step, offers ``predict_proba``."""
    steps = getattr(estimator, "steps", None)
    if steps:
        estimator = steps[-1][1]
    try:
        return callable(getattr(estimator, "predict_proba", None))
    except Exception:  # an available_if check that raises means "not available"
        return False


def outputs(kind: str, estimator: Any, X: Any) -> dict[str, np.ndarray]:
    """Return what a fitted estimator of ``kind`` gives for ``X``, by method name."""
    if kind in ("preprocessor", "feature"):
        return {"transform": np.asarray(estimator.transform(X))}
    out = {"predict": np.asarray(estimator.predict(X))}
    if offers_proba(estimator):
        out["predict_proba"] = np.asarray(estimator.predict_proba(X))
    return out
