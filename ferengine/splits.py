"""Train/test splits of a dataset (images or clips), as lists of index arrays.

Every function returns ``[(train_idx, test_idx), ...]``, which scikit-learn's
``cross_val_score(..., cv=...)`` and ``GridSearchCV(cv=...)`` accept directly.
The splitters are scikit-learn's; this module only feeds them the dataset's
labels, subjects and split column, and refuses splits that cannot be honest.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import (
    GroupKFold,
    LeaveOneGroupOut,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)

from ferengine.dataset import LabelledSamples
from ferengine.errors import DatasetError

Split = tuple[np.ndarray, np.ndarray]


def by_split(ds: LabelledSamples, train: str | list[str], test: str | list[str]) -> list[Split]:
    """Use the dataset's own split column (e.g. ``train="Training", test="PublicTest"``)."""
    if ds.splits is None:
        raise DatasetError(f"{ds.source}: this dataset has no split column")
    present = set(ds.splits.tolist())
    sides = []
    for side in (train, test):
        wanted = [side] if isinstance(side, str) else list(side)
        missing = set(wanted) - present
        if missing:
            raise DatasetError(
                f"{ds.source}: split {sorted(missing)} not present; present: {sorted(present)}"
            )
        sides.append(np.flatnonzero(np.isin(ds.splits, wanted)))
    return [(sides[0], sides[1])]


def held_out_share(labels: np.ndarray, fraction: float, seed: int = 0) -> Split:
    """Split sample positions into a fitting part and a stratified held-out share.

    The one definition of "a held-out share of the training data", shared by
    ``[train] hold_out`` in model specs and ``fusion(holdout=...)``: the same labels
    (class codes, as a pipeline passes them to its steps), fraction and seed select the
    same rows.

    Returns
    -------
    (fit_idx, held_idx) : tuple of ndarray
        Sorted positions.
    """
    fit, held = train_test_split(
        np.arange(len(labels)), test_size=fraction, random_state=seed, stratify=labels
    )
    return np.sort(fit), np.sort(held)


def holdout(
    ds: LabelledSamples, test_size: float = 0.2, stratify: bool = True, seed: int = 0
) -> list[Split]:
    """Return one random (stratified) train/test split of the image indices."""
    if stratify:
        return [held_out_share(ds.labels, test_size, seed)]
    train, test = train_test_split(np.arange(len(ds)), test_size=test_size, random_state=seed)
    return [(np.sort(train), np.sort(test))]


def kfold(ds: LabelledSamples, n_splits: int = 5, seed: int = 0) -> list[Split]:
    """Return stratified k-fold splits (images of one subject may fall on both sides)."""
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros(len(ds)), ds.labels))


def _subjects(ds: LabelledSamples) -> np.ndarray:
    if ds.subjects is None:
        raise DatasetError(
            f"{ds.source}: subject-independent splits need subject ids, and this dataset has none"
        )
    return ds.subjects


def subject_kfold(ds: LabelledSamples, n_splits: int = 5, seed: int = 0) -> list[Split]:
    """Return k folds in which no subject appears on both sides, stratified where possible."""
    subjects = _subjects(ds)
    n_subjects = len(np.unique(subjects))
    if n_subjects < n_splits:
        raise DatasetError(
            f"{ds.source}: {n_splits} subject-independent folds need at least {n_splits} "
            f"subjects, found {n_subjects}"
        )
    if np.bincount(ds.labels).max() >= n_splits:
        cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    else:  # too few images per class to stratify: plain group folds
        cv = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros(len(ds)), ds.labels, groups=subjects))


def subject_holdout(ds: LabelledSamples, test_size: float = 0.2, seed: int = 0) -> list[Split]:
    """Return one split in which no subject appears on both sides, stratified where possible.

    The test side is one fold of ``round(1 / test_size)`` subject-independent folds
    (:func:`subject_kfold`), so it holds about ``test_size`` of the samples.
    """
    n_splits = max(2, round(1 / test_size))
    return subject_kfold(ds, n_splits, seed=seed)[:1]


def leave_one_subject_out(ds: LabelledSamples) -> list[Split]:
    """Return one split per subject, testing on that subject alone."""
    subjects = _subjects(ds)
    return list(LeaveOneGroupOut().split(np.zeros(len(ds)), ds.labels, groups=subjects))
