"""Run-time options: how this process runs models, never stored in a model.

Some settings belong to the machine and the moment, not to a model: how many CPU
threads torch may use, and whether training prints its progress. A saved model that
carried them would impose one machine's choices on every other. They are set for a
block of code instead, and plugins read them when they fit or predict::

    from ferengine import runtime

    with runtime.options(threads=2, verbose=1):
        model.fit(X, y)  # torch runs on 2 threads and prints an epoch table

``ferengine --threads N COMMAND`` sets ``threads`` for the whole command, and a model
spec's ``[train]`` table sets both for its training. An option left ``None`` keeps the
value of the enclosing block (outermost: unset, which leaves torch's own default and
trains silently). The options live in a :class:`contextvars.ContextVar`, so threads and
asyncio tasks each see the value set in their own context.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from contextvars import ContextVar


@dataclasses.dataclass(frozen=True)
class Options:
    """The run-time options in force.

    Parameters
    ----------
    threads : int, optional
        Intra-op threads of torch while a torch model fits or predicts (``None``:
        torch's default).
    verbose : int, optional
        Progress output while training: ``0`` (or ``None``) silent, ``1`` an epoch table
        and a progress bar.
    """

    threads: int | None = None
    verbose: int | None = None

    def __post_init__(self) -> None:
        for name in ("threads", "verbose"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"runtime option {name} must be an int, got {value!r}")
            low = 1 if name == "threads" else 0
            if value < low:
                raise ValueError(f"runtime option {name} must be ≥ {low}, got {value}")


_OPTIONS: ContextVar[Options | None] = ContextVar("ferengine_runtime_options", default=None)


def current() -> Options:
    """Return the run-time options in force here."""
    return _OPTIONS.get() or Options()


@contextlib.contextmanager
def options(*, threads: int | None = None, verbose: int | None = None) -> Iterator[Options]:
    """Set run-time options inside the block; ``None`` keeps the enclosing value.

    Parameters
    ----------
    threads : int, optional
        torch intra-op threads while torch models fit and predict (≥ 1).
    verbose : int, optional
        ``0``: train silently; ``1``: print an epoch table and a progress bar.

    Yields
    ------
    Options
        The options in force inside the block.

    Raises
    ------
    TypeError, ValueError
        A value is not an int, or ``threads`` < 1 or ``verbose`` < 0 (naming the option).
    """
    changes = {k: v for k, v in {"threads": threads, "verbose": verbose}.items() if v is not None}
    token = _OPTIONS.set(dataclasses.replace(current(), **changes))
    try:
        yield current()
    finally:
        _OPTIONS.reset(token)


@contextlib.contextmanager
def torch_threads() -> Iterator[None]:
    """Run torch on the thread count of :func:`options` inside the block (unset: as it is).

    Torch classifiers fit and predict in it, and explainers run their networks in it, so
    ``ferengine --threads N`` governs them all. torch is imported here, when a torch model
    is already running, never when this module is.
    """
    import torch

    n = current().threads
    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
