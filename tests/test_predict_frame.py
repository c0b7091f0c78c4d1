"""``ferengine.predict(..., as_frame=True)``: one DataFrame row per face, no input lost."""

import sys

import cv2
import numpy as np
import pytest

import ferengine
from ferengine.plugin import FaceDetector, Found
from ferengine.prediction.frame import COLUMNS, to_frame
from ferengine.prediction.video import TRACKED

FER7 = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
VALENCE = ["valence", "valence_positive", "valence_neutral", "valence_negative"]
SIZE = (240, 320)  # height, width


class SquareDetector(FaceDetector):
    """Finds bright squares on a dark background; the score is the square's side / 100."""

    name = "squares"

    def __init__(self, mode="all", max_side=None):
        self.mode = mode
        self.max_side = max_side

    def _find(self, grey):
        _, _, stats, _ = cv2.connectedComponentsWithStats((grey > 120).astype(np.uint8))
        return [Found(x, y, w, h, w / 100) for x, y, w, h, area in stats[1:] if area > 200]


def texture(side, seed):
    """A bright blotchy square (values 140-255) that optical flow can follow."""
    rng = np.random.default_rng(seed)
    small = rng.integers(140, 256, (side // 6, side // 6), dtype=np.uint8)
    big = cv2.resize(small, (side, side), interpolation=cv2.INTER_NEAREST)
    return cv2.GaussianBlur(big, (5, 5), 0)


def picture(squares):
    """A dark grey image with a textured square at each ``(x, y, side)``."""
    image = np.full(SIZE, 40, np.uint8)
    for seed, (x, y, side) in enumerate(squares, start=1):
        image[y : y + side, x : x + side] = texture(side, seed)
    return image


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A photo with two faces, a photo with none, a file that is no image, a video."""
    folder = tmp_path_factory.mktemp("frame-inputs")
    cv2.imwrite(str(folder / "two.png"), picture([(20, 30, 80), (180, 100, 100)]))
    cv2.imwrite(str(folder / "blank.png"), picture([]))
    (folder / "notes.png").write_text("not an image")
    writer = cv2.VideoWriter(str(folder / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10,
                             SIZE[::-1])  # fmt: skip
    for t in range(8):  # two squares moving apart, gone from frame 6 on
        squares = [(40 + 3 * t, 40, 70), (200 - 3 * t, 120, 60)] if t < 6 else []
        writer.write(cv2.cvtColor(picture(squares), cv2.COLOR_GRAY2BGR))
    writer.release()
    (folder / "broken.mp4").write_bytes(b"not a video")
    return folder


def run(inputs, model_file, **kw):
    paths = [inputs / n for n in ("two.png", "blank.png", "notes.png", "clip.mp4", "broken.mp4")]
    return ferengine.predict([str(p) for p in paths], model=str(model_file),
                             detector=SquareDetector(), detect_every=2, **kw)  # fmt: skip


@pytest.fixture(scope="module")
def frames(inputs, model_file):
    """The rows and the frame of the same run, with valence labels."""
    pytest.importorskip("pandas")
    rows = run(inputs, model_file, labels="valence3")
    return rows, run(inputs, model_file, labels="valence3", as_frame=True)


def test_columns_are_named_and_typed(frames):
    _, frame = frames
    assert list(frame.columns) == [*COLUMNS, *FER7, *VALENCE, "error"]
    kinds = frame.dtypes.astype(str).to_dict()
    text = ("input", "found_by", "alignment", "label", "valence", "error")
    assert {kinds[c] for c in text} == {"string"}
    assert {kinds[c] for c in ("frame", "track", "x", "y", "width", "height")} == {"Int64"}
    assert kinds["landmarks_ok"] == "boolean"
    assert {kinds[c] for c in ["score", "confidence", *FER7, *VALENCE[1:]]} == {"float64"}
    faces = frame[frame["x"].notna()]
    np.testing.assert_allclose(faces[FER7].sum(axis=1), 1, atol=1e-3)
    np.testing.assert_allclose(faces[VALENCE[1:]].sum(axis=1), 1, atol=1e-3)
    assert (faces["confidence"] == faces[FER7].max(axis=1)).all()


def test_one_row_per_face_matches_the_rows(frames):
    rows, frame = frames
    faces = [(row, face) for row in rows for face in row["faces"]]
    with_face = frame[frame["x"].notna()]
    assert len(with_face) == len(faces) > 0
    for (_, line), (row, face) in zip(with_face.iterrows(), faces, strict=True):
        assert line["input"] == row["input"]
        assert [line[c] for c in ("x", "y", "width", "height")] == face["box"]
        assert line["label"] == face["label"] and line["valence"] == face["valence"]
        assert line["found_by"] == face["found_by"] and line["alignment"] == face["alignment"]
        assert line["landmarks_ok"] == (face["landmarks"] is not None)
        assert [line[c] for c in FER7] == [face["probabilities"][c] for c in FER7]
    two = frame[frame["input"].str.endswith("two.png")]
    assert sorted(two["x"]) == [20, 180] and sorted(two["width"]) == [80, 100]
    assert sorted(two["score"]) == [0.8, 1.0] and two["error"].isna().all()
    assert two["frame"].isna().all() and two["track"].isna().all()  # a still image


def test_inputs_without_a_face_or_with_an_error_keep_one_row(frames):
    pd = pytest.importorskip("pandas")
    _, frame = frames
    by_name = {name.rsplit("/", 1)[-1]: part for name, part in frame.groupby("input")}
    for name, error in [("blank.png", "no face found"), ("notes.png", "not an image"),
                        ("broken.mp4", "unreadable video")]:  # fmt: skip
        (line,) = by_name[name].itertuples()
        assert line.error.startswith(error), name
        assert pd.isna(line.x) and pd.isna(line.label) and pd.isna(line.landmarks_ok)
        assert pd.isna(line.frame) and np.isnan(line.happy)


def test_video_rows_have_their_frame_and_track(frames):
    _, frame = frames
    clip = frame[frame["input"].str.endswith("clip.mp4")]
    assert clip["frame"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 7]
    faces = clip[clip["x"].notna()]
    assert set(faces["track"]) == {1, 2}
    assert (faces.groupby("frame")["track"].nunique() == 2).all()
    tracked = faces[faces["found_by"] == TRACKED]
    assert set(tracked["frame"]) == {1, 3, 5} and tracked["score"].isna().all()
    empty = clip[clip["frame"] >= 6]  # the squares are gone: one row per frame, no error
    assert empty["x"].isna().all() and empty["track"].isna().all() and empty["error"].isna().all()


def test_fer7_frames_have_no_valence_columns(inputs, model_file):
    pytest.importorskip("pandas")
    frame = ferengine.predict(str(inputs / "two.png"), model=str(model_file),
                              detector=SquareDetector(), as_frame=True)  # fmt: skip
    assert list(frame.columns) == [*COLUMNS, *FER7, "error"] and len(frame) == 2


def test_landmarks_ok_says_whether_a_face_has_landmarks():
    pytest.importorskip("pandas")
    face = {"box": [1, 2, 3, 4], "score": None, "found_by": "tracked", "alignment": "box",
            "landmarks": None, "label": "sad", "confidence": 0.6, "track": 7,
            "probabilities": {"happy": 0.4, "sad": 0.6}}  # fmt: skip
    rows = [{"input": "v.mp4", "frame": 3, "error": None,
             "faces": [face, {**face, "landmarks": [[0.0, 0.0]] * 68}]}]  # fmt: skip
    frame = to_frame(rows, ["happy", "sad"])
    assert frame["landmarks_ok"].tolist() == [False, True]
    assert frame["track"].tolist() == [7, 7] and frame["frame"].tolist() == [3, 3]
    assert frame["score"].isna().all() and frame["sad"].tolist() == [0.6, 0.6]


def test_to_frame_keeps_an_empty_run_typed_and_refuses_clashing_class_names():
    pytest.importorskip("pandas")
    empty = to_frame([], ["happy", "sad"])
    assert empty.empty and list(empty.columns) == [*COLUMNS, "happy", "sad", "error"]
    assert empty.dtypes["x"] == "Int64" and empty.dtypes["happy"] == "float64"
    with pytest.raises(ValueError, match="'score'"):
        to_frame([], ["happy", "score"])


def test_as_frame_without_pandas_names_the_extra_before_any_work(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now fails
    with pytest.raises(ImportError) as info:  # before the (missing) model is looked at
        ferengine.predict(np.zeros((8, 8), np.uint8), model="no-such-model.fer", as_frame=True)
    message = str(info.value)
    assert "\n" not in message and "needs pandas" in message
    assert 'pip install "ferengine[frame]"' in message
    with pytest.raises(ImportError, match=r"ferengine\[frame\]"):
        to_frame([], ["happy"])
