"""What a pipeline costs: wall time, latency at batch size 1, peak memory, size, parameters."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import psutil


class PeakMemory:
    """Sample this process's resident memory in a thread; ``peak_mb`` is the maximum seen.

    Resident memory includes what native code (OpenCV, BLAS, torch) allocates, which
    ``tracemalloc`` would miss; sampling every 20 ms can miss shorter spikes.
    """

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._process = psutil.Process(os.getpid())

    def _sample(self) -> None:
        while True:
            self.peak_mb = max(self.peak_mb, self._process.memory_info().rss / 2**20)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> PeakMemory:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._process.memory_info().rss / 2**20)


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """Yield a one-element list that holds the elapsed seconds on exit."""
    box = [0.0]
    start = time.perf_counter()
    try:
        yield box
    finally:
        box[0] = time.perf_counter() - start


def latency_ms(func: Callable[[Any], Any], X: Any, n: int = 20) -> float:
    """Median milliseconds of ``func`` on one sample at a time (batch size 1), over ``n``."""
    times = []
    for i in range(min(n, len(X))):
        one = X[i : i + 1]
        start = time.perf_counter()
        func(one)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times)) if times else float("nan")


def saved_bytes(estimator: Any) -> int | None:
    """Bytes of ``ferengine.save(estimator)``; ``None`` when it cannot be saved safely."""
    from ferengine.persistence import save

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.fer")
        try:
            save(estimator, path)
        except Exception:  # an estimator the safe format refuses: size unknown, not fatal
            return None
        return os.path.getsize(path)


def count_parameters(estimator: Any, _depth: int = 0) -> int:
    """Count the learned numbers of a fitted estimator.

    No library counts parameters across scikit-learn, XGBoost and torch models, so
    this walks the fitted attributes (names ending in ``_``): numeric arrays count
    their size, sub-estimators recurse, decision trees count split thresholds,
    features and leaf values, torch modules count ``numel`` of their parameters and an
    estimator may report ``n_parameters_`` itself.
    """
    if _depth > 6 or estimator is None:
        return 0
    if hasattr(estimator, "n_parameters_"):
        return int(estimator.n_parameters_)
    if hasattr(estimator, "parameters") and hasattr(estimator, "state_dict"):  # torch module
        return int(sum(p.numel() for p in estimator.parameters()))
    if isinstance(estimator, np.ndarray):
        return int(estimator.size) if estimator.dtype.kind in "fiub" else 0
    if isinstance(estimator, list | tuple):
        return sum(count_parameters(e, _depth + 1) for e in estimator)
    tree = getattr(estimator, "tree_", None)
    if tree is not None and hasattr(tree, "node_count"):
        return int(2 * tree.node_count + tree.value.size)
    if hasattr(estimator, "steps"):  # Pipeline
        return sum(count_parameters(step, _depth + 1) for _, step in estimator.steps)
    total = 0
    for name, value in getattr(estimator, "__dict__", {}).items():
        counts = name.startswith("n_") or name == "classes_"  # n_iter_, n_support_: bookkeeping
        if name.endswith("_") and not name.startswith("_") and not counts:
            total += count_parameters(value, _depth + 1) if _learned(value) else 0
    booster = getattr(estimator, "booster_", None)
    if booster is not None and hasattr(booster, "get_dump"):  # XGBoost: 2 numbers per node
        total += 2 * sum(tree.count("\n") for tree in booster.get_dump())
    return total


def _learned(value: Any) -> bool:
    """Whether a fitted attribute holds learned numbers (arrays, estimators, torch modules)."""
    return (
        isinstance(value, np.ndarray | list | tuple)
        or hasattr(value, "get_params")
        or (hasattr(value, "parameters") and hasattr(value, "state_dict"))
    )
