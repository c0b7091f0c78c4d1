"""Cache keys of feature computations: what a front's features depend on, hashed.

A key covers the data (dataset identities, label mapping, fold rows), the front steps
and ferengine's version. ``n_jobs`` is left out (it never changes features), and a saved
model a front reads enters by its bytes, not its name.
"""

from __future__ import annotations

import hashlib
from typing import Any

import ferengine
from ferengine.bench.cache import cache_key
from ferengine.bench.folds import Fold
from ferengine.persistence import model_path


def feature_key(fold: Fold, front: tuple[dict[str, Any], ...]) -> str:
    """Return the cache key of the features of ``front`` (step tables) on ``fold``."""
    test = fold.test_side
    parts = [
        "features", ferengine.__version__,
        fold.train_side.ref.describe(),
        test.ref.describe(), None if test.space is None else test.space.names,
        test.contempt, test.table,
        fold.train, fold.test,
    ]  # fmt: skip
    return steps_key(parts, front)


def steps_key(parts: list[Any], steps: tuple[dict[str, Any], ...]) -> str:
    """Return the cache key of ``steps`` (step tables) applied to the data ``parts`` name.

    The steps enter without their ``n_jobs``, followed by the digests of the saved
    models they read (:func:`model_digests`), if any.
    """
    steps = tuple(without_n_jobs(step) for step in steps)
    parts = [*parts, list(steps)]
    digests = model_digests(steps)
    return cache_key([*parts, digests] if digests else parts)


#: Step parameters that name a saved model: ``model`` (a feature read from it) and
#: ``init`` (a network that starts from its weights).
MODEL_PARAMS = ("model", "init")


def model_digests(step: Any) -> list[tuple[str, str | None]]:
    """Content hashes of the saved models a front reads (:data:`MODEL_PARAMS`, any depth).

    A model named by path or by a registered name can change under the same name (a
    retrained file, or a name given to other weights, as ``default`` was), so its bytes,
    not its name, key the features computed from it; a missing file hashes to ``None``
    (its feature job then fails and names the file).
    """
    if isinstance(step, list | tuple):
        return [d for v in step for d in model_digests(v)]
    if not isinstance(step, dict):
        return []
    named = [step[k] for k in MODEL_PARAMS if isinstance(step.get(k), str)]
    nested = [d for k, v in step.items() if k not in MODEL_PARAMS for d in model_digests(v)]
    return [(model, _file_digest(model)) for model in named] + nested


def _file_digest(model: str) -> str | None:
    """SHA-256 of a saved model's file (by path or registered name); None when unreadable."""
    try:
        return hashlib.sha256(model_path(model).read_bytes()).hexdigest()
    except OSError:
        return None


def without_n_jobs(step: Any) -> Any:
    """Return ``step`` (tables and lists, any depth) without its ``n_jobs`` entries."""
    if isinstance(step, dict):
        return {k: without_n_jobs(v) for k, v in step.items() if k != "n_jobs"}
    if isinstance(step, list | tuple):
        return [without_n_jobs(v) for v in step]
    return step
