"""CNN embeddings for the near-duplicate search (the ``deep`` extra).

The shipped ``fer2013`` CNN's penultimate activations (by default), through the ``cnn-embedding``
feature plugin (so the core imports no torch). They follow a ReLU, so every component is
non-negative and unrelated faces already have a cosine similarity around 0.75; the
audit compares them centred on their mean instead, where unrelated faces score about 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ferengine import registry
from ferengine.audit.hashes import BATCH


def centred_embeddings(image_sets: Sequence[Any], model: str = "fer2013") -> np.ndarray:
    """Return the CNN embedding of every image, minus the mean of them all.

    Parameters
    ----------
    image_sets : sequence of array-like of uint8, each of shape (N, H, W) or (N, H, W, 3)
        One or more image arrays (of different sizes, say), read ``BATCH`` images at a time.
    model : str
        A saved model ending in a fitted ``cnn``: a file, or a registered model's name
        (``fer2013``, whose embeddings ``EMBEDDING_THRESHOLD`` was chosen on).

    Returns
    -------
    ndarray of float32, shape (sum of the N, D)
        In the order of ``image_sets`` and their images.
    """
    feature = registry.create("feature", "cnn-embedding", model=model)
    feature.fit(np.asarray(image_sets[0][:1]))  # loads the model; a saved one learns nothing
    vectors = np.concatenate(
        [
            feature.transform(np.asarray(images[start : start + BATCH]))
            for images in image_sets
            for start in range(0, len(images), BATCH)
        ]
    ).astype(np.float32)
    return vectors - vectors.mean(axis=0, keepdims=True)
