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
