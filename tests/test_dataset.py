import numpy as np
import pytest

from ferengine import FaceDataset, mapping
from ferengine.errors import DatasetError
from ferengine.labels import CKPLUS7, FER7


def make(n=6, **kw):
    rng = np.random.default_rng(0)
    base = dict(
        images=rng.integers(0, 256, (n, 8, 8), dtype=np.uint8),
        labels=np.arange(n) % 7,
        label_space=FER7,
        subjects=[f"s{i % 3}" for i in range(n)],
        splits=["Training"] * (n - 2) + ["PublicTest"] * 2,
        source="test",
    )
    base.update(kw)
    return FaceDataset(**base)


def test_fields_and_len():
    ds = make()
    assert len(ds) == 6 and ds.labels.dtype == np.int64
    assert ds.label_space.names[0] == "angry"
    assert ds.subjects.tolist()[:3] == ["s0", "s1", "s2"]
    assert "6 images 8×8" in repr(ds)


def test_labels_may_be_names():
    ds = make(n=2, labels=["anger", "happy"], subjects=None, splits=None)
    assert ds.labels.tolist() == [0, 3]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"images": np.zeros((6, 8, 8), np.float32)}, "uint8"),
        ({"images": np.zeros((6, 8), np.uint8)}, "N×H×W"),
        ({"images": np.zeros((6, 8, 8, 2), np.uint8)}, "N×H×W"),
        ({"labels": np.arange(5)}, "6 images but 5 labels"),
        ({"subjects": ["a"] * 5}, "subjects has shape"),
        ({"labels": np.full(6, 9)}, "outside label space"),
    ],
)
def test_bad_fields_are_refused(kw, message):
    with pytest.raises((DatasetError, ValueError), match=message):
        make(**kw)


def test_subset_and_where():
    ds = make()
    assert len(ds.subset([0, 2])) == 2
    mask = np.zeros(6, bool)
    mask[1] = True
    assert ds.subset(mask).subjects.tolist() == ["s1"]
    assert len(ds.where(split="PublicTest")) == 2
    assert ds.where(split="Training", subject="s0").labels.tolist() == [0, 3]
    assert ds.where(label="happy").labels.tolist() == [3]
    with pytest.raises(DatasetError, match="no split.*PrivateTest"):
        ds.where(split="PrivateTest")
    with pytest.raises(DatasetError, match="mask has shape"):
        ds.subset(np.ones(3, bool))


def test_map_labels_drops_what_has_no_target():
    ds = make(n=7, label_space=CKPLUS7, labels=np.arange(7), subjects=None, splits=None)
    mapped = ds.map_labels(mapping("ckplus7", "fer7"))
    assert len(mapped) == 6 and mapped.label_space == FER7
    assert "contempt" not in mapped.label_names.tolist()
    assert sorted(mapped.label_names.tolist()) == sorted(
        ["angry", "disgust", "fear", "happy", "sad", "surprise"]
    )
    with pytest.raises(DatasetError, match="mapping is from"):
        mapped.map_labels(mapping("ckplus7", "fer7"))


def test_class_counts():
    ds = make(n=7)
    assert ds.class_counts() == dict.fromkeys(FER7.names, 1)
    public = ds.class_counts(split="PublicTest")
    assert public == {**dict.fromkeys(FER7.names, 0), "surprise": 1, "neutral": 1}
    with pytest.raises(DatasetError, match="no splits"):
        make(n=7, splits=None).class_counts(split="Training")


def test_with_mirrors_doubles_with_flipped_images(small_ds):
    doubled = small_ds.with_mirrors()
    n = len(small_ds)
    assert len(doubled) == 2 * n
    assert np.array_equal(doubled.images[n:], small_ds.images[:, :, ::-1])
    assert np.array_equal(doubled.labels[n:], small_ds.labels)
    assert np.array_equal(doubled.subjects[n:], small_ds.subjects)
