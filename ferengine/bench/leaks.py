"""Test images that copy training images: counted per fold, optionally dropped from training.

A benchmark whose test images also sit in its training set measures memory as well as
recognition; FER2013 is a case in point (280 of its 3,589 PublicTest images are
byte-identical to a Training image). Every fold of a run therefore records, for each test
image, whether a training image of that fold copies it:

- **exact**: a byte-identical training image (same content hash,
  :func:`ferengine.audit.hashes.content_hashes`);
- **near**: no byte-identical one, but a training image whose perceptual hash
  (:func:`~ferengine.audit.hashes.perceptual_hashes`) lies within the audit's default
  :data:`~ferengine.audit.NEAR_THRESHOLD` bits of it (blank images left out, as the audit
  does: two blank images of different grey levels are not copies).

The scores then come twice: on all test images and on the *de-duplicated* test set, the
test images with neither kind of copy. The suite option ``[protocol] dedupe`` drops the
other direction before fitting: training rows that copy a test image of their fold
(``"exact"``: byte-identical ones; ``"near"``: those and the near copies).

Each dataset is hashed once per process (:class:`Fingerprints`), and every near pair of
the dataset (or of the two datasets of a cross-dataset test) is found once
(:func:`match`); a fold then needs only set look-ups. Clip datasets are not hashed: their
folds carry no counts, and their records say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

import numpy as np

from ferengine.audit import NEAR_THRESHOLD
from ferengine.audit.checks import BLANK_STD, pixel_std
from ferengine.audit.hashes import content_hashes, exact_groups, perceptual_hashes
from ferengine.audit.near import hamming_pairs
from ferengine.bench.suite import Dedupe
from ferengine.evaluation import metrics

#: Values of the ``[protocol] dedupe`` option.
DEDUPE: tuple[str, ...] = get_args(Dedupe)
#: What a test image has in the training rows of its fold (values of :attr:`Leaks.copies`).
NO_COPY, NEAR_COPY, EXACT_COPY = 0, 1, 2
#: What the counts depend on besides the data: part of the stored folds' key.
SETTINGS = {"near_threshold": NEAR_THRESHOLD, "blank_std": BLANK_STD, "hash": "blake2b/phash16"}
#: Why clip datasets carry no counts (the ``dup_note`` of their records).
CLIP_NOTE = "duplicates not counted: clip datasets are not hashed"


@dataclass(frozen=True)
class Fingerprints:
    """The content hash, perceptual hash and blankness of every image of a dataset.

    Attributes
    ----------
    digests : ndarray of dtype ``V16``, shape (N,)
    phash : ndarray of uint64, shape (N, 4)
    blank : ndarray of bool, shape (N,)
        Grey-level standard deviation below :data:`~ferengine.audit.checks.BLANK_STD`.
    """

    digests: np.ndarray
    phash: np.ndarray
    blank: np.ndarray


def fingerprints(images: Any) -> Fingerprints:
    """Hash every image of ``images`` (N×H×W or N×H×W×3 uint8, memory-mapped or not)."""
    return Fingerprints(
        content_hashes(images), perceptual_hashes(images), pixel_std(images) < BLANK_STD
    )


@dataclass(frozen=True)
class Matches:
    """Copies between the images of a training side and a test side.

    Attributes
    ----------
    train_group, test_group : ndarray of int64
        The exact group (distinct image) of every image of each side; byte-identical
        images share a group, across the sides too.
    near : ndarray of int64, shape (M, 2)
        Pairs of different groups whose perceptual hashes are within the threshold.
    """

    train_group: np.ndarray
    test_group: np.ndarray
    near: np.ndarray


def match(train: Fingerprints, test: Fingerprints | None = None) -> Matches:
    """Group the images of both sides by content and pair the near groups.

    Parameters
    ----------
    train : Fingerprints
        The training side's dataset.
    test : Fingerprints, optional
        The test side's dataset when it is another one (cross-dataset); by default the
        folds draw both sides from ``train``.
    """
    sides = [train] if test is None else [train, test]
    digests = np.concatenate([s.digests for s in sides])
    group, _ = exact_groups(digests)
    blank = np.concatenate([s.blank for s in sides])
    rows = np.flatnonzero(~blank)  # near pairs among the distinct non-blank images
    groups, first = np.unique(group[rows], return_index=True)
    phash = np.concatenate([s.phash for s in sides])[rows[first]]
    pairs, _ = hamming_pairs(phash, NEAR_THRESHOLD)
    n_train = len(train.digests)
    test_group = group if test is None else group[n_train:]
    return Matches(group[:n_train], test_group, groups[pairs])


@dataclass(frozen=True)
class Leaks:
    """What the test images of one fold have in its training rows.

    Attributes
    ----------
    copies : ndarray of int8
        Per test row of the fold: :data:`NO_COPY`, :data:`NEAR_COPY` or :data:`EXACT_COPY`.
    dropped : int
        Training rows the ``dedupe`` option dropped before fitting.
    dedupe : str
        The option the fold was made with (one of :data:`DEDUPE`).
    """

    copies: np.ndarray
    dropped: int = 0
    dedupe: str = "none"

    def counts(self) -> dict[str, Any]:
        """Return the record fields of the counts (``dup_exact``, ``dup_near``, …)."""
        return {
            "dup_exact": int(np.sum(self.copies == EXACT_COPY)),
            "dup_near": int(np.sum(self.copies == NEAR_COPY)),
            "n_dedup": int(np.sum(self.copies == NO_COPY)),
            "dedupe": self.dedupe,
            "dedupe_dropped": self.dropped,
        }


def _near(pairs: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Return the groups paired with any of ``groups``."""
    a, b = pairs[:, 0], pairs[:, 1]
    return np.concatenate([b[np.isin(a, groups)], a[np.isin(b, groups)]])


def fold_leaks(
    matches: Matches, train: np.ndarray, test: np.ndarray, dedupe: str = "none"
) -> tuple[np.ndarray, Leaks]:
    """Drop the training rows ``dedupe`` names, then find each test image's copies.

    Parameters
    ----------
    matches : Matches
        From :func:`match` on the fold's datasets.
    train, test : ndarray of int
        The fold's training and test rows.
    dedupe : str
        ``"none"``, ``"exact"`` (drop training rows byte-identical to a test row) or
        ``"near"`` (drop those and the training rows near a test row).

    Returns
    -------
    train : ndarray of int
        The training rows kept, in their order.
    leaks : Leaks
        The copies the test rows have among the rows kept, and how many were dropped.
    """
    if dedupe not in DEDUPE:
        raise ValueError(f"dedupe must be one of {DEDUPE}, got {dedupe!r}")
    test_groups = np.unique(matches.test_group[test])
    if dedupe != "none":
        drop = set(test_groups.tolist())
        if dedupe == "near":
            drop |= set(_near(matches.near, test_groups).tolist())
        kept = ~np.isin(matches.train_group[train], np.fromiter(drop, np.int64, len(drop)))
        dropped, train = int(np.sum(~kept)), np.asarray(train)[kept]
    else:
        dropped = 0
    train_groups = np.unique(matches.train_group[train])
    groups = matches.test_group[test]
    exact = np.isin(groups, train_groups)
    near = np.isin(groups, _near(matches.near, train_groups)) & ~exact
    copies = np.where(exact, EXACT_COPY, np.where(near, NEAR_COPY, NO_COPY)).astype(np.int8)
    return train, Leaks(copies, dropped, dedupe)


def scores(
    leaks: Leaks | None,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    names: tuple[str, ...],
    true_names: tuple[str, ...],
) -> dict[str, Any]:
    """Return a record's leak fields: the counts, and accuracy and macro-F1 without copies.

    ``accuracy_dedup`` and ``macro_f1_dedup`` are computed as the record's ``accuracy``
    and ``macro_f1`` (:func:`ferengine.evaluation.metrics`) on the test images with
    neither an exact nor a near copy in training; ``None`` when every test image has one.
    Without ``leaks`` (a clip dataset), only a ``dup_note`` saying why.
    """
    if leaks is None:
        return {"dup_note": CLIP_NOTE}
    clean = leaks.copies == NO_COPY
    out = leaks.counts()
    if not clean.any():
        return {**out, "accuracy_dedup": None, "macro_f1_dedup": None}
    kept = metrics(np.asarray(y_true)[clean], np.asarray(y_pred)[clean], names, true_names)
    return {**out, "accuracy_dedup": kept["accuracy"], "macro_f1_dedup": kept["macro_f1"]}
