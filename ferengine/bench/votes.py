"""Scores against annotators' votes: cross-entropy to the vote distribution, plurality accuracy.

A dataset carries votes in two ``meta`` entries: ``votes``, one row of vote counts per
image (N×M, a per-sample entry), and ``vote_names``, the M column names. FER2013 loaded
with its FER+ votes (``fer2013`` with ``ferplus=``) has ten columns: the eight FER+
emotions, ``unknown`` and ``NF`` (not a face). Only the columns named like a class of
the model's label space are scored, so ``unknown`` and ``NF`` drop out and the votes
are normalised over the emotions.

For such a test set every benchmark record gets, beside its accuracy (which is against
the dataset's labels, for FER+ the majority vote):

* ``plurality_accuracy``: a prediction is right when it is one of the classes with the
  most votes (ties: any of them);
* ``vote_cross_entropy`` (classifiers with ``predict_proba`` only): the mean over test
  images of ``-Σ_k q_k · ln(max(p_k, EPS))``, in nats, with ``q`` the votes normalised
  over the model's classes, ``p`` the predicted probabilities and :data:`EPS` = 1e-7;
* ``vote_entropy``: the mean entropy of those vote distributions, the lowest
  cross-entropy any model can reach on them (a model predicting each image's vote
  shares exactly);
* ``votes_n``: the test images scored (those with at least one vote for a class).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ferengine.dataset import vote_table
from ferengine.errors import DatasetError

#: Probabilities are clipped to at least this before the logarithm (no renormalisation).
EPS = 1e-7


def _checked_votes(votes: ArrayLike, n: int, what: str) -> np.ndarray:
    votes = np.asarray(votes, dtype=float)
    if votes.ndim != 2 or len(votes) != n:
        raise ValueError(f"votes have shape {votes.shape}, expected ({n}, n_classes) for {what}")
    if (votes < 0).any() or not np.isfinite(votes).all():
        raise ValueError("votes must be finite and non-negative")
    empty = np.flatnonzero(votes.sum(axis=1) == 0)
    if empty.size:
        raise ValueError(f"rows {empty[:5].tolist()} hold no vote; leave them out before scoring")
    return votes


def cross_entropy_to_votes(proba: ArrayLike, votes: ArrayLike, eps: float = EPS) -> float:
    """Mean cross-entropy of predicted probabilities to the annotators' vote distribution.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Predicted class probabilities, columns in the order of ``votes``' columns.
    votes : array-like of shape (n_samples, n_classes)
        Vote counts (or any non-negative weights) per class; every row holds at least
        one vote. Each row is normalised to sum to one.
    eps : float
        Probabilities below ``eps`` count as ``eps`` (a class with votes but zero
        predicted probability would otherwise cost infinity); they are not renormalised.

    Returns
    -------
    float
        ``mean_i( -Σ_k q_ik · ln(max(p_ik, eps)) )`` in nats, with ``q_ik = v_ik / Σ_j v_ij``.
        Zero when every image puts probability one on a class that got every vote.

    Raises
    ------
    ValueError
        Shapes differ, or a row of ``votes`` is empty or negative.
    """
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2:
        raise ValueError(f"proba has shape {proba.shape}, expected (n_samples, n_classes)")
    votes = _checked_votes(votes, len(proba), f"proba of shape {proba.shape}")
    if votes.shape != proba.shape:
        raise ValueError(f"votes have shape {votes.shape}, proba {proba.shape}: they must match")
    q = votes / votes.sum(axis=1, keepdims=True)
    return float(np.mean(-(q * np.log(np.clip(proba, eps, None))).sum(axis=1)))


def vote_entropy(votes: ArrayLike) -> float:
    """Mean entropy of the vote distributions: the floor of :func:`cross_entropy_to_votes`.

    Parameters
    ----------
    votes : array-like of shape (n_samples, n_classes)
        Vote counts per class; every row holds at least one vote.

    Returns
    -------
    float
        ``mean_i( -Σ_k q_ik · ln q_ik )`` in nats (``0 · ln 0`` = 0), with ``q_ik = v_ik /
        Σ_j v_ij``: zero when every image's votes are unanimous.
    """
    votes = np.asarray(votes, dtype=float)
    votes = _checked_votes(votes, len(votes), "the votes")
    q = votes / votes.sum(axis=1, keepdims=True)
    logs = np.log(q, out=np.zeros_like(q), where=q > 0)
    return float(np.mean(-(q * logs).sum(axis=1)))


def plurality_accuracy(predicted: ArrayLike, votes: ArrayLike) -> float:
    """Share of predictions that are one of the classes with the most votes.

    Parameters
    ----------
    predicted : array-like of shape (n_samples,)
        Predicted class indices into the columns of ``votes``.
    votes : array-like of shape (n_samples, n_classes)
        Vote counts per class; every row holds at least one vote.

    Returns
    -------
    float
        The share of images whose prediction got as many votes as the most-voted
        class (when classes tie for the most votes, any of them counts as right).

    Raises
    ------
    ValueError
        Shapes differ, a row of ``votes`` is empty, or a prediction is not a column.
    """
    predicted = np.asarray(predicted)
    votes = _checked_votes(votes, len(predicted), f"{len(predicted)} predictions")
    if predicted.ndim != 1 or ((predicted < 0) | (predicted >= votes.shape[1])).any():
        raise ValueError(f"predictions must be column indices 0..{votes.shape[1] - 1}")
    chosen = votes[np.arange(len(votes)), predicted.astype(int)]
    return float(np.mean(chosen == votes.max(axis=1)))


def vote_scores(
    proba: ArrayLike | None,
    classes: ArrayLike | None,
    predicted: ArrayLike,
    class_names: tuple[str, ...],
    meta: dict[str, Any],
    test_index: ArrayLike,
) -> dict[str, Any]:
    """Return the vote metrics of one scored fold for its benchmark record.

    Parameters
    ----------
    proba : array-like of shape (n_test, len(classes)), optional
        The classifier's ``predict_proba`` on the test inputs; None when it has none
        (the cross-entropy is then left out, with a note, as it is when the columns do
        not match ``classes``).
    classes : array-like of int, optional
        The label codes of ``proba``'s columns (the classifier's ``classes_``); None
        means all of ``class_names``, in order.
    predicted : array-like of shape (n_test,)
        The classifier's predictions: label codes of ``class_names``.
    class_names : tuple of str
        The model's label space (the training side's class names, in code order).
    meta : dict
        The test dataset's ``meta``: its ``votes`` and ``vote_names`` entries.
    test_index : array-like of shape (n_test,)
        The fold's test rows of that dataset.

    Returns
    -------
    dict
        Empty when the test set carries no votes. Otherwise ``votes_n``,
        ``vote_entropy``, ``plurality_accuracy`` and ``vote_cross_entropy`` (None
        without probabilities), with a ``votes_note`` saying why a metric is missing.
    """
    if "votes" not in meta:
        return {}
    try:
        votes = vote_table(meta, class_names)[np.asarray(test_index)]
    except DatasetError as exc:
        return {"votes_note": f"vote metrics skipped: {exc}"}
    scored = votes.sum(axis=1) > 0
    out: dict[str, Any] = {
        "votes_n": int(scored.sum()),
        "vote_entropy": None,
        "plurality_accuracy": None,
        "vote_cross_entropy": None,
    }
    if not scored.any():
        out["votes_note"] = "vote metrics skipped: no test image has a vote for a class"
        return out
    predicted = np.asarray(predicted)
    out["vote_entropy"] = vote_entropy(votes[scored])
    out["plurality_accuracy"] = plurality_accuracy(predicted[scored], votes[scored])
    if proba is None:
        out["votes_note"] = "cross-entropy to the votes skipped: no predict_proba"
        return out
    try:
        full = _spread(np.asarray(proba, dtype=float), classes, len(class_names))
    except ValueError as exc:  # noted: the combination still counts
        out["votes_note"] = f"cross-entropy to the votes skipped: {exc}"
        return out
    out["vote_cross_entropy"] = cross_entropy_to_votes(full[scored], votes[scored])
    return out


def _spread(proba: np.ndarray, classes: ArrayLike | None, n_classes: int) -> np.ndarray:
    """Return ``proba`` over all ``n_classes`` label codes; classes never seen get zero."""
    codes = np.arange(n_classes) if classes is None else np.asarray(classes, dtype=int)
    if proba.ndim != 2 or proba.shape[1] != len(codes) or (codes >= n_classes).any():
        raise ValueError(
            f"predict_proba has shape {proba.shape} for classes {codes.tolist()}, "
            f"expected one column per class of {n_classes}"
        )
    full = np.zeros((len(proba), n_classes))
    full[:, codes] = proba
    return full
