"""The two kinds of work a benchmark run sends to workers.

``extract`` fits a combination's front steps (preprocessing + feature) on one fold's
training images and caches both feature matrices, or assembles an
:class:`~ferengine.extractor.AssembledFeature` from its members' cached matrices;
``classify`` fits a classifier on
cached features, scores it and stores the record. Both are plain functions of
picklable arguments, so loky and Dask workers run them alike, and both catch every
error into the result: a failing combination is recorded and the grid goes on.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone

import ferengine
from ferengine.bench.cache import FeatureCache
from ferengine.bench.costs import PeakMemory, count_parameters, latency_ms, saved_bytes, stopwatch
from ferengine.bench.folds import Fold
from ferengine.bench.leaks import scores as leak_scores
from ferengine.bench.shared_front import shared_rows, shared_steps
from ferengine.bench.store import ResultStore
from ferengine.bench.votes import vote_scores
from ferengine.calibration import calibration_metrics
from ferengine.evaluation import metrics
from ferengine.extractor import AssembledFeature
from ferengine.sequences import ClipDataset
from ferengine.step_checks import describe, probabilities_problem
from ferengine.steps import build_step

#: Single images timed for the batch-size-1 latency.
LATENCY_SAMPLES = 20
#: Significant digits of the test probabilities stored in a record (``proba``).
PROBA_DIGITS = 4


@dataclass
class FeatureJob:
    """Compute the front of one combination on one fold."""

    key: str
    fold: Fold
    front: tuple[dict[str, Any], ...]
    members: tuple[str, ...] = ()  # cache keys of the members of an assembled front


@dataclass
class ClassifyJob:
    """Fit and score one combination on one fold, from cached features."""

    task: str
    feature_key: str
    fold: Fold
    combination: dict[str, Any]  # dataset, label, key, front, classifier
    seed: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


def extract(job: FeatureJob, cache_root: str) -> dict[str, Any]:
    """Fit the front steps on the fold's training images and cache train/test features."""
    cache = FeatureCache(cache_root)
    if job.key in cache:
        return {"key": job.key, "status": "ok", "hit": True}
    try:
        if job.members:
            return _assemble(job, cache)
        F_train, F_test, meta = _front_features(job, cache)
        cache.put(job.key, F_train, F_test, meta)
        return {"key": job.key, "status": "ok", "hit": False}
    except Exception as exc:
        return _failure(job.key, exc)


def _front_features(job: FeatureJob, cache: FeatureCache) -> tuple[Any, Any, dict[str, Any]]:
    """Fit the front on the fold's training samples; return both sides' features and costs.

    Leading steps that learn nothing are taken from the per-clip cache
    (:mod:`~ferengine.bench.shared_front`) and only the steps after them are fitted; the
    costs add the shared steps' share for the fold's clips.
    """
    fold = job.fold
    train_ds, test_ds = fold.train_side.load(), fold.test_side.load()
    front = job.front
    n_shared = shared_steps(front, train_ds, test_ds)
    costs = {"fit_seconds": 0.0, "test_seconds": 0.0, "latency_ms": 0.0, "bytes": 0,
             "parameters": 0, "peak_rss_mb": 0.0}  # fmt: skip
    if not n_shared:
        # subsets, not images[rows]: memory-mapped images stay on disk, read a batch at a time
        X_train, X_test = train_ds.subset(fold.train).samples, test_ds.subset(fold.test).samples
    else:
        train = shared_rows(fold.train_side, front[:n_shared], cache)
        test = shared_rows(fold.test_side, front[:n_shared], cache)
        X_train, X_test = train.take(fold.train), test.take(fold.test)
        costs.update(
            fit_seconds=train.seconds(fold.train), test_seconds=test.seconds(fold.test),
            latency_ms=train.meta["latency_ms"], bytes=train.meta["bytes"],
            parameters=train.meta["parameters"], peak_rss_mb=train.meta["peak_rss_mb"],
        )  # fmt: skip
        front = front[n_shared:]
    y_train = train_ds.labels[fold.train]
    with PeakMemory() as memory:
        if front:
            fitted = ferengine.pipeline(*front)
            with stopwatch() as fit_time:
                F_train = fitted.fit_transform(X_train, y_train)
            with stopwatch() as test_time:
                F_test = fitted.transform(X_test)
            latency = latency_ms(fitted.transform, X_test, LATENCY_SAMPLES)
            size, params = saved_bytes(fitted), count_parameters(fitted)
        else:  # the classifier takes the samples themselves (deep models), or shared features
            F_train, F_test = X_train, X_test
            fit_time, test_time, latency, size, params = [0.0], [0.0], 0.0, 0, 0
    meta = {
        "fit_seconds": costs["fit_seconds"] + fit_time[0],
        "test_seconds": costs["test_seconds"] + test_time[0],
        "latency_ms": costs["latency_ms"] + latency,
        "bytes": None if size is None or costs["bytes"] is None else costs["bytes"] + size,
        "parameters": costs["parameters"] + params,
        "peak_rss_mb": max(costs["peak_rss_mb"], memory.peak_mb),
        "shape": list(np.shape(F_train)),
        "shared_steps": n_shared,
    }
    return F_train, F_test, meta


def _assemble(job: FeatureJob, cache: FeatureCache) -> dict[str, Any]:
    """Assemble the front's last step from its members' cached features (no recomputing).

    The last step is an :class:`~ferengine.extractor.AssembledFeature`. The costs are
    the members' summed (fit, test and latency times, size, parameters) plus the
    assembly's own time; peak memory is the largest seen.
    """
    entries = [cache.get(key) for key in job.members]
    if any(entry is None for entry in entries):
        raise RuntimeError(f"member features of {job.front[-1]} are missing from the cache")
    feature: AssembledFeature = build_step(job.front[-1])[1]
    with PeakMemory() as memory:
        with stopwatch() as fit_time:
            F_train = feature.fit_blocks([e.train for e in entries])
        with stopwatch() as test_time:
            F_test = feature.fuse([e.test for e in entries])
    metas = [e.meta for e in entries]
    meta = {
        "fit_seconds": fit_time[0] + sum(m["fit_seconds"] for m in metas),
        "test_seconds": test_time[0] + sum(m["test_seconds"] for m in metas),
        "latency_ms": sum(m["latency_ms"] for m in metas),
        "bytes": None if any(m["bytes"] is None for m in metas) else sum(m["bytes"] for m in metas),
        "parameters": sum(m["parameters"] for m in metas),
        "peak_rss_mb": max(memory.peak_mb, *(m["peak_rss_mb"] for m in metas)),
        "shape": list(F_train.shape),
        "fused_from": list(job.members),
    }
    cache.put(job.key, F_train, F_test, meta)
    return {"key": job.key, "status": "ok", "hit": False}


def _failure(key: str, exc: Exception) -> dict[str, Any]:
    return {
        "key": key,
        "status": "failed",
        "hit": False,
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": traceback.format_exc(),
    }


def classify(job: ClassifyJob, cache_root: str, out: str) -> dict[str, Any]:
    """Fit the classifier on cached features, score it on the fold's test images, store it."""
    fold = job.fold
    record: dict[str, Any] = {
        "task": job.task,
        "combination": job.combination["key"],
        "dataset": job.combination["dataset"],
        "pipeline": job.combination["label"],
        "steps": [*job.combination["front"], job.combination["classifier"]],
        "repeat": fold.repeat,
        "fold": fold.index,
        "feature_key": job.feature_key,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **job.meta,
    }
    try:
        record.update(_score(job, FeatureCache(cache_root)))
        record["status"] = "ok"
    except Exception as exc:
        record.update(
            status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()
        )
    ResultStore(out).write(record)
    return {
        k: record.get(k)
        for k in ("task", "pipeline", "dataset", "fold", "status", "accuracy", "error")
    }


def _score(job: ClassifyJob, cache: FeatureCache) -> dict[str, Any]:
    entry = cache.get(job.feature_key)
    if entry is None:
        raise RuntimeError(f"features {job.feature_key} are missing from the cache")
    fold = job.fold
    train_ds, test_ds = fold.train_side.load(), fold.test_side.load()
    y_train = train_ds.labels[fold.train]
    y_test = test_ds.labels[fold.test]
    _, estimator = build_step(job.combination["classifier"])
    classifier = clone(estimator)
    if "random_state" in classifier.get_params():
        classifier.set_params(random_state=job.seed)
    with PeakMemory() as memory:
        with stopwatch() as fit_time:
            classifier.fit(entry.train, y_train)
        with stopwatch() as predict_time:
            predicted = np.asarray(classifier.predict(entry.test)).astype(int)
        scores, method, top2_note = _scores(classifier, entry.test)
        latency = latency_ms(classifier.predict, entry.test, LATENCY_SAMPLES)
    names = train_ds.label_space.names
    out = metrics(y_test, predicted, names, test_ds.label_space.names)
    n_test = max(1, len(y_test))
    front = entry.meta
    predict_seconds = front["test_seconds"] + predict_time[0]
    classifier_bytes = saved_bytes(classifier)
    out.update(
        n_train=len(y_train),
        top2_accuracy=_top2(scores, getattr(classifier, "classes_", None), y_test),
        chance=float(np.mean(y_test == np.bincount(y_train).argmax())),
        confusion_normalized=_normalise(out["confusion_matrix"]),
        fit_seconds=front["fit_seconds"] + fit_time[0],
        feature_fit_seconds=front["fit_seconds"],
        classifier_fit_seconds=fit_time[0],
        predict_ms_per_image=1000 * predict_seconds / n_test,
        latency_ms_batch1=front["latency_ms"] + latency,
        throughput_per_s=n_test / predict_seconds if predict_seconds > 0 else None,
        peak_rss_mb=max(front["peak_rss_mb"], memory.peak_mb),
        model_bytes=None
        if classifier_bytes is None or front["bytes"] is None
        else front["bytes"] + classifier_bytes,
        n_parameters=front["parameters"] + count_parameters(classifier),
        feature_shape=front["shape"],
        sample="clip" if isinstance(test_ds, ClipDataset) else "image",
        test_index=fold.test,
        test_subjects=_subjects(test_ds, fold.test),
        y_true=y_test,
        y_pred=predicted,
    )
    if top2_note is not None:
        out["top2_note"] = top2_note
    out.update(_calibration(classifier, scores if method == "predict_proba" else None,
                            y_test, len(names)))  # fmt: skip
    out.update(vote_scores(scores if method == "predict_proba" else None,
                           getattr(classifier, "classes_", None), predicted, names,
                           test_ds.meta, fold.test))  # fmt: skip
    out.update(leak_scores(fold.leaks, y_test, predicted, names, test_ds.label_space.names))
    return out


def _scores(classifier: Any, X: np.ndarray) -> tuple[np.ndarray | None, str | None, str | None]:
    """Return the scores top-2 accuracy ranks, the method that gave them, and a note.

    Probabilities where the classifier has them (``method`` ``"predict_proba"``: the
    calibration figures use them too), else decision values (which rank the classes as
    well); a classifier with neither skips the metric with a note instead of failing
    the combination.
    """
    for method in ("predict_proba", "decision_function"):
        if hasattr(classifier, method):
            try:
                scores = np.asarray(getattr(classifier, method)(X))
            except (AttributeError, NotImplementedError):  # e.g. uncalibrated probabilities
                continue
            if scores.ndim == 2:
                return scores, method, None
            note = (
                f"top-2 accuracy skipped: {describe(classifier)} gives {method} "
                f"of shape {scores.shape}, not one score per class"
            )
            return None, None, note
    note = (
        f"top-2 accuracy skipped: {describe(classifier)} has neither predict_proba nor "
        "decision_function"
    )
    return None, None, note


def _subjects(dataset: Any, rows: np.ndarray) -> list[str] | None:
    """Return the subject of each test sample (the bootstrap's unit), or ``None`` if unknown."""
    subjects = getattr(dataset, "subjects", None)
    return None if subjects is None else np.asarray(subjects)[rows].astype(str).tolist()


def _calibration(
    classifier: Any, proba: np.ndarray | None, y_true: np.ndarray, n_classes: int
) -> dict[str, Any]:
    """Return ECE, NLL, Brier and the rounded test probabilities, or why there are none.

    ``proba`` (columns in ``classifier.classes_`` order) is spread over the model's
    ``n_classes`` label codes, classes the classifier never saw getting 0. The figures
    (:mod:`ferengine.calibration`) come from the full-precision probabilities; the record
    keeps them rounded to :data:`PROBA_DIGITS` significant digits, for the report's
    reliability diagrams.
    """
    if proba is None:
        problem = probabilities_problem(classifier) or (
            f"{describe(classifier)} gives no usable predict_proba"
        )
        return {"calibration_note": f"no class probabilities: {problem}"}
    full = np.zeros((len(proba), n_classes))
    full[:, np.asarray(classifier.classes_, dtype=int)] = proba
    try:
        figures = calibration_metrics(full, y_true)
    except ValueError as exc:  # negative or all-zero rows: noted, the combination still counts
        return {"calibration_note": f"no calibration figures: {describe(classifier)}'s "
                                    f"predict_proba: {exc}"}  # fmt: skip
    return {**figures, "proba": significant(full, PROBA_DIGITS)}


def significant(values: np.ndarray, digits: int) -> np.ndarray:
    """Round non-negative ``values`` to ``digits`` significant digits (0 stays 0).

    Rounded as an integer over a power of ten, so each value prints in JSON as its
    short decimal (``0.123``, ``4.56e-05``); small probabilities keep their relative
    precision (rounding to fixed decimals would make them 0, and the NLL infinite).
    """
    values = np.asarray(values, dtype=np.float64)
    exponent = np.floor(np.log10(np.where(values > 0, values, 1.0)))
    scale = 10.0 ** np.clip(digits - 1 - exponent, 0, 300)
    return np.round(values * scale) / scale


def _top2(scores: np.ndarray | None, classes: Any, y_true: np.ndarray) -> float | None:
    """Share of images whose true class is among the two highest-scoring classes."""
    if scores is None or classes is None or scores.shape[1] < 2:
        return None
    top = np.asarray(classes)[np.argsort(-scores, axis=1)[:, :2]]
    return float(np.mean((top == y_true[:, None]).any(axis=1)))


def _normalise(matrix: list[list[int]]) -> list[list[float]]:
    counts = np.asarray(matrix, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0).round(4).tolist()
