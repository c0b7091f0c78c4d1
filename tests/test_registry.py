import pytest

from ferengine import registry
from ferengine.errors import (
    InvalidPluginError,
    PluginConflictError,
    PluginUnavailableError,
    UnknownPluginError,
)
from ferengine.registry import Registry
from tests.fake_plugins import feature_module


def test_builtins_are_registered():
    assert "synthetic" in registry.names("dataset")
    assert "pixels" in registry.names("feature")
    assert "logistic" in registry.names("classifier")
    assert registry.names("feature", "pix*") == ["pixels"]
    assert registry.names("feature", "nothing*") == []


def test_info_describes_parameters_and_package():
    info = registry.info("feature", "pixels")
    assert info["package"] == "ferengine"
    assert info["version"] not in ("", "?")
    assert info["parameters"]["size"] is None
    assert info["parameters"]["interpolation"] == "area"
    assert info["description"].startswith("Pixel intensities")
    assert info["status"] == "ok"


def test_create_passes_parameters_and_rejects_unknown_ones():
    est = registry.create("feature", "pixels", size=24)
    assert est.size == 24
    with pytest.raises(InvalidPluginError, match=r"'sise' \(did you mean 'size'\?\)"):
        registry.create("feature", "pixels", sise=24)


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownPluginError, match="did you mean 'pixels'"):
        registry.create("feature", "pixel")
    with pytest.raises(UnknownPluginError, match="unknown plugin kind 'features'"):
        registry.names("features")


def test_third_party_distribution_is_discovered(make_dist):
    make_dist("fakeplug-a", {"a": "fakeplug_a"}, {"fakeplug_a.py": feature_module()}, "2.5")
    reg = Registry.from_entry_points()
    info = reg.info("feature", "mean-pixel")
    assert (info["package"], info["version"]) == ("fakeplug-a", "2.5")
    assert info["parameters"] == {"k": 1}
    assert "pixels" in reg.names("feature")  # built-ins still there


def test_broken_plugin_is_reported_and_the_rest_keeps_working(make_dist):
    make_dist(
        "fakeplug-broken",
        {"broken": "fakeplug_broken"},
        {"fakeplug_broken.py": "import not_a_real_module_xyz\n"},
    )
    reg = Registry.from_entry_points()
    [failure] = [f for f in reg.failures if f.package == "fakeplug-broken"]
    assert failure.entry_point == "broken"
    assert "not_a_real_module_xyz" in failure.error
    assert reg.create("feature", "pixels") is not None


def test_strict_mode_raises_on_a_broken_plugin(make_dist, monkeypatch):
    make_dist(
        "fakeplug-broken",
        {"broken": "fakeplug_broken"},
        {"fakeplug_broken.py": "raise RuntimeError('boom')\n"},
    )
    monkeypatch.setenv("FERENGINE_STRICT_PLUGINS", "1")
    with pytest.raises(ImportError, match="'broken'.*fakeplug-broken.*boom"):
        Registry.from_entry_points()


def test_misspelled_hook_is_an_error_not_silence(make_dist):
    src = (
        "import ferengine\n@ferengine.hookimpl\ndef ferengine_register_feature():\n    return []\n"
    )
    make_dist("fakeplug-typo", {"typo": "fakeplug_typo"}, {"fakeplug_typo.py": src})
    reg = Registry.from_entry_points()
    [failure] = [f for f in reg.failures if f.package == "fakeplug-typo"]
    assert "ferengine_register_feature" in failure.error


def test_same_name_from_two_packages_is_a_conflict_naming_both(make_dist):
    make_dist("fakeplug-one", {"one": "fakeplug_one"}, {"fakeplug_one.py": feature_module("dup")})
    make_dist("fakeplug-two", {"two": "fakeplug_two"}, {"fakeplug_two.py": feature_module("dup")})
    reg = Registry.from_entry_points()
    with pytest.raises(
        PluginConflictError, match="fakeplug-one.*fakeplug-two|fakeplug-two.*fakeplug-one"
    ):
        reg.create("feature", "dup")
    assert reg.record("feature", "dup").status == "conflict"
    assert reg.create("feature", "pixels") is not None


def test_missing_dependency_makes_a_plugin_unavailable_with_reason(make_dist):
    make_dist(
        "fakeplug-dep",
        {"dep": "fakeplug_dep"},
        {"fakeplug_dep.py": feature_module("needs-dep", ["no_such_dependency_abc"])},
    )
    reg = Registry.from_entry_points()
    rec = reg.record("feature", "needs-dep")
    assert rec.status == "unavailable"
    assert "no_such_dependency_abc" in rec.reason
    with pytest.raises(PluginUnavailableError, match="no_such_dependency_abc"):
        reg.create("feature", "needs-dep")
    assert "needs-dep" not in reg.names("feature", available_only=True)


def test_class_without_kebab_name_or_docstring_is_invalid(make_dist):
    src = '''
import ferengine
class NoDoc:
    name = "no-doc"
class BadName:
    """Has a doc."""
    name = "Bad_Name"
@ferengine.hookimpl
def ferengine_register_classifiers():
    return [NoDoc, BadName]
'''
    make_dist("fakeplug-invalid", {"invalid": "fakeplug_invalid"}, {"fakeplug_invalid.py": src})
    reg = Registry.from_entry_points()
    problems = {r.name: r.reason for r in reg.invalid}
    assert "docstring" in problems["no-doc"]
    assert "kebab-case" in problems["Bad_Name"]
    with pytest.raises(UnknownPluginError):
        reg.create("classifier", "no-doc")


def test_hook_that_raises_is_reported(make_dist):
    src = (
        "import ferengine\n@ferengine.hookimpl\n"
        "def ferengine_register_datasets():\n    raise ValueError('bad hook')\n"
    )
    make_dist("fakeplug-raise", {"raise": "fakeplug_raise"}, {"fakeplug_raise.py": src})
    reg = Registry.from_entry_points()
    assert any("bad hook" in f.error for f in reg.failures)
    assert "synthetic" in reg.names("dataset")


ALL_KINDS_SRC = '''
import numpy as np
import ferengine
from sklearn.base import BaseEstimator, TransformerMixin

class Flip(ferengine.Augmenter):
    """Mirror images left-right."""
    name = "toy-flip"
    def augment(self, images, rng):
        return images[:, :, ::-1].copy()

class Invert(TransformerMixin, BaseEstimator):
    """Invert grey levels."""
    name = "toy-invert"
    def fit(self, X, y=None):
        return self
    def transform(self, X):
        return 255 - X

class Blank(ferengine.DatasetPlugin):
    """Two blank faces."""
    name = "toy-blank"
    def load(self):
        space = ferengine.get_label_space("fer7")
        return ferengine.FaceDataset(np.zeros((2, 4, 4), np.uint8), [0, 1], space)

class Centre(ferengine.FaceDetector):
    """The centre quarter of every image is a face."""
    name = "toy-centre"
    def __init__(self, mode="all", max_side=None):
        self.mode = mode
        self.max_side = max_side
    def _find(self, grey):
        h, w = grey.shape
        return [(w / 4, h / 4, w / 2, h / 2, 1.0)]

@ferengine.hookimpl
def ferengine_register_augmenters():
    return [Flip]

@ferengine.hookimpl
def ferengine_register_detectors():
    return [Centre]

@ferengine.hookimpl
def ferengine_register_preprocessors():
    return [Invert]

@ferengine.hookimpl
def ferengine_register_datasets():
    return [Blank]
'''


def test_every_kind_registers_through_its_hook(make_dist):
    make_dist("fakeplug-kinds", {"kinds": "fakeplug_kinds"}, {"fakeplug_kinds.py": ALL_KINDS_SRC})
    reg = Registry.from_entry_points(strict=True)
    import numpy as np

    flip = reg.create("augmenter", "toy-flip")
    img = np.arange(8, dtype=np.uint8).reshape(1, 2, 4)
    assert flip.augment(img, np.random.default_rng(0))[0, 0].tolist() == [3, 2, 1, 0]
    assert reg.create("preprocessor", "toy-invert").fit_transform(img)[0, 0, 0] == 255
    assert len(reg.create("dataset", "toy-blank").load()) == 2
    faces = reg.create("detector", "toy-centre").detect(np.zeros((40, 80, 4), np.uint16))
    assert [f.box for f in faces] == [(20, 10, 40, 20)]
    assert {"haar", "none", "toy-centre"} <= set(reg.names("detector"))  # joins the built-ins
    assert "toy-flip" in reg.names("augmenter")  # beside the built-in augmenters
    assert reg.record("augmenter", "toy-flip").package == "fakeplug-kinds"
