"""``activation-max`` and ``ferengine visualize``: pictures that raise a class neuron above every
real face, deterministic under a seed, with both parameterisations, and clear refusals.

The model is a tiny CNN trained in seconds on synthetic faces whose class is decided by
one region: a dark bar across the mouth for "happy", none for "sad".
"""

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import ferengine
from ferengine import registry, runtime
from ferengine.cli import main
from ferengine.errors import FerengineError, LabelError, UnsupportedModelError
from ferengine.explain.visualize import ModelVisualizer, visualize_model, visualizer
from ferengine.testing import check_plugin

pytest.importorskip("torch")

from .conftest import BAR, write_image_folder
from .conftest import BAR_SIZE as SIZE

#: Short optimisations: the tiny network's logits grow fast.
FAST = {"steps": 128}


def _activation_max(**params):
    return registry.create("explainer", "activation-max", **{**FAST, **params})


@pytest.fixture(scope="module")
def pictures(cnn_model):
    with runtime.options(threads=1):
        return _activation_max(seed=5).visualize(cnn_model)


def test_pictures_raise_each_class_neuron_above_every_training_face(pictures, cnn_model,
                                                                    bar_data):  # fmt: skip
    explainer = _activation_max()
    assert list(pictures) == ["happy", "sad"]
    assert all(p.shape == (SIZE, SIZE) and p.dtype == np.uint8 for p in pictures.values())
    faces = explainer.class_logits(cnn_model, bar_data.images, faces=True)
    drawn = explainer.class_logits(cnn_model, np.stack(list(pictures.values())))
    for k, column in enumerate((0, 1)):  # the model's classes_ order: happy, sad
        assert drawn[k, column] > faces[:, column].max(), (drawn[:, column], faces[:, column])
    # the face logits are the model's own: their softmax is its predict_proba
    soft = np.exp(faces - faces.max(axis=1, keepdims=True))
    assert np.allclose(soft / soft.sum(axis=1, keepdims=True),
                       cnn_model.predict_proba(bar_data.images), atol=1e-4)  # fmt: skip
    # the happy picture is darker where the bar decides the class than the sad one
    bar = {c: p[BAR].mean() - p.mean() for c, p in pictures.items()}
    assert bar["happy"] < bar["sad"], bar


def test_same_seed_same_pictures_other_seed_other_pictures(pictures, cnn_model):
    with runtime.options(threads=1):
        again = _activation_max(seed=5).visualize(cnn_model)
        other = _activation_max(seed=6).visualize(cnn_model)
        alone = _activation_max(seed=5).visualize(cnn_model, classes="sad")
    assert all(np.array_equal(pictures[c], again[c]) for c in pictures)
    assert not np.array_equal(pictures["happy"], other["happy"])
    # a class's start and transforms do not depend on the other classes asked for. Not
    # bit for bit: a batch of one picture runs other CPU kernels than a batch of two, and
    # 128 Adam steps amplify their rounding (up to 22 grey levels apart on one machine,
    # correlation 0.986, where another seed's picture correlates at 0.08)
    assert list(alone) == ["sad"]
    assert np.corrcoef(alone["sad"].ravel(), pictures["sad"].ravel())[0, 1] > 0.9


@pytest.mark.parametrize("decorrelate", [True, False])
def test_both_parameterisations_run_and_raise_the_neuron(decorrelate, cnn_model, bar_data):
    explainer = _activation_max(decorrelate=decorrelate, jitter=0, scales=[1.0], rotations=[0])
    with runtime.options(threads=1):
        found = explainer.visualize(cnn_model, classes=["happy"])
    picture = found["happy"]
    assert picture.shape == (SIZE, SIZE) and picture.std() > 0
    logit = explainer.class_logits(cnn_model, picture[None])[0, 0]
    assert logit > explainer.class_logits(cnn_model, bar_data.images, faces=True)[:, 0].max()


def test_decorrelated_start_is_smoother_than_pixels():
    """The 1/f spectrum puts its energy in low frequencies; independent pixels do not."""

    def roughness(images):
        x = images.detach().numpy()[:, 0].astype(np.float64)
        return np.abs(np.diff(x, axis=1)).mean() / x.std()

    found = {}
    for decorrelate in (True, False):
        variables, image = _activation_max(decorrelate=decorrelate)._parameterise([0, 1], SIZE, 1)
        found[decorrelate] = roughness(image(variables))
    # neighbouring pixels of white noise differ by 2/sqrt(pi) ≈ 1.13 standard deviations;
    # 1/f noise's by about 0.67
    assert found[False] == pytest.approx(1.13, abs=0.1)
    assert found[True] < 0.75 * found[False], found


def test_colour_networks_get_decorrelated_colours():
    import torch
    from ferengine_deep.layers import network
    from ferengine_explain.torch_net import TorchImageModel

    torch.manual_seed(0)
    module = network(registry.create("architecture", "compact", width=4), 3, 3, 32).eval()
    net = TorchImageModel([], None, module, 32, 3)
    images = _activation_max(steps=5)._optimise(net, [0, 2])
    assert images.shape == (2, 3, 32, 32) and images.dtype == np.uint8
    assert not np.array_equal(images[0, 0], images[0, 1])  # channels differ


# -- refusals --------------------------------------------------------------------------------


def test_unknown_class_names_the_method_the_model_and_its_classes(cnn_model):
    with pytest.raises(LabelError) as caught:
        _activation_max().visualize(cnn_model, classes=["happy", "joy"])
    text = str(caught.value)
    assert "explainer 'activation-max' on the model cnn" in text
    assert "'joy' is not one of the model's classes: happy, sad" in text


def test_model_without_a_torch_network_is_refused(hog_model):
    with pytest.raises(UnsupportedModelError) as caught:
        _activation_max().visualize(hog_model)
    text = str(caught.value)
    assert "explainer 'activation-max' cannot visualise the model hog → logistic" in text
    assert "'logistic' holds no torch network" in text


def test_explain_points_to_visualize(cnn_model, bar_data):
    with pytest.raises(UnsupportedModelError, match="ferengine visualize MODEL --method"):
        _activation_max().explain(cnn_model, bar_data.images[:1])


@pytest.mark.parametrize(
    "params, message",
    [({"scales": [0.0, 1.0]}, "scales must be a non-empty list of positive numbers"),
     ({"rotations": []}, "rotations must be a non-empty list"),
     ({"steps": 0}, "'steps' parameter of ActivationMax must be")],
)  # fmt: skip
def test_bad_parameters_are_refused(params, message, cnn_model):
    with pytest.raises(ValueError, match=message):
        registry.create("explainer", "activation-max", **params).visualize(cnn_model)


def test_a_face_explainer_is_not_a_visualizer():
    assert isinstance(visualizer("activation-max"), ModelVisualizer)
    with pytest.raises(FerengineError, match="explainer 'gradcam' maps single faces"):
        visualizer("gradcam")


def test_the_plugin_checks_accept_it():
    results = check_plugin("explainer:activation-max")
    assert {r.status for r in results} <= {"passed", "skipped"}
    assert "check_explainer_supports" in {r.check for r in results if r.status == "passed"}


# -- ferengine visualize ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_cnn(cnn_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("cnn") / "cnn.fer"
    ferengine.save(cnn_model, path)
    return path


def test_cli_writes_a_picture_per_class_the_grid_and_the_logits(saved_cnn, bar_data, tmp_path):
    write_image_folder(tmp_path / "data", bar_data)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "--threads", "1", "visualize", str(saved_cnn), "--method", "activation-max",
        "--out", str(out), "--param", "steps=128", "--param", "seed=5",
        "--dataset", "image-folder", "--path", str(tmp_path / "data"), "--split", "train",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "visualization.json").read_text())
    assert report["method"] == "activation-max" and report["params"]["steps"] == 128
    assert report["model_steps"] == "cnn" and report["input_size"] == [SIZE, SIZE]
    assert [r["class"] for r in report["classes"]] == ["happy", "sad"]
    loaded = ferengine.load(saved_cnn)
    explainer = _activation_max()
    for column, record in enumerate(report["classes"]):
        picture = cv2.imread(str(out / record["file"]), cv2.IMREAD_UNCHANGED)
        assert picture.shape == (SIZE, SIZE)
        # the file is the picture whose logit is reported
        logit = explainer.class_logits(loaded, picture[None])[0, column]
        assert record["logit"] == pytest.approx(logit, abs=1e-3)
        assert record["faces"]["n"] == 105 and record["above_every_face"]
        assert record["logit"] > record["faces"]["max"] >= record["faces"]["mean"]
    grid = cv2.imread(str(out / "grid.png"), cv2.IMREAD_UNCHANGED)
    assert grid.ndim == 2 and grid.shape[0] > 144 and grid.shape[1] > 2 * 144
    assert "2 classes pictured by activation-max" in " ".join(result.output.split())


def test_cli_one_class_without_a_dataset(saved_cnn, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "--threads", "1", "visualize", str(saved_cnn), "--out", str(out), "--class", "sad",
        "--param", "steps=5", "--json",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    (record,) = report["classes"]
    assert record["class"] == "sad" and "faces" not in record
    assert sorted(p.name for p in out.iterdir()) == ["grid.png", "sad.png", "visualization.json"]


@pytest.mark.parametrize(
    "args, message",
    [(["--class", "joy"], "explainer 'activation-max' on the model"),
     (["--method", "gradcam"], "explainer 'gradcam' maps single faces"),
     (["--split", "Training"], "--split need --dataset"),
     (["--method", "activation-maks"], "did you mean 'activation-max'")],
)  # fmt: skip
def test_cli_errors_say_what_is_wrong(args, message, saved_cnn, tmp_path):
    result = CliRunner().invoke(
        main, ["visualize", str(saved_cnn), *args, "--out", str(tmp_path / "out")]
    )
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def test_cli_model_without_a_torch_network(hog_model, tmp_path):
    path = tmp_path / "hog.fer"
    ferengine.save(hog_model, path)
    result = CliRunner().invoke(main, ["visualize", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0
    text = " ".join(result.output.split())
    assert "explainer 'activation-max' cannot visualise the model hog → logistic" in text


def test_visualize_model_in_python(cnn_model, tmp_path):
    with runtime.options(threads=1):
        found = visualize_model(cnn_model, out=tmp_path, params={"steps": 3}, classes=["happy"])
    assert found["model_steps"] == "cnn" and [r["class"] for r in found["classes"]] == ["happy"]
    assert (tmp_path / "happy.png").is_file()
