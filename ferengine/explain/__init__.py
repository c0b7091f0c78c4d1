"""Explanations: which pixels of a face carried a model to its class.

The ``explainer`` plugin kind (:class:`Explainer`, registered by
``ferengine_register_explainers``) maps why a fitted model classifies face crops as it
does; :class:`Explanation` holds the maps with the classes they explain. The built-in
explainers are ``occlusion`` (any model with ``predict_proba``) and, for torch
networks, ``gradcam``, ``integrated-gradients`` and ``saliency``
(``ferengine plugins explainer``). :mod:`ferengine.explain.run` explains the faces of
photos and dataset splits and writes overlays (``ferengine explain``). Whether maps are
evidence is checked by :mod:`~ferengine.explain.sanity` (model and data randomisation)
and :mod:`~ferengine.explain.faithfulness` (deletion and insertion curves);
:mod:`~ferengine.explain.gallery` draws per-class mean maps and the confusions.

Examples
--------
>>> from ferengine import registry
>>> explainer = registry.create("explainer", "occlusion", patch=6)  # doctest: +SKIP
>>> explanation = explainer.explain(pipe, faces)  # doctest: +SKIP
>>> explanation.maps.shape  # doctest: +SKIP
(8, 48, 48)
"""

from ferengine.explain.base import Explainer, Explanation
from ferengine.explain.stats import map_statistics

__all__ = ["Explainer", "Explanation", "map_statistics"]
