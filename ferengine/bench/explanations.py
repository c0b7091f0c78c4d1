"""Explain the top pipelines of every leaderboard: per-class saliency and a mistakes gallery.

With ``[report.explain]`` in the suite (or ``ferengine bench --explain-top N``), the
``top`` pipelines of each tested dataset's leaderboard, ranked as the report ranks
them, are explained after the run on a seeded sample of ``faces`` test faces of their
first fold (repeat 0, fold 0 when it succeeded): the mean map per true class over the
class's mean face, and the most frequent confusions with their most confident
mistakes (:mod:`ferengine.explain.gallery`).

A run keeps no fitted model — each fold's front is fitted to fill the feature cache and
its classifier is fitted on the cached features and dropped — so an explained pipeline
is **fitted again, whole** (preprocessing, feature and classifier, with the classifier
seeded as the run seeds it) on that fold's training images. With deterministic steps
this is the model the benchmark scored; whether it is, is measured: its predictions on
the explained faces are compared with the ones stored for that fold (``agree``).

Under the run folder:

* ``explain/<dataset>/index.json`` — the settings, and per explained leaderboard row an
  entry: ``ok`` with its figures, ``skipped`` with the reason (a classifier without
  ``predict_proba``, a model the method cannot explain) or ``failed`` with the error.
  A dataset of clips is skipped as a whole (explainers take single face crops);
* ``explain/<dataset>/<pipeline>-<key>/`` — ``class_saliency.png``/``.json``,
  ``gallery/*.png``, ``gallery.json`` and ``explain.json`` (the entry, with a content
  key of everything the pictures depend on). A later run (``--resume``) whose key
  matches reuses the folder instead of fitting again.

Nothing here raises for one pipeline: the report always gets written.
"""

from __future__ import annotations

import json
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import joblib
import numpy as np

import ferengine
from ferengine import registry
from ferengine.bench.folds import Fold
from ferengine.bench.options import RunOptions
from ferengine.bench.report import leaderboards, slug
from ferengine.bench.store import ResultStore
from ferengine.bench.suite import Combination, ExplainSettings, Suite, SuiteError, load_suite
from ferengine.errors import UnsupportedModelError
from ferengine.fileio import write_atomic
from ferengine.step_checks import probabilities_problem

#: The folder of the explanations, under the run folder.
FOLDER = "explain"
#: Why a dataset of clips is not explained.
CLIPS = (
    "its samples are clips of video frames, and explainers explain single face crops "
    "(explain a clip model's frames with `ferengine explain`)"
)
#: The report's heading of a dataset's explanations.
HEADING = "### What the top pipelines look at"
#: Files every explained pipeline's folder holds (besides the gallery's pictures).
FILES = ("class_saliency.png", "class_saliency.json", "gallery.json", "explain.json")


def explain_leaders(
    suite: Suite,
    folds: dict[str, list[Fold]],
    out: str | Path,
    settings: ExplainSettings,
    say: Callable[[str], None] | None = None,
) -> int:
    """Explain the top pipelines of every leaderboard of the run in ``out``.

    Parameters
    ----------
    suite : Suite
        The suite run.
    folds : dict
        Its folds per tested dataset (:func:`~ferengine.bench.plan.load_folds`).
    out : path
        The results folder.
    settings : ExplainSettings
        How many pipelines, the method, the faces.
    say : callable, optional
        Prints one line per pipeline (what was explained or skipped, and why).

    Returns
    -------
    int
        Index files whose content changed: the report must be written again when
        positive.
    """
    out = Path(out)
    say = say or (lambda _line: None)
    records = list(ResultStore(out).records())
    changed = 0
    for dataset, rows in leaderboards(suite, records).items():
        folder = out / FOLDER / slug(dataset)
        index: dict[str, Any] = {"dataset": dataset, **asdict(settings), "entries": []}
        if rows and rows[0]["sample"] == "clip":
            index["skipped"] = CLIPS
            say(f"explanations of {dataset} skipped: {CLIPS}")
        else:
            for row in rows[: settings.top]:
                entry, reused = _explain_row(row, suite, folds[dataset], out, folder, settings)
                index["entries"].append(entry)
                if entry["status"] == "ok":
                    done = "reused the stored explanation" if reused else "explained"
                else:
                    done = f"{entry['status']}: {entry.get('reason') or entry.get('error')}"
                say(f"#{row['rank']} {row['pipeline']} on {dataset}: {done}")
        text = json.dumps(index, indent=2, default=repr)
        path = folder / "index.json"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            folder.mkdir(parents=True, exist_ok=True)
            write_atomic(path, text)
            changed += 1
    return changed


def explain_run(options: RunOptions, say: Callable[[str], None] | None = None) -> int:
    """Explain the top pipelines of the run stored in ``options.out``, after the fact.

    ``ferengine bench report DIR --explain-top N``: the stored suite is read (its plugins
    must be installed, its datasets found: ``options.data`` overrides their paths) and
    :func:`explain_leaders` runs with ``options.explain`` of it, the folder locked.

    Returns
    -------
    int
        As :func:`explain_leaders` (0 when nothing is to be explained).

    Raises
    ------
    SuiteError
        ``options.out`` holds no run, or a dataset path does not resolve.
    FolderBusyError
        Another process is using the folder and ``options.wait`` is False.
    """
    from ferengine.bench.lock import folder_lock
    from ferengine.bench.plan import load_folds

    out = Path(options.out)
    if not (out / "suite.toml").is_file():
        raise SuiteError(f"{out} holds no benchmark run (no suite.toml)")
    suite = load_suite(out / "suite.toml")
    settings = options.explain(suite)
    datasets = options.datasets(suite)
    if settings is None:
        return 0
    with folder_lock(out, options.wait, say):
        return explain_leaders(suite, load_folds(suite, datasets, out), out, settings, say)


def _explain_row(row: dict[str, Any], suite: Suite, folds: list[Fold], out: Path, folder: Path,
                 settings: ExplainSettings) -> tuple[dict[str, Any], bool]:  # fmt: skip
    """Explain one leaderboard row; return its index entry and whether it was stored before.

    Never raises: a pipeline that cannot be explained gets a ``skipped`` entry with the
    reason, one whose explanation fails a ``failed`` entry with the error.
    """
    run = min(row["runs"], key=lambda r: (r["repeat"], r["fold"]))
    combo = next(c for c in suite.combinations if c.key == row["combination"])
    entry: dict[str, Any] = {"pipeline": combo.label, "combination": combo.key,
                             "repeat": run["repeat"], "fold": run["fold"]}  # fmt: skip
    try:
        fold = next(f for f in folds if (f.repeat, f.index) == (run["repeat"], run["fold"]))
        seed = suite.seed + fold.repeat  # as the run seeds the fold's classifier
        steps = [*combo.front, combo.classifier]
        missing = probabilities_problem(_pipeline(steps, seed))
        if missing is not None:  # before fitting: every explainer needs probabilities
            return {**entry, "status": "skipped",
                    "reason": f"explainer {settings.method!r} needs class probabilities: "
                              f"{missing}"}, False  # fmt: skip
        key = _content_key(combo, fold, seed, settings)
        target = folder / f"{slug(combo.label)[:60]}-{combo.key[:8]}"
        stored = _stored(target, key)
        if stored is not None:
            return stored, True
        return _explain(combo, run, fold, seed, settings, key, target, out), False
    except UnsupportedModelError as exc:  # the method cannot explain this fitted model
        return {**entry, "status": "skipped", "reason": str(exc)}, False
    except Exception as exc:  # one pipeline's failure never stops the report
        return {**entry, "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()}, False  # fmt: skip


def _pipeline(steps: list[dict[str, Any]], seed: int) -> Any:
    """Build the whole pipeline, its classifier seeded as the run seeds it."""
    pipe = ferengine.pipeline(*steps)
    classifier = pipe.steps[-1][1]
    if "random_state" in classifier.get_params():
        classifier.set_params(random_state=seed)
    return pipe


def _content_key(combo: Combination, fold: Fold, seed: int, settings: ExplainSettings) -> str:
    """Hash of everything an explanation depends on (the number of top rows excluded)."""
    sides = [fold.train_side.ref.describe(), fold.test_side.ref.describe()]
    how = {k: v for k, v in asdict(settings).items() if k != "top"}
    return str(joblib.hash([combo.key, combo.front, combo.classifier, fold.repeat, fold.index,
                            fold.train, fold.test, sides, seed, how]))  # fmt: skip


def _stored(target: Path, key: str) -> dict[str, Any] | None:
    """Return the stored entry of ``target`` when its key is ``key`` and its files exist."""
    try:
        stored = json.loads((target / "explain.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != key:
        return None
    files = [*FILES, *(p.get("image", "") for p in stored.get("gallery", {}).get("pairs", []))]
    return stored if all((target / f).is_file() for f in files) else None


def _explain(combo: Combination, run: dict[str, Any], fold: Fold, seed: int,
             settings: ExplainSettings, key: str, target: Path,
             out: Path) -> dict[str, Any]:  # fmt: skip
    """Fit the pipeline on the fold's training images, explain a sample of its test faces."""
    from ferengine.explain.gallery import (
        explain_classes,
        misclassification_gallery,
        write_class_saliency,
    )
    from ferengine.prediction.predictor import class_names

    explainer = registry.create("explainer", settings.method, **settings.params)
    train_ds, test_ds = fold.train_side.load(), fold.test_side.load()
    start = time.perf_counter()
    model = _pipeline([*combo.front, combo.classifier], seed).fit(train_ds.subset(fold.train))
    fit_seconds = time.perf_counter() - start
    explainer.check_model(model)
    names = list(class_names(model))
    true_names = np.asarray(test_ds.label_space.names)[test_ds.labels[fold.test]]
    known = np.flatnonzero(np.isin(true_names, names))  # a cross-dataset class it lacks: out
    if not len(known):
        raise ValueError(f"no test face of repeat {fold.repeat} fold {fold.index} has a class "
                         f"the model knows ({', '.join(names)})")  # fmt: skip
    chosen = np.sort(np.random.default_rng(seed).choice(
        known, min(settings.faces, len(known)), replace=False))  # fmt: skip
    rows = fold.test[chosen]
    faces = np.asarray(test_ds.subset(rows).images)
    labels = true_names[chosen].tolist()
    said = np.asarray(model.predict(faces))
    benchmarked = dict(zip(run["test_index"], run["y_pred"], strict=True))
    agree = int(sum(int(s) == int(benchmarked[int(r)]) for s, r in zip(said, rows, strict=True)))
    space = model.label_space_.names
    correct = float(np.mean([space[int(s)] == t for s, t in zip(said, labels, strict=True)]))
    start = time.perf_counter()
    if (target / "gallery").is_dir():  # pictures of an earlier explanation: replaced
        shutil.rmtree(target / "gallery")
    saliency = explain_classes(model, faces, labels, explainer)
    info = {"pipeline": combo.label, "method": explainer.name,
            "maps": "of each face's true class"}  # fmt: skip
    per_class = write_class_saliency(saliency, target, info)
    gallery = misclassification_gallery(model, faces, labels, explainer, target,
                                        pairs=settings.pairs, rows=rows.tolist())  # fmt: skip
    entry = {
        "pipeline": combo.label, "combination": combo.key, "status": "ok",
        "repeat": fold.repeat, "fold": fold.index, "seed": seed,
        "method": explainer.name, "params": explainer.get_params(deep=False),
        "folder": target.relative_to(out).as_posix(),
        "n_train": len(fold.train), "n_test": len(fold.test), "faces": len(rows),
        "accuracy": round(correct, 4), "agree": agree,
        "fit_seconds": round(fit_seconds, 2),
        "explain_seconds": round(time.perf_counter() - start, 2),
        "classes": per_class["classes"],
        "gallery": {"errors": gallery["errors"], "pairs": gallery["pairs"]},
        "key": key,
    }  # fmt: skip
    write_atomic(target / "explain.json", json.dumps(entry, indent=2, default=repr))
    return entry


# --- the report's section -----------------------------------------------------------------


def section(out: str | Path, dataset: str, rows: list[dict[str, Any]]) -> list[str]:
    """Return the report's Markdown lines of a dataset's explanations ([] when it has none).

    Parameters
    ----------
    out : path
        The results folder (pictures are linked relative to it).
    dataset : str
        The tested dataset's key.
    rows : list of dict
        Its leaderboard (:func:`~ferengine.bench.report.leaderboards`), for current ranks.
    """
    name = f"{FOLDER}/{slug(dataset)}/index.json"
    try:
        return _section(json.loads((Path(out) / name).read_text(encoding="utf-8")), rows)
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:  # a damaged file
        problem = f"{type(exc).__name__}: {exc}"
        return [HEADING, "", f"{name} cannot be read ({problem}); explain the run again "
                "(`ferengine bench report DIR --explain-top N`).", ""]  # fmt: skip


def _section(index: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """Markdown of a dataset's ``index.json``."""
    params = ", ".join(f"{k}={v}" for k, v in index.get("params", {}).items())
    method = f"`{index['method']}`" + (f" ({params})" if params else "")
    lines = [HEADING, ""]
    if index.get("skipped"):
        return [*lines, f"Not explained: {index['skipped']}.", ""]
    top = f"the top {index['top']} pipelines" if index["top"] > 1 else "the top pipeline"
    lines += [
        f"Explainer {method} on {top}. The run keeps no "
        "fitted model, so each is fitted again, whole, on its first fold's training images "
        "(the classifier seeded as in the run), and explained on a seeded sample of up to "
        f"{index['faces']} of that fold's test faces: the mean map of each true class "
        "(each face's map of its true class, scaled to its maximum) over the class's mean "
        "face, and its most frequent confusions. *agree* counts the faces on which the "
        "refitted model predicts what the benchmarked one did.",
        "",
    ]
    ranks = {row["combination"]: row["rank"] for row in rows}
    for entry in index["entries"]:
        rank = ranks.get(entry["combination"], "–")
        head = f"#### #{rank} `{entry['pipeline']}`"
        if entry["status"] != "ok":
            why = entry.get("reason") or entry.get("error")
            lines += [head, "", f"Not explained ({entry['status']}): {why}", ""]
            continue
        lines += [head, "", *_explained(entry), ""]
    return lines


def _explained(entry: dict[str, Any]) -> list[str]:
    """Markdown of one explained pipeline: the model, the picture, the table, the gallery."""
    folder, n = entry["folder"], entry["faces"]
    lines = [
        f"Fitted on the {entry['n_train']} training images of repeat {entry['repeat']} fold "
        f"{entry['fold']} (seed {entry['seed']}, {entry['fit_seconds']:.1f} s); explained on "
        f"{n} of its {entry['n_test']} test faces ({entry['explain_seconds']:.1f} s): accuracy "
        f"{entry['accuracy']:.3f}, agree {entry['agree']} of {n}.",
        "",
        f"![{entry['method']}: mean map per class, {entry['pipeline']}]"
        f"({folder}/class_saliency.png)",
        "",
        "| class | faces | peak (row, col) | top-10 % share | upper | middle | lower |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in entry["classes"]:
        if not row["faces"]:
            lines.append(f"| {row['class']} | 0 | – | – | – | – | – |")
            continue
        share = "–" if row["top10_share"] is None else f"{row['top10_share']:.2f}"
        bands = " | ".join(f"{row['bands'][b]:.2f}" for b in ("upper", "middle", "lower"))
        peak = f"{row['peak'][0]}, {row['peak'][1]}"
        lines.append(f"| {row['class']} | {row['faces']} | {peak} | {share} | {bands} |")
    pairs = entry["gallery"]["pairs"]
    lines += ["", f"Mistakes: {entry['gallery']['errors']} of {n} faces."]
    if pairs:
        lines += ["Most frequent confusions (each picture: the face, its map of the class said, "
                  "its map of the true class):", ""]  # fmt: skip
        lines += [
            f"- [{p['true']} taken for {p['predicted']}: {p['count']} of {p['of']} "
            f"({100 * p['share']:.1f} %)]({folder}/{p['image']})"
            for p in pairs
        ]
    return lines
