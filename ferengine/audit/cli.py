"""``ferengine datasets audit``: duplicates, leaks, blank images and balance of a dataset."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ferengine.audit.checks import BLANK_STD
from ferengine.audit.run import EMBEDDING_THRESHOLD, NEAR_THRESHOLD, SCOPES, Audit

# Piped output has no terminal width; give tables room instead of rich's 80 columns.
console = Console(width=None if sys.stdout.isatty() else 120, highlight=False)


@click.command("audit")
@click.argument("name")
@click.option("--path", "data_path", default=None, help="Where the data lies (file or folder).")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Further loader parameter (JSON value or string); repeatable.",
)
@click.option(
    "--against",
    "against",
    default=None,
    metavar="NAME2",
    help="A second dataset: copies between the two are reported too.",
)
@click.option("--path2", "data_path2", default=None, help="Where the --against data lies.")
@click.option(
    "--param2",
    "params2",
    multiple=True,
    metavar="KEY=VALUE",
    help="Further loader parameter of the --against dataset; repeatable.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder for audit.json and audit.html.",
)
@click.option(
    "--near-threshold",
    type=click.IntRange(0, 256),
    default=NEAR_THRESHOLD,
    show_default=True,
    help="Largest perceptual-hash Hamming distance (of 256 bits) of a near pair.",
)
@click.option(
    "--blank-std",
    type=click.FloatRange(min=0),
    default=BLANK_STD,
    show_default=True,
    help="Images whose grey-level standard deviation is below this are blank.",
)
@click.option(
    "--embeddings",
    is_flag=True,
    help="Also pair images by the fer2013 CNN's embeddings (the deep extra).",
)
@click.option(
    "--embedding-threshold",
    type=click.FloatRange(-1, 1),
    default=EMBEDDING_THRESHOLD,
    show_default=True,
    help="Smallest cosine similarity of centred embeddings of a pair.",
)
@click.option(
    "--faces-sample",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Run the face detector on N random images of each dataset (0: skip).",
)
@click.option(
    "--detector", default="auto", show_default=True, help="Face detector of --faces-sample."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the face sample.")
@click.option(
    "--max-shown",
    type=click.IntRange(min=1),
    default=60,
    show_default=True,
    help="Groups and pairs shown per section of audit.html (audit.json has all).",
)
@click.option("--json", "as_json", is_flag=True, help="Print audit.json instead of a summary.")
def audit_cmd(
    name: str,
    data_path: str | None,
    params: tuple[str, ...],
    against: str | None,
    data_path2: str | None,
    params2: tuple[str, ...],
    out: Path,
    near_threshold: int,
    blank_std: float,
    embeddings: bool,
    embedding_threshold: float,
    faces_sample: int,
    detector: str,
    seed: int,
    max_shown: int,
    as_json: bool,
) -> None:
    """Audit dataset NAME: exact and near duplicates within and across splits, blank images.

    Also: the same image under different labels, subjects present in several splits,
    class counts per split and, with --faces-sample, the share of images in which the
    face detector finds none. With --against NAME2 --path2 P2, copies between the two
    datasets too. Writes audit.json (every count, group and pair, with rows, splits and
    labels) and audit.html (one self-contained page, the offending pairs side by side).
    """
    from ferengine.audit.report import write_html, write_json
    from ferengine.audit.run import audit_dataset
    from ferengine.cli import load_dataset_arg

    if against is None and (data_path2 is not None or params2):
        raise click.UsageError(
            "--path2 and --param2 describe the --against dataset; give --against"
        )
    datasets = [load_dataset_arg(name, data_path, params)]
    if against is not None:
        datasets.append(load_dataset_arg(against, data_path2, params2, "--path2", "--param2"))
    try:
        with console.status(f"auditing {name}", spinner="dots"):
            audit = audit_dataset(
                datasets[0],
                datasets[1] if against else None,
                name=name,
                against_name=against,
                near_threshold=near_threshold,
                blank_std=blank_std,
                embeddings=embeddings,
                embedding_threshold=embedding_threshold,
                faces_sample=faces_sample,
                detector=detector,
                seed=seed,
            )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    json_path = write_json(audit, out / "audit.json")
    html_path = write_html(audit, datasets, out / "audit.html", max_shown=max_shown)
    if as_json:
        click.echo(audit.to_json())
        return
    _print_summary(audit)
    console.print(f"wrote {json_path} and {html_path}")


def _print_summary(audit: Audit) -> None:
    """Print the audit's counts: per dataset, copies across splits, then the other checks."""
    from ferengine.audit.report import copies_rows

    for dataset in audit.datasets:
        ex = audit.exact["per_dataset"][dataset["name"]]
        console.print(
            f"[bold]{dataset['name']}[/bold]: {ex['images']:,} images, "
            f"{ex['distinct']:,} distinct ({ex['surplus']:,} surplus exact copies)"
        )
    if len(audit.datasets) > 1:
        console.print(
            f"both: {audit.exact['distinct']:,} distinct of {audit.exact['images']:,} "
            f"({audit.exact['surplus']:,} surplus)"
        )

    def scopes(found: dict) -> str:
        return ", ".join(f"{found[s]:,} {s}" for s in SCOPES if found[s]) or "none"

    console.print(
        f"exact duplicate groups: {audit.exact['groups']:,} "
        f"({scopes(audit.exact['groups_by_scope'])})"
    )
    console.print(
        f"near-duplicate pairs (pHash distance ≤ {audit.near['threshold']}): "
        f"{audit.near['pairs']:,} ({scopes(audit.near['pairs_by_scope'])})"
    )
    if audit.embeddings is not None:
        console.print(
            f"embedding pairs (cosine ≥ {audit.embeddings['threshold']}): "
            f"{audit.embeddings['pairs']:,} ({scopes(audit.embeddings['pairs_by_scope'])})"
        )
    header, rows = copies_rows(audit)
    table = Table(title="images with a copy in a split (own split: a second copy there)")
    for col in header:
        table.add_column(col, justify="left" if col in header[:2] else "right")
    for row in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else v for v in row))
    if rows:
        console.print(table)
    console.print(f"blank images (std < {audit.blank['max_std']}): {audit.blank['count']:,}")
    console.print(
        f"label conflicts: {audit.label_conflicts['groups']:,} exact groups "
        f"({audit.label_conflicts['images']:,} images) under different labels"
    )
    for name, found in audit.subjects.items():
        shown = (
            f"{found['in_several_splits']:,} of {found['subjects']:,}"
            if found["known"]
            else f"unknown ({found['reason']})"
        )
        console.print(f"{name}: subjects in several splits: {shown}")
    for name, found in (audit.faces or {}).items():
        console.print(
            f"{name}: no face found in {found['without_face']:,} of "
            f"{found['sampled']:,} sampled images ({100 * (found['share'] or 0):.1f} %,"
            f" detector {found['detector']})"
        )
    for name, splits in audit.balance.items():
        balance = Table(title=f"{name}: class balance")
        balance.add_column("class")
        for split in splits:
            balance.add_column(split, justify="right")
        for cls in next(iter(splits.values()))["counts"]:
            balance.add_row(cls, *(f"{s['counts'][cls]:,}" for s in splits.values()))
        balance.add_row(
            "largest / smallest", *(str(s["imbalance"]) for s in splits.values()), style="bold"
        )
        console.print(balance)
