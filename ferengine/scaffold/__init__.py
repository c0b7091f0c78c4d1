"""``ferengine new-plugin``: write a ready third-party plugin package of any main kind.

:func:`new_plugin` writes the package (entry point, hook module, one working plugin, a
test running :func:`ferengine.testing.parametrize_plugin_checks`, a README), which passes
its own tests once installed with ``pip install -e``.
"""

from __future__ import annotations

from ferengine.scaffold.generator import PluginNames, ScaffoldError, new_plugin, plugin_names
from ferengine.scaffold.kinds import supported_kinds

__all__ = ["PluginNames", "ScaffoldError", "new_plugin", "plugin_names", "supported_kinds"]
