"""Are the maps evidence? Model and data randomisation, deletion and insertion curves,
per-class maps and the misclassification gallery.

Uses the synthetic faces of ``test_explain``: a dark bar across the mouth makes a face
"happy", its absence "sad", so the decisive region is known.
"""

import copy
import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import ferengine
from ferengine import registry
from ferengine.cli import main
from ferengine.errors import LabelError, UnsupportedModelError
from ferengine.explain import faithfulness as faith
from ferengine.explain.gallery import (
    class_saliency,
    confused_pairs,
    explain_classes,
    misclassification_gallery,
    normalized,
    write_class_saliency,
)
from ferengine.explain.sanity import (
    data_randomization_test,
    model_randomization_test,
    randomized_model,
    rank_correlations,
    torch_layers,
)

from .conftest import BAR, write_image_folder
from .conftest import BAR_SIZE as SIZE


@pytest.fixture(scope="module")
def happy_faces(bar_data):
    return bar_data.images[bar_data.labels == bar_data.label_space.index("happy")][:10]


def _bar_map():
    values = np.zeros((SIZE, SIZE), np.float32)
    values[BAR] = 1.0
    return values


# -- rank correlations -----------------------------------------------------------------------


def test_rank_correlations_face_by_face():
    rng = np.random.default_rng(0)
    maps = rng.random((3, 8, 8))
    same = rank_correlations(maps, maps.copy())
    assert np.allclose(same["spearman"], 1.0) and np.allclose(same["spearman_abs"], 1.0)
    flipped = rank_correlations(maps - 0.5, 0.5 - maps)
    assert np.allclose(flipped["spearman"], -1.0)
    other = rank_correlations(maps, rng.random((3, 8, 8)))["spearman"]
    assert np.all(np.abs(other) < 0.5)
    flat = maps.copy()
    flat[1] = 0.0  # a constant map has no ranks
    found = rank_correlations(maps, flat)["spearman"]
    assert np.isnan(found[1]) and np.allclose(found[[0, 2]], 1.0)
    with pytest.raises(ValueError, match="two N×H×W sets of maps of one shape"):
        rank_correlations(maps, maps[:2])


# -- model randomisation ---------------------------------------------------------------------


def test_an_identical_model_gives_correlation_one(hog_model, cnn_model, happy_faces):
    for model, method in ((hog_model, "occlusion"), (cnn_model, "gradcam")):
        explainer = registry.create("explainer", method)
        first = explainer.explain(model, happy_faces).maps
        again = explainer.explain(copy.deepcopy(model), happy_faces).maps
        found = rank_correlations(first, again)
        assert np.allclose(found["spearman"], 1.0), (method, found)


def test_randomising_the_cnn_changes_gradcam_maps(cnn_model, happy_faces):
    before = cnn_model.predict_proba(happy_faces)
    layers = torch_layers(cnn_model)
    assert layers[0] == "head" and len(layers) >= 3
    result = model_randomization_test(cnn_model, happy_faces, registry.create("explainer",
                                      "gradcam"), target="happy")  # fmt: skip
    assert result["method"] == "gradcam" and result["faces"] == len(happy_faces)
    stages = result["stages"]
    assert [s["randomized"] for s in stages] == [layers[:k] for k in range(1, len(layers) + 1)]
    full = stages[-1]["spearman"]
    assert full["faces"] + full["undefined"] == len(happy_faces)
    assert full["faces"] >= len(happy_faces) // 2
    assert full["mean"] < 0.5, stages[-1]
    assert len(stages[-1]["per_face"]["spearman"]) == len(happy_faces)
    # the model itself is untouched
    assert np.array_equal(cnn_model.predict_proba(happy_faces), before)


def test_a_randomised_cnn_predicts_differently(cnn_model, bar_data):
    random = randomized_model(cnn_model, seed=1)
    again = randomized_model(cnn_model, seed=1)
    proba = random.predict_proba(bar_data.images[:20])
    assert np.array_equal(proba, again.predict_proba(bar_data.images[:20]))  # seeded
    assert not np.allclose(proba, cnn_model.predict_proba(bar_data.images[:20]), atol=1e-3)
    top = randomized_model(cnn_model, layers=1)
    original = cnn_model.steps[-1][1].module_
    changed = top.steps[-1][1].module_
    assert not np.allclose(original.head.weight.detach(), changed.head.weight.detach())
    first_conv = next(n for n, p in original.named_parameters() if p.ndim == 4)
    kept = dict(changed.named_parameters())[first_conv]
    assert np.allclose(dict(original.named_parameters())[first_conv].detach(), kept.detach())


def test_randomising_a_hand_crafted_model_changes_occlusion_maps(hog_model, happy_faces):
    occlusion = registry.create("explainer", "occlusion")
    result = model_randomization_test(hog_model, happy_faces, occlusion, target="happy")
    assert [s["randomized"] for s in result["stages"]] == ["all"]
    assert result["stages"][0]["spearman"]["mean"] < 0.5, result["stages"][0]


def test_linear_coefficients_are_permuted(hog_model):
    random = randomized_model(hog_model, seed=0)
    coef, shuffled = hog_model.steps[-1][1].coef_, random.steps[-1][1].coef_
    assert shuffled.shape == coef.shape and not np.array_equal(shuffled, coef)
    assert np.array_equal(np.sort(shuffled, axis=None), np.sort(coef, axis=None))
    assert hog_model.steps[-1][1].coef_ is coef  # the original keeps its own


def test_trees_are_fitted_again_on_random_labels(bar_data):
    tree = ferengine.pipeline(("pixels", {"size": 12}), "decision-tree").fit(bar_data)
    faces = bar_data.images[:40]
    random = randomized_model(tree, faces=faces, seed=0)
    assert list(random.classes_) == list(tree.classes_)
    assert random.score(bar_data) < 0.8 < tree.score(bar_data)
    assert tree.steps[-1][1] is not random.steps[-1][1]
    with pytest.raises(ValueError, match="fits its last step 'decision-tree' again on random "
                                         "labels: give faces="):  # fmt: skip
        randomized_model(tree)
    with pytest.raises(ValueError, match="give at least 2 faces, got 1"):
        randomized_model(tree, faces=faces[:1])


def test_bad_randomisation_requests_are_refused(hog_model, cnn_model, happy_faces):
    with pytest.raises(ValueError, match="layers=2: the model hog → logistic holds no torch"):
        randomized_model(hog_model, layers=2)
    with pytest.raises(ValueError, match="holds no torch network"):
        torch_layers(hog_model)
    count = len(torch_layers(cnn_model))
    with pytest.raises(ValueError, match=f"layers=99: the network has {count} weight layers"):
        randomized_model(cnn_model, layers=99)
    with pytest.raises(UnsupportedModelError, match="explainer 'gradcam' cannot explain"):
        model_randomization_test(hog_model, happy_faces, registry.create("explainer", "gradcam"))
    with pytest.raises(ValueError, match="maps= has shape"):
        model_randomization_test(hog_model, happy_faces, registry.create("explainer", "occlusion"),
                                 maps=np.zeros((2, SIZE, SIZE)))  # fmt: skip


def test_data_randomisation_changes_the_maps(hog_model, bar_data, happy_faces):
    result = data_randomization_test(hog_model, bar_data.images, bar_data.label_names,
                                     happy_faces, registry.create("explainer", "occlusion"),
                                     target="happy")  # fmt: skip
    assert result["train_accuracy"] == 1.0
    assert 0.0 <= result["permuted_train_accuracy"] <= 1.0
    assert result["spearman"]["mean"] < 0.5, result["spearman"]
    with pytest.raises(ValueError, match="train_labels has 3 labels for 140 train_faces"):
        data_randomization_test(hog_model, bar_data.images, ["happy"] * 3, happy_faces,
                                registry.create("explainer", "occlusion"))  # fmt: skip


# -- faithfulness ----------------------------------------------------------------------------


def test_deleting_the_decisive_region_first_is_faster_than_random(hog_model, happy_faces):
    maps = np.repeat(_bar_map()[None], len(happy_faces), axis=0)
    targets = ["happy"] * len(happy_faces)
    for baseline in faith.BASELINES:
        options = {"steps": 12, "baseline": baseline}
        deletion = faith.perturbation_curves(hog_model, happy_faces, maps, targets, **options)
        random = faith.random_curves(hog_model, happy_faces, targets, **options)
        assert deletion.probabilities.shape == (len(happy_faces), 13)
        # one step (8 % of the pixels) takes the whole bar away; random pixels do not
        assert deletion.curve[1] < random.curve[1] - 0.3, (baseline, deletion.curve, random.curve)
        # a mean-grey fill of many scattered pixels is itself a strange face to HOG (the
        # probability climbs back as they spread), so only the blur keeps a wide margin
        margin = 0.1 if baseline == "blur" else 0.0
        assert deletion.auc < random.auc - margin, (baseline, deletion.auc, random.auc)
        insertion = faith.perturbation_curves(hog_model, happy_faces, maps, targets,
                                              kind="insertion", **options)  # fmt: skip
        random_in = faith.random_curves(hog_model, happy_faces, targets, kind="insertion",
                                        **options)  # fmt: skip
        assert insertion.auc > random_in.auc + 0.1, (baseline, insertion.auc, random_in.auc)


def test_faithfulness_of_occlusion_beats_random_maps(hog_model, bar_data):
    faces = bar_data.images[:20]
    explanation = registry.create("explainer", "occlusion").explain(hog_model, faces)
    result = faith.faithfulness(hog_model, faces, explanation.maps, explanation.targets,
                                labels=bar_data.label_names[:20], steps=10)  # fmt: skip
    for name in ("random", "random_smooth"):
        versus = result[name]
        assert versus["deletion_beaten"] and versus["insertion_beaten"], (name, versus)
        assert result["deletion"]["auc"] < versus["deletion"]["auc"]
        assert 0.0 <= versus["deletion_wins"] <= 1.0 and versus["insertion_wins"] >= 0.75, versus
    assert result["random"]["grid"] is None and result["random_smooth"]["grid"] == 6
    assert result["deletion"]["accuracy"][0] == 1.0 and len(result["deletion"]["accuracy"]) == 11
    assert result["deletion"]["fractions"][0] == 0.0 and result["deletion"]["fractions"][-1] == 1
    curves = result.pop("curves")
    json.dumps(result)  # the rest is JSON
    assert set(curves) == {"method", "random", "random_smooth"}
    assert result == {**result, "steps": 10, "baseline": "blur", "faces": 20}
    alone = faith.faithfulness(hog_model, faces, explanation.maps, explanation.targets, steps=10,
                               random_grid=None)  # fmt: skip
    assert "random_smooth" not in alone and alone["deletion"]["accuracy"] is None


def test_random_maps_pixels_or_smooth_regions():
    pixels = faith.random_maps((2, 12, 12), seed=0)
    smooth = faith.random_maps((2, 12, 12), seed=0, grid=3)
    assert pixels.shape == smooth.shape == (2, 12, 12)
    assert np.array_equal(pixels, faith.random_maps((2, 12, 12), seed=0))

    def step(maps):
        return np.abs(np.diff(maps, axis=-1)).mean()

    assert step(smooth) < step(pixels) / 3  # neighbours alike in smooth maps
    with pytest.raises(ValueError, match="grid must be a positive integer"):
        faith.random_maps((1, 4, 4), seed=0, grid=0)


def test_every_step_of_a_face_goes_in_one_call(hog_model, happy_faces):
    calls = []

    class Counting:
        classes_ = hog_model.classes_
        label_space_ = hog_model.label_space_

        def predict_proba(self, X):
            calls.append(len(X))
            return hog_model.predict_proba(X)

    maps = np.random.default_rng(0).random((5, SIZE, SIZE))
    faith.perturbation_curves(Counting(), happy_faces[:5], maps, ["happy"] * 5, steps=10,
                              batch_size=25)  # fmt: skip
    assert calls == [22, 22, 11]  # two faces' 11 steps per call


def test_pixel_ranks_order_by_value_and_break_ties_at_random():
    maps = np.zeros((2, 4, 4))
    maps[:, 0, 0] = 5.0
    maps[:, 3, 3] = -1.0
    ranks = faith.pixel_ranks(maps, seed=0)
    assert sorted(ranks[0].ravel()) == list(range(16))
    assert ranks[0, 0, 0] == 0 and ranks[0, 3, 3] == 15
    assert not np.array_equal(ranks[0], ranks[1])  # ties ordered differently per face


def test_baseline_faces(happy_faces):
    mean = faith.baseline_faces(happy_faces[:2], "mean")
    assert mean.dtype == np.uint8 and mean.shape == (2, SIZE, SIZE)
    assert np.ptp(mean[0]) == 0 and abs(int(mean[0, 0, 0]) - happy_faces[0].mean()) <= 0.5
    blurred = faith.baseline_faces(happy_faces[:2], "blur", blur=3.0)
    assert blurred.shape == (2, SIZE, SIZE) and blurred.std() < happy_faces[:2].std()
    colour = np.repeat(happy_faces[:2, ..., None], 3, axis=-1)
    assert faith.baseline_faces(colour, "blur").shape == colour.shape
    with pytest.raises(ValueError, match="baseline must be one of blur, mean, got 'zero'"):
        faith.baseline_faces(happy_faces, "zero")


def test_faithfulness_refuses_bad_inputs(hog_model, happy_faces):
    maps = np.zeros((len(happy_faces), SIZE, SIZE))
    targets = ["happy"] * len(happy_faces)
    with pytest.raises(ValueError, match="maps of shape .* do not fit faces of shape"):
        faith.perturbation_curves(hog_model, happy_faces, maps[:3], targets)
    with pytest.raises(ValueError, match="kind must be one of deletion, insertion"):
        faith.perturbation_curves(hog_model, happy_faces, maps, targets, kind="erase")
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        faith.perturbation_curves(hog_model, happy_faces, maps, targets, steps=0)
    with pytest.raises(ValueError, match="targets must hold one class per face"):
        faith.perturbation_curves(hog_model, happy_faces, maps, targets[:2])
    with pytest.raises(LabelError, match="'joy' is not one of the model's classes"):
        faith.perturbation_curves(hog_model, happy_faces, maps, targets,
                                  labels=["joy"] * len(happy_faces))  # fmt: skip
    with pytest.raises(ValueError, match="probability columns of the model's 2 classes"):
        faith.perturbation_curves(hog_model, happy_faces, maps, np.full(len(maps), 5))
    with pytest.raises(ValueError, match="NaN or infinite"):
        faith.perturbation_curves(hog_model, happy_faces, maps + np.nan, targets)


# -- per-class maps and the gallery ----------------------------------------------------------


def test_per_class_maps_find_the_mouth_for_happy(hog_model, bar_data, tmp_path):
    occlusion = registry.create("explainer", "occlusion")
    saliency = explain_classes(hog_model, bar_data.images[:40], bar_data.label_names[:40],
                               occlusion)  # fmt: skip
    assert saliency.classes == ("happy", "sad") and list(saliency.counts) == [20, 20]
    assert saliency.maps.shape == (2, SIZE, SIZE) and saliency.maps.max() <= 1.0
    rows = {r["class"]: r for r in saliency.summary()}
    assert rows["happy"]["bands"]["lower"] > 0.5, rows["happy"]
    result = write_class_saliency(saliency, tmp_path / "out", {"method": "occlusion"})
    assert (tmp_path / "out" / "class_saliency.png").is_file()
    assert json.loads((tmp_path / "out" / "class_saliency.json").read_text()) == result
    assert result["method"] == "occlusion" and result["classes"][0]["faces"] == 20


def test_class_saliency_checks_its_inputs(bar_data):
    faces = bar_data.images[:4]
    with pytest.raises(ValueError, match="one map and one class per face"):
        class_saliency(np.zeros((3, SIZE, SIZE)), faces, np.zeros(4, int), ["a", "b"])
    with pytest.raises(ValueError, match="class positions from 0 to 1"):
        class_saliency(np.zeros((4, SIZE, SIZE)), faces, np.array([0, 1, 2, 0]), ["a", "b"])
    assert np.allclose(normalized(np.array([[[2.0, -1.0]], [[0.0, 0.0]]])), [[[1, 0]], [[0, 0]]])


def test_confused_pairs_most_frequent_first():
    true = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    said = np.array([1, 1, 0, 0, 1, 0, 1, 1, 1])
    confidence = np.array([0.6, 0.9, 1, 1, 1, 0.5, 0.7, 0.8, 0.1])
    pairs = confused_pairs(true, said, ["a", "b", "c"], top=5, confidence=confidence)
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [
        ("c", "b", 3), ("a", "b", 2), ("b", "a", 1), ("c", "a", 1)]  # fmt: skip
    assert pairs[0]["faces"] == [7, 6, 8] and pairs[0]["share"] == 0.75
    assert len(confused_pairs(true, said, ["a", "b", "c"], top=1)) == 1
    with pytest.raises(ValueError, match="top must be at least 1"):
        confused_pairs(true, said, ["a", "b", "c"], top=0)


def test_gallery_pictures_the_confusions(hog_model, bar_data, tmp_path):
    faces = bar_data.images[:30]
    labels = list(bar_data.label_names[:30])
    for i in (0, 2, 4):  # three happy faces said to be sad: the model calls them happy
        labels[i] = "sad"
    labels[1] = "happy"  # one sad face said to be happy
    result = misclassification_gallery(hog_model, faces, labels,
                                       registry.create("explainer", "occlusion"), tmp_path,
                                       examples=2, rows=[f"row{i}" for i in range(30)])  # fmt: skip
    assert result["errors"] == 4
    (first, second) = result["pairs"]
    assert (first["true"], first["predicted"], first["count"]) == ("sad", "happy", 3)
    assert (second["true"], second["predicted"], second["count"]) == ("happy", "sad", 1)
    assert len(first["examples"]) == 2 and first["examples"][0]["row"] in ("row0", "row2", "row4")
    assert first["image"] == "gallery/1-sad-as-happy.png"
    assert (tmp_path / first["image"]).is_file() and (tmp_path / second["image"]).is_file()
    assert json.loads((tmp_path / "gallery.json").read_text()) == json.loads(json.dumps(result))
    with pytest.raises(LabelError, match="'joy' is not one of the model's classes"):
        misclassification_gallery(hog_model, faces[:2], ["joy", "sad"],
                                  registry.create("explainer", "occlusion"), tmp_path)  # fmt: skip
    with pytest.raises(ValueError, match="labels has 1 entries for 2 faces"):
        misclassification_gallery(hog_model, faces[:2], ["sad"],
                                  registry.create("explainer", "occlusion"), tmp_path)  # fmt: skip


# -- the command -----------------------------------------------------------------------------


def test_cli_checks_a_dataset_split(hog_model, bar_data, tmp_path):
    saved = tmp_path / "hog.fer"
    ferengine.save(hog_model, saved)
    write_image_folder(tmp_path / "data", bar_data)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "explain", str(saved), "--method", "occlusion", "--dataset", "image-folder",
        "--path", str(tmp_path / "data"), "--split", "train", "--limit", "40",
        "--out", str(out), "--sanity", "--faithfulness", "--steps", "8", "--per-class",
        "--gallery", "--gallery-pairs", "2", "--param", "stride=8",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "explanations.json").read_text())
    found = report["checks"]
    assert set(found) == {"sanity", "faithfulness", "per_class", "gallery"}
    sanity = json.loads((out / "sanity.json").read_text())
    assert sanity["stages"][0]["randomized"] == "all" and sanity["faces"] == 40
    faithful = json.loads((out / "faithfulness.json").read_text())
    assert faithful["steps"] == 8 and faithful["deletion"]["accuracy"] is not None
    assert faithful["deletion"]["auc"] == found["faithfulness"]["deletion_auc"]
    assert faithful["random_smooth"]["deletion"]["auc"] == (
        found["faithfulness"]["random_smooth_deletion_auc"])  # fmt: skip
    for name in ("faithfulness.png", "class_saliency.png", "class_saliency.json", "gallery.json"):
        assert (out / name).is_file(), name
    text = " ".join(result.output.split())
    assert "faithfulness: deletion AUC" in text and "sanity: rank correlation" in text


def test_a_datasets_classes_meet_the_models_by_canonical_name(bar_data, tmp_path):
    """A model trained in ferplus8 (happiness, sadness) explains a fer7 dataset (happy, sad)."""
    from ferengine.explain.run import Checks, explain_dataset

    ferplus = bar_data.map_labels(ferengine.mapping("fer7", "ferplus8"))
    model = ferengine.pipeline(("hog", {"cell": 8}), "logistic").fit(ferplus)
    checks = Checks(faithfulness=True, steps=4, per_class=True)
    report = explain_dataset(bar_data, model, "occlusion", out=tmp_path, limit=20,
                             params={"stride": 8}, checks=checks)  # fmt: skip
    assert report["checks"]["per_class"]["skipped"] == 0
    saliency = json.loads((tmp_path / "class_saliency.json").read_text())
    assert {"happiness", "sadness"} <= set(json.dumps(saliency).split('"'))
    faithful = json.loads((tmp_path / "faithfulness.json").read_text())
    assert faithful["deletion"]["accuracy"] is not None  # every face's true class is known


def test_cli_refuses_dataset_checks_on_photos(hog_model, bar_data, tmp_path):
    saved = tmp_path / "hog.fer"
    ferengine.save(hog_model, saved)
    photo = tmp_path / "a.png"
    cv2.imwrite(str(photo), bar_data.images[0])
    for flag in ("--per-class", "--gallery"):
        args = [str(saved), str(photo), "--method", "occlusion", flag, "--out", str(tmp_path)]
        result = CliRunner().invoke(main, ["explain", *args])
        assert result.exit_code != 0
        assert f"{flag} need --dataset" in " ".join(result.output.split())
