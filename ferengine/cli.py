"""The ``ferengine`` command line."""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ferengine import registry
from ferengine.errors import FerengineError, FerengineWarning, one_line
from ferengine.extras import missing_extra_message
from ferengine.registry import KINDS

# Piped output has no terminal width; give tables room instead of rich's 80 columns.
console = Console(width=None if sys.stdout.isatty() else 120)


def _plugin_rows(kind: str | None) -> list[dict[str, str]]:
    rows = [
        {
            "kind": rec.kind,
            "name": rec.name,
            "qualified": rec.qualified,
            "package": rec.package,
            "version": rec.version,
            "status": rec.status,
            "reason": rec.reason,
            "description": rec.description,
        }
        for rec in registry.records(kind)
    ]
    # A package that failed to import could have registered any kind: list it under
    # every filter. A failing hook is listed under its own kind.
    rows += [
        {
            "kind": f.kind or "-",
            "name": f.entry_point,
            "qualified": f"{f.package}:{f.entry_point}",
            "package": f.package,
            "version": f.version,
            "status": "broken",
            "reason": f.error,
            "description": "",
        }
        for f in registry.failures()
        if kind is None or f.kind in (None, kind)
    ]
    return rows


def _declared_extras() -> Mapping[str, str]:
    try:
        return registry.get_registry().module_extras()
    except Exception:  # the registry itself may be what failed; metadata still helps
        return {}


_python_showwarning = warnings.showwarning


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Print ferengine's own warnings in one line; leave the others as Python prints them."""
    if issubclass(category, FerengineWarning):
        click.echo(f"warning: {one_line(message)}", err=True)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


class _Main(click.Group):
    """The top-level group: errors of ferengine and missing extras end in one line."""

    def invoke(self, ctx: click.Context) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("always", FerengineWarning)  # each names its own file
            warnings.showwarning = _show_warning
            try:
                return super().invoke(ctx)
            except (click.exceptions.Exit, click.Abort):
                raise
            except Exception as exc:
                # A missing extra wins over whatever error wrapped it (a command's
                # ClickException, or a loader calling the model "damaged").
                command = " ".join(filter(None, ["ferengine", ctx.invoked_subcommand]))
                hint = missing_extra_message(exc, command, _declared_extras())
                if hint is not None:
                    raise click.ClickException(hint) from exc
                if isinstance(exc, click.ClickException):
                    raise
                if isinstance(exc, FerengineError):
                    raise click.ClickException(one_line(exc)) from exc
                if isinstance(exc, OSError) and exc.filename is not None:  # unreadable file
                    raise click.ClickException(f"{exc.filename}: {exc.strerror}") from exc
                raise


def missing_parameters(
    kind: str, name: str, given: Mapping[str, object], spelled: Mapping[str, str], other: str
) -> None:
    """Raise a one-line usage error naming each required parameter of a plugin not given.

    Parameters
    ----------
    kind, name : str
        The plugin, as the user named it.
    given : mapping
        The parameters the command line provides.
    spelled : mapping
        Parameter -> how this command spells it (``{"path": "--path"}``).
    other : str
        How any other parameter is given, with ``{}`` for its name
        (``"--param {}=VALUE"``).
    """
    try:
        required = registry.info(kind, name)["required_parameters"]
    except FerengineError:
        return  # unknown or unusable: creating it says why
    missing = [p for p in required if p not in given]
    if missing:
        options = [spelled.get(p) or other.format(p) for p in missing]
        raise click.UsageError(f"{kind} {name!r} needs {' and '.join(options)}")


# Command help is plain text (click prints it as written, so no reST markup) and the
# plugin kinds in it come from the registry, never from a hand-kept list.
MAIN_HELP = f"""ferengine: plugin-based facial expression recognition.

Plugins of every kind ({", ".join(KINDS)}) are found through the ferengine
entry-point group; list them with: ferengine plugins.
"""

PLUGINS_HELP = f"""List plugins, or describe one.

\b
ferengine plugins [KIND] [--json]      table: kind, name, package, version, status
ferengine plugins show KIND NAME       package, version, description, and each
                                       parameter's type, default and description
                                       (NAME may name its package: my-plugin:pixels)

KIND is one of: {", ".join(KINDS)}.
"""


@click.group(cls=_Main, help=MAIN_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ferengine")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="torch threads while models train and predict (default: torch's own).",
)
@click.pass_context
def main(ctx: click.Context, threads: int | None) -> None:
    """Run the ``ferengine`` command line (help text: :data:`MAIN_HELP`)."""
    from ferengine import runtime

    ctx.with_resource(runtime.options(threads=threads))


@main.command("plugins", help=PLUGINS_HELP)
@click.argument("args", nargs=-1, metavar="[KIND] | show KIND NAME")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_cmd(args: tuple[str, ...], as_json: bool) -> None:
    """List plugins, or describe one (help text: :data:`PLUGINS_HELP`)."""
    if args and args[0] == "show":
        if len(args) != 3:
            raise click.UsageError("usage: ferengine plugins show KIND NAME")
        _show(args[1], args[2], as_json)
        return
    if len(args) > 1:
        raise click.UsageError(f"expected at most one KIND, got {' '.join(args)}")
    kind = args[0] if args else None
    if kind is not None and kind not in KINDS:
        raise click.BadParameter(f"{kind!r} is not one of {', '.join(KINDS)}", param_hint="KIND")
    rows = _plugin_rows(kind)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="ferengine plugins")
    for col in ("kind", "name", "package", "version", "status"):
        table.add_column(col, no_wrap=True)
    table.add_column("description / reason", overflow="fold")
    for r in rows:
        style = None if r["status"] == "ok" else "yellow" if r["status"] == "unavailable" else "red"
        text = r["description"] if r["status"] == "ok" else r["reason"]
        cells = (r["kind"], r["name"], r["package"], r["version"], r["status"], text)
        table.add_row(*map(Text, cells), style=style)  # Text: "[deep]" is not markup
    console.print(table)


def _show(kind: str, name: str, as_json: bool) -> None:
    try:
        data = registry.info(kind, name)
    except (FerengineError, KeyError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(data, indent=2, default=repr))
        return
    console.print(Text.assemble((f"{kind} {name}", "bold"), f" — {data['description']}"))
    for key in ("package", "version", "module", "class", "status", "reason", "requires",
                "weights"):  # fmt: skip
        if data.get(key):
            console.print(Text(f"  {key}: {data[key]}"))
    if len(data["candidates"]) > 1:
        others = Table(title=f"every package that registers {kind} {name.split(':')[-1]!r}")
        for col in ("use as", "package", "version", "status", "description"):
            others.add_column(col)
        for c in data["candidates"]:
            cells = (c["name"], c["package"], c["version"], c["status"], c["description"])
            others.add_row(*map(Text, cells))
        console.print(others)
    if data["status"] == "conflict":
        return  # no single class, so no parameters: show one of the qualified names
    table = Table(title="parameters")
    for col in ("name", "type", "default"):
        table.add_column(col, overflow="fold")
    table.add_column("description", overflow="fold", ratio=1)
    for param, default in data["parameters"].items():
        shown = "(required)" if param in data["required_parameters"] else repr(default)
        doc = data["parameter_docs"].get(param, {})
        cells = (param, doc.get("type", ""), shown, doc.get("description", ""))
        table.add_row(*map(Text, cells))  # Text: "[low, high]" is not markup
    console.print(table)


@main.group("datasets")
def datasets_group() -> None:
    """Inspect dataset plugins and the data they load."""


def _parse_params(items: tuple[str, ...], option: str = "--param") -> dict[str, object]:
    params: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=option)
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


#: Dataset parameters that have an option of their own; the others go through ``--param``.
DATASET_OPTIONS = {"path": "--path"}

#: ``--param KEY=VALUE`` for dataset loader parameters (parsed by :func:`_parse_params`).
param_option = click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Further loader parameter (JSON value or string); repeatable.",
)


def load_dataset_arg(
    name: str,
    data_path: str | None,
    params: tuple[str, ...],
    path_option: str = "--path",
    param_option: str = "--param",
) -> Any:
    """Load dataset NAME from a command's ``--path`` and ``--param KEY=VALUE`` options.

    ``path_option`` and ``param_option`` are how the command spells them, for the errors.

    Raises
    ------
    click.UsageError
        A required loader parameter is missing (naming the option that gives it).
    click.ClickException
        The loader refused the data (unknown dataset, missing file, bad row...).
    """
    import ferengine

    kwargs = _parse_params(params, param_option)
    if data_path is not None:
        kwargs["path"] = data_path
    missing_parameters("dataset", name, kwargs, {"path": path_option}, f"{param_option} {{}}=VALUE")
    try:
        return ferengine.load_dataset(name, **kwargs)
    except (FerengineError, ValueError, TypeError) as exc:
        raise click.ClickException(str(exc)) from exc


@datasets_group.command("show")
@click.argument("name")
@click.option("--path", "data_path", default=None, help="Where the data lies (file or folder).")
@param_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for the contact sheet (default: current folder).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def datasets_show(
    name: str, data_path: str | None, params: tuple[str, ...], out: Path | None, as_json: bool
) -> None:
    """Load dataset NAME; print counts per split and class, image format, subjects.

    Also writes NAME-contact-sheet.png with sample images of every class (clip
    datasets: counts of clips, their lengths, and a few clips per class as frame strips).
    """
    from ferengine.inspect_data import contact_sheet, summary

    ds = load_dataset_arg(name, data_path, params)
    info = summary(ds)
    sheet = contact_sheet(ds, (out or Path(".")) / f"{name}-contact-sheet.png")
    info["contact_sheet"] = str(sheet)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    count = f"{info['n']} images"
    if info["kind"] == "clips":
        span = info["length"]
        count = (f"{info['n']} clips of {span['min']}–{span['max']} frames (median "
                 f"{span['median']:g}, {info['frames']} in all)")  # fmt: skip
    console.print(
        f"[bold]{info['source']}[/bold]: {count}, "
        f"{info['image_size'][0]}×{info['image_size'][1]} {info['mode']}, "
        f"label space {info['label_space']}, subjects: {info['subjects'] or 'none'}, "
        f"skipped: {info['skipped']}"
    )
    table = Table()
    table.add_column("class")
    for split in info["counts"]:
        table.add_column(split, justify="right")
    for cls in info["classes"]:
        table.add_row(cls, *(str(info["counts"][s][cls]) for s in info["counts"]))
    table.add_row("total", *(str(sum(c.values())) for c in info["counts"].values()), style="bold")
    console.print(table)
    console.print(f"contact sheet: {sheet}")


@main.command("train")
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--data", default=None, help="Dataset path, overriding the spec's dataset.path.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Model file to write.")
@click.option("--json", "as_json", is_flag=True, help="Print the training report as JSON.")
def train_cmd(spec: Path, data: str | None, out: Path, as_json: bool) -> None:
    """Fit the pipeline of model spec SPEC (TOML) on its training split and save it."""
    from ferengine.errors import FerengineError
    from ferengine.persistence import save
    from ferengine.spec import load_spec, train

    try:
        model_spec = load_spec(spec)
        with console.status(f"training {spec}"):
            model, report = train(model_spec, data)
    except (FerengineError, ValueError, TypeError) as exc:
        raise click.ClickException(str(exc)) from exc
    save(model, out, info={"training": report})
    if as_json:
        click.echo(json.dumps({**report, "model": str(out)}, indent=2, default=repr))
        return
    console.print(
        f"trained on {report['n_train']} images in {report['fit_seconds']:.1f} s; saved {out}"
    )
    if "held_out" in report:
        share = report["held_out"]
        _print_metrics(share, f"held-out {share['fraction']:.0%} of the training split")
    if "validation" in report:
        _print_metrics(report["validation"], f"validation ({model_spec.validate_split})")


def _print_metrics(result: dict, title: str) -> None:
    console.print(
        f"[bold]{title}[/bold]: n={result['n']}  accuracy {result['accuracy']:.4f}  "
        f"balanced accuracy {result['balanced_accuracy']:.4f}  "
        f"macro-F1 {result['macro_f1']:.4f}"
        + (f"  (dropped {result['dropped']} of unknown classes)" if result.get("dropped") else "")
    )
    if "predict_ms_per_image" in result:
        console.print(f"prediction: {result['predict_ms_per_image']:.3f} ms per image (batched)")
    table = Table(title="per class")
    for col in ("class", "precision", "recall", "F1", "support"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for name, row in result["per_class"].items():
        table.add_row(
            name, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}",
            str(row["support"]),
        )  # fmt: skip
    console.print(table)
    matrix = Table(title="confusion matrix (rows: true, columns: predicted)")
    matrix.add_column("")
    for name in result["labels"]:
        matrix.add_column(name[:8], justify="right")
    for name, row in zip(result["labels"], result["confusion_matrix"], strict=True):
        matrix.add_row(name, *(str(v) for v in row))
    console.print(matrix)


@main.command("evaluate")
@click.argument("model")
@click.option("--dataset", "dataset_name", required=True, help="Dataset plugin name.")
@click.option("--path", "data_path", default=None, help="Where the data lies (file or folder).")
@click.option("--split", default=None, help="Evaluate on this split only (e.g. PublicTest).")
@param_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate_cmd(
    model: str,
    dataset_name: str,
    data_path: str | None,
    split: str | None,
    params: tuple[str, ...],
    as_json: bool,
) -> None:
    """Score saved MODEL on a dataset: accuracy, macro-F1, per-class scores, confusion matrix.

    MODEL is a model file or a registered model's name (ferengine models); "default"
    is the shipped FER+ CNN, "fer2013" the one trained on FER2013's seven labels (the
    deep extra). Write ./NAME for a file that has a model's
    name, model:NAME for the registered model.
    """
    import ferengine
    from ferengine.evaluation import evaluate

    kwargs = _parse_params(params)
    if data_path is not None:
        kwargs["path"] = data_path
    missing_parameters("dataset", dataset_name, kwargs, DATASET_OPTIONS, "--param {}=VALUE")
    try:
        fitted = ferengine.load(model)
        ds = ferengine.load_dataset(dataset_name, **kwargs)
        result = evaluate(fitted, ds, split)
    except (FerengineError, ValueError, TypeError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    result["model"] = str(model)
    result["dataset"] = dataset_name
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    _print_metrics(result, f"{model} on {dataset_name}" + (f" / {split}" if split else ""))


@main.command("export")
@click.argument("model")
@click.option("--format", "fmt", default="onnx", show_default=True, help="Form to export to.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Model file to write.")
@click.option("--quantize", default=None, help="Quantise the exported network (int8).")
@click.option(
    "--calibration-images",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Training images that calibrate --quantize.",
)
@click.option(
    "--dataset",
    "dataset_name",
    default="fer2013",
    show_default=True,
    help="Dataset plugin of the calibration images.",
)
@click.option("--data", "data_path", default=None, help="Where the calibration dataset lies.")
@click.option(
    "--split", default="Training", show_default=True, help="Split the calibration images come from."
)
@param_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def export_cmd(
    ctx: click.Context,
    model: str,
    fmt: str,
    out: Path,
    quantize: str | None,
    calibration_images: int,
    dataset_name: str,
    data_path: str | None,
    split: str,
    params: tuple[str, ...],
    as_json: bool,
) -> None:
    """Export saved MODEL's network to another runtime and save it as a model file.

    MODEL is a model file or a registered model's name ("default") whose final step is
    a torch image classifier (cnn). --format onnx writes a model whose network runs on
    onnxruntime (the onnx extra); ferengine predict --model OUT and ferengine.load use
    it as any model. --quantize int8 also quantises it, calibrated on
    --calibration-images images of --split of --dataset (read from --data).
    """
    from ferengine.export import calibration_images as pick_images
    from ferengine.export import export_model
    from ferengine.persistence import save

    calibration = None
    given = click.core.ParameterSource.COMMANDLINE
    if (
        quantize is not None
        and data_path is None
        and ctx.get_parameter_source("dataset_name") != given
    ):
        raise click.UsageError(
            f"--quantize {quantize} needs calibration images: give --data PATH (and "
            "--dataset NAME unless it is fer2013)"
        )
    try:
        if quantize is not None:
            ds = load_dataset_arg(dataset_name, data_path, params, path_option="--data")
            calibration = pick_images(ds, calibration_images, split)
        exported = export_model(model, fmt, quantize=quantize, calibration=calibration)
    except (FerengineError, ValueError, TypeError) as exc:
        raise click.ClickException(str(exc)) from exc
    info = {"export": {"source": str(model), "format": fmt, "quantize": quantize}}
    if calibration is not None:
        info["export"]["calibration"] = {
            "dataset": dataset_name,
            "split": split,
            "images": len(calibration),
        }
    save(exported, out, info=info)
    if as_json:
        click.echo(json.dumps({**info["export"], "model": str(out)}, indent=2))
        return
    console.print(f"exported {model} to {fmt}" + (f" ({quantize})" if quantize else "")
                  + f"; saved {out}")  # fmt: skip


@main.group("models", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def models_group(ctx: click.Context, as_json: bool) -> None:
    """List the registered pretrained models, or show one's card (models show NAME).

    Any of them is a MODEL argument (ferengine evaluate NAME, predict --model NAME)
    and a pipeline step by name.
    """
    if ctx.invoked_subcommand is not None:
        return
    rows = [
        {"name": r.name, "package": r.package, "version": r.version, "status": r.status,
         "description": r.description or r.reason}
        for r in registry.get_registry().records("model")
    ]  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("name", "package", "version", "status", "description")
    for row in rows:
        table.add_row(*(row[k] for k in ("name", "package", "version", "status", "description")))
    console.print(table)


@models_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON.")
def models_show(name: str, as_json: bool) -> None:
    """Print the card of registered model NAME: file, inputs, classes, data, accuracy."""
    from ferengine.models import card_dict

    try:
        card = card_dict(registry.get_registry().get("model", name))
    except FerengineError as exc:
        raise click.ClickException(str(exc.args[0] if exc.args else exc)) from exc
    if as_json:
        click.echo(json.dumps(card, indent=2))
        return
    measurements = card.pop("measurements")
    table = Table("field", "value", show_header=False)
    for key, value in card.items():
        shown = "×".join(map(str, value)) if key == "input_size" else value
        table.add_row(key, ", ".join(shown) if isinstance(shown, list | tuple) else str(shown))
    for m in measurements:
        when = f", {m['date']}" if m["date"] else ""
        table.add_row(m["metric"], f"{m['value']} on {m['data']}{when}\n$ {m['command']}")
    console.print(table)


def _add_commands() -> None:
    from ferengine.audit.cli import audit_cmd
    from ferengine.bench.cli import bench_cmd
    from ferengine.explain.cli import explain_cmd
    from ferengine.explain.visualize import visualize_cmd
    from ferengine.prediction.cli import predict_cmd
    from ferengine.scaffold.cli import new_plugin_cmd

    datasets_group.add_command(audit_cmd)
    main.add_command(bench_cmd)
    main.add_command(predict_cmd)
    main.add_command(explain_cmd)
    main.add_command(visualize_cmd)
    main.add_command(new_plugin_cmd)


_add_commands()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
