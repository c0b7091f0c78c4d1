"""Front steps that learn nothing, computed once per clip and shared by every fold and front.

A suite of clip pipelines usually puts many heads — pooling under several
classifiers, LSTM, BiLSTM, GRU, a temporal CNN — over one per-frame feature, on five
folds. The leading steps of a front that learn nothing from the training data
(:func:`ferengine.extractor.learns_from_training`: ``frame-features`` over HOG or a
saved CNN, ``trim-neutral``, ``temporal-pool``) give every clip the same output
whatever fold it falls in, so they run once over the whole dataset; each fold then
takes its clips' rows, and only the steps after them are fitted per fold.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

import ferengine
from ferengine.bench.cache import FeatureCache
from ferengine.bench.costs import PeakMemory, count_parameters, latency_ms, saved_bytes
from ferengine.bench.folds import Side
from ferengine.bench.keys import steps_key
from ferengine.extractor import learns_from_training
from ferengine.sequences import ClipDataset
from ferengine.steps import build_step

#: Clips timed one at a time for the shared steps' batch-size-1 latency.
LATENCY_SAMPLES = 20


@dataclass
class Shared:
    """The shared steps' output on every clip of one side's dataset, and what it cost."""

    rows: np.ndarray  # one row (or one (T, D) sequence) per clip of the dataset
    meta: dict[str, Any]

    def take(self, index: np.ndarray) -> np.ndarray:
        """Return the rows of the clips ``index`` selects (views for ragged rows)."""
        return self.rows[index]

    def seconds(self, index: np.ndarray) -> float:
        """Return the shared steps' share of the time for the clips ``index`` selects."""
        return float(np.asarray(self.meta["seconds_per_clip"])[index].sum())


def shared_steps(front: tuple[dict[str, Any], ...], *datasets: Any) -> int:
    """Return how many leading ``front`` steps run once per clip of the ``datasets``.

    0 unless every dataset holds clips; otherwise the steps before the first one that
    learns from its training data.
    """
    if not all(isinstance(dataset, ClipDataset) for dataset in datasets):
        return 0
    count = 0
    for step in front:
        if learns_from_training(build_step(step)[1]):
            break
        count += 1
    return count


def shared_rows(side: Side, steps: tuple[dict[str, Any], ...], cache: FeatureCache) -> Shared:
    """Return ``steps``' output on every clip ``side`` reads, from ``cache`` or computed now.

    Every prefix of ``steps`` is an entry of its own, so fronts that start alike (HOG
    frames pooled by mean, by max, or fed to a recurrent head) compute the common part
    once. A step is fitted on the first clip (it learns nothing; fitting only checks its
    parameters and input) and transforms all clips in one call; each clip's share of its
    time is proportional to the clip's number of frames (or rows) going in.
    """
    space = None if side.space is None else side.space.names
    parts = ["shared", ferengine.__version__, side.ref.describe(), space, side.contempt,
             side.table]  # fmt: skip
    key = steps_key(parts, steps)
    found = cache.get_samples(key)
    if found is not None:
        return Shared(*found)
    before = shared_rows(side, steps[:-1], cache) if len(steps) > 1 else None
    inputs = side.load().clips if before is None else before.rows
    with PeakMemory() as memory:
        step = ferengine.pipeline(steps[-1]).fit(inputs[:1])
        start = time.perf_counter()
        rows = step.transform(inputs)
        seconds = time.perf_counter() - start
        latency = latency_ms(step.transform, inputs, LATENCY_SAMPLES)
    sizes = np.array([len(x) if inputs.dtype == object else 1 for x in inputs], dtype=float)
    meta = {
        "steps": list(steps),
        "seconds": seconds,
        "seconds_per_clip": (seconds * sizes / sizes.sum()).tolist(),
        "latency_ms": latency,
        "bytes": saved_bytes(step),
        "parameters": count_parameters(step),
        "peak_rss_mb": memory.peak_mb,
    }
    if before is not None:  # the costs of the whole prefix
        prior = before.meta
        meta.update(
            seconds=prior["seconds"] + seconds,
            seconds_per_clip=(np.add(prior["seconds_per_clip"], meta["seconds_per_clip"])).tolist(),
            latency_ms=prior["latency_ms"] + latency,
            bytes=None if None in (prior["bytes"], meta["bytes"])
            else prior["bytes"] + meta["bytes"],
            parameters=prior["parameters"] + meta["parameters"],
            peak_rss_mb=max(prior["peak_rss_mb"], memory.peak_mb),
        )  # fmt: skip
    cache.put_samples(key, rows, meta)
    return Shared(rows, meta)
