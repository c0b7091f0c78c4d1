"""Datasets of a suite, loaded once per process, and the folds of its protocol.

Each fold also carries its :class:`~ferengine.bench.leaks.Leaks`: which test images a
training image of the fold copies, after the training copies ``[protocol] dedupe`` names
were dropped (done here, so the feature cache keys follow the training rows kept).
"""

from __future__ import annotations

import functools
import json
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import joblib
import numpy as np

import ferengine
from ferengine import splits
from ferengine.bench.leaks import SETTINGS, Fingerprints, Leaks, fingerprints, fold_leaks, match
from ferengine.bench.store import set_aside
from ferengine.bench.suite import DatasetRef, Protocol, SuiteError
from ferengine.dataset import FaceDataset
from ferengine.fileio import atomic_path
from ferengine.labels import LabelSpace, mapping


@dataclass(frozen=True)
class Side:
    """Where one side of a fold reads its images.

    A dataset, optionally carried into another label space (cross-dataset tests).
    """

    ref: DatasetRef
    space: LabelSpace | None = None  # the model's label space, on a cross-dataset test side
    contempt: str = "drop"
    table: tuple[tuple[str, str], ...] = ()

    def load(self) -> FaceDataset:
        """Load the dataset this side reads, once per process (workers reuse it)."""
        return _load(_ByContent(self))

    def fingerprints(self) -> Fingerprints | None:
        """Hash this side's images, once per process; ``None`` for clip datasets."""
        return _fingerprints(_ByContent(self))


@dataclass
class Fold:
    """Train and test image indices of one fold of one repeat."""

    repeat: int
    index: int
    train_side: Side
    test_side: Side
    train: np.ndarray
    test: np.ndarray
    leaks: Leaks | None = None  # copies of test images in training; None for clip datasets


class _ByContent:
    """A side hashed by its content (``joblib.hash``: its parameters may hold dicts)."""

    def __init__(self, side: Side) -> None:
        self.side, self.key = side, joblib.hash(side)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ByContent) and other.key == self.key


@functools.lru_cache(maxsize=4)
def _load(side: _ByContent) -> FaceDataset:
    return _read(side.side)


@functools.lru_cache(maxsize=4)
def _fingerprints(side: _ByContent) -> Fingerprints | None:
    ds = side.side.load()
    return fingerprints(ds.images) if isinstance(ds, FaceDataset) else None


def _read(side: Side) -> FaceDataset:
    ref = side.ref
    ds = ferengine.load_dataset(ref.name, **ref.params)
    if ref.label_space:
        ds = ds.map_labels(mapping(ds.label_space, ref.label_space, unmapped="drop"))
    if side.space is not None:
        ds = ds.map_labels(
            mapping(ds.label_space, side.space, unmapped=side.contempt, table=dict(side.table))
        )
    return ds


def make_folds(
    key: str, datasets: dict[str, DatasetRef], protocol: Protocol, seed: int
) -> list[Fold]:
    """Return every fold of every repeat for the tested dataset ``key``."""
    if protocol.kind == "cross-dataset":
        train_side = Side(datasets[protocol.train])
        train_ds = train_side.load()
        test_side = Side(
            datasets[protocol.test],
            space=train_ds.label_space,
            contempt=protocol.contempt,
            table=tuple(sorted(protocol.mapping.items())),
        )
        test_ds = test_side.load()
        train = _rows(train_ds, protocol.train_split, "train_split")
        test = _rows(test_ds, protocol.test_split, "test_split")
        return with_leaks([Fold(0, 0, train_side, test_side, train, test)], protocol.dedupe)
    side = Side(datasets[key])
    ds = side.load()
    folds = []
    for repeat in range(protocol.repeats):
        seeded = seed + repeat
        pairs = _pairs(ds, protocol, seeded)
        folds += [Fold(repeat, i, side, side, tr, te) for i, (tr, te) in enumerate(pairs)]
        if protocol.kind in ("split", "loso"):
            break  # deterministic protocols: repeats would repeat the same numbers
    return with_leaks(folds, protocol.dedupe)


def with_leaks(folds: list[Fold], dedupe: str) -> list[Fold]:
    """Return ``folds`` (of one pair of sides) with their leaks, training copies dropped.

    Raises
    ------
    SuiteError
        ``dedupe`` asks to drop copies from a clip dataset, which is not hashed.
    """
    first = folds[0]
    same = first.test_side == first.train_side
    train = first.train_side.fingerprints()
    test = None if same else first.test_side.fingerprints()
    if train is None or (test is None and not same):
        if dedupe != "none":
            raise SuiteError(f"protocol.dedupe = {dedupe!r}: clip datasets are not hashed, so "
                             "their copies cannot be dropped; use dedupe = \"none\"")  # fmt: skip
        return folds
    matches = match(train, test)
    out = []
    for fold in folds:
        rows, leaks = fold_leaks(matches, fold.train, fold.test, dedupe)
        out.append(replace(fold, train=rows, leaks=leaks))
    return out


def cached_folds(
    key: str, datasets: dict[str, DatasetRef], protocol: Protocol, seed: int, root: Path
) -> list[Fold]:
    """:func:`make_folds`, stored under ``root`` by content key.

    A resumed run then finds its folds without loading (or rendering) any dataset;
    workers load the data only for tasks that still have to run.
    """
    ident = joblib.hash([key, {k: r.describe() for k, r in datasets.items()},
                         repr(protocol), seed, SETTINGS])  # fmt: skip
    path = Path(root) / f"{ident}.npz"
    if path.is_file():
        try:
            return _read_folds(path, datasets, protocol)
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            set_aside(path, f"unreadable folds: {exc}", "the folds are made again")
    folds = make_folds(key, datasets, protocol, seed)
    first = folds[0]
    space = first.test_side.space
    meta = {
        "train": first.train_side.ref.key,
        "test": first.test_side.ref.key,
        "space": None if space is None else [space.name, list(space.names)],
        "folds": [[f.repeat, f.index] for f in folds],
        "leaks": [None if f.leaks is None else [f.leaks.dropped, f.leaks.dedupe] for f in folds],
    }
    arrays = {
        f"{side}{i}": getattr(f, side) for i, f in enumerate(folds) for side in ("train", "test")
    }
    arrays.update({f"copies{i}": f.leaks.copies for i, f in enumerate(folds) if f.leaks})
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, meta=json.dumps(meta), **arrays)
    return folds


def _read_folds(path: Path, datasets: dict[str, DatasetRef], protocol: Protocol) -> list[Fold]:
    with np.load(path) as stored:
        meta = json.loads(str(stored["meta"]))
        space = (
            None if meta["space"] is None else LabelSpace(meta["space"][0], tuple(meta["space"][1]))
        )
        folds = []
        for i, (repeat, index) in enumerate(meta["folds"]):
            train_side = Side(datasets[meta["train"]])
            test_side = replace(Side(datasets[meta["test"]]), space=space,
                                contempt=protocol.contempt,
                                table=tuple(sorted(protocol.mapping.items())))  # fmt: skip
            if space is None:
                test_side = train_side
            found = meta["leaks"][i]
            leaks = None if found is None else Leaks(stored[f"copies{i}"], *found)
            folds.append(Fold(repeat, index, train_side, test_side,
                              stored[f"train{i}"], stored[f"test{i}"], leaks))  # fmt: skip
    return folds


def _pairs(ds: FaceDataset, protocol: Protocol, seed: int) -> list[tuple[Any, Any]]:
    kind = protocol.kind
    try:
        if kind == "split":
            return splits.by_split(ds, protocol.train_split, protocol.test_split)
        if kind == "holdout":
            return splits.holdout(ds, protocol.test_size, seed=seed)
        if kind == "subject-holdout":
            return splits.subject_holdout(ds, protocol.test_size, seed=seed)
        if kind == "kfold":
            return splits.kfold(ds, protocol.folds, seed=seed)
        if kind == "subject-kfold":
            return splits.subject_kfold(ds, protocol.folds, seed=seed)
        return splits.leave_one_subject_out(ds)
    except ferengine.errors.FerengineError as exc:
        raise SuiteError(f"protocol {kind}: {exc}") from exc


def _rows(ds: FaceDataset, split: str | None, what: str) -> np.ndarray:
    if split is None:
        return np.arange(len(ds))
    if ds.splits is None or split not in set(ds.splits.tolist()):
        raise SuiteError(f"protocol.{what}: {ds.source} has no split {split!r}")
    return np.flatnonzero(ds.splits == split)
