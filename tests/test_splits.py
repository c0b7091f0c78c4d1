import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferengine import FaceDataset, splits
from ferengine.errors import DatasetError
from ferengine.labels import FER7


def dataset(n_subjects, per_subject, seed=0):
    n = n_subjects * per_subject
    rng = np.random.default_rng(seed)
    return FaceDataset(
        images=np.zeros((n, 4, 4), np.uint8),
        labels=rng.integers(0, 7, n),
        label_space=FER7,
        subjects=np.repeat([f"s{i}" for i in range(n_subjects)], per_subject),
        splits=np.where(np.arange(n) % 5 == 0, "PublicTest", "Training"),
    )


@settings(max_examples=30, deadline=None)
@given(st.integers(5, 25), st.integers(1, 10), st.integers(2, 5), st.integers(0, 10))
def test_subject_kfold_never_puts_a_subject_on_both_sides(n_subjects, per_subject, k, seed):
    ds = dataset(n_subjects, per_subject, seed)
    folds = splits.subject_kfold(ds, n_splits=k, seed=seed)
    assert len(folds) == k
    covered = np.concatenate([test for _, test in folds])
    assert sorted(covered.tolist()) == list(range(len(ds)))  # every image tested exactly once
    for train, test in folds:
        assert not set(ds.subjects[train]) & set(ds.subjects[test])


def test_leave_one_subject_out():
    ds = dataset(6, 4)
    folds = splits.leave_one_subject_out(ds)
    assert len(folds) == 6
    for train, test in folds:
        assert len(set(ds.subjects[test])) == 1
        assert ds.subjects[test][0] not in set(ds.subjects[train])


def test_by_split_holdout_and_kfold():
    ds = dataset(10, 10)
    [(train, test)] = splits.by_split(ds, "Training", "PublicTest")
    assert set(ds.splits[train]) == {"Training"} and set(ds.splits[test]) == {"PublicTest"}
    with pytest.raises(DatasetError, match="PrivateTest"):
        splits.by_split(ds, "Training", "PrivateTest")
    [(train, test)] = splits.holdout(ds, test_size=0.25)
    assert len(test) == 25 and not set(train) & set(test)
    assert len(splits.kfold(ds, 4)) == 4


def test_subject_splits_need_subjects():
    ds = dataset(10, 2)
    no_subjects = FaceDataset(ds.images, ds.labels, FER7)
    with pytest.raises(DatasetError, match="need subject ids"):
        splits.subject_kfold(no_subjects)
    with pytest.raises(DatasetError, match="at least 5 subjects, found 3"):
        splits.subject_kfold(dataset(3, 5), n_splits=5)
