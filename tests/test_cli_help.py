"""CLI help is plain text, and the plugin kinds it lists come from the registry."""

import re

import click
import pytest
from click.testing import CliRunner

from ferengine.cli import main
from ferengine.registry import KINDS


def _commands(cmd=main, path=("ferengine",)):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from _commands(sub, (*path, name))


@pytest.mark.parametrize("path", [p for p, _ in _commands()], ids=" ".join)
def test_help_holds_no_markup(path):
    result = CliRunner().invoke(main, [*path[1:], "--help"])
    assert result.exit_code == 0, result.output
    markup = re.findall(r"``|:[a-z]+:`|\\b|\x08|\*\*", result.output)
    assert not markup, f"{' '.join(path)} --help prints {markup}:\n{result.output}"


@pytest.mark.parametrize("args", [[], ["plugins"]])
def test_help_lists_every_registered_kind(args):
    text = " ".join(CliRunner().invoke(main, [*args, "--help"]).output.split())
    listed = re.search(r"\(([a-z, -]+)\) are found|KIND is one of: ([a-z, -]+)\.", text)
    assert listed, text
    assert tuple((listed[1] or listed[2]).split(", ")) == KINDS
