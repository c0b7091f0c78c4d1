"""Wrong outputs and missing probabilities fail early, naming the step, the plugin and its package.

The defect plugins come from a fake installed distribution, ``fakeplug-defects``, read
into a fresh process-wide registry (``make_dist`` + ``fresh_registry``), as a third-party
package's would be.
"""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from joblib import Memory

import ferengine
from ferengine import registry
from ferengine.bench.tasks import _scores
from ferengine.cli import main
from ferengine.errors import InvalidPluginError, MissingProbabilitiesError, StepOutputError
from ferengine.extractor import ImageFeature
from ferengine.extras import missing_extra_message
from ferengine.step_checks import probabilities_problem

PACKAGE = "fakeplug-defects"

DEFECTS = '''
import numpy as np
import ferengine
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.linear_model import RidgeClassifier


class _Flat(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def _flat(self, X):
        return np.asarray(X, np.float32).reshape(len(X), -1)[:, :16]


class Cube(_Flat):
    """Returns 4×4 images instead of vectors."""
    name = "cube"
    def transform(self, X):
        return np.asarray(X, np.float32)[:, :4, :4]


class Short(_Flat):
    """Loses the last image's row."""
    name = "short"
    def transform(self, X):
        return self._flat(X)[:-1]


class BatchWide(_Flat):
    """Its width grows with the batch."""
    name = "batch-wide"
    def transform(self, X):
        return np.ones((len(X), len(X) + 1), np.float32)


class Holes(_Flat):
    """A NaN in row 3."""
    name = "holes"
    def transform(self, X):
        out = self._flat(X).copy()
        out[3, 5] = np.nan
        return out


class Fancy(_Flat):
    """Needs a module of its package's 'fancy' extra."""
    name = "fancy-feature"
    requires = ("fancy_missing_module",)
    extra = "fancy"
    def transform(self, X):
        return self._flat(X)


class Margin(ClassifierMixin, BaseEstimator):
    """A linear classifier without probabilities (nor decision values)."""
    name = "margin"
    fits = 0
    def fit(self, X, y):
        type(self).fits += 1
        self.ridge_ = RidgeClassifier().fit(np.reshape(X, (len(X), -1)), y)
        self.classes_ = self.ridge_.classes_
        return self
    def predict(self, X):
        return self.ridge_.predict(np.reshape(X, (len(X), -1)))


@ferengine.hookimpl
def ferengine_register_features():
    return [Cube, Short, BatchWide, Holes, Fancy]


@ferengine.hookimpl
def ferengine_register_classifiers():
    return [Margin]
'''


@pytest.fixture
def defects(make_dist, fresh_registry):
    """The process-wide registry, holding the built-ins and ``fakeplug-defects``."""
    make_dist(PACKAGE, {"defects": "fakeplug_defects"}, {"fakeplug_defects.py": DEFECTS})
    return registry.get_registry()


def where(step: int, name: str, kind: str = "feature") -> str:
    """How errors name step ``step``, plugin ``name`` of ``fakeplug-defects``."""
    return f"pipeline step {step} {name!r} ({kind} {name!r}, package {PACKAGE})"


def label(step: int, name: str, kind: str = "feature") -> str:
    """:func:`where` as a regular expression."""
    return re.escape(where(step, name, kind))


# -- step outputs, at fit ------------------------------------------------------------------


def test_a_feature_returning_images_is_named_at_fit(defects, small_ds):
    with pytest.raises(StepOutputError) as caught:  # not the classifier's "dim 3" error
        ferengine.pipeline("cube", "logistic").fit(small_ds)
    assert re.match(
        label(0, "cube") + r" returned an array of shape \(168, 4, 4\) for 168 images; "
        "a feature must return a 2-D array",
        str(caught.value),
    )


def test_a_feature_losing_a_row_is_named_before_the_classifier_fails(defects, small_ds):
    with pytest.raises(StepOutputError) as caught:  # not "inconsistent numbers of samples"
        ferengine.pipeline(("grey", {}), "short", "logistic").fit(small_ds)
    assert re.match(label(1, "short") + " returned 167 rows for 168 images; ", str(caught.value))


def test_non_finite_features_are_named_with_the_first_bad_value(defects, small_ds):
    with pytest.raises(StepOutputError) as caught:
        ferengine.pipeline("holes", "logistic").fit(small_ds)
    assert re.match(
        label(0, "holes")
        + re.escape(
            " returned 1 non-finite value (the first, nan, at row 3, column 5) for 168 images"
        ),
        str(caught.value),
    )


def test_checks_run_with_cached_transformers_and_restore_the_steps(defects, small_ds, tmp_path):
    with pytest.raises(StepOutputError, match=label(0, "short")):
        ferengine.pipeline("short", "logistic", memory=Memory(tmp_path)).fit(small_ds)
    widths = []
    for _ in range(2):  # the second fit loads the pixels step from the cache
        pipe = ferengine.pipeline(("pixels", {"size": 8}), "logistic", memory=Memory(tmp_path))
        pipe.fit(small_ds)
        assert [type(step).__name__ for _, step in pipe.steps] == ["Pixels", "Logistic"]
        widths.append(pipe.step_widths_)
    assert widths == [{"pixels": (64, 168)}] * 2


# -- step outputs, at transform ------------------------------------------------------------


def test_a_batch_dependent_width_is_caught_at_the_first_predict(defects, small_ds):
    pipe = ferengine.pipeline("batch-wide", "logistic").fit(small_ds)
    assert pipe.step_widths_ == {"batch-wide": (169, 168)}
    with pytest.raises(StepOutputError) as caught:  # not "X has 8 features, but ... 169"
        pipe.predict(small_ds.images[:7])
    assert str(caught.value).startswith(
        f"{where(0, 'batch-wide')} returned 8 columns for 7 images, but 169 when fitted on 168"
    )


def test_a_feature_only_pipeline_checks_its_last_step_as_the_benchmark_uses_it(defects, small_ds):
    front = ferengine.pipeline("batch-wide")  # the benchmark's front: fit_transform, transform
    assert front.fit_transform(small_ds.images, small_ds.labels).shape == (168, 169)
    with pytest.raises(StepOutputError, match="returned 2 columns for 1 images, but 169"):
        front.transform(small_ds.images[:1])  # the benchmark's batch-size-1 latency


class Counting(ImageFeature):
    """Mean grey level of each row of the image; records the batches it describes."""

    name = "counting"

    def __init__(self, width: int | None = None, drop: int = 0, n_jobs=None, batch_size=512):
        self.width = width
        self.drop = drop
        self.n_jobs = n_jobs
        self.batch_size = batch_size

    def _output_width(self, image_shape):
        return self.width

    def _extract(self, grey):
        self.calls_ = [*getattr(self, "calls_", []), len(grey)]
        return grey.mean(axis=2)[: len(grey) - self.drop]


def test_image_feature_width_comes_from_the_real_batch_or_a_declaration(small_ds):
    images = small_ds.images[:10]
    feature = Counting()
    assert feature.fit_transform(images).shape == (10, 32)
    assert feature.calls_ == [10] and feature.n_features_out_ == 32  # no one-image probe
    declared = Counting(width=32).fit(images)
    assert not hasattr(declared, "calls_") and declared.n_features_out_ == 32
    assert Counting().fit(images).n_features_out_ == 32  # undeclared: the first image measured
    with pytest.raises(InvalidPluginError, match="_output_width says 31 columns"):
        Counting(width=31).fit_transform(images)


def test_image_feature_row_errors_say_where_the_step_is(small_ds):
    pipe = ferengine.pipeline(("grey", {}), Counting(drop=1), "logistic")
    with pytest.raises(StepOutputError) as caught:
        pipe.fit(small_ds)
    assert re.match(
        r"pipeline step 1 'counting' \(estimator 'counting', package [^)]+\): "
        r"Counting._extract returned shape \(167, 32\) for images 0–167; expected 168 rows",
        str(caught.value),
    )


# -- probabilities -------------------------------------------------------------------------


def test_fusion_refuses_a_member_without_probabilities_before_fitting_any(defects, small_ds):
    margin = type(registry.create("classifier", "margin"))
    fusion = ("fusion", {"members": [["pixels", "logistic"], ["pixels", "margin"]]})
    with pytest.raises(MissingProbabilitiesError) as caught:
        ferengine.pipeline(fusion).fit(small_ds)
    assert str(caught.value) == (
        "fusion (method 'average'): member 1 needs class probabilities, but pipeline step 1 "
        f"'margin' (classifier 'margin', package {PACKAGE}) has no predict_proba; use a "
        "classifier that has predict_proba (ferengine plugins classifier), or register one "
        "that wraps this one in scikit-learn's CalibratedClassifierCV"
    )
    assert margin.fits == 0


def test_fusion_max_suggests_calibrating_a_built_in_svm(small_ds):
    fusion = ("fusion", {"members": [["pixels", "svm-linear"]], "method": "max"})
    with pytest.raises(MissingProbabilitiesError, match="member 0") as caught:
        ferengine.pipeline(fusion).fit(small_ds)
    assert str(caught.value).endswith(
        'calibrate it: { name = "svm-linear", params = { calibration = "sigmoid" } }'
    )
    calibrated = ferengine.pipeline("pixels", ("svm-linear", {"calibration": "sigmoid"}))
    assert probabilities_problem(calibrated) is None


def test_tta_refuses_a_classifier_without_probabilities_before_fitting_it(defects, small_ds):
    margin = type(registry.create("classifier", "margin"))
    with pytest.raises(MissingProbabilitiesError, match=r"^tta's estimator needs class "):
        ferengine.pipeline(("tta", {"estimator": ["pixels", "margin"]})).fit(small_ds)
    assert margin.fits == 0


def test_predict_proba_exists_only_when_the_last_step_has_it(defects, small_ds):
    pipe = ferengine.pipeline("pixels", "margin").fit(small_ds)
    assert not hasattr(pipe, "predict_proba") and len(pipe.predict(small_ds.images[:3])) == 3
    with pytest.raises(AttributeError) as caught:
        pipe.predict_proba(small_ds.images[:3])
    assert str(caught.value.__cause__).startswith(
        f"{where(1, 'margin', 'classifier')} has no predict_proba"
    )


def test_ferengine_predict_refuses_a_model_without_probabilities_before_reading_inputs(
    defects, tmp_path
):
    ds = ferengine.load_dataset("synthetic", n_subjects=4, per_expression=1, size=32)
    path = ferengine.save(ferengine.pipeline("pixels", "margin").fit(ds), tmp_path / "m.fer")
    result = CliRunner().invoke(main, ["predict", "x.png", "--model", str(path)])
    assert result.exit_code != 0
    assert (
        f"model {path}: predict's confidences needs class probabilities, but pipeline step 1 "
        f"'margin' (classifier 'margin', package {PACKAGE}) has no predict_proba"
    ) in " ".join(result.output.split())


@pytest.mark.slow
def test_the_benchmark_skips_top2_with_a_note_for_a_classifier_without_scores(defects, small_ds):
    X = small_ds.images.reshape(len(small_ds), -1).astype(float)
    classifier = registry.create("classifier", "margin").fit(X, small_ds.labels)
    scores, method, note = _scores(classifier, X)
    assert scores is None and method is None
    assert note == (
        f"top-2 accuracy skipped: classifier 'margin', package {PACKAGE} has neither "
        "predict_proba nor decision_function"
    )
    logistic = registry.create("classifier", "logistic").fit(X, small_ds.labels)
    scores, method, note = _scores(logistic, X)
    assert scores.shape == (168, 7) and method == "predict_proba" and note is None


# -- install hints -------------------------------------------------------------------------


def test_a_third_party_extra_is_installed_from_its_own_package(defects):
    record = defects.record("feature", "fancy-feature")
    hint = f'install it: pip install "{PACKAGE}[fancy]"'
    assert record.status == "unavailable"
    assert record.reason == f"missing dependency: fancy_missing_module; {hint}"
    assert defects.module_extras()["fancy_missing_module"] == f"{PACKAGE}[fancy]"
    missing = ModuleNotFoundError("No module named 'fancy_missing_module'")
    missing.name = "fancy_missing_module"
    assert missing_extra_message(missing, "fit", defects.module_extras()) == (
        f"fit needs fancy_missing_module, which is not installed; {hint}"
    )


@pytest.mark.parametrize(
    "widths, expected",
    [
        ([("pixels", (64, 10))], r"step_widths_ is a list, not a dict"),
        ({"nope": (64, 10)}, r"step_widths_\['nope'\] names no step"),
        ({"pixels": (64, -1)}, r"step_widths_\['pixels'\] = \(64, -1\) is not \(width, rows\)"),
        ({"pixels": "64x10"}, r"step_widths_\['pixels'\] = '64x10' is not"),
    ],
)
def test_a_loaded_pipeline_with_damaged_step_widths_is_refused(widths, expected, small_ds):
    from ferengine.errors import ModelFormatError
    from ferengine.model_checks import validate_model

    pipe = ferengine.pipeline(("pixels", {"size": 8}), "logistic").fit(small_ds)
    validate_model(pipe, "model.fer")  # as fitted: accepted
    pipe.step_widths_ = widths
    with pytest.raises(ModelFormatError, match=expected):
        validate_model(pipe, "model.fer")
