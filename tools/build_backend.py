"""ferengine's PEP 517 build backend: setuptools', with strict editable installs by default.

setuptools' default ("lenient") editable install imports the package through a finder
appended to ``sys.meta_path``, after Python's own path finder. From the folder that
holds a clone named ``ferengine`` (where ``git clone`` leaves you), the path finder
takes the clone folder for a namespace package first, and ``import ferengine`` gives
an empty module (pypa/setuptools#3557, open). The ``strict`` mode puts a tree of links
to the package files on ``sys.path`` instead, so the real package wins from any working
directory, as after a normal install. Its cost: after adding or removing a module, run
``pip install -e .`` again (edits to existing files are live, through the links).

An explicit ``--config-settings editable_mode=...`` still wins. This is the in-tree
wrapper setuptools documents for tweaking ``build_meta``
(https://setuptools.pypa.io/en/latest/build_meta.html).
"""

from __future__ import annotations

from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (every other hook unchanged)

DEFAULT_EDITABLE_MODE = "strict"


def build_editable(
    wheel_directory: str,
    config_settings: dict[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    """Build an editable wheel, in ``strict`` mode unless ``editable_mode`` is given."""
    settings = {"editable_mode": DEFAULT_EDITABLE_MODE, **(config_settings or {})}
    return _setuptools.build_editable(wheel_directory, settings, metadata_directory)
