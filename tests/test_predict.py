"""``ferengine predict`` and ``ferengine.predict``: photos, folders, bad files and videos."""

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import ferengine
from ferengine.cli import main
from ferengine.prediction.run import AnnotatedCopies, read_jsonl, timing_summary
from ferengine.prediction.tracking import IoUTracker, Smoother, iou_matrix
from ferengine.spec import load_spec

from .conftest import ROOT

AUTO_STAGES = ("blazeface", "blazeface-padded", "blazeface-rotated", "dlib-mmod", "whole-image")


@pytest.fixture(scope="module")
def faces():
    """Synthetic faces upsampled to 160×160 that the Haar cascade finds, and a model file."""
    ds = ferengine.load_dataset("synthetic", n_subjects=4, per_expression=1, size=48)
    big = [cv2.resize(im, (160, 160), interpolation=cv2.INTER_CUBIC) for im in ds.images]
    haar = ferengine.registry.create("detector", "haar")
    return [im for im in big if len(haar.detect(im)) == 1][:6]


def scene(face, where, size=(480, 640)):
    image = np.full((*size, 3), 100, np.uint8)
    x, y = where
    image[y : y + face.shape[0], x : x + face.shape[1]] = face[..., None]
    return image


def test_folder_with_good_and_bad_files_gives_one_row_per_input(faces, model_file, tmp_path):
    folder = tmp_path / "in"
    (folder / "nested").mkdir(parents=True)
    cv2.imwrite(str(folder / "photo.jpg"), scene(faces[0], (200, 120)))
    cv2.imwrite(str(folder / "nested" / "grey16.png"), faces[1].astype(np.uint16) * 257)
    rgba = np.dstack([scene(faces[2], (40, 40)), np.full((480, 640), 255, np.uint8)])
    cv2.imwrite(str(folder / "nested" / "rgba.png"), rgba)
    cv2.imwrite(str(folder / "blank.png"), np.full((120, 160), 90, np.uint8))
    (folder / "notes.txt").write_text("not an image")
    jpeg = (folder / "photo.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "broken.mp4").write_bytes(b"not a video")
    out = tmp_path / "out"
    args = ["predict", str(folder), str(tmp_path / "missing.png"), "--model", str(model_file)]
    result = CliRunner().invoke(main, [*args, "--out", str(out), "--labels", "valence3"])
    assert result.exit_code == 0, result.output
    rows = {r["input"].split("/")[-1]: r for r in read_jsonl(out / "predictions.jsonl")}
    assert len(rows) == 8  # one per input, bad ones included
    for name in ("photo.jpg", "grey16.png", "rgba.png"):
        (face,) = rows[name]["faces"]
        assert rows[name]["error"] is None and face["found_by"] in AUTO_STAGES
        if face["alignment"] == "landmarks":
            assert len(face["landmarks"]) == 68
        else:  # the landmark fit on a drawn face was not plausible
            assert face["alignment"] in ("keypoints", "box") and face["landmarks"] is None
        assert sum(face["probabilities"].values()) == pytest.approx(1, abs=1e-3)
        assert face["valence"] in ("positive", "neutral", "negative")
    x, y, w, h = rows["photo.jpg"]["faces"][0]["box"]
    assert abs(x + w / 2 - 280) < 20 and abs(y + h / 2 - 200) < 20
    reasons = {name: rows[name]["error"] for name in rows}
    assert reasons["blank.png"] == "no face found"
    assert reasons["notes.txt"].startswith("not an image")
    assert "truncated" in reasons["truncated.jpg"]
    assert reasons["missing.png"] == "no such file"
    assert reasons["broken.mp4"].startswith("unreadable video")
    assert len(list((out / "annotated").iterdir())) == 4  # every readable image, in its format
    summary = json.loads((out / "summary.json").read_text())
    assert summary["faces"] == 3 and summary["errors"] == 4 and summary["no_face"] == 1
    assert summary["preprocessing"]["n"] == 4
    stages = summary["stages"]
    assert stages["read"]["images"] == 4 and stages["blazeface"]["images"] == 4
    assert sum(stage["faces"] for stage in stages.values()) == 3
    assert set(stages) - {"read", "landmarks", "crop"} <= set(AUTO_STAGES)


def test_python_api_takes_arrays_and_labels_low_confidence_faces_uncertain(faces, model_file):
    rows = ferengine.predict([scene(faces[0], (10, 10)), faces[1]], model=str(model_file))
    assert [r["input"] for r in rows] == ["<image 0>", "<image 1>"]
    assert all(len(r["faces"]) == 1 for r in rows)
    unsure = ferengine.predict(faces[0], model=str(model_file), min_confidence=1.0)
    assert unsure[0]["faces"][0]["label"] == "uncertain"
    (whole,) = ferengine.predict(faces[0], model=str(model_file), detector="none")[0]["faces"]
    assert whole["box"] == [0, 0, 160, 160]


def test_video_faces_keep_their_track_ids(faces, model_file, tmp_path):
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for t in range(12):
        frame = np.full((480, 640, 3), 60 + 5 * t, np.uint8)  # the background brightens
        frame[::40] = 200  # and its stripes move
        frame = np.roll(frame, 3 * t, axis=0)
        frame[100:260, 40 + 6 * t : 200 + 6 * t] = faces[0][..., None]
        frame[200:360, 420 - 5 * t : 580 - 5 * t] = faces[1][..., None]
        writer.write(frame)
    writer.release()
    out = tmp_path / "out"
    rows = ferengine.predict(
        path, model=str(model_file), out=out, stride=2, smooth=3, detector="haar"
    )  # drawn faces: the cascade finds them all
    assert [r["frame"] for r in rows] == list(range(0, 12, 2))
    tracks = [{f["track"]: f["box"][0] for f in r["faces"]} for r in rows]
    assert all(len(t) == 2 for t in tracks)
    assert all(t.keys() == tracks[0].keys() for t in tracks)  # stable ids
    left = min(tracks[0], key=tracks[0].get)
    assert [t[left] for t in tracks] == sorted(t[left] for t in tracks)  # the left face moves right
    (copy,) = (out / "annotated").glob("*.mp4")
    assert copy.name.endswith("_clip.mp4") and not copy.name.endswith(".mp4.mp4")
    capture = cv2.VideoCapture(str(copy))
    assert capture.isOpened() and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12


def test_tracker_matches_by_overlap_and_retires_lost_tracks():
    tracker = IoUTracker(threshold=0.3, max_age=1)
    assert tracker.update([(0, 0, 10, 10), (50, 50, 10, 10)]) == [1, 2]
    assert tracker.update([(52, 51, 10, 10), (1, 1, 10, 10)]) == [2, 1]
    assert tracker.update([(200, 200, 10, 10)]) == [3]
    tracker.update([])
    assert tracker.update([(0, 0, 10, 10)]) == [4]  # track 1 was unseen for too long
    np.testing.assert_allclose(iou_matrix([(0, 0, 10, 10)], [(5, 0, 10, 10)]), [[50 / 150]])


def test_smoother_averages_a_track_over_its_window():
    smooth = Smoother(window=2)
    smooth.update(1, np.array([1.0, 0.0]))
    smooth.update(1, np.array([0.0, 1.0]))
    np.testing.assert_allclose(smooth.update(1, np.array([0.0, 1.0])), [0.0, 1.0])
    np.testing.assert_allclose(smooth.update(2, np.array([0.4, 0.6])), [0.4, 0.6])


def test_timing_summary_gives_milliseconds():
    summary = timing_summary([0.05, 0.15, 0.02, 0.08])
    assert summary["median_ms"] == 65.0 and summary["max_ms"] == 150.0 and summary["n"] == 4


def test_bad_options_are_named(model_file):
    with pytest.raises(ValueError, match="labels"):
        ferengine.predict(np.zeros((50, 50), np.uint8), model=str(model_file), labels="fer8")
    result = CliRunner().invoke(main, ["predict", "x.png", "--model", str(model_file),
                                       "--detector", "nope"])  # fmt: skip
    assert result.exit_code != 0 and "nope" in result.output


@pytest.mark.slow
def test_seed_recipe_keeps_its_preprocessing_inside_the_saved_model(tmp_path):
    pytest.importorskip("torch")
    spec = load_spec(ROOT / "benchmarks" / "models" / "seed-small32.toml")
    quick = {"max_epochs": 1, "validation_fraction": 0.0, "patience": None}
    steps = [("cnn", {**s["params"], **quick}) if s["name"] == "cnn" else s for s in spec.steps]
    ds = ferengine.load_dataset("synthetic", n_subjects=4, per_expression=2, size=96)
    model = ferengine.pipeline(*steps).fit(ds.images, ds.labels)
    ferengine.save(model, tmp_path / "seed.fer")
    loaded = ferengine.load(tmp_path / "seed.fer")
    assert [name for name, _ in loaded.steps] == ["clahe", "align", "cnn"]
    np.testing.assert_array_equal(loaded.predict(ds.images), model.predict(ds.images))
    rows = ferengine.predict(list(ds.images[:2]), model=loaded, detector="none")
    assert all(len(r["faces"]) == 1 for r in rows)


@pytest.mark.parametrize(
    "inputs, expected",
    [
        (["photo.png"], ["photo.png"]),
        (["../photo.png"], ["photo.png"]),
        (["./a/b/photo.JPG"], ["a_b_photo.JPG"]),
        (["/abs/dir/scan.gif"], ["abs_dir_scan.png"]),  # OpenCV cannot write GIF
        (["x.png", "../x.png", "./x.png"], ["x.png", "x-2.png", "x-3.png"]),
        (["<array 0>"], ["array_0.png"]),
    ],
)
def test_annotated_copies_keep_the_input_name_and_format_and_are_unique(inputs, expected, tmp_path):
    names = AnnotatedCopies(tmp_path)
    assert [names.path(name).name for name in inputs] == expected
    assert names.path("clips/run.avi", video=True).name == "clips_run.mp4"


def test_large_jpeg_is_decoded_reduced_and_boxes_come_back_in_file_pixels(faces, model_file,
                                                                          tmp_path):  # fmt: skip
    from ferengine.prediction.inputs import read_photo

    big = cv2.resize(faces[0], (1200, 1200), interpolation=cv2.INTER_CUBIC)
    photo = np.full((3000, 4000, 3), 100, np.uint8)
    photo[900:2100, 2200:3400] = big[..., None]
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), photo)
    image, factor = read_photo(path, reduce_to=1920)
    assert image.shape[:2] == (1500, 2000) and factor == 2.0
    assert read_photo(path)[1] == 1.0 and read_photo(path, reduce_to=2000)[1] == 1.0
    (row,) = ferengine.predict(path, model=str(model_file))
    (face,) = row["faces"]
    x, y, w, h = face["box"]
    assert abs(x + w / 2 - 2800) < 100 and abs(y + h / 2 - 1500) < 150 and w > 600


def test_levelled_crop_undoes_the_tilt_its_eye_line_shows(faces):
    from ferengine.prediction.predictor import crop_face

    image = cv2.resize(faces[0], (320, 320), interpolation=cv2.INTER_CUBIC)
    box = (60, 60, 200, 200)
    upright = crop_face(image, box, 0.2, (48, 48)).astype(int)
    clockwise = cv2.getRotationMatrix2D((160, 160), -25, 1.0)  # OpenCV: negative turns clockwise
    tilted = cv2.warpAffine(image, clockwise, (320, 320), borderMode=cv2.BORDER_REPLICATE)
    # turned clockwise, the image's right eye drops: the eye line's angle is +25°
    levelled = crop_face(tilted, box, 0.2, (48, 48), angle=25.0)
    wrong_way = crop_face(tilted, box, 0.2, (48, 48), angle=-25.0)
    assert np.abs(upright - levelled).mean() < 0.3 * np.abs(upright - wrong_way).mean()
