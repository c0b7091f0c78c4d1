"""k nearest neighbours (scikit-learn)."""

from __future__ import annotations

from sklearn.neighbors import KNeighborsClassifier


class KNN(KNeighborsClassifier):
    """k-nearest-neighbour vote (scikit-learn's KNeighborsClassifier); no class weights.

    Parameters are those of :class:`sklearn.neighbors.KNeighborsClassifier`.
    """

    name = "knn"
