"""Decision trees and tree ensembles (scikit-learn)."""

from __future__ import annotations

from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

from ferengine_classic.classifiers.weighting import SchemeClassWeight, with_schemes


class DecisionTree(SchemeClassWeight, DecisionTreeClassifier):
    """A single CART decision tree (scikit-learn's DecisionTreeClassifier).

    Parameters are those of :class:`sklearn.tree.DecisionTreeClassifier`;
    ``class_weight`` also takes "max-ratio".
    """

    name = "decision-tree"
    _parameter_constraints = with_schemes(DecisionTreeClassifier._parameter_constraints)


class RandomForest(SchemeClassWeight, RandomForestClassifier):
    """Random forest of decision trees (scikit-learn's RandomForestClassifier).

    Parameters are those of :class:`sklearn.ensemble.RandomForestClassifier`;
    ``class_weight`` also takes "max-ratio".
    """

    name = "random-forest"
    _parameter_constraints = with_schemes(RandomForestClassifier._parameter_constraints)


class ExtraTrees(SchemeClassWeight, ExtraTreesClassifier):
    """Extremely randomised trees (scikit-learn's ExtraTreesClassifier).

    Parameters are those of :class:`sklearn.ensemble.ExtraTreesClassifier`;
    ``class_weight`` also takes "max-ratio".
    """

    name = "extra-trees"
    _parameter_constraints = with_schemes(ExtraTreesClassifier._parameter_constraints)
