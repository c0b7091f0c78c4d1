"""The clip data model: ClipDataset, its frames and back, and as_clips' checks."""

import numpy as np
import pytest

from ferengine.errors import DatasetError
from ferengine.labels import FER7
from ferengine.sequences import ClipDataset, as_clips


@pytest.fixture
def clips():
    rng = np.random.default_rng(0)
    lengths = (5, 8, 3)
    data = [rng.integers(0, 255, (t, 12, 12), dtype=np.uint8) for t in lengths]
    intensity = [np.sin(np.linspace(0, np.pi, t)) for t in lengths]  # apex mid-clip
    return ClipDataset(data, ["happy", "sad", "neutral"], FER7, subjects=["a", "b", "a"],
                       splits=["train", "test", "train"],
                       frame_meta={"intensity": intensity})  # fmt: skip


def test_frames_keep_their_clip_and_come_back_as_the_same_clips(clips):
    frames = clips.frames()
    assert len(frames) == 16 and list(frames.meta["clip"][:6]) == [0] * 5 + [1]
    assert list(frames.label_names[:6]) == ["happy"] * 5 + ["sad"]
    assert list(frames.subjects[-3:]) == ["a"] * 3
    back = ClipDataset.from_frames(frames.subset(np.arange(16)[::-1]))  # order restored
    assert [c.shape[0] for c in back.clips] == [3, 8, 5]  # clips in order of first appearance
    assert all(np.array_equal(a, b) for a, b in zip(back.clips[::-1], clips.clips, strict=True))
    assert list(back.label_names) == ["neutral", "sad", "happy"]


def test_apex_and_last_frames(clips):
    apex = clips.frames("apex")
    assert list(apex.meta["frame"]) == [2, 3, 1]  # the most intense frame of each clip
    last = clips.frames("last", n=2)
    assert list(last.meta["frame"]) == [3, 4, 6, 7, 1, 2]
    bare = ClipDataset(list(clips.clips), clips.labels, FER7)
    assert list(bare.frames("apex").meta["frame"]) == [4, 7, 2]  # no intensity: last frame
    with pytest.raises(ValueError, match="mode"):
        clips.frames("middle")
    with pytest.raises(ValueError, match="n must"):
        clips.frames("last", n=0)


def test_subset_carries_every_column(clips):
    part = clips.subset([2, 0])
    assert list(part.lengths) == [3, 5] and list(part.subjects) == ["a", "a"]
    assert [len(v) for v in part.frame_meta["intensity"]] == [3, 5]
    assert list(part.splits) == ["train", "train"]
    with pytest.raises(DatasetError, match="mask"):
        clips.subset(np.array([True, False]))


def test_bad_clips_and_columns_are_named():
    good = np.zeros((4, 8, 8), np.uint8)
    with pytest.raises(ValueError, match="clip 1 must be uint8"):
        as_clips([good, good.astype(np.float32)])
    with pytest.raises(ValueError, match="clip 0 must be a non-empty"):
        as_clips([good[:0]])
    with pytest.raises(ValueError, match=r"clip 1 has frames of shape \(9, 8\)"):
        as_clips([good, np.zeros((2, 9, 8), np.uint8)])
    with pytest.raises(DatasetError, match="2 clips but 1 labels"):
        ClipDataset([good, good], ["happy"], FER7)
    with pytest.raises(DatasetError, match="subjects has shape"):
        ClipDataset([good, good], ["happy", "sad"], FER7, subjects=["a"])
    with pytest.raises(DatasetError, match="frame_meta"):
        ClipDataset([good], ["happy"], FER7, frame_meta={"x": [np.zeros(3)]})
    frames = ClipDataset([good, good], ["happy", "sad"], FER7).frames()
    mixed = frames.subset(np.arange(8))
    with pytest.raises(DatasetError, match="disagree on labels"):
        ClipDataset.from_frames(mixed, clip=np.zeros(8, int))


def test_an_array_of_equal_clips_is_accepted():
    stacked = np.zeros((3, 4, 8, 8), np.uint8)
    clips = as_clips(stacked)
    assert clips.dtype == object and clips.shape == (3,) and clips[0].shape == (4, 8, 8)
