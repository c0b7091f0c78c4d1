"""Videos: the detector runs every ``detect_every`` processed frames, optical flow in between."""

import json
import math

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import ferengine
from ferengine.cli import main
from ferengine.plugin import FaceDetector, Found
from ferengine.prediction.predictor import ALIGNMENTS, FacePredictor
from ferengine.prediction.run import read_jsonl
from ferengine.prediction.tracking import FlowTracker, IoUTracker
from ferengine.prediction.video import TRACKED, VideoFaces

SIZE = (240, 320)  # frame height, width


def texture(side, seed):
    """A bright blotchy square (values 140-255) that optical flow can hold on to."""
    rng = np.random.default_rng(seed)
    small = rng.integers(140, 256, (side // 6, side // 6), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (side, side), interpolation=cv2.INTER_NEAREST),
                            (5, 5), 0)  # fmt: skip


def background(seed=0):
    """A dark, smooth background (values 20-90): nothing on it passes for a face."""
    rng = np.random.default_rng(seed)
    small = rng.integers(20, 90, (4, 5), dtype=np.uint8)
    return cv2.resize(small, SIZE[::-1], interpolation=cv2.INTER_CUBIC)


def write_video(path, boxes_per_frame, seeds=(1, 2)):
    """Write an MP4 of bright squares at the given ``(x, y, side)``s on a dark background.

    ``boxes_per_frame[t]`` lists one ``(x, y, side)`` (or None: absent) per square; each
    square's texture is one pattern scaled to its side. Returns the true (x, y, w, h) boxes.
    """
    bases = [texture(120, seed) for seed in seeds]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, SIZE[::-1])
    truth = []
    for squares in boxes_per_frame:
        frame = background()
        truth.append([])
        for base, square in zip(bases, squares, strict=False):
            if square is None:
                truth[-1].append(None)
                continue
            x, y, side = (round(v) for v in square)
            patch = cv2.resize(base, (side, side), interpolation=cv2.INTER_AREA)
            part = frame[y : y + side, x : x + side]  # clipped at the frame's edge
            part[:] = patch[: part.shape[0], : part.shape[1]]
            truth[-1].append((x, y, side, side))
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    return truth


class BrightDetector(FaceDetector):
    """Finds bright squares by threshold, and counts the video frames it is run on."""

    name = "bright"

    def __init__(self, mode="all", max_side=None, eyes=False):
        self.mode = mode
        self.max_side = max_side
        self.eyes = eyes
        self.calls = 0

    def _find(self, grey):
        if grey.shape == SIZE:  # not the predictor's warm-up on a blank image
            self.calls += 1
        mask = (grey > 120).astype(np.uint8)
        _, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        found = []
        for x, y, w, h, area in stats[1:].astype(float):
            if area > 200:
                eyes = np.array([(x + 0.3 * w, y + 0.4 * h), (x + 0.7 * w, y + 0.4 * h)])
                found.append(Found(x, y, w, h, 1.0, eyes if self.eyes else None))
        return found


def moving(t):
    """Square 1 drifts right and grows (60 → 90 px); square 2 drifts left and down."""
    side = 60 + 1.5 * t
    return [(20 + 4 * t, 40 + 1.0 * t, side), (260 - 2 * t, 20 + 2 * t, 50)]


def run(path, model_file, eyes=False, **kw):
    detector = BrightDetector(eyes=eyes)
    rows = ferengine.predict(path, model=str(model_file), detector=detector, **kw)
    return rows, detector


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "squares.mp4"
    truth = write_video(path, [moving(t) for t in range(21)])
    return path, truth


def corner_error(box, true):
    """The largest distance of a box edge from the true box's, in pixels."""
    (x0, y0, w0, h0), (x1, y1, w1, h1) = box, true
    return max(abs(x0 - x1), abs(y0 - y1), abs(x0 + w0 - x1 - w1), abs(y0 + h0 - y1 - h1))


def test_the_detector_runs_on_every_nth_processed_frame_and_flow_moves_the_boxes(clip, model_file):
    path, truth = clip
    rows, detector = run(path, model_file, stride=2, detect_every=3)
    assert [r["frame"] for r in rows] == list(range(0, 21, 2))  # 11 processed frames
    assert detector.calls == 4  # processed frames 0, 3, 6, 9: video frames 0, 6, 12, 18
    detected = [r["frame"] for r in rows if all(f.get("found_by") != TRACKED for f in r["faces"])]
    assert detected == [0, 6, 12, 18]
    for row in rows:
        assert len(row["faces"]) == 2
        for face in row["faces"]:
            true = min(truth[row["frame"]], key=lambda b: abs(b[0] - face["box"][0]))
            assert corner_error(face["box"], true) <= 3, (row["frame"], face["box"], true)
    tracked = [f for r in rows for f in r["faces"] if f.get("found_by") == TRACKED]
    assert len(tracked) == 2 * 7 and all(f["score"] is None for f in tracked)
    every = run(path, model_file, stride=2, detect_every=1)[1]
    assert every.calls == 11


def test_track_ids_persist_across_detection_and_tracked_frames(clip, model_file):
    rows, _ = run(clip[0], model_file, detect_every=4)
    ids = [{f["track"]: f["box"][0] for f in r["faces"]} for r in rows]
    assert all(t.keys() == {1, 2} for t in ids)
    left = min(ids[0], key=ids[0].get)
    assert [t[left] for t in ids] == sorted(t[left] for t in ids)  # moves right, never swaps


def test_tracked_rows_have_the_structure_of_detected_rows(clip, model_file, tmp_path):
    rows, _ = run(clip[0], model_file, detect_every=5, labels="valence3", smooth=3, out=tmp_path)
    assert all(r.keys() == rows[0].keys() for r in rows)
    detected = rows[0]["faces"][0]
    tracked = rows[1]["faces"][0]
    assert tracked["found_by"] == TRACKED
    assert set(tracked) == set(detected) | {"found_by"}
    assert tracked["alignment"] in ALIGNMENTS and tracked["score"] is None
    assert tracked["valence"] in {"positive", "neutral", "negative"}
    assert sum(tracked["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    assert read_jsonl(tmp_path / "predictions.jsonl") == rows


def test_a_track_whose_points_are_lost_ends_until_a_detection_finds_the_face(model_file, tmp_path):
    """Square 1 vanishes at frame 3 and comes back at frame 12; square 2 leaves the frame."""
    frames = []
    for t in range(16):
        one = (100 + 2 * t, 60, 70) if not 3 <= t < 12 else None
        two = (200 + 20 * t, 120, 60) if t < 8 else None  # its centre leaves at t ≈ 5
        frames.append([one, two])
    write_video(tmp_path / "lost.mp4", frames)
    rows, detector = run(tmp_path / "lost.mp4", model_file, detect_every=5)
    assert detector.calls == 4  # frames 0, 5, 10, 15
    tracks = [{f["track"] for f in r["faces"]} for r in rows]
    assert tracks[:3] == [{1, 2}] * 3
    assert all(1 not in t for t in tracks[3:12])  # lost when it vanished, not followed
    assert all(2 not in t for t in tracks[6:])  # lost when it left the frame
    assert tracks[12:15] == [set()] * 3  # back at 12, but no detection until frame 15
    assert tracks[15] == {3}  # a new track: the old one ended (unseen for > 5 frames)
    assert all(r["error"] is None for r in rows)


@pytest.mark.parametrize("face_side", [64, 20])  # 20: frames halved, the 40-px box is 20 px
def test_flow_tracker_follows_shift_and_scale_and_drops_what_it_cannot_see(face_side):
    base = texture(120, 3)
    prev, nxt = background(), background()
    prev[50:150, 60:160] = cv2.resize(base, (100, 100), interpolation=cv2.INTER_AREA)
    nxt[55:165, 67:177] = cv2.resize(base, (110, 110), interpolation=cv2.INTER_AREA)
    flat = np.full(SIZE, 60, np.uint8)
    prev[150:190, 200:240] = nxt[150:190, 200:240] = 60
    flow = FlowTracker(face_side=face_side)
    moved, whole, empty = flow.move(
        prev, nxt, [(60, 50, 100, 100), (0, 0, SIZE[1], SIZE[0]), (200, 150, 40, 40)]
    )
    np.testing.assert_allclose(moved, (67, 55, 110, 110), atol=1.5)
    assert whole == (0, 0, SIZE[1], SIZE[0])  # the whole frame is the face: not moved
    assert empty is None  # no corners in a flat box
    assert flow.move(prev, flat, [(60, 50, 100, 100)]) == [None]  # the face vanished


def test_the_detector_keypoints_move_with_a_tracked_box_and_level_its_crop(clip, model_file):
    path, truth = clip
    predictor = FacePredictor(str(model_file), BrightDetector(eyes=True), landmarks=False)
    faces = VideoFaces(predictor, detect_every=4)
    capture = cv2.VideoCapture(str(path))
    for t in range(12):
        frame = capture.read()[1]
        found, ids = faces.find(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB),
                                cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))  # fmt: skip
        assert ids == [1, 2] and {f.face.found_by == TRACKED for f in found.faces} == {t % 4 > 0}
        for f, (x, y, w, h) in zip(found.faces, truth[t], strict=True):
            assert f.alignment == "keypoints"  # "box" had the keypoints been left behind
            eyes = [(x + 0.3 * w, y + 0.4 * h), (x + 0.7 * w, y + 0.4 * h)]
            np.testing.assert_allclose(f.face.keypoints, eyes, atol=2.5)
    capture.release()


def test_iou_tracker_follow_moves_live_tracks_and_ages_the_others():
    tracker = IoUTracker(max_age=1)
    assert tracker.update([(0, 0, 10, 10), (50, 50, 10, 10)]) == [1, 2]
    tracker.follow({1: (3, 0, 10, 10)})
    assert tracker.seen() == {1: (3, 0, 10, 10)}
    assert tracker.update([(4, 1, 10, 10), (51, 50, 10, 10)]) == [1, 2]  # 2 unseen once: kept
    tracker.follow({})
    tracker.follow({})
    assert tracker.seen() == {} and tracker.update([(51, 50, 10, 10)]) == [3]
    with pytest.raises(KeyError, match="track 1"):
        tracker.follow({1: (0, 0, 10, 10)})


@pytest.mark.parametrize("value", [0, -2, 1.5, True, "5"])
def test_detect_every_must_be_a_positive_int(value, model_file):
    with pytest.raises(ValueError, match="detect_every must be an int ≥ 1"):
        ferengine.predict(np.zeros((50, 50), np.uint8), model=str(model_file), detect_every=value)


def test_cli_passes_detect_every_and_names_it_when_wrong(clip, model_file, tmp_path):
    args = ["predict", str(clip[0]), "--model", str(model_file), "--detector", "none", "--json"]
    result = CliRunner().invoke(main, [*args, "--detect-every", "0"])
    assert result.exit_code != 0 and "--detect-every" in result.output
    result = CliRunner().invoke(main, [*args, "--detect-every", "4", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    found_by = [r["faces"][0].get("found_by") for r in rows]
    assert [f == TRACKED for f in found_by] == [i % 4 != 0 for i in range(len(rows))]
    assert all(r["faces"][0]["box"] == [0, 0, 320, 240] for r in rows)  # the frame stays whole
    assert math.isfinite(rows[0]["faces"][0]["confidence"])
