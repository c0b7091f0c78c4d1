"""ferengine.testing catches defective plugins, naming the plugin and the defect.

Each defect plugin below is a correct plugin of its kind (which passes every check)
with one thing wrong; its test asserts the check that names that defect fails.
"""

import textwrap
import warnings
from typing import ClassVar

import cv2
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

import ferengine
from ferengine import registry
from ferengine.dataset import FaceDataset
from ferengine.errors import FerengineError
from ferengine.imageops import as_grey
from ferengine.images import validate_images, validate_labelled_images
from ferengine.labels import FER7
from ferengine.plugin import Face
from ferengine.testing import PluginCheckError, SkipCheck, check_plugin
from ferengine.testing.catalogue import Check
from ferengine.testing.fixtures import installed_as, registry_of
from ferengine.testing.runner import plugin_cases

HERE = __name__


# -- features -------------------------------------------------------------------------------
class BlockMeans(TransformerMixin, BaseEstimator):
    """Mean grey level of each cell of a grid laid over the image (a correct feature)."""

    name = "block-means"
    _image_input = True

    def __init__(self, grid=4):
        self.grid = grid

    def fit(self, X, y=None):
        validate_images(self, X, reset=True, flat_ok=False)
        return self

    def transform(self, X):
        check_is_fitted(self, "image_shape_")
        X = validate_images(self, X, reset=False, flat_ok=False).astype(np.float64)
        if X.ndim == 4:
            X = X.mean(axis=-1)
        n, h, w = X.shape
        g = self.grid
        cells = X[:, : h // g * g, : w // g * g].reshape(n, g, h // g, g, w // g)
        return cells.mean(axis=(2, 4)).reshape(n, g * g)


class ThreeD(BlockMeans):
    """Grid means left as a grid: N×g×g (a defect: 3-D output)."""

    name = "three-d"

    def transform(self, X):
        return super().transform(X).reshape(len(X), self.grid, self.grid)


class RowShort(BlockMeans):
    """Grid means of all images but the last (a defect: one row short)."""

    name = "row-short"

    def transform(self, X):
        return super().transform(X)[:-1]


class BatchPCA(BlockMeans):
    """Grid means on the principal axes of each batch (a defect: the width is the batch size)."""

    name = "batch-pca"

    def transform(self, X):
        out = super().transform(X)
        u, s, _ = np.linalg.svd(out - out.mean(axis=0), full_matrices=False)
        return u * s


def _failure(info, check):
    """Return the message of ``check`` in a PluginCheckError."""
    found = {r.check: r.detail for r in info.value.failures}
    assert check in found, f"{check} did not fail; failures: {sorted(found)}"
    return found[check]


@pytest.mark.slow
def test_a_correct_feature_passes_every_check():
    results = check_plugin(BlockMeans, "feature")
    statuses = {r.check: r.status for r in results}
    assert statuses["check_output_shape"] == statuses["check_batch_width"] == "passed"
    assert statuses["check_persistence"] == "passed"
    assert "check_transformer_general" in statuses  # scikit-learn's, through the image adapter


@pytest.mark.slow
def test_a_feature_returning_3d_arrays_is_caught():
    with pytest.raises(PluginCheckError) as info:
        check_plugin(ThreeD, "feature")
    assert str(info.value).startswith(f"feature 'three-d' (module {HERE}, not registered) failed")
    assert "returned a 3-D array of shape (56, 4, 4)" in _failure(info, "check_output_shape")


@pytest.mark.slow
def test_a_feature_returning_one_row_short_is_caught():
    with pytest.raises(PluginCheckError, match="feature 'row-short'") as info:
        check_plugin(RowShort, "feature")
    assert "returned 55 rows for 56 images" in _failure(info, "check_output_rows")
    assert "one image must give one row" in _failure(info, "check_rows_independent")
    assert str(info.value).count("\n  check_") == len(info.value.failures) > 2  # all, not the first


@pytest.mark.slow
def test_a_feature_whose_width_depends_on_the_batch_size_is_caught():
    with pytest.raises(PluginCheckError, match="feature 'batch-pca'") as info:
        check_plugin(BatchPCA, "feature")
    message = _failure(info, "check_batch_width")
    assert "rows of shape (5,) for 5 images but (7,) for 7 images" in message


# -- classifiers ----------------------------------------------------------------------------
class NearestMean(ClassifierMixin, BaseEstimator):
    """The class whose mean image is closest, with no probabilities (margins only)."""

    name = "nearest-mean"
    _image_input = True

    def fit(self, X, y):
        X, y = validate_labelled_images(self, X, y, flat_ok=False)
        flat = X.reshape(len(X), -1).astype(np.float64)
        self.classes_ = np.unique(y)
        self.means_ = np.stack([flat[y == c].mean(axis=0) for c in self.classes_])
        return self

    def predict(self, X):
        check_is_fitted(self, "means_")
        X = validate_images(self, X, reset=False, flat_ok=False)
        flat = X.reshape(len(X), -1).astype(np.float64)
        d = ((flat[:, None, :] - self.means_[None]) ** 2).sum(axis=2)
        return self.classes_[d.argmin(axis=1)]


@pytest.mark.slow
def test_a_classifier_without_predict_proba_is_told_what_it_cannot_do():
    results = {r.check: r for r in check_plugin(NearestMean)}
    assert results["check_classifier_classes"].status == "passed"
    skipped = results["check_predict_proba"]
    assert skipped.status == "skipped" and "cannot be a fusion or tta member" in skipped.detail


def test_a_classifier_without_predict_proba_under_fusion_is_caught(plugin_registry):
    private = plugin_registry({"classifier": [NearestMean]}, installed=True)
    fusion = private.create(
        "classifier", "fusion", members=[["nearest-mean"], ["pixels", "logistic"]]
    )
    with pytest.raises(
        PluginCheckError, match=r"classifier 'fusion' \(package ferengine\)"
    ) as info:
        check_plugin(fusion, registry=private)
    assert "predict_proba" in _failure(info, "check_predict_proba")


# -- datasets -------------------------------------------------------------------------------
class TinyFaces(ferengine.DatasetPlugin):
    """Four blank faces of two subjects (a correct dataset)."""

    name = "tiny-faces"

    def __init__(self, seed=0):
        self.seed = seed

    def _labels(self):
        return np.array([0, 3, 6, 3])

    def load(self):
        rng = np.random.default_rng(self.seed)
        images = rng.integers(0, 256, (4, 8, 8), dtype=np.uint8)
        return FaceDataset(images, self._labels(), FER7, subjects=["a", "a", "b", "b"])


class SevenToNine(TinyFaces):
    """Labels read from a file numbered 1..9 (a defect: labels outside fer7)."""

    name = "seven-to-nine"

    def _labels(self):
        return np.array([1, 4, 9, 8])


class LateLabels(TinyFaces):
    """Labels shifted after the dataset was built (a defect: labels outside fer7)."""

    name = "late-labels"

    def load(self):
        ds = super().load()
        ds.labels[:] += 5  # FaceDataset checked the labels when it was built, not now
        return ds


class HalfSubjects(TinyFaces):
    """Subjects known for half the images (a defect: neither present nor declared absent)."""

    name = "half-subjects"

    def load(self):
        ds = super().load()
        return FaceDataset(ds.images, ds.labels, FER7, subjects=["a", "a", None, None])


@pytest.mark.slow
def test_a_correct_dataset_passes_every_check():
    assert {r.status for r in check_plugin(TinyFaces)} == {"passed"}


@pytest.mark.parametrize(
    ("plugin", "defect"),
    [
        (SevenToNine, "LabelError: label codes [8, 9] are outside label space 'fer7'"),
        (LateLabels, "labels [8, 11] fall outside its label space 'fer7' (codes 0..6)"),
        (HalfSubjects, "subjects: 2 of 4 images have no subject"),
    ],
)
def test_a_dataset_with_labels_outside_its_space_or_missing_subjects_is_caught(plugin, defect):
    with pytest.raises(PluginCheckError, match=f"dataset '{plugin.name}'") as info:
        check_plugin(plugin)
    assert defect in _failure(info, "check_dataset_load")


@pytest.mark.slow
def test_a_dataset_that_needs_a_data_path_is_skipped_with_the_reason():
    class OnDisk(TinyFaces):
        """Faces read from a folder."""

        name = "on-disk"

        def __init__(self, path, seed=0):
            self.path = path
            self.seed = seed

    results = {r.check: r for r in check_plugin(OnDisk)}
    assert results["check_hook_conformance"].status == "passed"
    load = results["check_dataset_load"]
    assert (
        load.status == "skipped" and "needs path" in load.detail and "_test_params" in load.detail
    )
    OnDisk._test_params = {"path": "faces/"}
    assert {r.status for r in check_plugin(OnDisk)} == {"passed"}


# -- detectors ------------------------------------------------------------------------------
class CentreFace(ferengine.FaceDetector):
    """The centre of the picture is a face (a correct detector)."""

    name = "centre-face"

    def __init__(self, share=0.5, mode="all", max_side=None):
        self.share = share
        self.mode = mode
        self.max_side = max_side

    def _find(self, grey):
        h, w = grey.shape
        side = self.share * min(h, w)
        return [((w - side) / 2, (h - side) / 2, side, side, None)]


class Unmapped(CentreFace):
    """Finds the face in a copy enlarged twice and forgets to map the box back (a defect)."""

    name = "unmapped"

    def detect(self, image):
        big = cv2.resize(as_grey(image), None, fx=2, fy=2)
        return [Face(tuple(int(v) for v in box[:4])) for box in self._find(big)]


def test_a_correct_detector_passes_every_check():
    results = {r.check: r.status for r in check_plugin(CentreFace)}
    assert results["check_detector_boxes"] == "passed"
    assert results["check_param_validation"] == "skipped"  # only FaceDetector's are declared


@pytest.mark.slow
def test_a_detector_returning_boxes_outside_the_image_is_caught():
    with pytest.raises(PluginCheckError, match=r"detector 'unmapped'") as info:
        check_plugin(Unmapped)
    message = _failure(info, "check_detector_boxes")
    assert "grey uint8: box (80, 48, 96, 96) is not inside the 128×96 image" in message
    assert "BGRA uint8" in message and "grey float32" in message  # every format is tried


# -- every kind -----------------------------------------------------------------------------
@pytest.mark.slow
def test_hook_conformance_uses_the_registry_rules():
    class Bad(BlockMeans):
        """Mean of blocks."""

        name = "Block_Means"
        requires = "torch"

    with pytest.raises(PluginCheckError) as info:
        check_plugin(Bad, "feature")
    assert "Bad.name must be a kebab-case string, found 'Block_Means'" in _failure(
        info, "check_hook_conformance"
    )
    Bad.name = "block-means"
    with pytest.raises(PluginCheckError) as info:
        check_plugin(Bad, "feature")
    assert "requires must be a tuple of module names" in _failure(info, "check_hook_conformance")


@pytest.mark.slow
def test_expected_failures_are_skipped_with_their_reason():
    class Declared(RowShort):
        """Grid means, one row short."""

        name = "declared"
        _expected_failed_checks: ClassVar[dict] = {
            "check_output_rows": "the kit's own test of expected failures"
        }

    with pytest.raises(PluginCheckError) as info:
        check_plugin(Declared, "feature")
    assert "check_output_rows" not in {r.check for r in info.value.failures}
    cases = plugin_cases([(Declared, "feature")])
    (case,) = [c for c in cases if c.id == "feature:declared-check_output_rows"]
    (mark,) = case.marks
    assert (
        mark.name == "xfail" and mark.kwargs["reason"] == "the kit's own test of expected failures"
    )


def test_a_registered_name_resolves_through_the_given_registry():
    private = registry_of({"feature": [BlockMeans]})
    results = check_plugin("feature:block-means", registry=private)
    assert {r.check for r in results} >= {"check_output_rows", "check_persistence"}
    with pytest.raises(
        FerengineError, match="no feature plugin named 'blok-means'; did you mean 'block-means'"
    ):
        check_plugin("blok-means", "feature", registry=private)
    with pytest.raises(FerengineError, match="names no kind"):
        check_plugin("block-means", registry=private)


def test_an_unavailable_plugin_is_skipped_with_the_missing_module():
    class Heavy(BlockMeans):
        """Block means on a GPU."""

        name = "heavy"
        requires = ("no_such_module_q",)

    with pytest.raises(SkipCheck, match="needs no_such_module_q, which is not installed"):
        check_plugin(Heavy, "feature")


def test_parametrize_gives_one_readable_case_per_plugin_and_check():
    cases = plugin_cases(["label-space:fer7", "detector:none"])
    ids = [c.id for c in cases]
    assert "label-space:fer7-check_label_space_names" in ids
    assert "detector:none-check_detector_boxes" in ids
    assert all(isinstance(c.values[1], Check) or callable(c.values[1]) for c in cases)


@pytest.mark.slow
def test_the_pytest_plugin_gives_plugin_authors_checks_and_fixtures(pytester):
    pytester.makepyfile(
        test_author=textwrap.dedent(
            '''
            from ferengine.labels import LabelSpacePlugin
            from ferengine.testing import parametrize_plugin_checks

            class Arousal3(LabelSpacePlugin):
                """Low, medium and high arousal."""
                name = "arousal3"
                names = ("low", "medium", "high")

            class Broken(LabelSpacePlugin):
                """Only one class."""
                name = "broken"
                names = ("all",)

            @parametrize_plugin_checks([Arousal3, Broken])
            def test_plugins(plugin, check):
                check(plugin)

            def test_fixtures(face_dataset, plugin_registry, fake_package):
                assert len(face_dataset) == 168 and face_dataset.images.shape[1:] == (32, 32)
                registry = plugin_registry([Arousal3])
                from ferengine import registry as global_registry
                assert global_registry.get_registry() is registry
                assert registry.names("label-space") == ["arousal3"]
            '''
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(["*label-space:broken-check_label_space_names*"])
    result.stdout.fnmatch_lines(["*label-space 'broken' (module test_author, not registered)*"])


# -- fixtures -------------------------------------------------------------------------------
def test_face_dataset_is_small_seeded_and_has_subjects(face_dataset):
    again = ferengine.load_dataset("synthetic", n_subjects=12, per_expression=2, size=32, seed=0)
    assert np.array_equal(face_dataset.images, again.images)
    assert len(set(face_dataset.subjects)) == 12 and face_dataset.label_space.name == "fer7"


@pytest.mark.slow
def test_plugin_registry_holds_only_the_given_plugins_and_is_restored(plugin_registry):
    before = registry.get_registry()
    with installed_as(None):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            private = plugin_registry({"feature": [BlockMeans], "dataset": [TinyFaces]})
        assert registry.get_registry() is private
        assert registry.names("feature") == ["block-means"] and registry.names("classifier") == []
        assert private.record("feature", "block-means").package == "tests"
    assert registry.get_registry() is before


def test_fake_package_is_found_through_its_entry_points(fake_package, plugin_registry):
    source = """
        import ferengine
        from ferengine.labels import LabelSpacePlugin

        class Yes(LabelSpacePlugin):
            \"""Yes or no.\"""
            name = "yes-no"
            names = ("yes", "no")

        @ferengine.hookimpl
        def ferengine_register_label_spaces():
            return [Yes]
    """
    fake_package("fake-yes", {"spaces": "fakeyes_hooks"}, {"fakeyes_hooks.py": source})
    assert registry.info("label-space", "yes-no")["package"] == "fake-yes"
    assert {r.status for r in check_plugin("label-space:yes-no")} == {"passed"}
