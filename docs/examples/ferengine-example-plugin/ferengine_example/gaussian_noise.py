"""An augmenter: Gaussian noise on a random share of the training images."""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval

from ferengine import Augmenter


class GaussianNoise(Augmenter):
    """Add Gaussian noise to a random share of the training images (sensor noise).

    Parameters
    ----------
    sigma : float
        Standard deviation of the noise, in grey levels.
    p : float
        Probability that an image is changed.
    """

    name = "gaussian-noise"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "sigma": [Interval(Real, 0, None, closed="left")],
        "p": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, sigma: float = 8.0, p: float = 0.5) -> None:
        self.sigma = sigma
        self.p = p

    def augment(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return a copy of the uint8 batch with noise added to a random subset."""
        self._validate_params()
        out = images.copy()
        for i in np.flatnonzero(rng.random(len(images)) < self.p):
            noisy = images[i] + rng.normal(0.0, self.sigma, images[i].shape)
            out[i] = np.clip(np.round(noisy), 0, 255)
        return out
