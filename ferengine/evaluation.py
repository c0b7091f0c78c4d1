"""Classification metrics of a fitted pipeline on a labelled dataset."""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from ferengine.dataset import FaceDataset
from ferengine.errors import DatasetError
from ferengine.labels import LabelSpace, mapping


def metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    names: tuple[str, ...],
    true_names: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Return accuracy, balanced accuracy, macro-F1, per-class scores and the confusion matrix.

    Parameters
    ----------
    y_true, y_pred : ndarray of int
        Label codes (indices into ``names``).
    names : tuple of str
        Class names of the model, in code order; every class appears in the
        per-class table and the confusion matrix (rows: true class, columns:
        predicted class).
    true_names : tuple of str, optional
        Class names of ``y_true`` when the test labels live in a larger space whose
        first classes are ``names`` (cross-dataset: CK+ contempt kept beside the
        seven FER2013 classes). The confusion matrix is then rectangular, with
        one row per true class; extra classes are always wrong and count in
        accuracy but not in the per-class table or macro-F1.
    """
    true_names = tuple(true_names or names)
    if true_names[: len(names)] != tuple(names):
        raise ValueError(f"true classes {true_names} must start with the model's {names}")
    codes = np.arange(len(names))
    known = y_true < len(names)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true[known], y_pred[known], labels=codes, zero_division=0
    )
    present = np.isin(codes, y_true)
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": _balanced_accuracy(y_true, y_pred),
        "macro_f1": float(
            f1_score(y_true[known], y_pred[known], labels=codes[present], average="macro")
        ),
        "per_class": {
            name: {
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "support": int(s),
            }
            for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
        },
        "labels": list(names),
        "true_labels": list(true_names),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=np.arange(len(true_names)))[
            :, : len(names)
        ].tolist(),
    }


def _balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    with warnings.catch_warnings():  # cross-dataset: predicted classes absent from the test set
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(balanced_accuracy_score(y_true, y_pred))


def align_labels(dataset: FaceDataset, space: LabelSpace) -> tuple[FaceDataset, int]:
    """Carry a dataset into the model's label space; return it and how many images were dropped.

    Classes the model does not know (contempt, say, for a fer7 model) are
    dropped; a dataset sharing no class with the model is an error.
    """
    if dataset.label_space.names == space.names:
        return dataset, 0
    mapped = dataset.map_labels(mapping(dataset.label_space, space, unmapped="drop"))
    if not len(mapped):
        raise DatasetError(
            f"{dataset.source}: none of its classes {dataset.label_space.names} maps into the "
            f"model's label space {space.name} {space.names}"
        )
    return mapped, len(dataset) - len(mapped)


def evaluate(model: Any, dataset: FaceDataset, split: str | None = None) -> dict[str, Any]:
    """Score a fitted pipeline on a dataset (optionally one split of it).

    Returns
    -------
    dict
        :func:`metrics` plus ``label_space``, ``split``, ``dropped`` (images of
        classes outside the model's label space) and ``predict_seconds``.
    """
    if split is not None:
        dataset = dataset.where(split=split)
    space = getattr(model, "label_space_", None) or dataset.label_space
    dataset, dropped = align_labels(dataset, space)
    start = time.perf_counter()
    predicted = np.asarray(model.predict(dataset.images)).astype(int)
    seconds = time.perf_counter() - start
    out = metrics(dataset.labels, predicted, space.names)
    out.update(
        label_space=space.name,
        split=split,
        dropped=dropped,
        predict_seconds=seconds,
        predict_ms_per_image=1000 * seconds / max(1, len(dataset)),
    )
    return out
