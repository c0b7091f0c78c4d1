"""Atomic writes (ferengine.fileio) and figures that leave matplotlib's backend alone."""

import os
import stat

import numpy as np
import pytest

from ferengine.fileio import atomic_dir, atomic_path, write_atomic


def test_write_atomic_replaces_the_file_syncs_it_and_leaves_no_temporary(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    path = tmp_path / "sub" / "a.json"
    write_atomic(path, "old")
    write_atomic(path, b"new")
    assert path.read_text() == "new" and os.listdir(path.parent) == ["a.json"]
    assert len(synced) == 4  # the file and its folder, twice
    mode = stat.S_IMODE(path.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # not mkstemp's private 0600


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "model.fer"
    path.write_text("good")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert path.read_text() == "good" and os.listdir(tmp_path) == ["model.fer"]


def test_writers_that_add_a_suffix_get_one(tmp_path):
    with atomic_path(tmp_path / "folds.npz", suffix=".npz") as tmp:
        np.savez(tmp, a=np.arange(3))
    assert os.listdir(tmp_path) == ["folds.npz"]
    assert np.load(tmp_path / "folds.npz")["a"].tolist() == [0, 1, 2]


def test_atomic_dir_keeps_the_first_complete_copy(tmp_path):
    folder = tmp_path / "ab" / "abcdef"
    with atomic_dir(folder) as tmp:
        (tmp / "x.txt").write_text("first")
    with atomic_dir(folder) as tmp:  # a concurrent writer that lost the race
        (tmp / "x.txt").write_text("second")
        (tmp / "y.txt").write_text("second")
    assert sorted(os.listdir(folder)) == ["x.txt"] and (folder / "x.txt").read_text() == "first"
    assert os.listdir(folder.parent) == ["abcdef"]
    with pytest.raises(ValueError), atomic_dir(tmp_path / "other") as tmp:
        raise ValueError
    assert not (tmp_path / "other").exists() and sorted(os.listdir(tmp_path)) == ["ab"]
