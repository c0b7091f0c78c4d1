"""The face dataset that every dataset plugin returns: images in memory or memory-mapped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ferengine.errors import DatasetError
from ferengine.labels import LabelMapping, LabelSpace
from ferengine.memmap import MemmapImages


def set_sample_columns(data: Any, n: int, samples: str, name: str) -> None:
    """Encode a frozen dataset's ``labels`` and check its ``subjects`` and ``splits``.

    Shared by :class:`FaceDataset` and :class:`~ferengine.sequences.ClipDataset`: labels
    become codes of ``data.label_space``; subjects and splits, when given, strings, each
    one per sample. ``samples`` ("images", "clips") and ``name`` word the errors.

    Raises
    ------
    DatasetError
        A column whose length is not ``n``.
    """
    labels = (
        data.label_space.encode(np.asarray(data.labels).reshape(-1)) if n else np.zeros(0, np.int64)
    )
    if len(labels) != n:
        raise DatasetError(f"{name}: {n} {samples} but {len(labels)} labels")
    object.__setattr__(data, "labels", labels)
    for attr in ("subjects", "splits"):
        value = getattr(data, attr)
        if value is not None:
            value = np.asarray(value).astype(str)
            if value.shape != (n,):
                raise DatasetError(f"{name}: {attr} has shape {value.shape}, expected ({n},)")
            object.__setattr__(data, attr, value)


class LabelledSamples:
    """Label operations shared by still and clip datasets.

    Both are frozen dataclasses with ``labels``, ``label_space``, ``splits``, ``source``,
    a ``subset(index)`` method and a ``samples`` property: what a pipeline takes as ``X``.
    """

    labels: Any
    label_space: LabelSpace
    splits: Any
    source: str

    def map_labels(self, mapping: LabelMapping) -> Any:
        """Carry labels into ``mapping.target``, dropping samples the mapping drops."""
        if mapping.source.names != self.label_space.names:
            raise DatasetError(
                f"mapping is from {mapping.source.name!r} but the dataset is in "
                f"{self.label_space.name!r}"
            )
        codes, keep = mapping.apply(self.labels)
        kept = self.subset(keep)  # type: ignore[attr-defined]
        return replace(kept, labels=codes[keep], label_space=mapping.target)

    def vote_counts(self, class_names: Sequence[str]) -> np.ndarray:
        """Return the annotators' votes per sample for the classes (:func:`vote_table`)."""
        return vote_table(self.meta, class_names, self.source)

    def class_counts(self, split: str | None = None) -> dict[str, int]:
        """Return the number of samples per class name (of one split), in label-space order."""
        labels = self.labels
        if split is not None:
            if self.splits is None:
                raise DatasetError(f"{self.source}: this dataset has no splits")
            labels = labels[self.splits == split]
        counts = np.bincount(labels, minlength=len(self.label_space))
        return dict(zip(self.label_space.names, counts.tolist(), strict=True))


@dataclass(frozen=True, eq=False)
class FaceDataset(LabelledSamples):
    """Face images with expression labels and, where known, subjects and splits.

    Parameters
    ----------
    images : ndarray or MemmapImages of uint8, shape (N, H, W) or (N, H, W, 3)
        Grey or RGB face images, in memory or in a ``.npy`` file read on demand
        (:class:`~ferengine.memmap.MemmapImages`, what a loader's ``memmap=True``
        returns; see :mod:`ferengine.datacache`). Derived datasets (:meth:`subset`,
        :meth:`where`, :meth:`map_labels`, resampling) of a memory-mapped dataset select
        rows of the same file without reading them; :meth:`with_mirrors` reads them.
    labels : ndarray of int64, shape (N,)
        Codes into ``label_space``.
    label_space : LabelSpace
    subjects : ndarray of str, shape (N,), optional
        Subject (identity) of every image, for subject-independent evaluation.
    splits : ndarray of str, shape (N,), optional
        The dataset's own split of every image (``"Training"``, ``"PublicTest"``...).
    source : str
        Where the data came from (plugin name and path).
    meta : dict
        Free-form extra information from the loader.
    per_sample : frozenset of str
        The ``meta`` keys holding one value per image (a list, tuple or 1-D-or-more
        array of length N, e.g. ``"files"``). Every derived dataset (:meth:`subset`,
        :meth:`where`, :meth:`map_labels`, :meth:`with_mirrors`, resampling) takes the
        same rows of these entries, so they stay aligned with the images; every other
        ``meta`` entry describes the whole dataset and is carried over unchanged.
        Declared keys absent from ``meta`` are ignored.
    """

    images: np.ndarray | MemmapImages
    labels: np.ndarray
    label_space: LabelSpace
    subjects: np.ndarray | None = None
    splits: np.ndarray | None = None
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    per_sample: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        images = self.images
        if not isinstance(images, MemmapImages):
            images = np.asarray(images)
        if images.dtype != np.uint8:
            raise DatasetError(
                f"{self.source or 'dataset'}: images must be uint8, got {images.dtype}"
            )
        if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
            raise DatasetError(
                f"{self.source or 'dataset'}: images must be N×H×W or N×H×W×3, got {images.shape}"
            )
        n = len(images)
        object.__setattr__(self, "images", images)
        set_sample_columns(self, n, "images", self.source)
        per_sample = frozenset(k for k in self.per_sample if k in self.meta)
        for key in per_sample:
            value = self.meta[key]
            if not isinstance(value, list | tuple | np.ndarray) or len(value) != n:
                found = (
                    f"{len(value)} entries"
                    if isinstance(value, list | tuple | np.ndarray)
                    else type(value).__name__
                )
                raise DatasetError(
                    f"{self.source or 'dataset'}: per-sample meta[{key!r}] has {found}, "
                    f"expected a sequence of {n} (one per image)"
                )
        object.__setattr__(self, "per_sample", per_sample)

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        shape = "×".join(map(str, self.images.shape[1:]))
        extra = []
        if self.splits is not None:
            extra.append(f"splits={sorted(set(self.splits.tolist()))}")
        if self.subjects is not None:
            extra.append(f"subjects={len(set(self.subjects.tolist()))}")
        return (
            f"FaceDataset({len(self)} images {shape}, {self.label_space.name}, "
            f"{', '.join(extra)}{', ' if extra else ''}source={self.source!r})"
        )

    @property
    def memmapped(self) -> bool:
        """Whether the images are read from a file on demand (not held in memory)."""
        return isinstance(self.images, MemmapImages)

    @property
    def label_names(self) -> np.ndarray:
        """Class name of every image."""
        return self.label_space.decode(self.labels)

    @property
    def samples(self) -> Any:
        """What a pipeline takes as ``X``: the images."""
        return self.images

    def subset(self, index: Sequence[int] | np.ndarray) -> FaceDataset:
        """Return the images selected by integer indices or a boolean mask.

        Every per-sample column follows: labels, subjects, splits and the ``meta``
        entries named in :attr:`per_sample`. This is the one place rows are selected;
        every other derived dataset is built through it. Memory-mapped images stay
        memory-mapped: the subset selects rows of the same file and reads none.
        """
        index = np.asarray(index)
        if index.dtype == bool and index.shape != (len(self),):
            raise DatasetError(f"mask has shape {index.shape}, expected ({len(self)},)")
        rows = np.arange(len(self))[index]  # positions; raises IndexError like images[index]
        pick = lambda a: None if a is None else a[rows]  # noqa: E731
        meta = {k: _take(v, rows) if k in self.per_sample else v for k, v in self.meta.items()}
        return replace(
            self,
            images=self.images.subset(rows) if self.memmapped else self.images[rows],
            labels=self.labels[rows],
            subjects=pick(self.subjects),
            splits=pick(self.splits),
            meta=meta,
        )

    def where(
        self,
        split: str | Sequence[str] | None = None,
        label: str | int | Sequence[str | int] | None = None,
        subject: str | Sequence[str] | None = None,
    ) -> FaceDataset:
        """Return the images of the given split(s), class(es) and/or subject(s)."""
        mask = np.ones(len(self), dtype=bool)
        if split is not None:
            if self.splits is None:
                raise DatasetError(f"{self.source}: this dataset has no splits")
            wanted = [split] if isinstance(split, str) else list(split)
            unknown = set(wanted) - set(self.splits.tolist())
            if unknown:
                raise DatasetError(
                    f"{self.source}: no split {sorted(unknown)}; present: "
                    f"{sorted(set(self.splits.tolist()))}"
                )
            mask &= np.isin(self.splits, wanted)
        if label is not None:
            wanted_labels = [label] if isinstance(label, str | int) else list(label)
            mask &= np.isin(self.labels, [self.label_space.index(x) for x in wanted_labels])
        if subject is not None:
            if self.subjects is None:
                raise DatasetError(f"{self.source}: this dataset has no subject ids")
            mask &= np.isin(self.subjects, [subject] if isinstance(subject, str) else subject)
        return self.subset(mask)

    def with_mirrors(self) -> FaceDataset:
        """Return the images followed by their horizontal mirrors (same labels and subjects).

        The offline ×2 flip augmentation of the FER literature; expressions are
        left-right symmetric, so a mirrored face keeps its label. The result is held in
        memory, memory-mapped input included.
        """
        rows = np.arange(len(self))
        doubled = self.subset(np.concatenate([rows, rows]))
        images = np.asarray(self.images)
        mirrored = np.ascontiguousarray(images[:, :, ::-1])
        return replace(doubled, images=np.concatenate([images, mirrored]))


def _take(value: list | tuple | np.ndarray, rows: np.ndarray) -> list | tuple | np.ndarray:
    """Return the ``rows`` of a per-sample ``meta`` value, keeping its type."""
    if isinstance(value, np.ndarray):
        return value[rows]
    picked = [value[i] for i in rows.tolist()]
    return tuple(picked) if isinstance(value, tuple) else picked


def vote_table(meta: dict[str, Any], class_names: Sequence[str], source: str = "") -> np.ndarray:
    """Return the annotators' votes per sample for the given classes (N×K, K class names).

    Reads the ``votes`` (per sample) and ``vote_names`` entries of a dataset's ``meta``
    (FER2013 loaded with its FER+ votes); columns follow ``class_names``, so vote
    columns naming no class (``unknown``, ``NF``) drop out.

    Raises
    ------
    DatasetError
        The dataset carries no votes, or a class has no vote column.
    """
    where = f"{source}: " if source else ""
    if "votes" not in meta:
        raise DatasetError(
            f"{where}no annotator votes (meta['votes']); load FER2013 with its FER+ votes "
            "(fer2013 ferplus=PATH)"
        )
    names = list(meta.get("vote_names", []))
    missing = [c for c in class_names if c not in names]
    if missing:
        raise DatasetError(
            f"{where}classes {missing} have no vote column (the votes are for {names})"
        )
    votes = np.asarray(meta["votes"], dtype=float)
    return votes[:, [names.index(c) for c in class_names]]
