"""The step grammar: one parser, nested steps built on the registry a pipeline was given."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.linear_model import LogisticRegression

import ferengine
from ferengine.bench import SuiteError, parse_suite
from ferengine.errors import InvalidPluginError, UnknownPluginError
from ferengine.plugin_manager import load_entry_points
from ferengine.registry import Registry, get_registry
from ferengine.spec import SpecError, load_spec
from ferengine.steps import StepBuilder, StepSpec


class RowMean(TransformerMixin, BaseEstimator):
    """Mean and spread of each image (a plugin only the private registry has)."""

    name = "row-mean"

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def fit(self, X, y=None):
        self.n_features_in_ = int(np.prod(np.shape(X)[1:]))
        return self

    def transform(self, X):
        flat = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
        return self.scale * np.column_stack([flat.mean(axis=1), flat.std(axis=1)])


class _PrivatePlugins:
    @ferengine.hookimpl
    def ferengine_register_features(self):
        return [RowMean]


@pytest.fixture(scope="module")
def private():
    loaded = load_entry_points()
    loaded.manager.register(_PrivatePlugins(), name="private-plugins")
    return Registry(loaded)


@pytest.fixture(scope="module")
def faces():
    ds = ferengine.load_dataset("synthetic", n_subjects=4, per_expression=2, size=32)
    return ds.images, ds.labels


# --- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "step,name,params",
    [
        ("hog", "hog", {}),
        ("feature:hog", "feature:hog", {}),
        ("ferengine:hog", "ferengine:hog", {}),
        ("feature:ferengine:hog", "feature:ferengine:hog", {}),
        (("hog", {"cell": 6}), "hog", {"cell": 6}),
        ({"name": "hog", "params": {"cell": 6}}, "hog", {"cell": 6}),
        ({"name": "hog"}, "hog", {}),
    ],
)
def test_every_written_form_parses_to_one_spec(step, name, params):
    spec = StepSpec.parse(step)
    assert (spec.name, dict(spec.params), spec.bare) == (name, params, "hog")
    assert StepSpec.parse(spec.to_dict()) == spec
    pipe = ferengine.pipeline(step)
    assert pipe.steps[0][0] == "hog" and pipe.named_steps["hog"].get_params()["cell"] == (
        params.get("cell", 8)
    )


@pytest.mark.parametrize(
    "step,match",
    [
        ({"name": "hog", "cell": 6}, r"params = \{ cell = \.\.\. \}"),
        ({"params": {"cell": 6}}, "needs a 'name'"),
        ({"name": "hog", "params": 6}, "params must be a table"),
        (("hog", 6), "tuple step"),
        (["hog", "logistic"], "a list is a pipeline"),
        (3, "neither"),
    ],
)
def test_malformed_steps_are_explained(step, match):
    with pytest.raises(InvalidPluginError, match=match):
        StepSpec.parse(step)


def test_an_estimator_is_used_as_given():
    clf = LogisticRegression()
    assert StepBuilder().build(clf) == ("logisticregression", clf)


def test_augment_lists_use_the_same_grammar():
    aug = pytest.importorskip("ferengine_deep.augment")
    chain = aug.chain(["flip", ("rotate", {"rotation": 5.0}), {"name": "blur", "params": {"p": 1}}])
    assert [a.name for a in chain] == ["flip", "rotate", "blur"]
    assert chain[1].rotation == 5.0 and chain[2].p == 1
    with pytest.raises(ValueError, match="no augmenter plugin named 'flpi'; did you mean 'flip'"):
        aug.chain(["flpi"])


# --- nested steps on a private registry ----------------------------------------------------


def test_a_private_plugin_is_unknown_to_the_global_registry(private):
    assert "row-mean" in private.names("feature")
    assert "row-mean" not in get_registry().names("feature")
    with pytest.raises(UnknownPluginError, match="row-mean"):
        ferengine.pipeline("row-mean", "logistic")


def test_nested_steps_build_on_the_given_registry(private, faces):
    X, y = faces
    concat = ("concat", {"features": [("row-mean", {"scale": 2.0}), "pixels"]})
    pipe = ferengine.pipeline(concat, "logistic", registry=private)
    features = pipe.named_steps["concat"].features
    assert isinstance(features[0], RowMean) and features[0].scale == 2.0
    with pytest.raises(UnknownPluginError, match="row-mean"):
        ferengine.pipeline(concat, "logistic")  # the global registry lacks it
    pipe.fit(X, y)
    assert pipe.score(X, y) > 0
    # clone, get_params and set_params keep the built nested estimators
    copy = clone(pipe)
    assert isinstance(copy.named_steps["concat"].features[0], RowMean)
    assert copy.get_params()["concat__features"][0].scale == 2.0
    copy.set_params(concat__features=[RowMean(scale=3.0)]).fit(X, y)
    assert copy.named_steps["concat"].extractors_[0].scale == 3.0


@pytest.mark.slow
def test_fusion_members_build_on_the_given_registry(private, faces):
    pytest.importorskip("torch")
    X, y = faces
    member = [{"name": "concat", "params": {"features": ["row-mean", "pixels"]}}, "logistic"]
    fusion = {"name": "fusion", "params": {"members": [member, ["row-mean", "knn"]]}}
    pipe = ferengine.pipeline(fusion, registry=private)
    members = pipe.named_steps["fusion"].members
    assert isinstance(members[0].named_steps["concat"].features[0], RowMean)
    assert isinstance(members[1].named_steps["row-mean"], RowMean)
    fitted = clone(pipe).fit(X, y)
    assert fitted.predict_proba(X).shape == (len(X), len(np.unique(y)))
    tta = ferengine.pipeline(("tta", {"estimator": fusion}), registry=private)
    inner = tta.named_steps["tta"].estimator
    assert isinstance(inner.members[1].named_steps["row-mean"], RowMean)


def test_specs_and_suites_check_and_build_on_the_given_registry(private, tmp_path):
    spec = tmp_path / "m.toml"
    spec.write_text(
        '[dataset]\nname = "synthetic"\n'
        '[[steps]]\nname = "concat"\nparams = { features = ["row-mean", "pixels"] }\n'
        '[[steps]]\nname = "logistic"\n'
    )
    model = load_spec(spec, registry=private).pipeline()
    assert isinstance(model.named_steps["concat"].features[0], RowMean)
    with pytest.raises(SpecError, match=r"steps\[0\]\.params\.features\[0\]: no preprocessor"):
        load_spec(spec)
    text = (
        '[datasets.s]\nname = "synthetic"\n'
        '[[features]]\nname = "row-mean"\n[[classifiers]]\nname = "knn"\n'
    )
    assert parse_suite(text, "s.toml", tmp_path, private).combinations
    with pytest.raises(SuiteError, match=r"features\[0\]\.name"):
        parse_suite(text, "s.toml", tmp_path)
