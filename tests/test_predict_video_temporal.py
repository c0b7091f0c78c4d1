"""``predict`` on video with a temporal model: clip rows per face track over a sliding window."""

import importlib.util
import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import ferengine
from ferengine.cli import main
from ferengine.prediction.annotate import label_text
from ferengine.prediction.predictor import FacePredictor
from ferengine.prediction.run import PHOTO_FOR_CLIPS, read_jsonl
from ferengine.prediction.windows import DEFAULT_WINDOW, ClipWindows, SequenceModel, model_window
from ferengine.sequences import as_clips, clip_frame_shape

needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("skorch") is None,
    reason="the temporal heads need the deep extra (torch, skorch)",
)
FAST = {"max_epochs": 2, "validation_fraction": 0.0}
FRAMES = 20  # of the fixture video
FPS = 10


@pytest.fixture(scope="module")
def clips():
    """Synthetic face clips (48×48), the data the fixture models are fitted on."""
    ds = ferengine.load_dataset("synthetic-sequences", n_subjects=3, clips_per_class=1,
                                classes=("happy", "surprise"), frames=(8, 10))  # fmt: skip
    return ds


@pytest.fixture(scope="module")
def temporal_file(clips, tmp_path_factory):
    """A saved frame-features(hog) → temporal-rnn model of 48×48 clips."""
    pipe = ferengine.pipeline("frame-features", ("temporal-rnn", {"module__hidden": 8, **FAST}),
                              label_space=clips.label_space)  # fmt: skip
    if importlib.util.find_spec("torch") is None:
        pytest.skip("the temporal heads need the deep extra (torch, skorch)")
    path = tmp_path_factory.mktemp("model") / "temporal.fer"
    ferengine.save(pipe.fit(clips.clips, clips.label_names), path)
    return path


@pytest.fixture(scope="module")
def clip_frames(clips):
    """A clip-frames model (a still pipeline averaged over the frames): no frame-features."""
    model = ferengine.pipeline(("clip-frames", {"estimator": [("pixels", {"size": 12}),
                                                              "logistic"]}))  # fmt: skip
    return model.fit(clips.clips, clips.labels)


@pytest.fixture(scope="module")
def faces():
    """Synthetic faces upsampled to 160×160 that the Haar cascade finds."""
    ds = ferengine.load_dataset("synthetic", n_subjects=4, per_expression=1, size=48)
    big = [cv2.resize(im, (160, 160), interpolation=cv2.INTER_CUBIC) for im in ds.images]
    haar = ferengine.registry.create("detector", "haar")
    return [im for im in big if len(haar.detect(im)) == 1][:2]


def write_video(path, faces, frames=FRAMES, second_from=0):
    """Two faces gliding towards each other; the second one appears on ``second_from``."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (640, 480))
    for t in range(frames):
        frame = np.full((480, 640, 3), 70, np.uint8)
        frame[60:220, 40 + 5 * t : 200 + 5 * t] = faces[0][..., None]
        if t >= second_from:
            frame[260:420, 440 - 4 * t : 600 - 4 * t] = faces[1][..., None]
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def video(faces, tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("video") / "two.mp4", faces)


def run(video, model, **kw):
    return ferengine.predict(video, model=str(model), detector="haar", **kw)


def test_each_track_gets_a_clip_per_frame_once_its_window_is_full(video, temporal_file):
    rows = run(video, temporal_file, window=8)
    assert [r["frame"] for r in rows] == list(range(FRAMES))  # no closing row: no short track
    seen: dict[int, list[int]] = {}
    for row in rows:
        assert len(row["faces"]) == 2
        for face in row["faces"]:
            assert "label" not in face and "probabilities" not in face  # clips carry the labels
            seen.setdefault(face["track"], []).append(row["frame"])
        assert {c["track"] for c in row["clips"]} == {
            t for t, frames in seen.items() if len(frames) >= 8
        }
        for clip in row["clips"]:
            frames = seen[clip["track"]]
            assert (clip["first_frame"], clip["last_frame"]) == (frames[-8], row["frame"])
            assert clip["first_time"] == pytest.approx(frames[-8] / FPS)
            assert clip["last_time"] == pytest.approx(row["frame"] / FPS)
            assert clip["frames"] == 8 and clip["error"] is None
            assert sum(clip["probabilities"].values()) == pytest.approx(1, abs=1e-3)
            assert clip["label"] == max(clip["probabilities"], key=clip["probabilities"].get)
    assert len(seen) == 2
    assert sum(len(r["clips"]) for r in rows) == 2 * (FRAMES - 8 + 1)


def test_stride_and_clip_every_set_which_windows_are_classified(video, temporal_file):
    rows = run(video, temporal_file, window=4, clip_every=3, stride=2, detect_every=1)
    assert [r["frame"] for r in rows] == list(range(0, FRAMES, 2))  # 10 processed frames
    by_track: dict[int, list[tuple[int, int]]] = {}
    for row in rows:
        for clip in row["clips"]:
            by_track.setdefault(clip["track"], []).append((clip["first_frame"], clip["last_frame"]))
            assert clip["last_frame"] == row["frame"]
    # windows end on a track's 4th, 7th and 10th processed frame: video frames 6, 12, 18
    assert list(by_track.values()) == [[(0, 6), (6, 12), (12, 18)]] * 2


def test_frame_features_are_computed_once_per_frame_and_match_the_whole_pipeline(clips):
    pipe = ferengine.pipeline("frame-features", ("temporal-pool", {"pooling": "meanstd"}),
                              "logistic").fit(clips.clips, clips.labels)  # fmt: skip
    model = SequenceModel(pipe)
    assert model.incremental
    first, second = clips.clips[0], clips.clips[3]  # two "tracks", one crop each per frame
    n = min(len(first), len(second))
    calls, transform = [], pipe[0].transform
    pipe[0].transform = lambda X: calls.append(len(X[0])) or transform(X)  # count the frames
    items = [model.frame_items([first[t], second[t]]) for t in range(n)]
    assert calls == [2] * n  # each frame described once, its two crops in one call
    del pipe[0].transform
    windows, due = ClipWindows(window=5, clip_every=2), []
    for t in range(n):
        due += windows.add(t, [1, 2], items[t])
    assert [(c.track, c.frames[0], c.frames[-1]) for c in due] == [
        (1, 0, 4), (2, 0, 4), (1, 2, 6), (2, 2, 6), (1, 4, 8), (2, 4, 8)
    ][: len(due)] and len(due) >= 4  # fmt: skip
    for clip in due:
        crops = (first if clip.track == 1 else second)[clip.frames[0] : clip.frames[-1] + 1]
        whole = pipe.predict_proba(as_clips([crops]))
        np.testing.assert_allclose(model.probabilities([clip.items]), whole, rtol=1e-5)


@needs_torch
def test_a_temporal_head_gives_the_same_probabilities_as_on_the_window(clips, temporal_file):
    pipe = ferengine.load(temporal_file)
    model = SequenceModel(pipe)
    crops = clips.clips[1]
    items = [model.frame_items([crop])[0] for crop in crops]
    np.testing.assert_allclose(model.probabilities([items[:6], items[2:8]]),
                               pipe.predict_proba(as_clips([crops[:6], crops[2:8]])),
                               rtol=1e-4, atol=1e-6)  # fmt: skip


def test_clip_models_without_frame_features_get_the_stacked_crops(video, clip_frames, clips):
    model = SequenceModel(clip_frames)
    assert not model.incremental
    crops = list(clips.clips[2][:6])
    np.testing.assert_allclose(model.probabilities([model.frame_items(crops)]),
                               clip_frames.predict_proba(as_clips([np.stack(crops)])))  # fmt: skip
    rows = ferengine.predict(video, model=clip_frames, detector="haar", window=6)
    assert sum(len(r["clips"]) for r in rows) == 2 * (FRAMES - 6 + 1)


def test_tracks_shorter_than_the_window_get_a_note_not_a_crash(faces, temporal_file, tmp_path):
    path = write_video(tmp_path / "late.mp4", faces, frames=12, second_from=6)
    out = tmp_path / "out"
    rows = run(path, temporal_file, window=8, out=out, detect_every=1)
    first = rows[0]["faces"][0]["track"]
    assert {c["track"] for r in rows[:12] for c in r["clips"]} == {first}  # 12 ≥ 8 frames
    last = rows[-1]
    assert last["frame"] is None and last["error"] is None and last["faces"] == []
    (note,) = last["clips"]
    assert note["track"] != first and note["label"] is None and note["probabilities"] is None
    assert (note["first_frame"], note["last_frame"], note["frames"]) == (6, 11, 6)
    assert note["error"] == (
        f"track {note['track']} lasted 6 processed frames (frames 6–11), the model needs 8"
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"] == 12 - 8 + 1 and summary["short_tracks"] == 1
    assert summary["errors"] == 0 and summary["videos"][0]["frames_read"] == 12
    assert {"decode", "features", "clip-model", "annotate"} <= set(summary["video_stages"])
    assert [r["frame"] for r in read_jsonl(out / "predictions.jsonl")] == [*range(12), None]
    capture = cv2.VideoCapture(str(next((out / "annotated").glob("*.mp4"))))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12


def test_as_frame_gives_frame_and_clip_rows(video, temporal_file):
    frame = run(video, temporal_file, window=16, as_frame=True)
    assert list(frame.columns[:8]) == ["input", "kind", "frame", "track", "first_frame",
                                       "last_frame", "first_time", "last_time"]  # fmt: skip
    faces, clips = frame[frame["kind"] == "frame"], frame[frame["kind"] == "clip"]
    assert len(faces) == 2 * FRAMES and faces["label"].isna().all()
    assert len(clips) == 2 * (FRAMES - 16 + 1) and clips["frame"].isna().all()
    assert (clips["last_frame"] - clips["first_frame"] == 15).all()
    assert clips["label"].notna().all() and clips["error"].isna().all()
    classes = list(frame.columns[frame.columns.get_loc("confidence") + 1 : -1])
    assert "happy" in classes and np.allclose(clips[classes].sum(axis=1), 1, atol=1e-3)


def test_a_still_model_keeps_its_per_frame_labels(video, model_file):
    rows = run(video, model_file)
    assert all("clips" not in r and all("label" in f for f in r["faces"]) for r in rows)
    assert "kind" not in run(video, model_file, stride=10, as_frame=True).columns
    with pytest.raises(ValueError, match="window only apply to temporal models"):
        run(video, model_file, window=8)


def test_a_temporal_model_refuses_photos(faces, video, temporal_file, tmp_path):
    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), faces[0])
    with pytest.raises(ValueError, match="temporal model .* but no input is a video: .*face.png"):
        run(photo, temporal_file)
    with pytest.raises(ValueError, match="temporal model"):
        FacePredictor(str(temporal_file), detector="haar").probabilities([faces[0]])
    rows = run([photo, video], temporal_file, stride=4, window=2)
    assert rows[0] == {"input": str(photo), "faces": [], "error": PHOTO_FOR_CLIPS}
    assert rows[1]["frame"] == 0 and rows[-1]["clips"]


def test_cli_prints_the_clips_and_writes_them(video, temporal_file, tmp_path):
    out = tmp_path / "out"
    args = ["predict", str(video), "--model", str(temporal_file), "--detector", "haar",
            "--window", "10", "--clip-every", "5", "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "clips classified" in result.output and "0 tracks too short" in result.output
    rows = read_jsonl(out / "predictions.jsonl")
    ends = [c["last_frame"] for r in rows for c in r["clips"]]
    assert sorted(ends) == [9, 9, 14, 14, 19, 19]
    bad = CliRunner().invoke(main, [*args[:-2], "--window", "0"])
    assert bad.exit_code != 0 and "--window" in bad.output


def test_which_models_take_clips_and_their_windows(clips, clip_frames, model_file, temporal_file):
    assert clip_frame_shape(ferengine.load(model_file)) is None  # a still pipeline
    assert clip_frame_shape(ferengine.load(temporal_file)) == (48, 48)
    assert clip_frame_shape(clip_frames) == (48, 48)
    assert model_window(clip_frames) == DEFAULT_WINDOW
    if importlib.util.find_spec("torch") is not None:
        sequences = ferengine.load(temporal_file)[0].transform(clips.clips)
        head = ferengine.pipeline(("temporal-rnn", FAST)).fit(sequences, clips.labels)
        assert clip_frame_shape(head) is None  # it takes feature sequences, not clips
        c3d = ferengine.pipeline(("c3d", {"frames": 6, "module__channels": (4,), **FAST}))
        c3d.fit(clips.clips, clips.labels)
        assert clip_frame_shape(c3d) == (48, 48) and model_window(c3d) == 6


def test_faces_without_a_label_are_drawn_with_their_track():
    assert label_text({"box": [0, 0, 9, 9], "track": 3}) == "#3"
    assert label_text({"box": [0, 0, 9, 9], "track": 3, "label": "happy", "confidence": 0.5},
                      number=1) == "1 #3 happy 0.50"  # fmt: skip
