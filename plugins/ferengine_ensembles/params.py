"""Parameter constraints (scikit-learn's ``_parameter_constraints``) of the meta-classifiers."""

from __future__ import annotations

from collections.abc import Mapping

from sklearn.utils._param_validation import HasMethods

from ferengine.steps import StepSpec

#: A parameter holding a step or a pipeline (see :mod:`ferengine.steps`): a plugin name,
#: a ``(name, params)`` tuple, a ``{name, params}`` table, a list of steps or an estimator.
STEP = [str, tuple, list, Mapping, StepSpec, HasMethods(["fit"])]
