"""ferengine's pytest plugin (the ``pytest11`` entry point): fixtures for plugin tests.

Installed with ferengine, so every test suite in the environment gets:

``face_dataset``
    A small synthetic :class:`~ferengine.FaceDataset` (12 subjects × 7 expressions × 2
    images, 32×32 grey, seeded), shared by the session: do not modify its arrays.
``plugin_registry``
    The process-wide registry, rebuilt from the entry points on next use and restored
    after the test. Call it to install a registry holding only given plugin classes:
    ``plugin_registry({"feature": [Mean]})`` (``installed=True`` adds the installed
    plugins); it returns the registry.
``fake_package``
    ``fake_package(name, entry_points, modules, version="1.0")`` writes an installed-
    looking distribution (``.dist-info`` with entry points, and its modules) into a
    temporary folder on ``sys.path``; its modules are forgotten after the test. Request
    ``plugin_registry`` too, so the registry is rebuilt with it.

ferengine itself is imported only when a fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ferengine.dataset import FaceDataset
    from ferengine.registry import Registry


@pytest.fixture(scope="session")
def face_dataset() -> FaceDataset:
    """Return a small synthetic FaceDataset: 12 subjects × 7 expressions × 2 images, 32×32."""
    from ferengine.testing.data import face_dataset as make

    return make(n_subjects=12, per_expression=2, size=32, seed=0)


@pytest.fixture
def plugin_registry() -> Iterator[Any]:
    """Give this test a process-wide registry: fresh from entry points, or given plugins."""
    from ferengine.testing.fixtures import installed_as, registry_of

    with installed_as(None):

        def install(
            plugins: Any = (), *, installed: bool = False, strict: bool = False
        ) -> Registry:
            from ferengine.registry import set_registry

            registry = registry_of(plugins, installed=installed, strict=strict)
            set_registry(registry)
            return registry

        yield install


@pytest.fixture
def fake_package(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Write fake installed distributions (metadata, entry points, modules) onto ``sys.path``."""
    from ferengine.testing.fixtures import FakePackages

    site = tmp_path / "site"
    packages = FakePackages(site)
    monkeypatch.syspath_prepend(str(site))
    yield packages
    packages.forget_modules()
