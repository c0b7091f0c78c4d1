"""A base for classifiers that predict through their class probabilities.

Shared by plugin families that must not import one another: the torch classifiers
(``ferengine_deep``) and the meta-classifiers that combine any classifiers
(``ferengine_ensembles``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class ProbaClassifier(ClassifierMixin, BaseEstimator):
    """``predict`` as the most probable class of ``predict_proba``.

    Subclasses implement ``fit`` (setting ``classes_``) and ``predict_proba``, whose
    columns are in ``classes_`` order.
    """

    def predict(self, X: Any) -> np.ndarray:
        """Predict class labels: the column of highest probability, as a label of ``classes_``."""
        codes = self.predict_proba(X).argmax(axis=1)  # checks the fit before classes_
        return self.classes_[codes]
