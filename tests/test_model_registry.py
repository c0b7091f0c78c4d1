"""The architecture, label-space and model plugin kinds: a fake installed package registers
one of each, used through Python, TOML (a model spec and a suite) and the CLI."""

import inspect
import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import ferengine
from ferengine import registry
from ferengine.architectures import Architecture
from ferengine.cli import main
from ferengine.errors import LabelError
from ferengine.models import AmbiguousModelError, ModelCard, PretrainedModel, locate
from ferengine.spec import load_spec, train

torch = pytest.importorskip("torch", reason="the architecture and the model need torch")
pytest.importorskip("skorch", reason="cnn trains with skorch")

FAKE_SRC = '''
import ferengine
from ferengine.architectures import Architecture
from ferengine.labels import LabelSpacePlugin
from ferengine.models import Measurement, ModelCard, PretrainedModel


class Tiny(Architecture):
    """One convolution, pooled, and a linear head (a test double)."""

    name = "fake-tiny"
    native_size = 16

    def __init__(self, filters=4):
        self.filters = filters

    def build(self, n_classes, in_channels, size):
        from torch import nn

        features = nn.Sequential(nn.Conv2d(in_channels, self.filters, 3, padding=1), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(2), nn.Flatten())
        return features, nn.Linear(4 * self.filters, n_classes)


class Three(LabelSpacePlugin):
    """Happy, sad and surprised faces (a test double)."""

    name = "fake-three"
    names = ("happy", "sad", "surprise")


class ThreeNet(PretrainedModel):
    """A tiny CNN of the three classes, shipped as weights (a test double)."""

    name = "fake-three-net"
    requires = ("torch",)
    card = ModelCard(
        package="fakeplug_zoo", file="weights/three.fer", label_space="fake-three",
        classes=Three.names, input_size=(24, 24), channels=1,
        normalization="per image, inside the network", preprocessing="grey crop, 24×24",
        training_data="synthetic faces", licence="CC0-1.0",
        measurements=(Measurement("accuracy", 0.5, "synthetic faces", "pytest"),),
        training_spec="tests/test_model_registry.py",
    )


@ferengine.hookimpl
def ferengine_register_architectures():
    return [Tiny]


@ferengine.hookimpl
def ferengine_register_label_spaces():
    return [Three]


@ferengine.hookimpl
def ferengine_register_models():
    return [ThreeNet]
'''

TRAIN = {"max_epochs": 1, "batch_size": 16, "validation_fraction": 0.0}


@pytest.fixture(scope="module")
def synthetic():
    return ferengine.load_dataset("synthetic", n_subjects=4, per_expression=2, size=20)


@pytest.fixture
def fake(make_dist, fresh_registry, synthetic):
    """Install the fake package; train its model with its architecture and save the weights.

    Returns the package folder and the three-class training set.
    """
    site = make_dist(
        "fakeplug-zoo", {"zoo": "fakeplug_zoo"}, {"fakeplug_zoo/__init__.py": FAKE_SRC}
    )
    three = synthetic.map_labels(ferengine.mapping("fer7", "fake-three"))
    # trained on 20-px faces that cnn enlarges to 24: the network (and the card) takes 24
    model = ferengine.pipeline(("cnn", {"module": "fake-tiny", "size": 24, **TRAIN})).fit(three)
    ferengine.save(model, site / "fakeplug_zoo" / "weights" / "three.fer")
    return site / "fakeplug_zoo", three


# --- Python -------------------------------------------------------------------------------


def test_cnn_trains_a_third_party_architecture_by_name(fake):
    _, three = fake
    arch = registry.create("architecture", "fake-tiny", filters=3)
    assert isinstance(arch, Architecture) and arch.native_size == 16
    cnn = registry.create("classifier", "cnn", module="fake-tiny", module__filters=3,
                          **TRAIN).fit(three.images, three.labels)  # fmt: skip
    assert cnn.module_.features[0].out_channels == 3 and cnn.n_epochs_ == 1
    assert set(cnn.module_.state_dict()) >= {"normalize.mean", "features.0.weight", "head.weight"}
    with pytest.raises(
        ValueError,
        match=r"cnn: module__filter: architecture 'fake-tiny' has no "
        r"parameter 'filter' \(did you mean 'module__filters'",
    ):
        registry.create("classifier", "cnn", module="fake-tiny", module__filter=3,
                        **TRAIN).fit(three.images, three.labels)  # fmt: skip


def test_a_registered_label_space_is_a_name_everywhere(fake, synthetic):
    space = ferengine.get_label_space("fake-three")
    assert space.names == ("happy", "sad", "surprise")
    assert ferengine.get_label_space("fakeplug-zoo:fake-three") == space
    _, three = fake
    assert three.label_space == space and set(three.label_names) == set(space.names)
    assert len(three) == 3 * 4 * 2  # the other four expressions were dropped
    fitted = ferengine.pipeline("pixels", "logistic", label_space="fake-three").fit(three)
    assert fitted.label_space_ == space
    with pytest.raises(LabelError, match="did you mean 'fake-three'"):
        ferengine.get_label_space("fake-thre")


def test_a_registered_model_loads_by_name_and_is_a_step(fake):
    folder, three = fake
    loaded = ferengine.load("fake-three-net")
    assert loaded.label_space_.name == "fake-three"
    expected = loaded.predict_proba(three.images)
    step = ferengine.pipeline("fake-three-net").fit(three)  # loads: no training
    assert isinstance(step.steps[0][1], PretrainedModel)
    np.testing.assert_allclose(step.predict_proba(three.images), expected, rtol=1e-6)
    assert step.steps[0][1].image_shape_ == (24, 24)
    with pytest.raises(ValueError, match=r"cannot predict"):
        ferengine.pipeline("fake-three-net").fit(three.images, np.arange(len(three)) % 5)
    path, cls = locate("fake-three-net")
    assert path == folder / "weights" / "three.fer" and cls.card.label_space == "fake-three"


def test_predict_crops_to_the_card_input_size(fake):
    from ferengine.prediction.predictor import FacePredictor

    predictor = FacePredictor("fake-three-net", detector="none", landmarks=False)
    assert predictor.size == (24, 24) and predictor.names == ["happy", "sad", "surprise"]
    (row,) = ferengine.predict(np.zeros((50, 40), np.uint8), "fake-three-net", "none")
    assert set(row["faces"][0]["probabilities"]) == {"happy", "sad", "surprise"}


def test_a_file_named_like_a_model_is_ambiguous(fake, tmp_path, monkeypatch):
    _, three = fake
    monkeypatch.chdir(tmp_path)
    other = ferengine.pipeline("pixels", "logistic").fit(three)
    ferengine.save(other, tmp_path / "fake-three-net")
    with pytest.raises(AmbiguousModelError, match=r"'\./fake-three-net'.*'model:fake-three-net'"):
        ferengine.load("fake-three-net")
    assert ferengine.load("./fake-three-net").steps[0][0] == "pixels"
    assert ferengine.load("model:fake-three-net").steps[0][0] == "cnn"
    with pytest.raises(FileNotFoundError, match="did you mean 'fake-three-net'"):
        ferengine.load("fake-three-nett")


def test_a_model_card_is_checked_when_the_class_is_defined():
    with pytest.raises(ValueError, match="input_size must be"):
        ModelCard(package="p", file="m.fer", label_space="fer7", classes=("a", "b"),
                  input_size=(0, 48), channels=1, normalization="", preprocessing="",
                  training_data="", licence="")  # fmt: skip
    with pytest.raises(ValueError, match="relative path inside the package"):
        ModelCard(package="p", file="../m.fer", label_space="fer7", classes=("a", "b"),
                  input_size=(48, 48), channels=1, normalization="", preprocessing="",
                  training_data="", licence="")  # fmt: skip
    with pytest.raises(TypeError, match="card must be a ModelCard"):
        type("Bad", (PretrainedModel,), {"name": "bad", "card": {"file": "m.fer"}})


# --- TOML ---------------------------------------------------------------------------------


def write_folder(root, dataset):
    """Write a dataset as one folder per class name (an image-folder dataset)."""
    for i, (image, name) in enumerate(zip(dataset.images, dataset.label_names, strict=True)):
        (root / name).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / name / f"{i}.png"), image)


def test_a_model_spec_names_the_architecture_and_the_label_space(fake, tmp_path):
    _, three = fake
    write_folder(tmp_path / "faces", three)
    spec = tmp_path / "tiny.toml"
    spec.write_text(
        'label_space = "fake-three"\n\n[dataset]\nname = "image-folder"\n'
        'params = { path = "faces", label_space = "fake-three" }\n\n[[steps]]\nname = "cnn"\n'
        'params = { module = "fake-tiny", module__filters = 2, max_epochs = 1, '
        "batch_size = 16, validation_fraction = 0.0 }\n"
    )
    model, report = train(load_spec(spec))
    assert model.label_space_.name == "fake-three" and report["n_train"] == len(three)
    assert model.steps[0][1].module_.features[0].out_channels == 2
    spec.write_text(spec.read_text().replace('module = "fake-tiny"', 'module = "fake-tiyn"'))
    with pytest.raises(ValueError, match="did you mean 'fake-tiny'"):
        train(load_spec(spec))


def test_a_model_spec_and_a_suite_step_name_the_registered_model(fake, tmp_path):
    _, three = fake
    write_folder(tmp_path / "faces", three)
    spec = tmp_path / "pretrained.toml"
    spec.write_text(
        '[dataset]\nname = "image-folder"\nparams = { path = "faces", label_space = "fake-three" }'
        '\n\n[[steps]]\nname = "fake-three-net"\n'
    )
    model, _ = train(load_spec(spec))
    expected = ferengine.load("fake-three-net").predict(three.images)
    np.testing.assert_array_equal(model.predict(three.images), expected)

    suite = tmp_path / "suite.toml"
    suite.write_text(
        'name = "fake"\n\n[datasets.synthetic]\nname = "synthetic"\n'
        "params = { n_subjects = 4, per_expression = 2, size = 20 }\n"
        'label_space = "fake-three"\n\n[protocol]\nkind = "subject-kfold"\nfolds = 2\n\n'
        '[[pipelines]]\nname = "shipped"\nsteps = ["fake-three-net"]\n'
    )
    out = tmp_path / "bench"
    result = CliRunner().invoke(main, ["bench", str(suite), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "results.json").read_text())
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows), rows
    # two folds of equal size cover every image once: the suite scores what load() predicts
    assert np.mean([r["accuracy"] for r in rows]) == pytest.approx(
        np.mean(expected == three.labels)
    )


# --- CLI ----------------------------------------------------------------------------------


def test_the_cli_lists_and_shows_each_kind(fake):
    runner = CliRunner()
    for kind, name in (("architecture", "fake-tiny"), ("label-space", "fake-three"),
                       ("model", "fake-three-net")):  # fmt: skip
        listed = runner.invoke(main, ["plugins", kind, "--json"])
        assert listed.exit_code == 0, listed.output
        rows = {r["name"]: r for r in json.loads(listed.output)}
        assert rows[name]["package"] == "fakeplug-zoo" and rows[name]["status"] == "ok"
    assert {"compact", "small32"} <= set(registry.names("architecture"))
    shown = runner.invoke(main, ["plugins", "show", "architecture", "fake-tiny"])
    assert shown.exit_code == 0 and "filters" in shown.output and "One convolution" in shown.output

    models = runner.invoke(main, ["models", "--json"])
    assert {r["name"] for r in json.loads(models.output)} >= {"default", "fake-three-net"}
    card = json.loads(runner.invoke(main, ["models", "show", "fake-three-net", "--json"]).output)
    assert card["classes"] == ["happy", "sad", "surprise"] and card["input_size"] == [24, 24]
    assert card["measurements"][0]["command"] == "pytest" and card["licence"] == "CC0-1.0"
    table = runner.invoke(main, ["models", "show", "fake-three-net"])
    assert table.exit_code == 0 and "24×24" in table.output and "fake-three" in table.output
    missing = runner.invoke(main, ["models", "show", "fake-three-nt"])
    assert missing.exit_code != 0 and "did you mean 'fake-three-net'" in missing.output


def test_evaluate_takes_a_registered_model_name(fake, tmp_path):
    _, three = fake
    write_folder(tmp_path / "faces", three)
    args = ["evaluate", "fake-three-net", "--dataset", "image-folder", "--path",
            str(tmp_path / "faces"), "--param", "label_space=fake-three", "--json"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    expected = ferengine.load("fake-three-net").score(three)
    assert json.loads(result.output)["accuracy"] == pytest.approx(expected)


def test_the_shipped_model_has_a_card_with_its_measured_accuracy():
    card = json.loads(CliRunner().invoke(main, ["models", "show", "fer2013", "--json"]).output)
    assert card["package"] == "ferengine_deep" and card["file"] == "models/fer2013.fer"
    assert card["input_size"] == [48, 48] and card["label_space"] == "fer7"
    assert card["classes"] == list(ferengine.get_label_space("fer7").names)
    (accuracy,) = [m for m in card["measurements"] if m["metric"] == "accuracy"]
    assert accuracy["value"] == 0.6835 and "--split PublicTest" in accuracy["command"]
    manifest = ferengine.persistence.read_manifest("fer2013")
    assert manifest["label_space"]["names"] == card["classes"]


def test_the_core_names_no_shipped_model():
    import ferengine.persistence as persistence

    assert not hasattr(persistence, "SHIPPED_MODELS")
    assert "ferengine_deep" not in inspect.getsource(persistence)
