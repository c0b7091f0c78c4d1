"""What a model looks at per class, and what it sees in the faces it gets wrong.

Two views of a fitted model on labelled faces (a dataset split), for ``ferengine explain
--dataset … --per-class --gallery`` and for benchmark reports on their top pipelines:

* **per-class mean saliency** (:func:`class_saliency`, :func:`explain_classes`): each
  face's map normalised (its positive part divided by its maximum, so every face weighs
  the same), averaged over the faces of each true class and drawn over the class's mean
  face — where the model finds evidence for "happy" in happy faces, "angry" in angry
  faces… (:func:`class_saliency_image`; statistics with :meth:`ClassSaliency.summary`);
* a **misclassification gallery** (:func:`misclassification_gallery`): the most
  frequent confusions (true class taken for another), one picture per pair with its
  most confident mistakes — each face beside its map for the class the model said and
  its map for the true class.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ferengine.explain.base import Explainer, check_faces, resolve_targets
from ferengine.explain.overlay import (
    CAPTION_BG,
    FONT,
    GAP,
    SHEET_SIDE,
    TEXT,
    blend,
    overlay,
    sheet,
)
from ferengine.explain.stats import map_statistics, region_share
from ferengine.fileio import write_atomic
from ferengine.imageops import as_grey, as_uint8
from ferengine.prediction.predictor import class_names

__all__ = [
    "ClassSaliency",
    "class_saliency",
    "class_saliency_image",
    "confused_pairs",
    "explain_classes",
    "misclassification_gallery",
    "normalized",
    "write_class_saliency",
]

#: Faces per explainer call.
BATCH = 32
#: Names of the three horizontal bands :meth:`ClassSaliency.summary` reports mass shares of.
BANDS = ("upper", "middle", "lower")
#: PNG compression of the written pictures.
PNG = [cv2.IMWRITE_PNG_COMPRESSION, 9]


@dataclass
class ClassSaliency:
    """Mean normalised maps per true class.

    Attributes
    ----------
    classes : tuple of str
        The model's class names, in column order.
    maps : ndarray of shape (n_classes, H, W)
        Per class, the mean of its faces' normalised maps (:func:`normalized`); zeros for
        a class without faces.
    faces : ndarray of shape (n_classes, H, W) or (n_classes, H, W, C)
        Per class, the mean of its faces (uint8).
    counts : ndarray of shape (n_classes,)
        Faces per class.
    """

    classes: tuple[str, ...]
    maps: np.ndarray
    faces: np.ndarray
    counts: np.ndarray

    def summary(self) -> list[dict[str, Any]]:
        """Return per class its face count and its mean map's statistics.

        Each holds ``class``, ``faces``, the mean map's :func:`map_statistics` (``peak``:
        where it is highest, ``top10_share``: how concentrated) and ``bands``: the share
        of its mass in the upper, middle and lower third of the face (brows and eyes,
        nose, mouth on a centred crop). Classes without faces have ``faces`` 0 only.
        """
        rows = []
        h = self.maps.shape[1]
        cuts = np.rint(np.linspace(0, h, len(BANDS) + 1)).astype(int)
        for name, count, values in zip(self.classes, self.counts, self.maps, strict=True):
            if not count:
                rows.append({"class": name, "faces": 0})
                continue
            bands = {}
            for band, top, bottom in zip(BANDS, cuts[:-1], cuts[1:], strict=True):
                mask = np.zeros(values.shape, bool)
                mask[top:bottom] = True
                bands[band] = round(region_share(values, mask), 4)
            rows.append({"class": name, "faces": int(count), **map_statistics(values),
                         "bands": bands})  # fmt: skip
        return rows


def normalized(maps: np.ndarray) -> np.ndarray:
    """Return each map's positive part divided by its maximum (all-zero maps stay zero)."""
    positive = np.clip(np.asarray(maps, dtype=np.float64), 0.0, None)
    peak = positive.reshape(len(positive), -1).max(axis=1)
    return positive / np.where(peak > 0, peak, 1.0)[:, None, None]


def _label_columns(model: Any, labels: Any, n: int) -> np.ndarray:
    """Return the probability column of each face's true class (names or ``classes_`` labels)."""
    values = list(np.asarray(labels).tolist()) if not isinstance(labels, list) else labels
    if len(values) != n:
        raise ValueError(f"labels has {len(values)} entries for {n} faces; give one per face")
    names = list(class_names(model))
    return resolve_targets(values, names, list(getattr(model, "classes_", names)),
                           np.zeros(n, dtype=np.int64))  # fmt: skip


def class_saliency(maps: np.ndarray, faces: Any, columns: Any,
                   classes: Sequence[str]) -> ClassSaliency:  # fmt: skip
    """Return the mean normalised map and the mean face of each class.

    Parameters
    ----------
    maps : ndarray of shape (n, H, W)
        One map per face (of any explainer and target).
    faces : array-like of shape (n, H, W) or (n, H, W, C)
        The faces.
    columns : array-like of shape (n,), int
        Each face's class, as a position in ``classes``.
    classes : sequence of str
        Class names.

    Raises
    ------
    ValueError
        Maps, faces and columns that do not match, or a column outside ``classes``.
    """
    images = check_faces(faces)
    values = np.asarray(maps, dtype=np.float64)
    columns = np.asarray(columns)
    if values.shape != images.shape[:3] or columns.shape != (len(images),):
        raise ValueError(
            f"class_saliency needs one map and one class per face: {len(images)} faces of "
            f"shape {images.shape[1:]}, maps of shape {values.shape}, classes of shape "
            f"{columns.shape}"
        )
    if columns.dtype.kind not in "iu" or columns.min() < 0 or columns.max() >= len(classes):
        raise ValueError(f"columns must be class positions from 0 to {len(classes) - 1}")
    scaled = normalized(values)
    k = len(classes)
    counts = np.bincount(columns, minlength=k)
    mean_maps = np.zeros((k, *values.shape[1:]))
    mean_faces = np.zeros((k, *images.shape[1:]))
    for c in np.flatnonzero(counts):
        mean_maps[c] = scaled[columns == c].mean(axis=0)
        mean_faces[c] = images[columns == c].mean(axis=0)
    return ClassSaliency(tuple(classes), mean_maps.astype(np.float32),
                         np.rint(mean_faces).clip(0, 255).astype(np.uint8), counts)  # fmt: skip


def explain_classes(model: Any, faces: Any, labels: Any, explainer: Explainer, *,
                    target: str = "true", batch: int = BATCH) -> ClassSaliency:  # fmt: skip
    """Explain labelled faces and return their mean normalised map per true class.

    Parameters
    ----------
    model : estimator
        A fitted model.
    faces : array-like of shape (n, H, W) or (n, H, W, C)
        Face crops.
    labels : array-like of shape (n,)
        Each face's true class: a class name or a label of ``model.classes_``.
    explainer : Explainer
        The method.
    target : {"true", "predicted"}
        Each face's map explains its true class (what the model finds of the class in
        its faces) or the class it predicts.
    batch : int
        Faces per explainer call.

    Raises
    ------
    LabelError
        A label the model does not have.
    ValueError
        Faces and labels that differ in number, or an unknown ``target``.
    """
    if target not in ("true", "predicted"):
        raise ValueError(f"target must be 'true' or 'predicted', got {target!r}")
    images = check_faces(faces)
    explainer.check_model(model)
    columns = _label_columns(model, labels, len(images))
    names = list(class_names(model))
    maps = []
    for i in range(0, len(images), batch):
        wanted = [names[c] for c in columns[i : i + batch]] if target == "true" else None
        maps.append(explainer.explain(model, images[i : i + batch], wanted).maps)
    return class_saliency(np.concatenate(maps), images, columns, names)


def class_saliency_image(saliency: ClassSaliency, side: int = SHEET_SIDE,
                         columns: int = 4) -> np.ndarray:  # fmt: skip
    """Return the classes' mean maps over their mean faces in a captioned grid (BGR).

    Each panel's colours are scaled to its own map (where the model looks for the
    class, not how much); classes without faces are left out.

    Raises
    ------
    ValueError
        No class has a face.
    """
    panels = [
        overlay(face, values, [f"{name} ({count} faces)"], side, with_face=False)
        for name, values, face, count in zip(saliency.classes, saliency.maps, saliency.faces,
                                             saliency.counts, strict=True)
        if count
    ]  # fmt: skip
    if not panels:
        raise ValueError("no class has a face to draw")
    return sheet(panels, columns)


def write_class_saliency(saliency: ClassSaliency, out: str | Path,
                         info: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Write ``class_saliency.png`` and ``class_saliency.json`` into ``out``; return the JSON.

    Parameters
    ----------
    saliency : ClassSaliency
        What :func:`class_saliency` or :func:`explain_classes` returned.
    out : path
        The folder (made if missing).
    info : dict, optional
        Further entries for the JSON (the model, the method…).
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    _write_png(folder / "class_saliency.png", class_saliency_image(saliency))
    result = {**(info or {}), "image": "class_saliency.png", "classes": saliency.summary()}
    write_atomic(folder / "class_saliency.json", json.dumps(result, indent=2, default=repr))
    return result


def _write_png(path: Path, image: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", image, PNG)
    if not ok:
        raise OSError(f"could not encode {path} as PNG")
    write_atomic(path, encoded.tobytes())


def confused_pairs(true: Any, predicted: Any, classes: Sequence[str], top: int = 6,
                   confidence: Any = None) -> list[dict[str, Any]]:  # fmt: skip
    """Return the most frequent confusions: (true class, predicted class) pairs by count.

    Parameters
    ----------
    true, predicted : array-like of shape (n,), int
        Each face's true and predicted class, as positions in ``classes``.
    classes : sequence of str
        Class names.
    top : int
        Most pairs returned.
    confidence : array-like of shape (n,), optional
        The model's probability of each face's predicted class: a pair's faces are
        listed most confident first (else in their order).

    Returns
    -------
    list of dict
        Per pair, most frequent first (ties: by class order): ``true``, ``predicted``,
        ``count``, ``of`` (faces of the true class), ``share`` (count / of) and
        ``faces`` (their positions in the input).
    """
    true, predicted = np.asarray(true), np.asarray(predicted)
    if true.shape != predicted.shape or true.ndim != 1:
        raise ValueError(f"true and predicted must be two 1-D arrays of one length, got "
                         f"shapes {true.shape} and {predicted.shape}")  # fmt: skip
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    k = len(classes)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (true, predicted), 1)
    np.fill_diagonal(counts, 0)
    per_class = np.bincount(true, minlength=k)
    order = np.argsort(-counts, axis=None, kind="stable")
    score = np.zeros(len(true)) if confidence is None else -np.asarray(confidence, float)
    pairs = []
    for flat in order[:top]:
        t, p = divmod(int(flat), k)
        if not counts[t, p]:
            break
        rows = np.flatnonzero((true == t) & (predicted == p))
        rows = rows[np.argsort(score[rows], kind="stable")]
        pairs.append({
            "true": classes[t], "predicted": classes[p], "count": int(counts[t, p]),
            "of": int(per_class[t]), "share": round(float(counts[t, p] / per_class[t]), 4),
            "faces": rows.tolist(),
        })  # fmt: skip
    return pairs


def _caption(width: int, lines: Sequence[str], scale: float = 0.45) -> np.ndarray:
    """Return a dark strip of ``width`` pixels holding caption lines."""
    line = round(18 * scale / 0.5)
    strip = np.full((line * len(lines) + line // 2, width, 3), CAPTION_BG, np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(strip, text, (4, line * (i + 1) - 2), FONT, scale, TEXT, 1, cv2.LINE_AA)
    return strip


def _example(face: np.ndarray, said: np.ndarray, true: np.ndarray, lines: Sequence[str],
             side: int) -> np.ndarray:  # fmt: skip
    """Return one mistake's panel: the face, its map for the said class, for the true class."""
    hot = [blend(face, values, side) for values in (said, true)]
    h, w = hot[0].shape[:2]
    plain = cv2.resize(as_grey(as_uint8(np.asarray(face))), (w, h), interpolation=cv2.INTER_CUBIC)
    row = np.full((h, 3 * w + 2 * GAP, 3), CAPTION_BG, np.uint8)
    for i, image in enumerate([cv2.cvtColor(plain, cv2.COLOR_GRAY2BGR), *hot]):
        row[:, i * (w + GAP) : i * (w + GAP) + w] = image
    return np.vstack([row, _caption(row.shape[1], lines)])


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name).strip("_") or "class"


def misclassification_gallery(model: Any, faces: Any, labels: Any, explainer: Explainer,
                              out: str | Path, *, pairs: int = 6, examples: int = 6,
                              probabilities: Any = None, rows: Sequence[Any] | None = None,
                              side: int = SHEET_SIDE,
                              batch: int = BATCH) -> dict[str, Any]:  # fmt: skip
    """Write one picture per most frequent confusion, with its most confident mistakes.

    The model predicts the faces (or ``probabilities`` are given); the ``pairs`` most
    frequent (true, predicted) confusions are found (:func:`confused_pairs`) and, for
    each, its ``examples`` most confident mistakes are explained twice: for the class
    the model said (why it said it) and for the true class (what it saw of it). Writes
    into ``out``: ``gallery/<k>-<true>-as-<predicted>.png`` (a title line, then per face:
    the face, the map for the said class, the map for the true class, with both
    probabilities) and ``gallery.json``.

    Parameters
    ----------
    model : estimator
        A fitted model.
    faces : array-like of shape (n, H, W) or (n, H, W, C)
        Face crops.
    labels : array-like of shape (n,)
        True classes: class names or labels of ``model.classes_``.
    explainer : Explainer
        The method.
    out : path
        Folder for ``gallery/`` and ``gallery.json`` (made if missing).
    pairs, examples : int
        Most confusions, and most faces per confusion.
    probabilities : array-like of shape (n, n_classes), optional
        The model's probabilities for the faces, if already computed.
    rows : sequence, optional
        What to call each face in ``gallery.json`` (dataset rows; default: positions).
    side : int
        Side of each image in the pictures, in pixels.
    batch : int
        Faces per explainer call.

    Returns
    -------
    dict
        What ``gallery.json`` holds: the method, ``faces``, ``errors`` (misclassified
        faces), and per pair its classes, count, share and ``examples`` (each face's
        row, the probabilities of the said and true classes) and ``image``.

    Raises
    ------
    LabelError
        A label the model does not have.
    ValueError
        Faces, labels, probabilities or rows that do not match, or ``pairs``/``examples``
        below 1.
    """
    if pairs < 1 or examples < 1:
        raise ValueError(f"pairs and examples must be at least 1, got {pairs} and {examples}")
    images = check_faces(faces)
    explainer.check_model(model)
    names = list(class_names(model))
    true = _label_columns(model, labels, len(images))
    proba = np.asarray(model.predict_proba(images) if probabilities is None else probabilities,
                       dtype=np.float64)  # fmt: skip
    if proba.shape != (len(images), len(names)):
        raise ValueError(f"probabilities has shape {proba.shape}; the faces and the model's "
                         f"classes need {(len(images), len(names))}")  # fmt: skip
    ids = list(range(len(images))) if rows is None else list(rows)
    if len(ids) != len(images):
        raise ValueError(f"rows has {len(ids)} entries for {len(images)} faces")
    predicted = proba.argmax(axis=1)
    confidence = proba[np.arange(len(images)), predicted]
    found = confused_pairs(true, predicted, names, pairs, confidence)
    folder = Path(out)
    (folder / "gallery").mkdir(parents=True, exist_ok=True)
    written = []
    for k, pair in enumerate(found, 1):
        chosen = np.asarray(pair.pop("faces")[:examples])
        said = [pair["predicted"]] * len(chosen)
        wanted = [pair["true"]] * len(chosen)
        said_maps = _explained(explainer, model, images[chosen], said, batch)
        true_maps = _explained(explainer, model, images[chosen], wanted, batch)
        t, p = names.index(pair["true"]), names.index(pair["predicted"])
        panels = [
            _example(images[i], a, b, [f"said {pair['predicted']} {proba[i, p]:.2f}",
                                       f"true {pair['true']} {proba[i, t]:.2f}"], side)
            for i, a, b in zip(chosen, said_maps, true_maps, strict=True)
        ]  # fmt: skip
        grid = sheet(panels, columns=3)
        said_true = f"{pair['predicted']}, of {pair['true']}"
        title = (f"{pair['true']} taken for {pair['predicted']}: {pair['count']} of "
                 f"{pair['of']} {pair['true']} faces ({100 * pair['share']:.1f} %). Each: the "
                 f"face, its {explainer.name} map of {said_true}")  # fmt: skip
        image = np.vstack([_caption(grid.shape[1], [title], 0.5), grid])
        name = f"gallery/{k}-{_slug(pair['true'])}-as-{_slug(pair['predicted'])}.png"
        _write_png(folder / name, image)
        examples_found = [{"row": ids[int(i)], "said_probability": round(float(proba[i, p]), 4),
                           "true_probability": round(float(proba[i, t]), 4)}
                          for i in chosen]  # fmt: skip
        written.append({**pair, "examples": examples_found, "image": name})
    result = {
        "method": explainer.name,
        "params": explainer.get_params(deep=False),
        "faces": len(images),
        "errors": int(np.sum(predicted != true)),
        "pairs": written,
    }
    write_atomic(folder / "gallery.json", json.dumps(result, indent=2, default=repr))
    return result


def _explained(explainer: Explainer, model: Any, faces: np.ndarray, targets: list[str],
               batch: int) -> np.ndarray:  # fmt: skip
    return np.concatenate([
        explainer.explain(model, faces[i : i + batch], targets[i : i + batch]).maps
        for i in range(0, len(faces), batch)
    ])  # fmt: skip
