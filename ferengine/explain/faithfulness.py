"""Faithfulness of explanation maps: deletion and insertion curves, and their areas.

Petsiuk et al. (2018), "RISE: Randomized Input Sampling for Explanation of Black-box
Models", §4.1. A map is faithful to the model when the pixels it ranks highest are the
ones the model needs: remove them first (*deletion*: replace them by a baseline face)
and the probability of the explained class should fall fast; reveal them first on the
baseline face (*insertion*) and it should rise fast. Each face's pixels are ordered by
its map's value (ties in random order) and changed in ``steps`` equal shares; the
model's probability of the map's class (and whether it predicts the true class) is read
at each step, and the curves are summarised by the area under them over the fraction
of pixels changed (0 to 1): **lower deletion AUC and higher insertion AUC are more
faithful**. The same procedure with random maps (:func:`random_curves`, averaged over a
few seeds) is the baseline every method must beat: pixels in random order, and random
smooth regions (:func:`random_maps`), since scattered changes hurt a network more than
the same share of pixels changed in a few regions.

All the steps of a face go to the model in one ``predict_proba`` call (several faces per
call, up to ``batch_size`` images), so the curves work for any model with
``predict_proba``, hand-crafted pipelines included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ferengine.explain.base import check_faces, resolve_targets
from ferengine.fileio import atomic_path
from ferengine.prediction.predictor import class_names

__all__ = [
    "BASELINES",
    "KINDS",
    "RANDOM_GRID",
    "Curves",
    "baseline_faces",
    "faithfulness",
    "perturbation_curves",
    "pixel_ranks",
    "plot_curves",
    "random_baselines",
    "random_curves",
    "random_maps",
]

#: What removed (deletion) or not yet revealed (insertion) pixels show.
BASELINES = ("blur", "mean")
#: The two curves.
KINDS = ("deletion", "insertion")
#: Cells per side of the smooth random baseline (Grad-CAM's resolution on a 48×48 face).
RANDOM_GRID = 6


@dataclass
class Curves:
    """Deletion or insertion curves of a set of faces.

    Attributes
    ----------
    kind : {"deletion", "insertion"}
        Pixels removed from the face, or revealed on the baseline face.
    fractions : ndarray of shape (steps + 1,)
        Share of the pixels changed at each step, from 0 to 1.
    probabilities : ndarray of shape (n, steps + 1)
        The model's probability of each face's target class at each step.
    correct : ndarray of shape (n, steps + 1), optional
        Whether the model predicts the face's true class at each step (a share between 0
        and 1 for curves averaged over random maps); None without true labels.
    """

    kind: str
    fractions: np.ndarray
    probabilities: np.ndarray
    correct: np.ndarray | None = None

    @property
    def face_auc(self) -> np.ndarray:
        """Area under each face's probability curve, shape (n,)."""
        return np.trapezoid(self.probabilities, self.fractions, axis=1)

    @property
    def auc(self) -> float:
        """Area under the mean probability curve (the mean of the faces' areas)."""
        return float(self.face_auc.mean())

    @property
    def curve(self) -> np.ndarray:
        """Mean probability of the target class at each step."""
        return self.probabilities.mean(axis=0)

    @property
    def accuracy(self) -> np.ndarray | None:
        """Accuracy (share of faces predicted as their true class) at each step."""
        return None if self.correct is None else self.correct.mean(axis=0)

    @property
    def accuracy_auc(self) -> float | None:
        """Area under the accuracy curve, or None without true labels."""
        accuracy = self.accuracy
        return None if accuracy is None else float(np.trapezoid(accuracy, self.fractions))

    def summary(self) -> dict[str, Any]:
        """Return the areas and the mean curves, rounded, as JSON-ready values."""
        accuracy = self.accuracy
        return {
            "auc": round(self.auc, 4),
            "accuracy_auc": None if accuracy is None else round(self.accuracy_auc, 4),
            "fractions": [round(float(f), 4) for f in self.fractions],
            "probability": [round(float(p), 4) for p in self.curve],
            "accuracy": None if accuracy is None else [round(float(a), 4) for a in accuracy],
        }


def baseline_faces(faces: np.ndarray, baseline: str = "blur", blur: float = 5.0) -> np.ndarray:
    """Return the faces as the baseline shows them: blurred, or flat at their mean grey.

    Parameters
    ----------
    faces : ndarray of shape (n, H, W) or (n, H, W, C)
        Face crops.
    baseline : {"blur", "mean"}
        A Gaussian blur of ``blur`` pixels' standard deviation, or each face's mean
        level (per channel).
    blur : float
        Standard deviation of the blur, in pixels of the face crop.

    Raises
    ------
    ValueError
        An unknown ``baseline``, or ``blur`` not positive.
    """
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {', '.join(BASELINES)}, got {baseline!r}")
    if baseline == "mean":
        means = faces.reshape(len(faces), -1, *faces.shape[3:]).mean(axis=1)
        if faces.dtype.kind in "ui":
            means = np.rint(means)
        shape = (len(faces), 1, 1, *faces.shape[3:])
        return np.broadcast_to(means.reshape(shape), faces.shape).astype(faces.dtype)
    if not blur > 0:
        raise ValueError(f"blur must be a positive number of pixels, got {blur!r}")
    return np.stack([cv2.GaussianBlur(face, (0, 0), float(blur)) for face in faces]).reshape(
        faces.shape
    )


def pixel_ranks(maps: np.ndarray, seed: int = 0) -> np.ndarray:
    """Return each pixel's place when a face's pixels are ordered by its map, highest first.

    Pixels of equal value (a coarse map's cells) are ordered at random, so no part of
    the face is favoured by the tie.

    Parameters
    ----------
    maps : ndarray of shape (n, H, W)
        One map per face.
    seed : int
        Seed of the order of ties.

    Returns
    -------
    ndarray of shape (n, H, W), int
        0 for each face's most salient pixel, H·W − 1 for its least.
    """
    values = np.asarray(maps, dtype=np.float64).reshape(len(maps), -1)
    ties = np.random.default_rng(seed).random(values.shape)
    order = np.lexsort((ties, -values), axis=1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(values.shape[1])[None], axis=1)
    return ranks.reshape(np.shape(maps))


def _columns(model: Any, values: Any, n: int, name: str) -> np.ndarray:
    """Return class names or ``classes_`` labels (or columns, for targets) as columns."""
    values = np.asarray(values)
    if values.shape != (n,):
        raise ValueError(f"{name} must hold one class per face ({n}), got shape {values.shape}")
    names = list(class_names(model))
    labels = list(getattr(model, "classes_", names))
    if name == "targets" and values.dtype.kind in "iu":
        if values.min() < 0 or values.max() >= len(names):
            raise ValueError(
                f"targets are probability columns of the model's {len(names)} classes, got "
                f"values from {values.min()} to {values.max()}"
            )
        return values.astype(np.int64)
    return resolve_targets(values.tolist(), names, labels, np.zeros(n, dtype=np.int64))


def _check(faces: Any, maps: Any) -> tuple[np.ndarray, np.ndarray]:
    images = check_faces(faces)
    values = np.asarray(maps, dtype=np.float64)
    if values.shape != images.shape[:3]:
        raise ValueError(
            f"maps of shape {values.shape} do not fit faces of shape {images.shape}: give one "
            "H×W map per face"
        )
    if not np.isfinite(values).all():
        raise ValueError("maps hold NaN or infinite values")
    return images, values


def perturbation_curves(model: Any, faces: Any, maps: Any, targets: Any, *,
                        kind: str = "deletion", steps: int = 20, baseline: str = "blur",
                        blur: float = 5.0, labels: Any = None, batch_size: int = 2048,
                        seed: int = 0) -> Curves:  # fmt: skip
    """Return the deletion or insertion curves of faces whose pixels are ordered by maps.

    Parameters
    ----------
    model : estimator
        A fitted model with ``predict_proba`` that takes the face crops.
    faces : array-like of shape (n, H, W) or (n, H, W, C)
        Face crops.
    maps : array-like of shape (n, H, W)
        One map per face; its highest pixels are removed (revealed) first.
    targets : array-like of shape (n,)
        The class whose probability is read for each face: probability columns
        (``Explanation.targets``), class names or ``classes_`` labels.
    kind : {"deletion", "insertion"}
        Remove pixels from the face, or reveal them on the baseline face.
    steps : int
        Pixels change in ``steps`` equal shares (``steps + 1`` images per face).
    baseline, blur
        What removed pixels show (:func:`baseline_faces`).
    labels : array-like of shape (n,), optional
        True classes (names or ``classes_`` labels), for the accuracy curve.
    batch_size : int
        Most images per ``predict_proba`` call (at least one face's ``steps + 1``).
    seed : int
        Seed of the order of tied map values.

    Raises
    ------
    ValueError
        Bad faces, maps of another shape, an unknown ``kind``, ``steps`` < 1.
    LabelError
        A target or label the model does not have.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    images, values = _check(faces, maps)
    n, h, w = images.shape[:3]
    columns = _columns(model, targets, n, "targets")
    truth = None if labels is None else _columns(model, labels, n, "labels")
    ranks = pixel_ranks(values, seed)
    base = baseline_faces(images, baseline, blur)
    counts = np.rint(np.linspace(0, h * w, steps + 1)).astype(np.int64)
    per_call = max(1, int(batch_size) // (steps + 1))
    probabilities = np.empty((n, steps + 1))
    predicted = np.empty((n, steps + 1), dtype=np.int64)
    for start in range(0, n, per_call):
        rows = np.arange(start, min(n, start + per_call))
        changed = ranks[rows, None] < counts[None, :, None, None]  # (m, steps+1, H, W)
        if images.ndim == 4:
            changed = changed[..., None]
        face, other = (images, base) if kind == "deletion" else (base, images)
        batch = np.where(changed, other[rows, None], face[rows, None])
        proba = np.asarray(model.predict_proba(batch.reshape(-1, *images.shape[1:])))
        proba = proba.reshape(len(rows), steps + 1, -1)
        probabilities[rows] = proba[np.arange(len(rows)), :, columns[rows]]
        predicted[rows] = proba.argmax(axis=2)
    correct = None if truth is None else (predicted == truth[:, None]).astype(np.float64)
    return Curves(kind, counts / (h * w), probabilities, correct)


def random_maps(shape: tuple[int, int, int], seed: int, grid: int | None = None) -> np.ndarray:
    """Return random maps: independent pixels, or smooth blobs of a ``grid`` × ``grid`` lattice.

    Parameters
    ----------
    shape : (n, H, W)
        How many maps, and their size.
    seed : int
        Seed of the values.
    grid : int, optional
        None: every pixel random (removing them scatters changes over the whole face).
        An int: random values on a ``grid`` × ``grid`` lattice, upsampled bilinearly,
        so the highest pixels form contiguous regions as a coarse map's do (Grad-CAM's
        6×6 cells on a 48×48 face).
    """
    rng = np.random.default_rng(seed)
    n, h, w = shape
    if grid is None:
        return rng.random(shape)
    if not isinstance(grid, int | np.integer) or grid < 1:
        raise ValueError(f"grid must be a positive integer (cells per side), got {grid!r}")
    cells = rng.random((n, grid, grid)).astype(np.float32)
    return np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in cells])


def random_curves(model: Any, faces: Any, targets: Any, *, kind: str = "deletion",
                  seeds: Sequence[int] = (0, 1, 2), grid: int | None = None,
                  **kwargs: Any) -> Curves:  # fmt: skip
    """Return the curves of random maps (:func:`random_maps`), averaged per face over ``seeds``.

    The baseline a method's curves are compared with: pixels removed (or revealed) in
    random order, one by one (``grid`` None) or in random smooth regions. Keyword
    arguments are those of :func:`perturbation_curves`.
    """
    images = check_faces(faces)
    if not len(seeds):
        raise ValueError("random_curves needs at least one seed")
    found = [
        perturbation_curves(model, images, random_maps(images.shape[:3], s, grid), targets,
                            kind=kind, seed=s, **kwargs)
        for s in seeds
    ]  # fmt: skip
    correct = None if found[0].correct is None else np.mean([c.correct for c in found], axis=0)
    return Curves(kind, found[0].fractions, np.mean([c.probabilities for c in found], axis=0),
                  correct)  # fmt: skip


def random_baselines(model: Any, faces: Any, targets: Any, *, seeds: int = 3,
                     grid: int | None = RANDOM_GRID,
                     **kwargs: Any) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Return the random baselines' curves: pixel by pixel, and smooth regions of a lattice.

    Parameters
    ----------
    model, faces, targets
        As for :func:`perturbation_curves`.
    seeds : int
        Random maps averaged per baseline (seeds 0, 1, …).
    grid : int, optional
        Cells per side of the smooth baseline (None: only the pixel baseline).
    **kwargs
        Further options of :func:`perturbation_curves` (``steps``, ``labels``…).

    Returns
    -------
    dict
        ``"random"`` and, with ``grid``, ``"random_smooth"``: each
        ``{"deletion": Curves, "insertion": Curves, "seeds": int, "grid": int | None}``.
    """
    chosen = tuple(range(max(1, int(seeds))))
    found = {}
    for name, cells in (("random", None), ("random_smooth", grid)):
        if name == "random_smooth" and grid is None:
            continue
        found[name] = {
            **{k: random_curves(model, faces, targets, kind=k, seeds=chosen, grid=cells, **kwargs)
               for k in KINDS},
            "seeds": len(chosen), "grid": cells,
        }  # fmt: skip
    return found


def _versus(own: dict[str, Curves], random: dict[str, Any]) -> dict[str, Any]:
    """Return a random baseline's summary, and whether (and on how many faces) maps beat it."""
    deletion, insertion = own["deletion"], own["insertion"]
    return {
        "seeds": random["seeds"],
        "grid": random["grid"],
        **{k: random[k].summary() for k in KINDS},
        "deletion_beaten": bool(deletion.auc < random["deletion"].auc),
        "insertion_beaten": bool(insertion.auc > random["insertion"].auc),
        "deletion_wins": round(float(np.mean(deletion.face_auc < random["deletion"].face_auc)), 4),
        "insertion_wins": round(
            float(np.mean(insertion.face_auc > random["insertion"].face_auc)), 4
        ),
    }


def faithfulness(model: Any, faces: Any, maps: Any, targets: Any, *, labels: Any = None,
                 steps: int = 20, baseline: str = "blur", blur: float = 5.0,
                 random_seeds: int = 3, random_grid: int | None = RANDOM_GRID,
                 batch_size: int = 2048,
                 random: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    """Return the deletion and insertion areas of a method's maps, beside random maps' areas.

    Two random baselines: pixels in random order (``random``), and random smooth regions
    (``random_smooth``: :func:`random_maps` on a ``random_grid`` lattice). Removing
    scattered pixels hurts a network more than removing the same share in a few
    regions (the face fills with speckle), so a coarse map (Grad-CAM's) can lose to the
    pixel baseline at deletion and still beat random regions of its own coarseness:
    read both.

    Parameters
    ----------
    model, faces, maps, targets, labels, steps, baseline, blur, batch_size
        As for :func:`perturbation_curves`.
    random_seeds : int
        Random maps averaged per baseline (seeds 0, 1, …).
    random_grid : int, optional
        Cells per side of the smooth random baseline (None: no smooth baseline).
    random : dict, optional
        The random baselines already computed for these faces and targets
        (:func:`random_baselines`): methods explaining the same classes share them.

    Returns
    -------
    dict
        ``faces``, ``steps``, ``baseline``, ``blur``; ``deletion`` and ``insertion``: the
        maps' summaries (:meth:`Curves.summary`); per random baseline (``random``,
        ``random_smooth``): its ``seeds``, ``grid``, summaries, whether the maps beat it
        (``deletion_beaten``: lower area; ``insertion_beaten``: higher) and on what
        share of the faces (``deletion_wins``, ``insertion_wins``); ``curves``: the
        :class:`Curves` themselves (``method`` and each baseline's; not JSON: drop it
        before writing).
    """
    images, values = _check(faces, maps)
    options = {"steps": steps, "baseline": baseline, "blur": blur, "labels": labels,
               "batch_size": batch_size}  # fmt: skip
    own = {k: perturbation_curves(model, images, values, targets, kind=k, **options)
           for k in KINDS}  # fmt: skip
    if random is None:
        random = random_baselines(model, images, targets, seeds=random_seeds, grid=random_grid,
                                  **options)  # fmt: skip
    return {
        "faces": len(images),
        "steps": steps,
        "baseline": baseline,
        "blur": blur if baseline == "blur" else None,
        "deletion": own["deletion"].summary(),
        "insertion": own["insertion"].summary(),
        **{name: _versus(own, found) for name, found in random.items()},
        "curves": {"method": own, **{name: _kinds(found) for name, found in random.items()}},
    }


def _kinds(found: dict[str, Any]) -> dict[str, Curves]:
    return {k: found[k] for k in KINDS}


def plot_curves(curves: dict[str, dict[str, Curves]], path: str | Path, title: str = "") -> Path:
    """Draw the mean deletion and insertion curves of several maps side by side (PNG).

    Parameters
    ----------
    curves : dict
        Per label (a method's name; labels starting with "random" are drawn grey and
        dashed), its ``{"deletion": Curves, "insertion": Curves}``.
    path : path
        The PNG to write.
    title : str
        A title above both plots.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, kind in zip(axes, KINDS, strict=True):
        dashes = iter(["--", ":", "-."] * len(curves))
        for label, found in curves.items():
            c = found[kind]
            style = (
                {"color": "0.5", "linestyle": next(dashes)} if label.startswith("random") else {}
            )
            ax.plot(c.fractions, c.curve, label=f"{label} (AUC {c.auc:.3f})", **style)
        ax.set_xlabel(f"share of pixels {'removed' if kind == 'deletion' else 'revealed'}")
        ax.set_title(kind, fontsize=10)
        ax.set_xlim(0, 1)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("probability of the explained class")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return Path(path)
