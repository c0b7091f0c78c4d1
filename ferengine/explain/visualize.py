"""``ferengine visualize``: what a network's class neurons respond to, one picture per class.

Explainers map faces; a few methods instead picture the model itself — the built-in
``activation-max`` optimises, per class, the input that raises that class's logit the
most. Such an explainer offers, besides the explainer interface, the two methods of
:class:`ModelVisualizer`; :func:`visualize_model` runs one and writes into ``out``:

* ``<class>.png`` — per class, the picture at the network's input size (exactly the
  input whose logit the report gives);
* ``grid.png`` — the pictures enlarged side by side, each captioned with its class, its
  logit and, with faces to compare with, their largest logit of that class;
* ``visualization.json`` — the model, the method, its parameters and, per class, the
  picture's file, its logit and softmax probability, and, for a dataset's faces, the
  mean and largest logit of that class over the faces (the row of the largest) and
  whether the picture's logit exceeds every face's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import click
import cv2
import numpy as np

from ferengine import registry
from ferengine.errors import FerengineError
from ferengine.explain.base import describe_model
from ferengine.explain.cli_options import dataset_options, load_dataset_option
from ferengine.explain.overlay import CAPTION_BG, FONT, TEXT, sheet
from ferengine.explain.run import PNG, dataset_rows, load_model
from ferengine.fileio import write_atomic
from ferengine.prediction.predictor import class_names

#: Side in pixels each picture is enlarged to on ``grid.png``, and the grid's columns.
CELL = 144
COLUMNS = 7
#: Faces whose logits are computed at a time.
FACE_BATCH = 512


@runtime_checkable
class ModelVisualizer(Protocol):
    """An explainer that pictures a model's classes (``activation-max``).

    ``visualize(model, classes=None)`` returns class name -> image at the network's
    input size (uint8, H×W or H×W×3), refusing a model it cannot picture or a class the
    model lacks with an error naming the method and the model; ``class_logits(model,
    images, faces=False)`` returns the network's N×n_classes logits for such images, or
    for face crops (``faces=True``) through the model's preprocessing.
    """

    name: str

    def visualize(self, model: Any, classes: Any = None) -> dict[str, np.ndarray]:
        """Return class name -> the picture of that class (uint8, the network's input size)."""
        ...

    def class_logits(self, model: Any, images: Any, faces: bool = False) -> np.ndarray:
        """Return the network's logits for pictures, or for face crops (``faces=True``)."""
        ...


def visualizer(method: str, params: dict | None = None) -> ModelVisualizer:
    """Create the explainer ``method`` and check it pictures models' classes.

    Raises
    ------
    UnknownPluginError
        No explainer ``method`` (the message suggests close names).
    FerengineError
        The explainer maps faces only (``ferengine explain`` runs it).
    """
    explainer = registry.create("explainer", method, **(params or {}))
    if not isinstance(explainer, ModelVisualizer):
        raise FerengineError(
            f"explainer {method!r} maps single faces and does not visualise a model's classes: "
            f"use `ferengine explain MODEL INPUT... --method {method}`; `ferengine visualize` "
            "takes a method such as activation-max"
        )
    return explainer


def _file_names(names: list[str]) -> list[str]:
    """Return one PNG name per class: its name made safe, unique and never ``grid.png``."""
    used = {"grid"}
    found = []
    for i, name in enumerate(names):
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in name).strip("_") or "class"
        if stem.lower() in used:
            stem = f"{stem}-{i}"
        used.add(stem.lower())
        found.append(f"{stem}.png")
    return found


def _face_logits(explainer: ModelVisualizer, model: Any, dataset: Any,
                 rows: np.ndarray) -> np.ndarray:  # fmt: skip
    """Return the logits of a dataset's faces at ``rows`` (n×n_classes), a batch at a time."""
    found = []
    for start in range(0, len(rows), FACE_BATCH):
        crops = [np.asarray(dataset.images[i]) for i in rows[start : start + FACE_BATCH]]
        h, w = crops[0].shape[:2]
        crops = [c if c.shape[:2] == (h, w) else cv2.resize(c, (w, h), interpolation=cv2.INTER_AREA)
                 for c in crops]  # fmt: skip
        found.append(explainer.class_logits(model, np.stack(crops), faces=True))
    return np.concatenate(found)


def grid(images: list[np.ndarray], captions: list[list[str]], side: int = CELL) -> np.ndarray:
    """Return the pictures enlarged to ``side`` in a labelled grid (BGR, or grey if all are).

    Parameters
    ----------
    images : list of ndarray
        uint8 pictures, H×W (grey) or H×W×3 (RGB).
    captions : list of list of str
        Caption lines under each picture.
    side : int
        Side of each enlarged picture, in pixels.
    """
    line = 18
    height = side + line * max(map(len, captions)) + line // 2
    cells = []
    for image, lines in zip(images, captions, strict=True):
        big = cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC)
        big = cv2.cvtColor(big, cv2.COLOR_GRAY2BGR if big.ndim == 2 else cv2.COLOR_RGB2BGR)
        cell = np.full((height, side, 3), CAPTION_BG, np.uint8)
        cell[:side] = big
        for i, text in enumerate(lines):
            cv2.putText(cell, text, (4, side + line * (i + 1) - 2), FONT, 0.45, TEXT, 1,
                        cv2.LINE_AA)  # fmt: skip
        cells.append(cell)
    found = sheet(cells, columns=COLUMNS)
    grey = all(im.ndim == 2 for im in images) and len(set(CAPTION_BG)) == len(set(TEXT)) == 1
    return found[..., 0] if grey else found


def visualize_model(model: Any = "default", method: str = "activation-max", *, out: str | Path,
                    params: dict | None = None, classes: Any = None, dataset: Any = None,
                    split: str | None = None, limit: int | None = None,
                    name: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Picture each class of a model, compare the pictures' logits with faces', write files.

    Parameters
    ----------
    model : str, Path or fitted estimator
        A saved model file, a registered model's name ("default") or a fitted pipeline.
    method : str
        An explainer that visualises classes (:class:`ModelVisualizer`): ``activation-max``.
    out : path
        Folder for the pictures, ``grid.png`` and ``visualization.json``.
    params : dict, optional
        The method's parameters (``{"steps": 512}``).
    classes : None, str or sequence, optional
        The classes to picture (names or labels); None: the method's own ``classes``
        parameter, by default every class.
    dataset : FaceDataset, optional
        Faces to compare the pictures' logits with (one ``split``, the first ``limit``).
    name : str, optional
        The dataset's name, for the report.

    Returns
    -------
    dict
        What ``visualization.json`` holds.

    Raises
    ------
    UnknownPluginError, FerengineError, UnsupportedModelError, LabelError, DatasetError
        Before any optimisation: an unknown method, one that maps faces only, a model it
        cannot picture, a class the model lacks, a split the dataset lacks.
    """
    fitted, model_name = load_model(model)
    explainer = visualizer(method, params)
    rows = None if dataset is None else dataset_rows(dataset, split, limit)
    start = time.perf_counter()
    pictures = explainer.visualize(fitted, classes)
    seconds = time.perf_counter() - start
    names = list(pictures)
    images = [pictures[n] for n in names]
    every = list(class_names(fitted))
    columns = [every.index(n) for n in names]
    logits = explainer.class_logits(fitted, np.stack(images))
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    faces = None if rows is None or not len(rows) else _face_logits(explainer, fitted, dataset,
                                                                    rows)  # fmt: skip
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records, captions = [], []
    for k, (class_name, column, file) in enumerate(zip(names, columns, _file_names(names),
                                                       strict=True)):  # fmt: skip
        image = images[k]
        written = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(out / file), written, PNG)
        logit = float(logits[k, column])
        record = {"class": class_name, "file": file, "logit": round(logit, 4),
                  "probability": round(float(probabilities[k, column]), 4)}  # fmt: skip
        lines = [class_name, f"logit {logit:.1f}"]
        if faces is not None:
            values = faces[:, column]
            best = int(np.argmax(values))
            record["faces"] = {"n": len(values), "mean": round(float(values.mean()), 4),
                               "max": round(float(values[best]), 4),
                               "max_row": int(rows[best])}  # fmt: skip
            record["above_every_face"] = bool(logit > values[best])
            lines.append(f"faces max {values[best]:.1f}")
        records.append(record)
        captions.append(lines)
    cv2.imwrite(str(out / "grid.png"), grid(images, captions), PNG)
    size = images[0].shape
    result = {
        "model": model_name,
        "model_steps": describe_model(fitted),
        "method": explainer.name,
        "params": explainer.get_params(deep=False),
        "shows": getattr(explainer, "shows", ""),
        "input_size": list(size),
        "dataset": name,
        "split": split,
        "limit": limit,
        "classes": records,
        "grid": "grid.png",
        "seconds": round(seconds, 3),
    }
    write_atomic(out / "visualization.json", json.dumps(result, indent=2, default=repr))
    return result


@click.command("visualize")
@click.argument("model")
@click.option(
    "--method",
    default="activation-max",
    show_default=True,
    help="An explainer that pictures a model's classes: activation-max (torch networks).",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A method parameter, e.g. steps=512 or decorrelate=false (repeatable).",
)
@click.option(
    "--class",
    "classes",
    multiple=True,
    metavar="C",
    help="Picture this class (a class name of the model; repeatable) [default: every class].",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for one PNG per class, grid.png and visualization.json.",
)
@dataset_options("Compare with a dataset's faces.")
@click.option("--json", "as_json", is_flag=True, help="Print visualization.json instead.")
def visualize_cmd(model: str, method: str, params: tuple[str, ...], classes: tuple[str, ...],
                  out: Path, dataset_name: str | None, data_path: str | None, split: str | None,
                  limit: int | None, dataset_params: tuple[str, ...],
                  as_json: bool) -> None:  # fmt: skip
    """Picture what each class neuron of MODEL responds to (activation maximisation).

    MODEL is a model file or a registered model ("default": the shipped FER+ CNN), ending in
    a torch network on images. Per class, an input image is optimised to raise that
    class's logit. Writes OUT/<class>.png (at the network's input size), OUT/grid.png
    (all classes, labelled) and OUT/visualization.json (per class: the picture's logit;
    with --dataset, the mean and largest logit of that class over the faces).
    """
    from ferengine.cli import _parse_params

    if dataset_name is None:
        given = [o for o, v in (("--path", data_path), ("--split", split), ("--limit", limit),
                                ("--dataset-param", dataset_params)) if v]  # fmt: skip
        if given:
            raise click.UsageError(f"{', '.join(given)} need --dataset")
    method_params = _parse_params(params)
    dataset = None
    if dataset_name is not None:
        dataset = load_dataset_option(dataset_name, data_path, dataset_params)
    result = visualize_model(
        model, method, out=out, params=method_params, classes=list(classes) or None,
        dataset=dataset, split=split, limit=limit, name=dataset_name,
    )  # fmt: skip
    if as_json:
        click.echo(json.dumps(result, indent=2, default=repr))
        return
    _print(result, out)


def _print(result: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    compared = any("faces" in r for r in result["classes"])
    heads = ["class", "logit", "probability"]
    heads += ["faces mean", "faces max", "above every face"] if compared else []
    table = Table(*heads, "picture")
    for r in result["classes"]:
        cells = [r["class"], f"{r['logit']:.2f}", f"{r['probability']:.3f}"]
        if compared:
            f = r["faces"]
            above = "yes" if r["above_every_face"] else "no"
            cells += [f"{f['mean']:.2f}", f"{f['max']:.2f}", above]
        table.add_row(*map(Text, [*cells, r["file"]]))
    console.print(table)
    faces = next((r["faces"]["n"] for r in result["classes"] if "faces" in r), None)
    against = f", compared with {faces} faces" if faces else ""
    console.print(
        f"{len(result['classes'])} classes pictured by {result['method']} in "
        f"{result['seconds']:.1f} s{against}. Output: {out}"
    )
