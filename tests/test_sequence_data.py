"""Sequence data: ckplus-sequences, video-folder, trim-neutral, clip augmentation, datasets show."""

import csv
import json
import re

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from ferengine_datasets import video_folder
from ferengine_preprocess.neutral_trim import trim_bounds
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator

import ferengine
from ferengine import registry
from ferengine.cli import main
from ferengine.clip_augment import clip_augment
from ferengine.dataset import FaceDataset
from ferengine.errors import DatasetError
from ferengine.inspect_data import contact_sheet, summary
from ferengine.sequences import ClipDataset

from .conftest import shared_data_dir

DATA = shared_data_dir()


def load(name, **params):
    return ferengine.load_dataset(name, **params)


# -- ckplus-sequences -----------------------------------------------------------------------


def ck_release(root, sequences, shape=(12, 16)):
    """Write a CK+ release: ``(subject, seq, code or None, n_frames)``; frame t is all 10·t + k."""
    for k, (subject, seq, code, n) in enumerate(sequences):
        folder = root / "cohn-kanade-images" / subject / seq
        folder.mkdir(parents=True, exist_ok=True)
        for t in range(n):
            frame = np.full(shape, 10 * t + k, np.uint8)
            assert cv2.imwrite(str(folder / f"{subject}_{seq}_{t + 1:08d}.png"), frame)
        if code is not None:
            emo = root / "Emotion" / subject / seq / f"{subject}_{seq}_{n:08d}_emotion.txt"
            emo.parent.mkdir(parents=True, exist_ok=True)
            emo.write_text(f"   {code:.7e}\n")
    return root


CK_SEQUENCES = [("S005", "001", 3, 5), ("S010", "002", 2, 4), ("S011", "001", None, 3),
                ("S011", "004", 7, 6)]  # fmt: skip


def test_ckplus_sequences_are_whole_labelled_sequences_in_frame_order(tmp_path):
    ck_release(tmp_path, CK_SEQUENCES)
    ds = load("ckplus-sequences", path=tmp_path)
    assert isinstance(ds, ClipDataset) and ds.label_space.name == "ckplus7"
    assert ds.lengths.tolist() == [5, 4, 6]  # the unlabelled S011/001 is not a clip
    assert ds.label_names.tolist() == ["disgust", "contempt", "surprise"]  # CK+ codes 3, 2, 7
    assert ds.subjects.tolist() == ["S005", "S010", "S011"] and ds.splits is None
    for clip, k, frames, files in zip(ds.clips, (0, 1, 3), ds.frame_meta["frame"],
                                      ds.frame_meta["file"], strict=True):  # fmt: skip
        assert clip.shape[1:] == (12, 16)
        np.testing.assert_array_equal(clip[:, 0, 0], 10 * np.arange(len(clip)) + k)
        np.testing.assert_array_equal(frames, np.arange(len(clip)))
        assert files[0].startswith("cohn-kanade-images/") and files[-1].endswith(
            f"{len(clip):08d}.png"
        )
    # the apex frames are the stills ckplus reads: the same reader
    stills = load("ckplus", path=tmp_path, last_n=1)
    apex = ds.frames("apex")
    np.testing.assert_array_equal(apex.images, stills.images)
    assert apex.label_names.tolist() == stills.label_names.tolist()
    small = load("ckplus-sequences", path=tmp_path, size=8, color=True)
    assert small.clips[0].shape == (5, 8, 8, 3)


def test_ckplus_sequences_bad_frame_skips_its_sequence_or_raises(tmp_path):
    ck_release(tmp_path, CK_SEQUENCES)
    bad = tmp_path / "cohn-kanade-images" / "S010" / "002" / "S010_002_00000002.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="S010_002_00000002.png.*not a readable image"):
        load("ckplus-sequences", path=tmp_path)
    ds = load("ckplus-sequences", path=tmp_path, strict=False)
    assert ds.subjects.tolist() == ["S005", "S011"]  # no clip with a gap
    (skipped,) = ds.meta["skipped"]
    assert skipped["where"].endswith("S010_002_00000002.png")
    assert "sequence S010/002 skipped" in skipped["reason"] and ds.meta["n_skipped"] == 1


def test_ckplus_sequences_sizes_must_match_or_be_given(tmp_path):
    ck_release(tmp_path / "a", CK_SEQUENCES[:1], shape=(12, 16))
    ck_release(tmp_path / "b", CK_SEQUENCES[1:2], shape=(10, 16))
    for part in ("cohn-kanade-images", "Emotion"):
        (tmp_path / "b" / part / "S010").rename(tmp_path / "a" / part / "S010")
    with pytest.raises(DatasetError, match=r"S010_002_00000001.png has shape \(10, 16\).*size="):
        load("ckplus-sequences", path=tmp_path / "a")
    assert load("ckplus-sequences", path=tmp_path / "a", size=(6, 8)).lengths.tolist() == [5, 4]
    with pytest.raises(DatasetError, match="cohn-kanade-images is missing"):
        load("ckplus-sequences", path=tmp_path / "a" / "Emotion")


# -- video-folder ---------------------------------------------------------------------------

CANVAS = (240, 320)  # frame height, width
FACE = 140  # side of the face on the canvas
STEP = 6  # pixels the face moves right per frame


@pytest.fixture(scope="module")
def photos():
    if DATA is None or not (DATA / "wild" / "img").is_dir():
        pytest.skip("needs the real photos of ../shared/data/wild (FERENGINE_DATA)")
    files = sorted((DATA / "wild" / "img").glob("*.jpg"))[:3]
    return [cv2.resize(cv2.imread(str(f)), (FACE, FACE), interpolation=cv2.INTER_AREA)
            for f in files]  # fmt: skip


def canvas_frames(photo, n):
    """BGR frames of a face crop moving right (STEP px a frame) on a plain grey canvas."""
    frames = []
    for t in range(n):
        frame = np.full((*CANVAS, 3), 70, np.uint8)
        if photo is not None:
            x, y = 30 + STEP * t, 40 + t
            frame[y : y + FACE, x : x + FACE] = photo
        frames.append(frame)
    return frames


def write_video(path, frames):
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, CANVAS[::-1])
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def write_frames(folder, frames):
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(frames):
        assert cv2.imwrite(str(folder / f"img_{t:03d}.png"), frame)
    return folder


def load_videos(path, tmp_path, **params):
    return load("video-folder", path=path, cache_dir=tmp_path / "cache", **params)


def check_follows_the_face(ds, i, n):
    """Clip i kept all n frames; its boxes move right STEP px a frame, as the face did."""
    np.testing.assert_array_equal(ds.frame_meta["frame"][i], np.arange(n))
    boxes = ds.frame_meta["box"][i]
    centres = boxes[:, 0] + boxes[:, 2] / 2
    assert np.all(np.abs(np.diff(centres) - STEP) <= 3), centres
    assert np.all((boxes[:, 2] > 0.5 * FACE) & (boxes[:, 2] < 1.5 * FACE))


@pytest.fixture(scope="module")
def class_folders(tmp_path_factory, photos):
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "happy" / "S001_a.mp4", canvas_frames(photos[0], 8))
    write_video(root / "neutral" / "S002_b.avi", canvas_frames(photos[1], 6))
    write_frames(root / "neutral" / "S003_c", canvas_frames(photos[2], 7))
    (root / "neutral" / "notes.txt").write_text("not a clip")  # neither video nor folder
    return root


def test_video_folder_class_folders_of_videos_and_frame_folders(class_folders, tmp_path):
    ds = load_videos(class_folders, tmp_path, subject_regex=r"S(\d+)_")
    assert isinstance(ds, ClipDataset) and ds.label_space.name == "fer7"
    assert ds.label_names.tolist() == ["happy", "neutral", "neutral"]
    assert ds.subjects.tolist() == ["001", "002", "003"] and ds.splits is None
    assert ds.lengths.tolist() == [8, 6, 7]
    for i, n in enumerate((8, 6, 7)):
        assert ds.clips[i].shape == (n, 48, 48) and ds.clips[i].dtype == np.uint8
        check_follows_the_face(ds, i, n)
    assert ds.frame_meta["file"][0].tolist() == ["happy/S001_a.mp4"] * 8
    assert ds.frame_meta["file"][2][-1] == "neutral/S003_c/img_006.png"
    assert ds.meta["n_skipped"] == 0 and ds.meta["incomplete"] == []
    # the crop is the face, not the canvas: it holds far more contrast than the grey background
    assert all(float(clip.std()) > 20 for clip in ds.clips)


def test_video_folder_reads_crops_from_its_cache(class_folders, tmp_path, monkeypatch):
    first = load_videos(class_folders, tmp_path, size=32, color=True, stride=2)
    assert first.clips[0].shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(first.frame_meta["frame"][0], [0, 2, 4, 6])
    assert len(list((tmp_path / "cache" / "clips" / "video-folder").glob("*.npz"))) == 3

    def no_cropper(*args, **kwargs):
        raise AssertionError("a cached load must not detect faces")

    monkeypatch.setattr(video_folder, "FaceCropper", no_cropper)
    # min_frames and subject_regex apply after the cache: changing them reads no video
    again = load_videos(class_folders, tmp_path, size=32, color=True, stride=2, min_frames=3,
                        subject_regex=r"S(\d+)_")  # fmt: skip
    for a, b in zip(first.clips, again.clips, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(AssertionError, match="must not detect"):
        load_videos(class_folders, tmp_path, size=32, color=True, stride=1)  # a new crop
    with pytest.raises(AssertionError, match="must not detect"):
        load_videos(class_folders, tmp_path, size=32, color=True, stride=2, cache=False)


def test_video_folder_manifest_with_splits(class_folders, tmp_path):
    manifest = tmp_path / "clips.csv"
    with open(manifest, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["path", "label", "subject", "split"])
        out.writerow([str(class_folders / "happy" / "S001_a.mp4"), "happiness", "ann", "train"])
        out.writerow([str(class_folders / "neutral" / "S003_c"), "neutral", "bob", "test"])
    ds = load_videos(manifest, tmp_path, label_space="fer7")
    assert ds.label_names.tolist() == ["happy", "neutral"]  # aliases: happiness is happy
    assert ds.subjects.tolist() == ["ann", "bob"] and ds.splits.tolist() == ["train", "test"]
    check_follows_the_face(ds, 1, 7)
    assert summary(ds)["counts"] == {
        "test": dict.fromkeys(ds.label_space.names, 0) | {"neutral": 1},
        "train": dict.fromkeys(ds.label_space.names, 0) | {"happy": 1},
    }
    manifest.write_text("file,label\nx.mp4,happy\n")
    with pytest.raises(DatasetError, match=r"columns \['path', 'subject'\] missing"):
        load_videos(manifest, tmp_path)


@pytest.fixture(scope="module")
def bad_clips(tmp_path_factory, photos):
    """A manifest of one good clip and one clip of every bad kind."""
    root = tmp_path_factory.mktemp("bad")
    write_video(root / "good.mp4", canvas_frames(photos[0], 6))
    (root / "garbage.mp4").write_bytes(b"\x00\x01 not a video at all" * 50)
    write_video(root / "empty_room.mp4", canvas_frames(None, 6))
    write_video(root / "short.mp4", canvas_frames(photos[1], 2))
    (root / "no_frames").mkdir()
    # an AVI cut short: its header announces 10 frames, 7 or so decode (not a bad clip)
    writer = cv2.VideoWriter(str(root / "cut.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10,
                             CANVAS[::-1])  # fmt: skip
    for frame in canvas_frames(photos[2], 10):
        writer.write(frame)
    writer.release()
    whole = (root / "cut.avi").read_bytes()
    (root / "cut.avi").write_bytes(whole[: int(0.7 * len(whole))])
    rows = [("good.mp4", "happy", "a"), ("garbage.mp4", "happy", "b"),
            ("empty_room.mp4", "sad", "c"), ("short.mp4", "sad", "d"),
            ("no_frames", "sad", "e"), ("missing.mp4", "sad", "f"), ("good.mp4", "sad", ""),
            ("cut.avi", "sad", "g")]  # fmt: skip
    manifest = root / "clips.csv"
    manifest.write_text("path,label,subject\n" + "".join(f"{p},{lab},{s}\n" for p, lab, s in rows))
    return manifest


BAD = {
    "line 3 (garbage.mp4)": "unreadable video",
    "line 4 (empty_room.mp4)": "no face found in any of its 6 frames",
    "line 5 (short.mp4)": "found in 2 of its 2 frames, fewer than min_frames=3",
    "line 6 (no_frames)": "frame folder holds no images",
    "line 7 (missing.mp4)": "no such file or folder",
    "line 8 (good.mp4)": "subject is empty",
}


def test_video_folder_reports_and_skips_every_bad_clip(bad_clips, tmp_path):
    ds = load_videos(bad_clips, tmp_path, strict=False, min_frames=3)
    assert ds.subjects.tolist() == ["a", "g"] and ds.lengths[0] == 6
    found = {s["where"]: s["reason"] for s in ds.meta["skipped"]}
    assert sorted(found) == sorted(BAD) and ds.meta["n_skipped"] == len(BAD)
    for where, reason in BAD.items():
        assert reason in found[where], (where, found[where])
    (incomplete,) = ds.meta["incomplete"]  # the cut AVI keeps the frames that decode
    read = ds.lengths[1]
    assert 3 <= read < 10 and incomplete["where"] == "line 9 (cut.avi)"
    assert incomplete["reason"] == f"video ended early: read {read} of 10 frames"
    np.testing.assert_array_equal(ds.frame_meta["frame"][1], np.arange(read))


@pytest.mark.parametrize("where", sorted(BAD))
def test_video_folder_strict_raises_naming_the_bad_clip(bad_clips, tmp_path, where):
    keep = {2, int(where.split()[1])}  # the good clip and this bad one
    lines = bad_clips.read_text().splitlines()
    manifest = bad_clips.with_name(f"only_{where.split()[1]}.csv")
    manifest.write_text("\n".join(line for i, line in enumerate(lines, 1) if i in keep | {1}))
    where = "line 3 " + where.split(" ", 2)[2]  # the bad clip is now on line 3
    with pytest.raises(DatasetError, match=re.escape(where)):
        load_videos(manifest, tmp_path, min_frames=3)


def test_video_folder_checks_its_parameters(tmp_path):
    with pytest.raises(ValueError, match="min_frames"):
        load_videos(tmp_path, tmp_path, min_frames=0)
    with pytest.raises(DatasetError, match="neither a folder nor a manifest"):
        load_videos(tmp_path / "nowhere", tmp_path)
    with pytest.raises(DatasetError, match="holds no class folders"):
        load_videos(tmp_path, tmp_path)


# -- trim-neutral ---------------------------------------------------------------------------


def test_trim_bounds_cuts_low_ends_within_half_the_clip():
    assert trim_bounds([0, 0, 1, 2, 4, 3, 2, 2, 1, 0]) == (3, 8)  # below 2 at both ends
    assert trim_bounds([0, 0, 1, 2, 4, 3, 1, 0]) == (2, 6)  # 3 + 2 low, 4 may go: 2 + 2
    assert trim_bounds([0, 0, 0, 0, 0, 4, 0, 0, 0, 0]) == (3, 8)  # 9 low frames: 5 cut, 3:2
    assert trim_bounds([0, 0, 0]) == (0, 3)  # nothing moves: kept whole
    assert trim_bounds([5]) == (0, 1)
    assert trim_bounds([0, 1, 1, 0], threshold=0.5, max_cut=0.0) == (0, 4)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 10), min_size=1, max_size=40), st.floats(0.05, 0.95),
       st.floats(0.0, 0.9))  # fmt: skip
def test_trim_bounds_keeps_every_high_frame_and_cuts_at_most_max_cut(scores, threshold, max_cut):
    start, stop = trim_bounds(scores, threshold, max_cut)
    n, s = len(scores), np.array(scores)
    assert 0 <= start < stop <= n
    assert n - (stop - start) <= int(n * max_cut)
    if s.max() > 0:
        high = np.flatnonzero(s >= threshold * s.max())
        assert start <= high[0] and high[-1] < stop
        if n - (stop - start) < int(n * max_cut):  # the cap did not bind: only low frames cut
            assert s[start] >= threshold * s.max() and s[stop - 1] >= threshold * s.max()


@pytest.fixture(scope="module")
def expressive():
    """Clips of six expressions (no neutral class), with their true intensity per frame."""
    return load("synthetic-sequences", n_subjects=4, clips_per_class=1, size=48,
                dynamics_pair=False, seed=2,
                classes=["angry", "disgust", "fear", "happy", "sad", "surprise"])  # fmt: skip


def test_trimming_by_true_intensity_starts_and_ends_near_the_apex(expressive):
    for clip, intensity in zip(expressive.clips, expressive.frame_meta["intensity"], strict=True):
        start, stop = trim_bounds(intensity)
        cut = len(clip) - (stop - start)
        assert cut <= len(clip) // 2
        if cut < len(clip) // 2:
            assert min(intensity[start], intensity[stop - 1]) >= 0.5 * intensity.max()
        assert intensity[start:stop].max() == intensity.max()


def trimmed_intensity(trim, ds):
    """Return the mean true intensity of the kept frames, of the cut frames, and of all."""
    kept, cut = [], []
    for (start, stop), intensity in zip(trim.bounds(ds.clips), ds.frame_meta["intensity"],
                                        strict=True):  # fmt: skip
        assert len(intensity) - (stop - start) <= len(intensity) // 2
        mask = np.zeros(len(intensity), bool)
        mask[start:stop] = True
        kept.append(intensity[mask])
        cut.append(intensity[~mask])
    return np.concatenate(kept).mean(), np.concatenate(cut).mean()


def test_trim_neutral_by_a_still_model_cuts_the_neutral_ends(expressive):
    """1 − p(neutral) of a HOG still model trained on other subjects' frames."""
    train = load("synthetic-sequences", n_subjects=6, clips_per_class=1, size=48,
                 dynamics_pair=False, seed=1)  # fmt: skip
    frames = train.frames()
    intensity = np.concatenate(train.frame_meta["intensity"])
    labels = np.where(intensity < 0.25, frames.label_space.index("neutral"), frames.labels)
    still = FaceDataset(images=frames.images, labels=labels, label_space=frames.label_space)
    model = ferengine.pipeline("hog", "logistic").fit(still)
    trim = registry.create("preprocessor", "trim-neutral", score="model",
                           model=FrozenEstimator(model))  # fmt: skip
    trim = clone(trim).fit(expressive.clips)  # clone keeps the frozen model
    kept, cut = trimmed_intensity(trim, expressive)
    assert cut < 0.5 * kept, (kept, cut)
    out = trim.transform(expressive.clips)
    assert out.dtype == object and len(out) == len(expressive)
    for clip, (start, stop), trimmed in zip(expressive.clips, trim.bounds(expressive.clips), out,
                                            strict=True):  # fmt: skip
        np.testing.assert_array_equal(trimmed, clip[start:stop])


def test_trim_neutral_by_dlib_landmarks_runs_on_clips(expressive):
    pytest.importorskip("dlib")
    trim = registry.create("preprocessor", "trim-neutral").fit(expressive.clips[:6])
    scores = trim.frame_scores(expressive.clips[:6])
    assert [len(s) for s in scores] == expressive.lengths[:6].tolist()
    assert all(s[0] == 0 and (s >= 0).all() for s in scores)  # the first frame is the reference
    kept, cut = trimmed_intensity(trim, expressive.subset(np.arange(6)))
    assert cut < kept


FAKE_LANDMARKER = '''
import numpy as np
import ferengine
from ferengine.faces import Landmarker

BASE = np.random.default_rng(0).uniform(10, 30, (68, 2))
BASE[36:42] = [14, 18] + np.random.default_rng(1).uniform(0, 1, (6, 2))
BASE[42:48] = [26, 18] + np.random.default_rng(2).uniform(0, 1, (6, 2))
MOUTH = np.arange(48, 68)

class Scripted(Landmarker):
    """Reads its shape from the frame: pixel (0,0) the head's turn, (0,1) the mouth opening."""
    name = "scripted"
    n_points = 68
    layout = "ibug-68"
    left_eye = tuple(range(36, 42))
    right_eye = tuple(range(42, 48))
    def _locate(self, grey, box):
        angle, mouth = np.radians(float(grey[0, 0]) - 100), float(grey[0, 1]) / 10
        points = BASE.copy()
        points[MOUTH, 1] += mouth
        turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        return 1.2 * (points - 20) @ turn.T + 20 + float(grey[0, 2]) / 10

@ferengine.hookimpl
def ferengine_register_landmarkers():
    return [Scripted]
'''


def test_trim_neutral_landmark_score_cancels_head_motion(make_dist, fresh_registry):
    make_dist("fakeplug-scripted", {"scripted": "fakeplug_scripted"},
              {"fakeplug_scripted.py": FAKE_LANDMARKER})  # fmt: skip
    import fakeplug_scripted

    mouth = np.array([0, 0, 0, 10, 20, 30, 30, 25, 20, 15, 5, 0])  # tenths of a pixel
    turn = np.linspace(85, 115, len(mouth))  # the head turns 30° meanwhile, and shifts
    clip = np.zeros((len(mouth), 40, 40), np.uint8)
    clip[:, 0, 0], clip[:, 0, 1], clip[:, 0, 2] = turn, mouth, np.arange(len(mouth)) * 5
    trim = registry.create("preprocessor", "trim-neutral", landmarker="scripted").fit([clip])
    (score,) = trim.frame_scores([clip])
    # 20 of 68 points move down by the opening: mean shift 20/68 × opening, over the eye distance
    base = fakeplug_scripted.BASE
    eye = 1.2 * np.hypot(*(base[42:48].mean(axis=0) - base[36:42].mean(axis=0)))
    np.testing.assert_allclose(score, 20 / 68 * 1.2 * mouth / 10 / eye, atol=1e-4)
    assert trim.bounds([clip]).tolist() == [[4, 10]]  # openings of 1.5 px and more
    with pytest.raises(ValueError, match="did you mean|unknown|scripted"):
        registry.create("preprocessor", "trim-neutral", landmarker="scriptd").fit([clip])


def test_trim_neutral_in_a_clip_pipeline_saved_and_loaded(expressive, tmp_path):
    pytest.importorskip("dlib")
    clips, labels = expressive.clips[:12], expressive.labels[:12]
    frames = ("frame-features", {"feature": ("pixels", {"size": 8})})
    pipe = ferengine.pipeline("trim-neutral", frames, ("temporal-pool", {"pooling": "mean"}),
                              "logistic")  # fmt: skip
    pipe.fit(clips, labels)
    kept = np.array([len(t) for t in pipe[0].transform(clips)])
    lengths = np.array([len(c) for c in clips])
    assert (kept < lengths).any() and (kept >= lengths - lengths // 2).all()
    ferengine.save(pipe, tmp_path / "trimmed.fer")
    same = ferengine.load(tmp_path / "trimmed.fer")
    np.testing.assert_array_equal(same.predict_proba(clips), pipe.predict_proba(clips))


def test_trim_neutral_names_what_its_model_lacks(expressive, small_ds):
    with pytest.raises(ValueError, match="needs model="):
        registry.create("preprocessor", "trim-neutral", score="model").fit()
    unfitted = ferengine.pipeline("pixels", "logistic")
    with pytest.raises(ValueError, match="is not fitted.*FrozenEstimator"):
        registry.create("preprocessor", "trim-neutral", score="model", model=unfitted).fit()
    happy = small_ds.subset(np.isin(small_ds.label_names, ["happy", "sad"]))
    two = ferengine.pipeline(("pixels", {"size": 8}), "logistic").fit(happy)
    with pytest.raises(ValueError, match=r"classes \['happy', 'sad'\] have no 'neutral'"):
        registry.create("preprocessor", "trim-neutral", score="model", model=two).fit()
    with pytest.raises(ValueError, match="'score' parameter"):
        registry.create("preprocessor", "trim-neutral", score="au").fit()


# -- clip augmentation ----------------------------------------------------------------------


def augmenters():
    names = registry.get_registry().names("augmenter", available_only=True)
    return names or pytest.skip("no augmenter available (ferengine[deep])")


@pytest.fixture(scope="module")
def faces():
    return load("synthetic", n_subjects=2, per_expression=1, size=48).images


def test_clip_augment_gives_every_frame_of_a_clip_the_same_draw(faces):
    faces = faces[:5]
    clips = [np.repeat(face[None], 6, axis=0) for face in faces]  # clips of identical frames
    for name in augmenters():
        out = clip_augment(clips, name, rng=0)
        assert out.dtype == object and len(out) == len(clips)
        for clip, augmented in zip(clips, out, strict=True):
            assert augmented.shape == clip.shape and augmented.dtype == np.uint8
            for frame in augmented[1:]:  # the identical frames stay identical
                np.testing.assert_array_equal(frame, augmented[0], err_msg=name)
        again = clip_augment(clips, name, rng=0)
        for a, b in zip(out, again, strict=True):
            np.testing.assert_array_equal(a, b)  # one seed, one result


def test_clip_augment_draws_anew_for_every_clip(faces):
    if "affine" not in augmenters():
        pytest.skip("needs the affine augmenter (ferengine[deep])")
    face = faces[0]
    clips = [np.repeat(face[None], 4, axis=0)] * 6  # six copies of one clip
    out = clip_augment(clips, registry.create("augmenter", "affine", rotation=20.0), rng=1)
    assert len({a.tobytes() for a in out}) == 6  # six different warps
    assert not any(np.array_equal(a, clips[0]) for a in out)
    moving = np.stack([np.roll(face, t, axis=1) for t in range(4)])  # frames that differ
    (warped,) = clip_augment([moving], "affine", rng=2)
    reference = registry.create("augmenter", "affine").augment(
        moving[:1], np.random.default_rng(np.random.default_rng(2).integers(0, 2**63, size=1)[0])
    )
    np.testing.assert_array_equal(warped[:1], reference)  # the clip's draw, frame by frame
    with pytest.raises(ValueError, match="clip 1 must be uint8"):
        clip_augment([moving, moving.astype(float)], "affine")


# -- datasets show on clips ----------------------------------------------------------------


def test_summary_and_contact_sheet_of_clips(tmp_path):
    ds = load("synthetic-sequences", n_subjects=2, clips_per_class=2, frames=(6, 9), size=24)
    info = summary(ds)
    assert info["kind"] == "clips" and info["n"] == len(ds) == 36
    assert info["counts"] == {"(all)": dict.fromkeys(ds.label_space.names, 4)}
    assert info["frames"] == int(ds.lengths.sum())
    assert info["length"]["min"] == ds.lengths.min() and info["length"]["max"] == ds.lengths.max()
    assert set(info["length"]["mean_by_class"]) == set(ds.label_space.names)
    assert info["image_size"] == [24, 24] and info["mode"] == "grey" and info["subjects"] == 2
    sheet = cv2.imread(str(contact_sheet(ds, tmp_path / "sheet.png", cell=32, frames=5)))
    assert sheet.shape[0] == 9 * 2 * 32  # two clips (rows) per class
    assert sheet.shape[1] > 5 * 32
    assert summary(ds.frames())["kind"] == "images"


def test_datasets_show_prints_clip_counts_and_lengths(tmp_path):
    args = ["datasets", "show", "synthetic-sequences", "--param", "n_subjects=2",
            "--param", "size=24", "--param", "frames=[6, 8]", "--out", str(tmp_path)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "36 clips of 6–8 frames" in result.output.replace("\n", " ")
    assert (tmp_path / "synthetic-sequences-contact-sheet.png").is_file()
    info = json.loads(CliRunner().invoke(main, [*args, "--json"]).output)
    assert info["kind"] == "clips" and info["length"]["max"] <= 8
