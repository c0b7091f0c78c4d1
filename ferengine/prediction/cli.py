"""``ferengine predict``: classify the faces of photos, folders and videos."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ferengine.prediction.video import DETECT_EVERY


@click.command("predict")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option(
    "--model",
    default="default",
    show_default=True,
    help='Saved model file or registered model (ferengine models); "default": the FER+ CNN.',
)
@click.option(
    "--detector",
    default="auto",
    show_default=True,
    help="Face detector plugin: auto (BlazeFace with fallbacks), blazeface, haar, dlib-hog, "
    "dlib-mmod, none (inputs are face crops).",
)
@click.option(
    "--detector-param",
    "detector_params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A detector parameter, e.g. scale_factor=1.2 or mode=largest (repeatable).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Output folder [default: predictions/<date>-<time>].",
)
@click.option(
    "--labels",
    type=click.Choice(["model", "valence3"]),
    default="model",
    show_default=True,
    help="model: the model's classes; valence3 adds positive / neutral / negative per face.",
)
@click.option(
    "--min-confidence",
    type=float,
    default=0.0,
    show_default=True,
    help='Faces whose top probability is lower are labelled "uncertain".',
)
@click.option("--stride", type=int, default=1, show_default=True, help="Videos: every Nth frame.")
@click.option(
    "--smooth",
    type=int,
    default=1,
    show_default=True,
    help="Videos: average each track's probabilities over N processed frames.",
)
@click.option(
    "--detect-every",
    type=click.IntRange(min=1),
    default=DETECT_EVERY,
    show_default=True,
    help="Videos: run the detector on every Nth processed frame; optical flow moves the "
    "boxes on the others (1: detect on every processed frame).",
)
@click.option(
    "--window",
    type=click.IntRange(min=1),
    default=None,
    help="Videos, temporal models: frames per clip, each face track's last N processed "
    "frames.  [default: the model's frames parameter if it has one, else 16]",
)
@click.option(
    "--clip-every",
    type=click.IntRange(min=1),
    default=None,
    help="Videos, temporal models: classify a track's window every N processed frames it "
    "is seen in, once it is full.  [default: 1]",
)
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=None,
    help="Images (and video frames) with more pixels (width × height) are not decoded: "
    "they get an error row.  [default: 50000000]",
)
@click.option("--no-annotate", is_flag=True, help="Skip the annotated images and videos.")
@click.option(
    "--no-align",
    is_flag=True,
    help="Crop each face box as it is, without turning the face upright on its eye line.",
)
@click.option(
    "--bars",
    is_flag=True,
    help="Annotated images get a side panel with each face's class probabilities as bars.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the JSONL rows instead of a table.")
def predict_cmd(inputs: tuple[str, ...], model: str, detector: str,
                detector_params: tuple[str, ...], out: Path | None, labels: str,
                min_confidence: float, stride: int, smooth: int, detect_every: int,
                window: int | None, clip_every: int | None, max_pixels: int | None,
                no_annotate: bool, no_align: bool, bars: bool,
                as_json: bool) -> None:  # fmt: skip
    """Find every face in INPUT (image files, folders, videos), align it and classify it.

    Writes OUT/predictions.jsonl (one row per image or processed video frame, bad
    inputs included with their reason), OUT/summary.json (counts and preprocessing
    time per image) and annotated copies in OUT/annotated/. With a temporal model
    (a model of clips), each face track of a video is classified over a sliding
    window of its last frames: every frame row lists the clips classified on it.
    """
    from ferengine.cli import _parse_params, missing_parameters
    from ferengine.errors import FerengineError
    from ferengine.loading import MAX_PIXELS
    from ferengine.prediction import predict

    missing_parameters(
        "detector", detector, _parse_params(detector_params), {}, "--detector-param {}=VALUE"
    )
    out = out or Path("predictions") / datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        rows = predict(
            list(inputs),
            model,
            detector,
            out=out,
            labels=labels,
            min_confidence=min_confidence,
            detector_params=_parse_params(detector_params),
            stride=stride,
            smooth=smooth,
            detect_every=detect_every,
            window=window,
            clip_every=clip_every,
            max_pixels=MAX_PIXELS if max_pixels is None else max_pixels,
            annotate_images=not no_annotate,
            bars=bars,
            align=not no_align,
            progress=not as_json,
        )
    except (FerengineError, ValueError, TypeError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    if any("clips" in row for row in rows):
        _print_clips(rows, out)
    else:
        _print(rows, out)


def _print_clips(rows: list[dict], out: Path) -> None:
    """Print a temporal model's clips (and tracks too short for one), then the counts."""
    table = Table("input", "track", "frames", "seconds", "label (confidence)", "note")
    clips = [(row["input"], clip) for row in rows for clip in row.get("clips", [])]
    for name, clip in clips[:50]:
        label = "" if clip["label"] is None else f"{clip['label']} ({clip['confidence']:.2f})"
        table.add_row(name, str(clip["track"]), f"{clip['first_frame']}–{clip['last_frame']}",
                      f"{clip['first_time']:.2f}–{clip['last_time']:.2f}", label,
                      clip["error"] or "")  # fmt: skip
    console = Console()
    console.print(table)
    if len(clips) > 50:
        console.print(f"… {len(clips) - 50} more clips")
    summary = json.loads((out / "summary.json").read_text())
    problems = [r for r in rows if r.get("error") is not None]
    rate = summary["rows"] / summary["seconds"] if summary["seconds"] else 0.0
    console.print(
        f"{summary['clips']} clips classified in {summary['rows']} rows ({rate:.1f} frames "
        f"per second); {summary['short_tracks']} tracks too short for a clip, "
        f"{len(problems)} inputs or videos with an error. Output: {out}"
    )


def _print(rows: list[dict], out: Path) -> None:
    table = Table("input", "frame", "faces", "labels (confidence)", "error")
    for row in rows[:50]:
        labels = ", ".join(f"{f['label']} ({f['confidence']:.2f})" for f in row["faces"])
        frame = "" if row.get("frame") is None else str(row["frame"])
        table.add_row(row["input"], frame, str(len(row["faces"])), labels, row["error"] or "")
    console = Console()
    console.print(table)
    if len(rows) > 50:
        console.print(f"… {len(rows) - 50} more rows")
    summary = json.loads((out / "summary.json").read_text())
    rate = summary["rows"] / summary["seconds"] if summary["seconds"] else 0.0
    console.print(
        f"{summary['faces']} faces found in {summary['rows']} photos or frames "
        f"({rate:.1f} per second); {summary['no_face']} without a face, "
        f"{summary['errors']} unreadable. Output: {out}"
    )
