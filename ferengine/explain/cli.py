"""``ferengine explain``: heat maps of what a model looks at, on photos or a dataset split."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ferengine.explain.cli_options import dataset_options, load_dataset_option

#: Rows of faces the command prints (every face is in explanations.json).
SHOWN = 30


@click.command("explain")
@click.argument("model")
@click.argument("inputs", nargs=-1, metavar="[INPUT]...")
@click.option(
    "--method",
    required=True,
    help="Explainer plugin: occlusion (any model), gradcam, integrated-gradients, saliency "
    "(torch networks), or one a plugin adds (ferengine plugins explainer).",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="An explainer parameter, e.g. patch=6 or steps=64 (repeatable).",
)
@click.option(
    "--class",
    "target",
    default=None,
    metavar="C",
    help="Explain this class for every face (a class name of the model) [default: the "
    "predicted class of each face].",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for explanations.json, sheet.png and overlays/.",
)
@dataset_options("Explain a dataset's faces instead.")
@click.option(
    "--detector",
    default="auto",
    show_default=True,
    help="Photos: the face detector plugin, as for ferengine predict (none: inputs are crops).",
)
@click.option(
    "--detector-param",
    "detector_params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Photos: a detector parameter (repeatable).",
)
@click.option(
    "--sanity",
    is_flag=True,
    help="Also compare the maps with those of the model randomised (torch networks: layer by "
    "layer from the top, one more explanation per layer) by rank correlation: sanity.json.",
)
@click.option(
    "--faithfulness",
    is_flag=True,
    help="Also measure deletion and insertion curves of the maps and of random maps "
    "(probability of the explained class, accuracy for datasets): faithfulness.json, "
    "faithfulness.png.",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Steps of the faithfulness curves (each costs one prediction per face and curve).",
)
@click.option(
    "--per-class",
    is_flag=True,
    help="Datasets: the mean normalised map per true class over its mean face: "
    "class_saliency.png, class_saliency.json.",
)
@click.option(
    "--gallery",
    is_flag=True,
    help="Datasets: the most frequent confusions, one picture each of their most confident "
    "mistakes with the maps of the said and the true class: gallery/, gallery.json.",
)
@click.option(
    "--gallery-pairs",
    type=click.IntRange(min=1),
    default=6,
    show_default=True,
    help="Confusions in the gallery.",
)
@click.option("--json", "as_json", is_flag=True, help="Print explanations.json instead of a table.")
def explain_cmd(model: str, inputs: tuple[str, ...], method: str, params: tuple[str, ...],
                target: str | None, out: Path, dataset_name: str | None, data_path: str | None,
                split: str | None, limit: int | None, dataset_params: tuple[str, ...],
                detector: str, detector_params: tuple[str, ...], sanity: bool,
                faithfulness: bool, steps: int, per_class: bool, gallery: bool,
                gallery_pairs: int, as_json: bool) -> None:  # fmt: skip
    """Explain what MODEL looks at in the faces of INPUT (photos, folders) or a dataset split.

    MODEL is a model file or a registered model ("default": the shipped FER+ CNN). Faces are
    found in photos as ferengine predict finds them; with --dataset, the dataset's face
    crops are explained as they are. Writes OUT/overlays/ (per face: the face beside its
    heat map, with the predicted class and, for datasets, the true class), OUT/sheet.png
    (the first faces in a grid) and OUT/explanations.json (per face: classes,
    probabilities and the map's min, max, mean and share of mass in its top 10 %
    pixels; inputs without a face are listed with the reason).

    --sanity, --faithfulness, --per-class and --gallery check and summarise the maps of
    all the faces (files listed with each option; see docs/explaining.md).
    """
    from ferengine.cli import _parse_params, missing_parameters
    from ferengine.explain.run import Checks, explain_dataset, explain_photos

    checks = Checks(sanity=sanity, faithfulness=faithfulness, per_class=per_class,
                    gallery=gallery_pairs if gallery else 0, steps=steps)  # fmt: skip
    if dataset_name is None:
        given = [o for o, v in (("--path", data_path), ("--split", split), ("--limit", limit),
                                ("--dataset-param", dataset_params), ("--per-class", per_class),
                                ("--gallery", gallery)) if v]  # fmt: skip
        if given:
            raise click.UsageError(f"{', '.join(given)} need --dataset")
        if not inputs:
            raise click.UsageError("give INPUT photos or folders, or --dataset NAME")
    elif inputs:
        raise click.UsageError("give INPUT photos or --dataset, not both")
    explainer_params = _parse_params(params)
    if dataset_name is None:
        missing_parameters("detector", detector, _parse_params(detector_params), {},
                           "--detector-param {}=VALUE")  # fmt: skip
        result = explain_photos(
            list(inputs), model, method, out=out, params=explainer_params, target=target,
            detector=detector, detector_params=_parse_params(detector_params), checks=checks,
        )  # fmt: skip
    else:
        result = explain_dataset(
            load_dataset_option(dataset_name, data_path, dataset_params), model, method, out=out,
            split=split, limit=limit, params=explainer_params, target=target, name=dataset_name,
            checks=checks,
        )  # fmt: skip
    if as_json:
        click.echo(json.dumps(result, indent=2, default=repr))
        return
    _print(result, out)


def _print(result: dict, out: Path) -> None:
    console = Console()
    table = Table("face", "predicted", "true", "target (probability)", "top 10 % share", "overlay")
    for face in result["faces"][:SHOWN]:
        where = face.get("input", f"row {face.get('index')}")
        where += f" #{face['face']}" if "face" in face else ""
        share = "" if face["top10_share"] is None else f"{face['top10_share']:.2f}"
        cells = (
            where,
            face["predicted"],
            face.get("true", ""),
            f"{face['target']} ({face['target_probability']:.2f})",
            share,
            face["overlay"],
        )
        table.add_row(*map(Text, cells))  # Text: a path's "[...]" is not markup
    console.print(table)
    if len(result["faces"]) > SHOWN:
        console.print(f"… {len(result['faces']) - SHOWN} more faces in explanations.json")
    for error in result["errors"]:
        console.print(Text.assemble((error["input"], "yellow"), f": {error['error']}"))
    summary = result["summary"]
    per_face = summary["explain_ms_per_face"]
    console.print(
        f"{summary['faces']} faces explained by {result['method']} in "
        f"{summary['explain_seconds']:.2f} s"
        + (f" ({per_face:.0f} ms per face)" if per_face is not None else "")
        + f"; {summary['errors']} inputs without a face or unreadable. Output: {out}"
    )
    _print_checks(console, result.get("checks", {}))


def _print_checks(console: Console, found: dict) -> None:
    """Print one line per check of the maps."""
    sanity = found.get("sanity")
    if sanity and "error" in sanity:
        console.print(Text(f"sanity check not run: {sanity['error']}", "yellow"))
    elif sanity:
        console.print(
            f"sanity: rank correlation with the fully randomised model's maps "
            f"{_number(sanity['spearman'])} (absolute values {_number(sanity['spearman_abs'])}; "
            f"near 1: the maps ignore the model) — {sanity['file']}"
        )
    faith = found.get("faithfulness")
    if faith:
        smooth = faith.get("random_smooth_deletion_auc")
        console.print(
            f"faithfulness: deletion AUC {faith['deletion_auc']:.3f} (random pixels "
            f"{faith['random_deletion_auc']:.3f}"
            + ("" if smooth is None else f", random regions {smooth:.3f}")
            + f"; lower is better), insertion AUC {faith['insertion_auc']:.3f} (random pixels "
            f"{faith['random_insertion_auc']:.3f}"
            + ("" if smooth is None else f", random regions "
               f"{faith['random_smooth_insertion_auc']:.3f}")
            + f"; higher is better) — {faith['file']}, {faith['image']}"
        )  # fmt: skip
    if "per_class" in found:
        console.print(f"per-class mean maps: {found['per_class']['image']}")
    if "gallery" in found:
        gallery = found["gallery"]
        console.print(f"gallery: {gallery['pairs']} confusions of {gallery['errors']} mistakes "
                      "in gallery/ (gallery.json)")  # fmt: skip


def _number(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.2f}"
