"""Checks and pytest fixtures for plugin authors: test a plugin the way ferengine tests its own.

* :func:`check_plugin` runs every check that applies to a plugin (a class, an instance
  or a registered name) and raises :class:`PluginCheckError` naming the plugin and each
  defect;
* :func:`parametrize_plugin_checks` makes one pytest case per plugin and check, like
  scikit-learn's ``parametrize_with_checks``;
* the pytest plugin (installed with ferengine, :mod:`ferengine.testing.pytest_plugin`)
  provides the fixtures ``face_dataset``, ``plugin_registry`` and ``fake_package``.

The checks: the hook contract and the kind's interface; scikit-learn's estimator checks
(images through an adapter) and ``check_param_validation``; outputs per kind (shape,
rows, dtype, finite values, a width independent of the batch size, rows independent of
the batch; ``classes_`` and ``predict_proba``; datasets, detector boxes, landmarks,
augmentations, architectures, label spaces, model cards); determinism under a seed;
``get_params``/``clone``; persistence through ``ferengine.save``/``ferengine.load``.
A plugin class tunes them with ``_test_params`` (constructor parameters of a small, fast
instance) and ``_expected_failed_checks`` (check name -> why it cannot pass), as
``docs/writing-plugins.md`` ("Testing your plugin") describes.
"""

from __future__ import annotations

from ferengine.testing.catalogue import Check
from ferengine.testing.results import CheckResult, PluginCheckError, SkipCheck
from ferengine.testing.runner import check_plugin, parametrize_plugin_checks, plugin_checks
from ferengine.testing.target import PluginUnderTest, resolve

__all__ = [
    "Check",
    "CheckResult",
    "PluginCheckError",
    "PluginUnderTest",
    "SkipCheck",
    "check_plugin",
    "parametrize_plugin_checks",
    "plugin_checks",
    "resolve",
]
