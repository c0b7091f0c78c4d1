"""`ferengine export`: a cnn as an ONNX graph on onnxruntime, in float32 and int8."""

import copy

import numpy as np
import pytest
from click.testing import CliRunner

import ferengine
from ferengine import runtime
from ferengine.cli import main
from ferengine.errors import ModelFormatError, UnsupportedModelError
from ferengine.export import calibration_images, export_model

from .conftest import BAR_SIZE, write_image_folder

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
onnx = pytest.importorskip("onnx")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def operators(model):
    return {
        n.op_type for n in onnx.load_model_from_string(model.steps[-1][1].onnx_model_).graph.node
    }


@pytest.fixture(scope="module")
def cnn_file(cnn_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "cnn.fer"
    ferengine.save(cnn_model, path)
    return path


@pytest.fixture(scope="module")
def exported(cnn_file, tmp_path_factory):
    """The tiny cnn exported to float ONNX through the command line, saved and loaded."""
    out = tmp_path_factory.mktemp("export") / "float.fer"
    result = run("export", cnn_file, "--format", "onnx", "--out", out)
    assert result.exit_code == 0, result.output
    return ferengine.load(out)


@pytest.fixture(scope="module")
def quantised(cnn_file, bar_data, tmp_path_factory):
    """The tiny cnn exported and quantised to int8, calibrated on an image folder's Training."""
    root = tmp_path_factory.mktemp("calibration")
    write_image_folder(root, bar_data)
    out = root / "int8.fer"
    options = ["--dataset", "image-folder", "--data", root, "--split", "train"]
    result = run("export", cnn_file, "--quantize", "int8", "--calibration-images", 60, "--out", out,
                 *options)  # fmt: skip
    assert result.exit_code == 0, result.output
    return ferengine.load(out)


def test_exported_probabilities_match_torch(exported, cnn_model, bar_data):
    step = exported.steps[-1][1]
    assert type(step).__name__ == "OnnxClassifier" and step.quantization_ is None
    assert "QuantizeLinear" not in operators(exported)
    expected = cnn_model.predict_proba(bar_data.images)
    got = exported.predict_proba(bar_data.images)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    np.testing.assert_array_equal(exported.classes_, cnn_model.classes_)
    assert exported.label_space_ == cnn_model.label_space_
    # any batch size: the graph's batch axis is dynamic, batches split at batch_size
    step.set_params(batch_size=7)
    with runtime.options(threads=1):
        np.testing.assert_allclose(exported.predict_proba(bar_data.images), got, atol=1e-6)
    np.testing.assert_allclose(exported.predict_proba(bar_data.images[:1]), got[:1], atol=1e-6)
    step.set_params(batch_size=256)


def test_exported_prepares_images_as_the_cnn(exported, cnn_model, bar_data):
    """Colour and other sizes are greyed and resized exactly as the torch step does."""
    import cv2

    rgb = np.stack([cv2.cvtColor(cv2.resize(im, (60, 60)), cv2.COLOR_GRAY2RGB)
                    for im in bar_data.images[:10]])  # fmt: skip
    np.testing.assert_allclose(exported.predict_proba(rgb), cnn_model.predict_proba(rgb),
                               atol=1e-4)  # fmt: skip


def test_quantised_model_agrees_with_float(quantised, exported, bar_data):
    assert quantised.steps[-1][1].quantization_ == "int8"
    assert {"QuantizeLinear", "DequantizeLinear"} <= operators(quantised)
    agree = np.mean(quantised.predict(bar_data.images) == exported.predict(bar_data.images))
    assert agree >= 0.9
    assert quantised.score(bar_data) >= 0.9


def test_quantised_weights_keep_to_seven_bits(quantised):
    """7-bit weights: x86 CPUs without VNNI would saturate 8-bit ones (the file's accuracy
    then depends on the CPU it runs on)."""
    from onnx import TensorProto, numpy_helper

    graph = onnx.load_model_from_string(quantised.steps[-1][1].onnx_model_).graph
    int8 = [numpy_helper.to_array(t) for t in graph.initializer if t.data_type == TensorProto.INT8]
    assert int8
    assert max(int(np.abs(w.astype(int)).max()) for w in int8) <= 64


def test_round_trip_and_predict_input_format(exported, bar_data, tmp_path):
    from ferengine.persistence import read_manifest
    from ferengine.prediction.predictor import input_format

    path = ferengine.save(exported, tmp_path / "again.fer")
    back = ferengine.load(path)
    np.testing.assert_array_equal(back.predict(bar_data.images), exported.predict(bar_data.images))
    assert read_manifest(path)["steps"][-1]["class"] == "ferengine_deep.onnx_export.OnnxClassifier"
    assert input_format(back) == ((BAR_SIZE, BAR_SIZE), False)  # what `predict` crops to


def test_python_api_export_keeps_earlier_steps(bar_data):
    tiny = {"module__width": 4, "max_epochs": 1, "validation_fraction": 0.0, "bf16": False}
    with runtime.options(threads=1):
        model = ferengine.pipeline("histeq", ("cnn", tiny)).fit(bar_data)
    out = export_model(model, "onnx")
    assert [name for name, _ in out.steps] == [name for name, _ in model.steps]
    assert out.steps[0][1] is model.steps[0][1] and model.steps[-1][1].__class__.__name__ == "CNN"
    np.testing.assert_allclose(out.predict_proba(bar_data.images),
                               model.predict_proba(bar_data.images), atol=1e-4)  # fmt: skip


def test_non_torch_model_is_refused(hog_model, tmp_path):
    with pytest.raises(UnsupportedModelError, match=r"'logistic' .*only torch image classifiers"):
        export_model(hog_model, "onnx")
    path = ferengine.save(hog_model, tmp_path / "hog.fer")
    result = run("export", path, "--out", tmp_path / "x.fer")
    assert result.exit_code != 0
    assert str(path) in result.output and "only torch image classifiers" in result.output
    assert not (tmp_path / "x.fer").exists()


def test_unknown_format_and_quantization_are_refused(cnn_file, tmp_path):
    result = run("export", cnn_file, "--format", "tflite", "--out", tmp_path / "x.fer")
    assert result.exit_code != 0 and "unknown export format 'tflite'" in result.output
    with pytest.raises(ValueError, match="unknown quantization 'int4'"):
        export_model(cnn_file, "onnx", quantize="int4", calibration=np.zeros((2, 48, 48)))


def test_quantize_needs_calibration_images(cnn_file, tmp_path):
    result = run("export", cnn_file, "--quantize", "int8", "--out", tmp_path / "x.fer")
    assert result.exit_code == 2 and "needs calibration images" in result.output
    with pytest.raises(ValueError, match="quantize='int8' needs calibration images"):
        export_model(cnn_file, "onnx", quantize="int8")
    assert not (tmp_path / "x.fer").exists()


def test_calibration_images_come_from_training(bar_data):
    space = ferengine.get_label_space("fer7")
    splits = np.where(np.arange(len(bar_data.images)) < 100, "Training", "PublicTest")
    ds = ferengine.FaceDataset(bar_data.images, bar_data.labels, space, splits=splits)
    picked = calibration_images(ds, 30)
    assert len(picked) == 30
    training = {im.tobytes() for im in bar_data.images[:100]}
    assert all(im.tobytes() in training for im in picked)
    assert len(calibration_images(ds, 1000)) == 100
    with pytest.raises(ValueError, match="no Validation images"):
        calibration_images(ds, 5, split="Validation")


def test_exported_model_cannot_be_trained(exported, bar_data):
    with pytest.raises(TypeError, match="export a fitted cnn"):
        exported.steps[-1][1].fit(bar_data.images, bar_data.labels)
    step = copy.copy(exported.steps[-1][1]).set_params(batch_size=0)
    with pytest.raises(ValueError, match="batch_size must be ≥ 1"):
        step.predict(bar_data.images)


def test_tampered_graph_is_refused_on_load(exported, tmp_path):
    bad = copy.deepcopy(exported)
    bad.steps[-1][1].size_ = 30  # the graph takes BAR_SIZE-sided images
    path = ferengine.save(bad, tmp_path / "bad.fer")
    with pytest.raises(ModelFormatError, match=r"onnx_model_ input 'images' has shape"):
        ferengine.load(path)
    bad.steps[-1][1].size_ = BAR_SIZE
    bad.steps[-1][1].onnx_model_ = b"not a graph"
    path = ferengine.save(bad, tmp_path / "bad2.fer")
    with pytest.raises(ModelFormatError, match="onnx_model_ is not an ONNX model"):
        ferengine.load(path)


def test_external_data_is_refused(exported):
    from ferengine_deep.onnx_export import graph_problem

    step = exported.steps[-1][1]
    model = onnx.load_model_from_string(step.onnx_model_)
    tensor = model.graph.initializer[0]
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="/etc/passwd")
    problem = graph_problem(model.SerializeToString(), step.size_, len(step.classes_))
    assert problem is not None and "external data" in problem
