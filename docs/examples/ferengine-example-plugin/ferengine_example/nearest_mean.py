"""A classifier: the nearest class mean, with probabilities."""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import numpy as np
from scipy.special import softmax
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ferengine.classifier import ProbaClassifier


class NearestMean(ProbaClassifier):
    """The class of the nearest mean feature vector; probabilities from the distances.

    Parameters
    ----------
    temperature : float
        Softness of the probabilities: the softmax of minus the squared distances,
        divided by their mean on the training set and by this temperature.
    """

    name = "nearest-mean"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "temperature": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, temperature: float = 0.1) -> None:
        self.temperature = temperature

    def fit(self, X, y) -> NearestMean:
        """Learn the mean feature vector of each class."""
        self._validate_params()
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        self.means_ = np.stack([X[codes == k].mean(axis=0) for k in range(len(self.classes_))])
        spread = ((X - self.means_[codes]) ** 2).sum(axis=1).mean()
        self.scale_ = float(spread) if spread > 0 else 1.0
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Return the class probabilities, columns in ``classes_`` order."""
        check_is_fitted(self, "means_")
        X = validate_data(self, X, reset=False)
        distances = ((X[:, None, :] - self.means_[None]) ** 2).sum(axis=2)
        return softmax(-distances / (self.scale_ * self.temperature), axis=1)
