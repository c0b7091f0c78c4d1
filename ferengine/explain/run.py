"""Explain the faces of photos, folders and dataset splits; write overlays and their statistics.

:func:`explain_photos` finds the faces as ``ferengine predict`` does
(:class:`~ferengine.prediction.FacePredictor`: detector, landmark levelling, crops of the
model's input size) and :func:`explain_dataset` takes a dataset's face crops as they
are; both explain them with one explainer plugin, a batch at a time, and write into
``out``:

* ``overlays/<name>.png`` — per face, the face beside its heat map, captioned with the
  method, the predicted class and its probability (the true class for datasets);
* ``sheet.png`` — the first :data:`SHEET_FACES` panels in a grid;
* ``explanations.json`` — the model, the method and its parameters, what the maps show,
  one record per face (its input, box or dataset row, predicted and target classes with
  their probabilities, the map's statistics, its overlay file) and one per input where
  no face was found or the file could not be read.

Asked for, the maps of all the faces are also checked and summarised (:func:`check_maps`):

* ``sanity.json`` — the model-randomisation test (:mod:`ferengine.explain.sanity`);
* ``faithfulness.json`` and ``faithfulness.png`` — deletion and insertion curves of the
  maps and of random maps (:mod:`ferengine.explain.faithfulness`);
* datasets only: ``class_saliency.png``/``.json`` — the mean normalised map per true
  class, and ``gallery/``, ``gallery.json`` — the most frequent confusions with their
  mistakes' maps (:mod:`ferengine.explain.gallery`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import cv2
import numpy as np

from ferengine import registry
from ferengine.errors import DatasetError
from ferengine.explain.base import Explainer, describe_model, resolve_targets
from ferengine.explain.overlay import SHEET_SIDE, overlay, sheet
from ferengine.fileio import write_atomic
from ferengine.labels import canonical
from ferengine.loading import MAX_PIXELS
from ferengine.prediction.predictor import class_names

#: Faces explained per explainer call (bounds the memory of occlusion's copies).
BATCH = 32
#: Panels on ``sheet.png``.
SHEET_FACES = 24
#: PNG compression of the written pictures (OpenCV's 0–9; 9: smallest files).
PNG = [cv2.IMWRITE_PNG_COMPRESSION, 9]
NO_FACE = "no face found"


@dataclass
class _Face:
    """One face to explain and what the report says of where it came from."""

    crop: np.ndarray
    record: dict[str, Any]
    stem: str
    true: str | None = None


@dataclass
class Checks:
    """What ``explain`` writes besides the overlays, from the maps of all the faces.

    Attributes
    ----------
    sanity : bool
        The model-randomisation test (for torch networks, layer by layer from the top:
        one more explanation of every face per weight layer) into ``sanity.json``.
    faithfulness : bool
        Deletion and insertion curves of the maps and of random maps into
        ``faithfulness.json`` and ``faithfulness.png``.
    per_class : bool
        Datasets: the mean normalised map per true class into ``class_saliency.png``
        and ``class_saliency.json``.
    gallery : int
        Datasets: this many most frequent confusions into ``gallery/`` and
        ``gallery.json`` (0: none).
    steps : int
        Steps of the faithfulness curves.
    """

    sanity: bool = False
    faithfulness: bool = False
    per_class: bool = False
    gallery: int = 0
    steps: int = 20

    def __bool__(self) -> bool:
        return bool(self.sanity or self.faithfulness or self.per_class or self.gallery)


@dataclass
class _Kept:
    """The faces and maps of a run, kept for :class:`Checks`."""

    crops: list[np.ndarray] = field(default_factory=list)
    maps: list[np.ndarray] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    probabilities: list[np.ndarray] = field(default_factory=list)
    true: list[str | None] = field(default_factory=list)
    rows: list[Any] = field(default_factory=list)

    def add(self, crops: np.ndarray, explanation: Any, faces: list[_Face]) -> None:
        """Keep a batch (resized to the first batch's face size if it differs)."""
        maps = explanation.maps
        if self.crops and crops.shape[1:3] != self.crops[0].shape[1:3]:
            h, w = self.crops[0].shape[1:3]
            crops = _same_shape([self.crops[0][0], *crops])[1:]
            maps = np.stack([cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) for m in maps])
        self.crops.append(crops)
        self.maps.append(maps)
        self.targets += explanation.target_names
        self.probabilities.append(explanation.probabilities)
        self.true += [f.true for f in faces]
        self.rows += [f.record.get("index", f.record.get("input")) for f in faces]


@dataclass
class _Report:
    """What a run writes, collected as it goes."""

    out: Path
    faces: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    panels: list[np.ndarray] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: {"find": 0.0, "explain": 0.0})
    kept: _Kept | None = None
    _used: set[str] = field(default_factory=set)

    def overlay_path(self, stem: str) -> Path:
        """Return a new file under ``overlays/`` for ``stem`` (``-2``, ``-3``… on clashes)."""
        name, n = stem, 1
        while name.lower() in self._used:
            n += 1
            name = f"{stem}-{n}"
        self._used.add(name.lower())
        return self.out / "overlays" / f"{name}.png"


def load_model(model: Any) -> tuple[Any, str]:
    """Return a fitted model and how to name it: a path, a registered name or an estimator."""
    if isinstance(model, str | Path):
        import ferengine

        return ferengine.load(model), str(model)
    return model, describe_model(model)


def prepare(model: Any, method: str, params: dict | None, target: str | None) -> Explainer:
    """Create the explainer and check, before any face is found, that it fits the model.

    Raises
    ------
    UnknownPluginError
        No explainer ``method`` (the message suggests close names).
    UnsupportedModelError
        The method cannot explain the model (:meth:`Explainer.check_model`).
    LabelError
        ``target`` is not one of the model's classes (they are listed).
    """
    explainer = registry.create("explainer", method, **(params or {}))
    explainer.check_model(model)
    if target is not None:
        names = tuple(class_names(model))
        resolve_targets(target, names, list(getattr(model, "classes_", [])), np.zeros(1, int))
    return explainer


def _flat(name: str) -> str:
    """Return an input's path as one file name stem (``photos/a.jpg`` -> ``photos_a``)."""
    source = PurePath(name)
    stem = source.with_suffix("") if source.suffix else source
    parts = [p for p in stem.parts if p not in (source.anchor, ".", "..")]
    flat = "".join(c if c.isalnum() or c in "-_." else "_" for c in "_".join(parts))
    return flat.strip("._")[-120:] or "input"


def _photo_faces(inputs: Sequence[str | Path], predictor: Any, report: _Report,
                 max_pixels: int | None) -> Iterator[_Face]:  # fmt: skip
    """Yield the face crops of every photo; inputs without one go to ``report.errors``."""
    from ferengine.prediction.inputs import InputError, expand, is_video, read_photo

    for path in expand(inputs):
        name = str(path)
        start = time.perf_counter()
        try:
            if is_video(path):
                raise InputError(
                    "a video: explain takes photos (explain a video's frames as images)"
                )
            image, factor = read_photo(path, max_pixels, predictor.detector.max_side)
        except InputError as exc:
            report.errors.append({"input": name, "error": str(exc)})
            continue
        found = predictor.find(image).faces
        report.seconds["find"] += time.perf_counter() - start
        if not found:
            report.errors.append({"input": name, "error": NO_FACE})
        for k, face in enumerate(found):
            box = [round(v * factor) for v in face.face.box]
            record = {"input": name, "face": k, "box": box, "alignment": face.alignment}
            yield _Face(face.crop, record, f"{_flat(name)}-face{k}")


def dataset_rows(dataset: Any, split: str | None, limit: int | None) -> np.ndarray:
    """Return the rows of a dataset's split (all rows without one), the first ``limit``.

    Raises
    ------
    DatasetError
        The dataset has no split ``split``; the message lists its splits.
    """
    rows = np.arange(len(dataset))
    if split is not None:
        splits = None if dataset.splits is None else np.asarray(dataset.splits).astype(str)
        if splits is None or split not in set(splits):
            known = "none" if splits is None else ", ".join(sorted(set(splits)))
            raise DatasetError(f"the dataset has no split {split!r} (its splits: {known})")
        rows = rows[splits == split]
    return rows if limit is None else rows[:limit]


def _dataset_faces(dataset: Any, rows: np.ndarray, split: str | None) -> Iterator[_Face]:
    """Yield the faces of a dataset's ``rows``, with their true classes."""
    names = dataset.label_space.names
    for i in rows:
        record = {"index": int(i), "split": split}
        true = names[int(dataset.labels[i])]
        yield _Face(np.asarray(dataset.images[i]), record, f"{split or 'row'}-{int(i):06d}", true)


def _batches(faces: Iterable[_Face], size: int) -> Iterator[list[_Face]]:
    batch: list[_Face] = []
    for face in faces:
        batch.append(face)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _explain_all(faces: Iterable[_Face], model: Any, explainer: Explainer, target: str | None,
                 report: _Report) -> None:  # fmt: skip
    """Explain faces a batch at a time, drawing each one's overlay."""
    (report.out / "overlays").mkdir(parents=True, exist_ok=True)
    for batch in _batches(faces, BATCH):
        crops = _same_shape([f.crop for f in batch])
        start = time.perf_counter()
        explanation = explainer.explain(model, crops, target)
        report.seconds["explain"] += time.perf_counter() - start
        for face, crop, values, stats in zip(batch, crops, explanation.maps,
                                              explanation.statistics(), strict=True):  # fmt: skip
            predicted = f"{stats['predicted']} {stats['predicted_probability']:.2f}"
            true = [] if face.true is None else [f"true {face.true}"]
            lines = [
                f"{explainer.name}: {stats['target']} ({stats['target_probability']:.2f})",
                f"predicted {predicted}", *true,
            ]  # fmt: skip
            path = report.overlay_path(face.stem)
            cv2.imwrite(str(path), overlay(crop, values, lines), PNG)
            if len(report.panels) < SHEET_FACES:
                short = [] if stats["target"] == stats["predicted"] else [f"map: {stats['target']}"]
                cell = overlay(crop, values, [predicted, *true, *short], SHEET_SIDE, False)
                report.panels.append(cell)
            known = {} if face.true is None else {"true": face.true}
            report.faces.append({**face.record, **known, **stats,
                                 "overlay": str(path.relative_to(report.out))})  # fmt: skip
        if report.kept is not None:
            report.kept.add(crops, explanation, batch)


def _same_shape(crops: list[np.ndarray]) -> np.ndarray:
    """Stack crops, resizing any of another size to the first one's (dataset images vary)."""
    h, w = crops[0].shape[:2]
    return np.stack([
        c if c.shape[:2] == (h, w) else cv2.resize(c, (w, h), interpolation=cv2.INTER_AREA)
        for c in crops
    ])  # fmt: skip


def check_maps(model: Any, explainer: Explainer, faces: np.ndarray, maps: np.ndarray,
               targets: list[str], probabilities: np.ndarray, asked: Checks, out: str | Path,
               true: list[str | None] | None = None, rows: list[Any] | None = None,
               target: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Check and summarise a run's maps as ``asked``, writing the files into ``out``.

    Parameters
    ----------
    model, explainer
        The fitted model and the explainer that made the maps.
    faces : ndarray of shape (n, H, W) or (n, H, W, C)
        The faces explained.
    maps : ndarray of shape (n, H, W)
        Their maps.
    targets : list of str
        The class each map explains.
    probabilities : ndarray of shape (n, n_classes)
        The model's probabilities for the faces.
    asked : Checks
        What to write.
    out : path
        The folder.
    true : list, optional
        Each face's true class name (None where unknown): datasets; matched to the
        model's classes by canonical name (``happy`` is ``happiness``). Faces whose true
        class the model does not have are left out of the per-class maps and the
        gallery (counted as ``skipped``), and the accuracy curves need every face's.
    rows : list, optional
        What to call each face (its dataset row).
    target : str, optional
        The class asked for every face (None: the maps explain predicted classes, and
        the per-class maps of misclassified faces are made again for their true class).

    Returns
    -------
    dict
        Per check, its file and headline figures (for ``explanations.json``); a sanity
        check that cannot run on these faces (a hand-crafted classifier fitted again on
        random labels of too few faces) gives its ``error`` instead.

    Raises
    ------
    ValueError
        Per-class maps or a gallery asked for without a face of a known true class.
    """
    folder = Path(out)
    names = list(class_names(model))
    if true is not None:  # a dataset's class names, in the model's spelling (anger → angry)
        spelled = {canonical(n): n for n in names}
        true = [None if t is None else spelled.get(canonical(t)) for t in true]
    known = np.asarray([t is not None and t in names for t in (true or [None] * len(faces))])
    found: dict[str, Any] = {}
    if asked.sanity:
        found["sanity"] = _sanity(model, explainer, faces, maps, targets, folder)
    if asked.faithfulness:
        labels = list(true) if true is not None and known.all() else None
        found["faithfulness"] = _faithfulness(model, explainer, faces, maps, targets, labels,
                                              asked.steps, folder)  # fmt: skip
    if not (asked.per_class or asked.gallery):
        return found
    chosen = np.flatnonzero(known)
    if not len(chosen):
        raise ValueError("per-class maps and the gallery need faces whose true class the "
                         f"model has ({', '.join(names)})")  # fmt: skip
    wanted = [str(true[i]) for i in chosen] if true is not None else []
    skipped = len(faces) - len(chosen)
    if asked.per_class:
        maps_of = [targets[i] for i in chosen]
        found["per_class"] = _per_class(model, explainer, faces[chosen], maps[chosen], maps_of,
                                        wanted, target, folder)  # fmt: skip
        found["per_class"]["skipped"] = skipped
    if asked.gallery:
        from ferengine.explain.gallery import misclassification_gallery

        result = misclassification_gallery(
            model, faces[chosen], wanted, explainer, folder, pairs=asked.gallery,
            probabilities=probabilities[chosen],
            rows=None if rows is None else [rows[i] for i in chosen],
        )  # fmt: skip
        found["gallery"] = {"file": "gallery.json", "pairs": len(result["pairs"]),
                            "errors": result["errors"], "skipped": skipped}  # fmt: skip
    return found


def _sanity(model: Any, explainer: Explainer, faces: np.ndarray, maps: np.ndarray,
            targets: list[str], folder: Path) -> dict[str, Any]:  # fmt: skip
    """Run the model-randomisation test, write ``sanity.json``; return its headline."""
    from ferengine.explain.sanity import model_randomization_test

    try:
        result = model_randomization_test(model, faces, explainer, target=targets, maps=maps)
    except ValueError as exc:  # e.g. too few faces to refit a tree on random labels
        return {"error": str(exc)}
    write_atomic(folder / "sanity.json", json.dumps(result, indent=2, default=repr))
    full = result["stages"][-1]
    return {"file": "sanity.json", "stages": len(result["stages"]),
            "spearman": full["spearman"]["mean"],
            "spearman_abs": full["spearman_abs"]["mean"]}  # fmt: skip


def _faithfulness(model: Any, explainer: Explainer, faces: np.ndarray, maps: np.ndarray,
                  targets: list[str], labels: list[str] | None, steps: int,
                  folder: Path) -> dict[str, Any]:  # fmt: skip
    """Write the deletion and insertion curves of the maps and of random maps."""
    from ferengine.explain import faithfulness as faith

    result = faith.faithfulness(model, faces, maps, targets, labels=labels, steps=steps)
    curves = result.pop("curves")
    title = f"{explainer.name} on {describe_model(model)}, {len(faces)} faces"
    grid = faith.RANDOM_GRID
    shown = {"random": "random pixels", "random_smooth": f"random regions ({grid}×{grid})"}
    faith.plot_curves({explainer.name: curves.pop("method"),
                       **{shown.get(k, k): v for k, v in curves.items()}},
                      folder / "faithfulness.png", title)  # fmt: skip
    write_atomic(folder / "faithfulness.json", json.dumps(result, indent=2, default=repr))
    baselines = [name for name in curves if name.startswith("random")]
    return {
        "file": "faithfulness.json", "image": "faithfulness.png",
        **{f"{k}_auc": result[k]["auc"] for k in faith.KINDS},
        **{f"{name}_{k}_auc": result[name][k]["auc"] for name in baselines for k in faith.KINDS},
    }  # fmt: skip


def _per_class(model: Any, explainer: Explainer, faces: np.ndarray, maps: np.ndarray,
               maps_of: list[str], true: list[str], target: str | None,
               folder: Path) -> dict[str, Any]:  # fmt: skip
    """Write the mean map per true class (maps of predicted classes remade for the true one)."""
    from ferengine.explain.gallery import class_saliency, write_class_saliency

    names = list(class_names(model))
    maps = np.array(maps)
    if target is None:
        wrong = np.flatnonzero(np.asarray(maps_of) != np.asarray(true))
        for start in range(0, len(wrong), BATCH):
            part = wrong[start : start + BATCH]
            maps[part] = explainer.explain(model, faces[part], [true[i] for i in part]).maps
    columns = np.asarray([names.index(t) for t in true], dtype=np.int64)
    info = {"model": describe_model(model), "method": explainer.name,
            "maps": f"of {target}" if target else "of each face's true class"}  # fmt: skip
    write_class_saliency(class_saliency(maps, faces, columns, names), folder, info)
    return {"file": "class_saliency.json", "image": "class_saliency.png"}


def _run_checks(report: _Report, model: Any, explainer: Explainer, asked: Checks,
                target: str | None) -> dict[str, Any]:  # fmt: skip
    kept = report.kept
    if kept is None or not kept.crops:
        return {}
    return check_maps(model, explainer, np.concatenate(kept.crops), np.concatenate(kept.maps),
                      kept.targets, np.concatenate(kept.probabilities), asked, report.out,
                      kept.true if any(t is not None for t in kept.true) else None, kept.rows,
                      target)  # fmt: skip


def _finish(report: _Report, model_name: str, model: Any, explainer: Explainer,
            target: str | None, source: dict[str, Any],
            found: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Write ``sheet.png`` and ``explanations.json``; return the report."""
    if report.panels:
        cv2.imwrite(str(report.out / "sheet.png"), sheet(report.panels), PNG)
    n = len(report.faces)
    result = {
        "model": model_name,
        "model_steps": describe_model(model),
        "method": explainer.name,
        "params": explainer.get_params(deep=False),
        "shows": explainer.shows,
        "target": target,
        "classes": list(class_names(model)),
        **source,
        "faces": report.faces,
        "errors": report.errors,
        "summary": {
            "faces": n,
            "errors": len(report.errors),
            "no_face": sum(e["error"] == NO_FACE for e in report.errors),
            "find_seconds": round(report.seconds["find"], 3),
            "explain_seconds": round(report.seconds["explain"], 3),
            "explain_ms_per_face": round(1000 * report.seconds["explain"] / n, 2) if n else None,
            "sheet": "sheet.png" if report.panels else None,
        },
        "checks": found or {},
    }
    write_atomic(report.out / "explanations.json", json.dumps(result, indent=2, default=repr))
    return result


def explain_photos(inputs: Sequence[str | Path], model: Any = "default", method: str = "occlusion",
                   *, out: str | Path, params: dict | None = None, target: str | None = None,
                   detector: Any = "auto", detector_params: dict | None = None,
                   margin: float = 0.2, align: bool = True,
                   max_pixels: int | None = MAX_PIXELS,
                   checks: Checks | None = None) -> dict[str, Any]:  # fmt: skip
    """Find every face in photos and folders, explain it, and write the overlays and JSON.

    Faces are found, levelled and cropped as ``ferengine predict`` finds them (see
    :class:`~ferengine.prediction.FacePredictor` for ``detector``, ``margin`` and
    ``align``). An input that cannot be read, or where no face is found, gets an entry
    in the report's ``errors`` (its reason), and the others go on.

    Parameters
    ----------
    inputs : sequence of path
        Image files and folders (every file under them, sorted).
    model : str, Path or fitted estimator
        A saved model file, a registered model's name ("default") or a fitted pipeline.
    method : str
        An explainer plugin (``ferengine plugins explainer``).
    out : path
        Folder for ``explanations.json``, ``sheet.png`` and ``overlays/``.
    params : dict, optional
        The explainer's parameters (``{"patch": 6}``).
    target : str, optional
        A class name to explain for every face (default: each face's predicted class).
    checks : Checks, optional
        Sanity and faithfulness checks of the maps, written beside them (per-class maps
        and the gallery need true classes: datasets only).

    Returns
    -------
    dict
        What ``explanations.json`` holds.

    Raises
    ------
    UnknownPluginError, UnsupportedModelError, LabelError
        Before any face is found: an unknown method, a model it cannot explain, a
        class the model does not have.
    """
    from ferengine.prediction import FacePredictor

    asked = checks or Checks()
    if asked.per_class or asked.gallery:
        raise ValueError(
            "per-class maps and the misclassification gallery need true classes: explain a "
            "dataset (explain_dataset, --dataset)"
        )
    fitted, name = load_model(model)
    explainer = prepare(fitted, method, params, target)
    predictor = FacePredictor(fitted, detector=detector, detector_params=detector_params,
                              margin=margin, align=align)  # fmt: skip
    report = _Report(Path(out), kept=_Kept() if asked else None)
    faces = _photo_faces(list(inputs), predictor, report, max_pixels)
    _explain_all(faces, fitted, explainer, target, report)
    found = _run_checks(report, fitted, explainer, asked, target)
    return _finish(report, name, fitted, explainer, target,
                   {"inputs": [str(p) for p in inputs]}, found)  # fmt: skip


def explain_dataset(dataset: Any, model: Any = "default", method: str = "occlusion", *,
                    out: str | Path, split: str | None = None, limit: int | None = None,
                    params: dict | None = None, target: str | None = None,
                    name: str | None = None,
                    checks: Checks | None = None) -> dict[str, Any]:  # fmt: skip
    """Explain a dataset's faces (one split, the first ``limit``) and write overlays and JSON.

    Each face's record holds its row in the dataset and its true class, which its
    overlay shows beside the predicted one.

    Parameters
    ----------
    dataset : FaceDataset
        Face crops with labels, as a dataset plugin loads them.
    model, method, out, params, target
        As for :func:`explain_photos`.
    split : str, optional
        Only the faces of this split (``"PublicTest"``).
    limit : int, optional
        Only the first ``limit`` faces (of the split), in dataset order.
    name : str, optional
        The dataset's name, for the report.
    checks : Checks, optional
        Checks and summaries of the maps, written beside them (:func:`check_maps`):
        sanity, faithfulness (with the accuracy curve), per-class maps, the gallery.

    Raises
    ------
    DatasetError
        The dataset has no split ``split`` (its splits are listed).
    """
    asked = checks or Checks()
    fitted, model_name = load_model(model)
    explainer = prepare(fitted, method, params, target)
    report = _Report(Path(out), kept=_Kept() if asked else None)
    faces = _dataset_faces(dataset, dataset_rows(dataset, split, limit), split)
    _explain_all(faces, fitted, explainer, target, report)
    found = _run_checks(report, fitted, explainer, asked, target)
    source = {"dataset": name, "split": split, "limit": limit}
    return _finish(report, model_name, fitted, explainer, target, source, found)
