"""Explainers: maps of the faces' shape that find the informative region, early clear errors,
``ferengine explain`` on photos and dataset splits, and third-party explainers.

The informative-region tests use faces whose class is decided by one region: a dark bar
across the mouth for "happy", none for "sad", on otherwise random synthetic faces. A
hand-crafted pipeline and a tiny CNN both learn it perfectly; a map that explains them
must put most of its mass around the mouth.
"""

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.base import BaseEstimator, ClassifierMixin

import ferengine
from ferengine import registry
from ferengine.cli import main
from ferengine.errors import LabelError, UnsupportedModelError
from ferengine.explain import Explainer, Explanation
from ferengine.explain.stats import map_statistics, region_share
from ferengine.testing import PluginCheckError, check_plugin

from .conftest import BAR_SIZE as SIZE
from .conftest import MOUTH, write_image_folder

GRADIENT_METHODS = ("gradcam", "integrated-gradients", "saliency")


def mouth_mask():
    mask = np.zeros((SIZE, SIZE), bool)
    mask[MOUTH] = True
    return mask


@pytest.fixture(scope="module")
def happy_faces(bar_data):
    return bar_data.images[bar_data.labels == bar_data.label_space.index("happy")][:10]


@pytest.fixture(scope="module")
def forest_model(bar_data):
    """HOG → random forest (the tree family, for ``importances``)."""
    return ferengine.pipeline(("hog", {"cell": 8}), ("random-forest", {"n_estimators": 20,
                              "random_state": 0})).fit(bar_data)  # fmt: skip


def _model(name, hog_model, request):
    return hog_model if name == "hog" else request.getfixturevalue(f"{name}_model")


# -- maps ------------------------------------------------------------------------------------


@pytest.mark.parametrize(  # activation-max pictures classes, not faces: test_activation_max.py
    "method", [m for m in registry.names("explainer") if m != "activation-max"]
)
def test_every_explainer_gives_one_map_per_face(method, hog_model, request, bar_data):
    explainer = registry.create("explainer", method)
    faces = bar_data.images[:3]
    explained = 0
    for name in ("hog", "cnn", "forest"):
        model = _model(name, hog_model, request)
        if explainer.supports(model) is not None:
            continue
        found = explainer.explain(model, faces)
        assert isinstance(found, Explanation) and found.method == method
        assert found.maps.shape == (3, SIZE, SIZE) and found.maps.dtype == np.float32
        assert np.isfinite(found.maps).all() and found.maps.any()
        assert list(found.targets) == list(found.predicted)
        assert [s["target"] for s in found.statistics()] == found.target_names
        explained += 1
    assert explained, f"{method} explains none of the models"


def test_occlusion_maps_follow_the_face_shape(hog_model, bar_data):
    pixels = ferengine.pipeline(("pixels", {"size": 16}), "logistic").fit(bar_data)
    faces = np.stack([cv2.resize(im, (56, 40)) for im in bar_data.images[:2]])  # 40×56
    found = registry.create("explainer", "occlusion", patch=7, stride=5).explain(pixels, faces)
    assert found.maps.shape == (2, 40, 56)
    colour = np.repeat(bar_data.images[:2, ..., None], 3, axis=-1)
    assert registry.create("explainer", "occlusion").explain(hog_model, colour).maps.shape == (
        2, SIZE, SIZE)  # fmt: skip


def test_occlusion_batches_every_copy_of_a_face_into_one_call(hog_model, bar_data):
    calls = []

    class Counting(ClassifierMixin, BaseEstimator):
        classes_ = hog_model.classes_
        label_space_ = hog_model.label_space_

        def predict_proba(self, X):
            calls.append(len(X))
            return hog_model.predict_proba(X)

    occlusion = registry.create("explainer", "occlusion")  # 8 px patches every 4 px: 11 × 11
    occlusion.explain(Counting(), bar_data.images[:1])
    assert calls == [1, 121]  # the face itself, then all its copies at once
    calls.clear()
    registry.create("explainer", "occlusion", batch_size=100).explain(
        Counting(), bar_data.images[:2])  # fmt: skip
    assert calls == [2, 100, 100, 42]


@pytest.mark.parametrize(
    "method, model",
    [("occlusion", "hog"), ("occlusion", "cnn"), ("gradcam", "cnn"),
     ("integrated-gradients", "cnn")],
)  # fmt: skip
def test_maps_find_the_region_that_decides_the_class(method, model, hog_model, request,
                                                     happy_faces):  # fmt: skip
    fitted = _model(model, hog_model, request)
    found = registry.create("explainer", method).explain(fitted, happy_faces, target="happy")
    shares = [region_share(m, mouth_mask()) for m in found.maps]
    # The mouth region is 30 % of the face; most of every map's mass lies in it.
    assert mouth_mask().mean() < 0.31
    assert min(shares) > 0.5, shares
    # ...which a map without information does not do
    noise = np.random.default_rng(0).random((SIZE, SIZE))
    assert region_share(noise, mouth_mask()) < 0.4


def test_map_statistics():
    flat = map_statistics(np.ones((10, 10)))
    assert flat["top10_share"] == pytest.approx(0.1) and flat["mean"] == 1.0
    peak = np.zeros((10, 10))
    peak[2, 7] = 5.0
    peak[0, 0] = -1.0
    stats = map_statistics(peak)
    assert stats["top10_share"] == 1.0 and stats["peak"] == [2, 7] and stats["min"] == -1.0
    assert map_statistics(-np.ones((4, 4)))["top10_share"] is None


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", GRADIENT_METHODS)
def test_gradient_method_refuses_a_model_without_gradients(method, hog_model, bar_data):
    pytest.importorskip("captum")
    explainer = registry.create("explainer", method)
    reason = explainer.supports(hog_model)
    assert "'logistic' holds no torch network" in reason
    with pytest.raises(UnsupportedModelError) as caught:
        explainer.explain(hog_model, bar_data.images[:2])
    assert f"explainer {method!r}" in str(caught.value)
    assert "hog → logistic" in str(caught.value)


def test_unknown_class_lists_the_models_classes(hog_model, bar_data):
    occlusion = registry.create("explainer", "occlusion")
    with pytest.raises(LabelError, match="'hapy' is not one of the model's classes: happy, sad"):
        occlusion.explain(hog_model, bar_data.images[:2], target="hapy")
    by_label = occlusion.explain(hog_model, bar_data.images[:2], target=4)  # sad's code
    assert by_label.target_names == ["sad", "sad"]


def test_bad_faces_and_parameters_are_refused(hog_model, bar_data):
    occlusion = registry.create("explainer", "occlusion")
    with pytest.raises(ValueError, match=r"face\[None\]"):
        occlusion.explain(hog_model, bar_data.images[0])
    with pytest.raises(ValueError, match="patch=60 is larger than the 48×48 faces"):
        registry.create("explainer", "occlusion", patch=60).explain(hog_model, bar_data.images[:1])
    with pytest.raises(ValueError, match="'stride' parameter of Occlusion must be"):
        registry.create("explainer", "occlusion", stride=0).explain(hog_model, bar_data.images[:1])


# -- torch networks --------------------------------------------------------------------------


def test_the_network_sees_what_the_pipeline_feeds_it(cnn_model, bar_data):
    """The gradient methods' input path (preprocessing steps, grey, resize) is the model's."""
    import torch
    from ferengine_explain.torch_net import torch_image_model

    cnn = cnn_model.steps[-1][1]
    histeq = registry.create("preprocessor", "histeq").fit(bar_data.images)
    chained = ferengine.FERPipeline([("histeq", histeq), ("cnn", cnn)])
    faces = np.stack([cv2.resize(im, (64, 64)) for im in bar_data.images[:5]])  # resized inside
    for model in (cnn_model, chained):
        net = torch_image_model(model)
        with torch.no_grad():
            proba = torch.softmax(net.network(net.inputs(faces)), dim=1).numpy()
        assert np.allclose(proba, model.predict_proba(faces), atol=1e-5)
    found = registry.create("explainer", "gradcam").explain(chained, faces)
    assert found.maps.shape == (5, 64, 64)


@pytest.mark.parametrize(
    "arch",
    [pytest.param(a, marks=pytest.mark.slow) if a == "densenet" else a
     for a in registry.names("architecture")],
)  # fmt: skip
def test_gradcam_finds_the_last_convolution_of_every_zoo_network(arch):
    pytest.importorskip("captum")
    import torch
    from ferengine_deep.layers import network
    from ferengine_explain.gradients import GradCAM
    from ferengine_explain.torch_net import TorchImageModel, last_conv_layer

    side = registry.get_registry().get("architecture", arch).native_size
    torch.manual_seed(0)
    module = network(registry.create("architecture", arch), 7, 1, side).eval()
    net = TorchImageModel([], None, module, side, 1)
    layer = last_conv_layer(net)
    shapes = []
    hook = layer.register_forward_hook(lambda m, i, out: shapes.append(tuple(out.shape)))
    images = torch.rand(2, 1, side, side) * 255
    with torch.no_grad():
        module(images)
    hook.remove()
    assert len(shapes[0]) == 4 and min(shapes[0][2:]) >= 2, shapes
    maps = GradCAM()._attribute(net, images.requires_grad_(), torch.tensor([0, 3]))
    assert maps.shape == (2, side, side) and np.isfinite(maps).all()


def test_a_model_of_clips_is_refused_by_every_explainer(bar_data):
    clips = ferengine.load_dataset("synthetic-sequences", n_subjects=2, clips_per_class=1,
                                   classes=("happy", "sad"), frames=(6, 7))  # fmt: skip
    model = ferengine.pipeline(("clip-frames", {"estimator": [("pixels", {"size": 12}),
                                                              "logistic"]}))  # fmt: skip
    model.fit(clips.clips, clips.labels)
    for method in registry.get_registry().names("explainer", available_only=True):
        with pytest.raises(UnsupportedModelError, match="classifies clips of video frames"):
            registry.create("explainer", method).explain(model, bar_data.images[:1])


# -- the command -----------------------------------------------------------------------------


class BrightFace(ferengine.FaceDetector):
    """The whole image is a face when it is not dark, else there is none."""

    name = "test-bright-face"

    def __init__(self, mode="all", max_side=None):
        self.mode = mode
        self.max_side = max_side

    def _find(self, grey):
        h, w = grey.shape
        return [(0, 0, w, h, 1.0)] if grey.mean() > 30 else []


@pytest.fixture
def saved_hog(hog_model, tmp_path):
    path = tmp_path / "hog.fer"
    ferengine.save(hog_model, path)
    return path


def test_cli_explains_a_photo_folder(saved_hog, happy_faces, tmp_path, plugin_registry):
    plugin_registry({"detector": [BrightFace]}, installed=True)
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.png"), cv2.resize(happy_faces[0], (96, 96)))
    cv2.imwrite(str(photos / "b.png"), np.zeros((60, 60), np.uint8))  # dark: no face
    (photos / "c.png").write_text("not an image")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "explain", str(saved_hog), str(photos), "--method", "occlusion", "--out", str(out),
        "--detector", "test-bright-face", "--param", "stride=6",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "explanations.json").read_text())
    assert report["method"] == "occlusion" and report["params"]["stride"] == 6
    assert report["model_steps"] == "hog → logistic"
    (face,) = report["faces"]
    assert face["input"].endswith("a.png") and face["predicted"] in ("happy", "sad")
    assert face["box"] == [0, 0, 96, 96] and face["target"] == face["predicted"]
    assert {"min", "max", "mean", "top10_share", "target_probability"} <= set(face)
    assert (out / face["overlay"]).is_file() and (out / "sheet.png").is_file()
    errors = {e["input"].rsplit("/", 1)[-1]: e["error"] for e in report["errors"]}
    assert errors["b.png"] == "no face found"
    assert "not an image" in errors["c.png"]
    assert "1 faces explained by occlusion" in " ".join(result.output.split())


def test_cli_explains_a_dataset_split(saved_hog, bar_data, tmp_path):
    write_image_folder(tmp_path / "data", bar_data)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "explain", str(saved_hog), "--method", "occlusion", "--dataset", "image-folder",
        "--path", str(tmp_path / "data"), "--split", "PublicTest", "--limit", "4",
        "--out", str(out), "--class", "happy", "--json",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report == json.loads((out / "explanations.json").read_text())
    assert report["split"] == "PublicTest" and len(report["faces"]) == 4
    assert {f["true"] for f in report["faces"]} <= {"happy", "sad"}
    assert {f["target"] for f in report["faces"]} == {"happy"}
    assert all((out / f["overlay"]).is_file() for f in report["faces"])
    overlay = cv2.imread(str(out / report["faces"][0]["overlay"]))
    assert overlay.shape[0] > 192 and overlay.shape[1] > 2 * 192  # face, heat map, captions


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "ocklusion"], "did you mean 'occlusion'"),
        (["--method", "occlusion", "--class", "joy"],
         "class 'joy' is not one of the model's classes: happy, sad"),
        (["--method", "occlusion", "--split", "PublicTest"], "--split need --dataset"),
        (["--method", "occlusion", "--dataset", "image-folder", "--path", "{data}", "--split",
          "Test"], "the dataset has no split 'Test' (its splits: PublicTest, train)"),
    ],
)  # fmt: skip
def test_cli_errors_say_what_is_wrong(args, message, saved_hog, bar_data, tmp_path):
    write_image_folder(tmp_path / "data", bar_data)
    photo = tmp_path / "a.png"
    cv2.imwrite(str(photo), bar_data.images[0])
    inputs = [] if "--dataset" in args else [str(photo)]
    args = [a.format(data=tmp_path / "data") for a in args]
    result = CliRunner().invoke(
        main, ["explain", str(saved_hog), *inputs, *args, "--out", str(tmp_path / "out")]
    )
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())


def test_cli_gradient_method_on_a_hand_crafted_model(saved_hog, tmp_path):
    pytest.importorskip("captum")
    photo = tmp_path / "a.png"
    cv2.imwrite(str(photo), np.full((48, 48), 128, np.uint8))
    result = CliRunner().invoke(main, ["explain", str(saved_hog), str(photo), "--method",
                                       "gradcam", "--out", str(tmp_path / "out")])  # fmt: skip
    assert result.exit_code != 0
    text = " ".join(result.output.split())
    assert "explainer 'gradcam' cannot explain the model hog → logistic" in text
    assert not (tmp_path / "out").exists()  # refused before any face was looked for


# -- third-party explainers ------------------------------------------------------------------

FAKE_EXPLAINERS = '''
import numpy as np
from ferengine import hookimpl
from ferengine.explain import Explainer


class Contrast(Explainer):
    """How far each pixel is from the face's mean grey, times the target's probability."""

    name = "fake-contrast"
    shows = "contrast times probability"

    def _maps(self, model, faces, targets, probabilities):
        grey = faces.astype(float).reshape(*faces.shape[:3], -1).mean(axis=-1)
        spread = np.abs(grey - grey.mean(axis=(1, 2), keepdims=True))
        return spread * probabilities[np.arange(len(faces)), targets][:, None, None]


class Blocky(Explainer):
    """A 4×4 map whatever the face (broken)."""

    name = "fake-blocky"

    def _maps(self, model, faces, targets, probabilities):
        return np.ones((len(faces), 4, 4))


@hookimpl
def ferengine_register_explainers():
    return [Contrast, Blocky]
'''


def test_a_third_party_explainer_registers_and_passes_the_checks(make_dist, fresh_registry,
                                                                  hog_model, bar_data):  # fmt: skip
    make_dist("fake-explainers", {"fake-explainers": "fake_explainers"},
              {"fake_explainers.py": FAKE_EXPLAINERS})  # fmt: skip
    assert {"fake-contrast", "fake-blocky", "occlusion"} <= set(registry.names("explainer"))
    assert registry.info("explainer", "fake-contrast")["package"] == "fake-explainers"
    results = check_plugin("explainer:fake-contrast")
    assert {r.status for r in results} <= {"passed", "skipped"}
    assert "check_explainer_maps" in {r.check for r in results if r.status == "passed"}
    found = registry.create("explainer", "fake-contrast").explain(hog_model, bar_data.images[:2])
    assert found.maps.shape == (2, SIZE, SIZE)
    with pytest.raises(PluginCheckError, match="check_explainer_maps: .*maps of shape"):
        check_plugin("explainer:fake-blocky")


def test_explainer_base_class_is_the_kind(hog_model):
    from ferengine.testing.target import infer_kind

    assert infer_kind(registry.get_registry().get("explainer", "occlusion")) == "explainer"
    assert issubclass(registry.get_registry().get("explainer", "occlusion"), Explainer)
