"""Command-line options that ``ferengine explain`` and ``ferengine visualize`` share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def dataset_options(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add ``--dataset``, ``--path``, ``--split``, ``--limit`` and ``--dataset-param``.

    Parameters
    ----------
    what : str
        Help of ``--dataset``: what the command does with the dataset's faces.
    """
    options = [
        click.option("--dataset", "dataset_name", default=None, help=what),
        click.option("--path", "data_path", default=None,
                     help="Where the dataset lies (file or folder)."),
        click.option("--split", default=None,
                     help="Only this split of the dataset (e.g. PublicTest)."),
        click.option("--limit", type=click.IntRange(min=1), default=None,
                     help="Only the first N faces of it."),
        click.option("--dataset-param", "dataset_params", multiple=True, metavar="KEY=VALUE",
                     help="A further dataset loader parameter (repeatable)."),
    ]  # fmt: skip

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def load_dataset_option(name: str, path: str | None, params: tuple[str, ...]) -> Any:
    """Load the dataset ``--dataset``, ``--path`` and ``--dataset-param`` name.

    Raises
    ------
    click.UsageError
        A required loader parameter is missing (naming the option that gives it).
    """
    import ferengine
    from ferengine.cli import DATASET_OPTIONS, _parse_params, missing_parameters

    kwargs = _parse_params(params)
    if path is not None:
        kwargs["path"] = path
    missing_parameters("dataset", name, kwargs, DATASET_OPTIONS, "--dataset-param {}=VALUE")
    return ferengine.load_dataset(name, **kwargs)
