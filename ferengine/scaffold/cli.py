"""The ``ferengine new-plugin`` command."""

from __future__ import annotations

from pathlib import Path

import click

from ferengine.scaffold.generator import new_plugin
from ferengine.scaffold.kinds import supported_kinds

# Plain text (click prints it as written); the kinds come from the templates present.
NEW_PLUGIN_HELP = f"""Write a ready plugin package NAME of one kind into --out.

\b
NAME is the distribution name, kebab-case: ferengine new-plugin ferengine-grey-cells
--kind feature writes ./ferengine-grey-cells/ with pyproject.toml (the ferengine entry
point), grey_cells/hooks.py, grey_cells/feature.py (one working plugin, grey-cells),
tests/test_grey_cells.py (ferengine.testing's checks) and README.md. Then:

\b
    pip install -e ferengine-grey-cells
    pytest ferengine-grey-cells

KIND is one of: {", ".join(supported_kinds())}. An existing folder is never overwritten.
"""


@click.command("new-plugin", help=NEW_PLUGIN_HELP)
@click.argument("name")
@click.option(
    "--kind",
    required=True,
    type=click.Choice(supported_kinds()),
    help="The kind of the plugin to write.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to write the package folder into.",
)
def new_plugin_cmd(name: str, kind: str, out: Path) -> None:
    """Write a plugin package (help text: :data:`NEW_PLUGIN_HELP`)."""
    target = new_plugin(name, kind, out)
    click.echo(f"wrote {target}")
    click.echo(f"next: pip install -e {target} && pytest {target}")
