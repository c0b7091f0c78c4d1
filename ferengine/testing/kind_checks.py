"""ferengine's own checks, per plugin kind: what each kind's outputs must look like.

* features and preprocessors: the output's shape, rows, dtype and values, a width
  independent of the batch size, and rows independent of the batch;
* classifiers (and pretrained models): ``classes_``, and ``predict_proba`` rows that
  are probabilities in ``classes_`` order;
* datasets: ``load()`` gives a valid :class:`~ferengine.FaceDataset` (or
  :class:`~ferengine.sequences.ClipDataset`, checked through its frames);
* detectors: boxes inside the image for every image format;
* landmarkers: the point layout, and points inside their boxes;
* augmenters: a new batch of the input's shape and dtype;
* architectures: modules that give one logit per class;
* label spaces and pretrained models: names and cards.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from ferengine.dataset import FaceDataset
from ferengine.errors import FerengineError, one_line
from ferengine.labels import LabelSpace, get_label_space
from ferengine.models import Measurement, ModelCard
from ferengine.sequences import ClipDataset
from ferengine.step_checks import non_finite
from ferengine.testing.catalogue import check
from ferengine.testing.data import AUGMENT_SIDE, PHOTO_BOX, check_faces, photo, photo_formats
from ferengine.testing.exercise import fitted, offers_proba, training_data
from ferengine.testing.results import SkipCheck
from ferengine.testing.target import PluginUnderTest

#: Images whose outputs the batch checks compare: two batch sizes, and rows one at a time.
BATCHES = (5, 7)
SINGLE_ROWS = 4
#: How far outside its box (a share of the box's longer side) a landmark may lie.
LANDMARK_MARGIN = 0.25
#: Subject and split values that mean "unknown" once a FaceDataset stored them as text.
_UNKNOWN = {"", "None", "nan", "NaN"}


def _transformed(plugin: PluginUnderTest) -> tuple[np.ndarray, np.ndarray]:
    X, _ = training_data(plugin)
    return X, plugin.memo("transform", lambda: np.asarray(fitted(plugin).transform(X)))


def _what(plugin: PluginUnderTest) -> str:
    return (
        "a feature returns N×D vectors"
        if plugin.kind == "feature"
        else ("a preprocessor returns images, N×H×W or N×H×W×C")
    )


@check("feature", "preprocessor")
def check_output_shape(plugin: PluginUnderTest) -> None:
    """Check features return N×D tables, preprocessors images (N×H×W or N×H×W×C)."""
    X, out = _transformed(plugin)
    if plugin.kind == "feature":
        ok = out.ndim == 2
    else:
        ok = out.ndim == 3 or (out.ndim == 4 and out.shape[-1] in (1, 3, 4))
    if not ok:
        raise AssertionError(
            f"transform returned a {out.ndim}-D array of shape {out.shape} for {len(X)} images "
            f"of shape {X.shape[1:]}; {_what(plugin)}"
        )


@check("feature", "preprocessor")
def check_output_rows(plugin: PluginUnderTest) -> None:
    """Check ``transform`` returns one row (or image) per input image."""
    X, out = _transformed(plugin)
    if not (out.ndim >= 1 and len(out) == len(X)):
        raise AssertionError(
            f"transform returned {len(out) if out.ndim else 0} rows for {len(X)} images; "
            "return one row per image, in input order"
        )


@check("feature", "preprocessor")
def check_output_dtype(plugin: PluginUnderTest) -> None:
    """Check features return floats, preprocessors uint8 or float images (0–255 scale)."""
    _, out = _transformed(plugin)
    ok = out.dtype.kind == "f" or (plugin.kind == "preprocessor" and out.dtype == np.uint8)
    wanted = "a float dtype" if plugin.kind == "feature" else "uint8 or a float dtype"
    if not ok:
        raise AssertionError(f"transform returned dtype {out.dtype}; expected {wanted}")


@check("feature", "preprocessor")
def check_output_finite(plugin: PluginUnderTest) -> None:
    """Check ``transform`` returns no NaN or infinite values."""
    _, out = _transformed(plugin)
    problem = non_finite(out)  # the rule the pipeline applies to every step's output
    if problem is not None:
        raise AssertionError(f"transform returned {problem}")


@check("feature", "preprocessor")
def check_batch_width(plugin: PluginUnderTest) -> None:
    """Check the output width does not depend on the batch size (5 and 7 images)."""
    X, _ = training_data(plugin)
    est = fitted(plugin)
    shapes = {n: np.asarray(est.transform(X[:n])).shape for n in BATCHES}
    rows = {n: shape[1:] for n, shape in shapes.items()}
    a, b = BATCHES
    if rows[a] != rows[b]:
        raise AssertionError(
            f"transform gives rows of shape {rows[a]} for {a} images but {rows[b]} for {b} "
            "images; the width must not depend on the batch size (a model fitted on one batch "
            "size breaks, or silently mis-scores, on another)"
        )


@check("feature", "preprocessor")
def check_rows_independent(plugin: PluginUnderTest) -> None:
    """Check transforming images one at a time gives the rows of the whole batch."""
    X, _ = training_data(plugin)
    est = fitted(plugin)
    batch = np.asarray(est.transform(X[:SINGLE_ROWS]))
    singles = [np.asarray(est.transform(X[i : i + 1])) for i in range(SINGLE_ROWS)]
    shapes = sorted({s.shape for s in singles})
    if shapes != [(1, *batch.shape[1:])]:
        raise AssertionError(
            f"transform of one image returns shape(s) {shapes}, of {SINGLE_ROWS} images "
            f"{batch.shape}; one image must give one row of the batch's width"
        )
    alone = np.concatenate(singles)
    scale = max(1.0, float(np.nanmax(np.abs(batch)))) if batch.size else 1.0
    close = np.isclose(alone, batch, rtol=1e-4, atol=1e-4 * scale, equal_nan=True)
    if not close.all():
        raise AssertionError(
            f"rows {np.unique(np.nonzero(~close)[0]).tolist()} differ when the images are "
            "transformed one at a time: each row must depend on its own image only (and on "
            "what fit learned), not on the rest of the batch"
        )


@check("classifier")
def check_classifier_classes(plugin: PluginUnderTest) -> None:
    """Check ``classes_`` holds the sorted training labels and ``predict`` returns only them."""
    X, y = training_data(plugin)
    est = fitted(plugin)
    classes = getattr(est, "classes_", None)
    if classes is None:
        raise AssertionError("fit does not set classes_")
    labels = np.unique(y)
    if not np.array_equal(np.asarray(classes), labels):
        raise AssertionError(
            f"classes_ is {np.asarray(classes).tolist()} after fitting on the labels "
            f"{labels.tolist()}; it must hold the training labels, sorted"
        )
    predicted = np.asarray(est.predict(X))
    if predicted.shape != (len(X),):
        raise AssertionError(
            f"predict returned shape {predicted.shape} for {len(X)} samples; expected ({len(X)},)"
        )
    unknown = sorted(set(predicted.tolist()) - set(labels.tolist()))
    if unknown:
        raise AssertionError(f"predict returned {unknown[:5]}, which are not in classes_")


#: Share of samples whose ``predict`` must be the most probable class of ``predict_proba``.
PROBA_AGREEMENT = 0.9


@check("classifier", "model")
def check_predict_proba(plugin: PluginUnderTest) -> None:
    """Check ``predict_proba``, where offered, gives probabilities in ``classes_`` order."""
    X, _ = training_data(plugin)
    est = fitted(plugin)
    if not offers_proba(est):
        raise SkipCheck(
            f"{type(est).__name__} offers no predict_proba, so it cannot be a fusion or tta "
            "member, give ferengine predict's confidences or top-2 metrics; where the model "
            "allows, implement predict_proba or wrap it in CalibratedClassifierCV"
        )
    proba = np.asarray(est.predict_proba(X), dtype=np.float64)
    classes = np.asarray(est.classes_)
    if proba.shape != (len(X), len(classes)):
        raise AssertionError(
            f"predict_proba returned shape {proba.shape} for {len(X)} samples and "
            f"{len(classes)} classes; expected one column per class of classes_"
        )
    if not np.isfinite(proba).all():
        raise AssertionError("predict_proba returned NaN or infinite values")
    if (proba < -1e-7).any():
        raise AssertionError(f"predict_proba returned negative values ({proba.min():.3g})")
    sums = proba.sum(axis=1)
    worst = float(np.max(np.abs(sums - 1))) if len(sums) else 0.0
    if worst > 1e-4:
        raise AssertionError(f"predict_proba rows sum to {sums.min():.4g}..{sums.max():.4g}, not 1")
    agree = float(np.mean(classes[proba.argmax(axis=1)] == np.asarray(est.predict(X))))
    if agree < PROBA_AGREEMENT:
        raise AssertionError(
            f"predict is the most probable class of predict_proba for only {agree:.0%} of the "
            f"samples; the columns must be in classes_ order ({classes.tolist()})"
        )


def dataset_problems(ds: Any) -> list[str]:
    """Return what makes ``ds`` an invalid dataset (empty when it is valid).

    A :class:`ClipDataset` checked its clips when it was built; its frames, which carry
    its labels, subjects and splits, are checked as a still dataset.
    """
    if isinstance(ds, ClipDataset):
        if not len(ds):
            return ["load() returned no clips"]
        ds = ds.frames()
    if not isinstance(ds, FaceDataset):
        return [f"load() returned {type(ds).__name__}, not a ferengine.FaceDataset or ClipDataset"]
    problems = []
    n = len(ds.images)
    if not n:
        problems.append("load() returned no images")
    if not isinstance(ds.label_space, LabelSpace):
        return [*problems, f"label_space is {ds.label_space!r}, not a LabelSpace"]
    labels, k = np.asarray(ds.labels), len(ds.label_space)
    if labels.shape != (n,) or labels.dtype.kind not in "iu":
        problems.append(
            f"labels have shape {labels.shape} and dtype {labels.dtype}; "
            f"expected ({n},) integer codes"
        )
    elif ((labels < 0) | (labels >= k)).any():
        bad = sorted(set(labels[(labels < 0) | (labels >= k)].tolist()))
        problems.append(
            f"labels {bad[:5]} fall outside its label space {ds.label_space.name!r} "
            f"(codes 0..{k - 1})"
        )
    for attr, what in (("subjects", "subject"), ("splits", "split name")):
        values = getattr(ds, attr)
        if values is None:
            continue  # declared absent
        values = np.asarray(values).astype(str)
        unknown = int(np.isin(values, list(_UNKNOWN)).sum()) if values.shape == (n,) else n
        if unknown:
            problems.append(
                f"{attr}: {unknown} of {n} images have no {what}; give one for every image, "
                f"or {attr}=None when the data has none"
            )
    return problems


@check("dataset")
def check_dataset_load(plugin: PluginUnderTest) -> None:
    """Check ``load()`` gives a valid dataset: labels in its space, subjects, split names."""
    problems = dataset_problems(plugin.new().load())
    if problems:
        raise AssertionError("; ".join(problems))


def box_problem(box: Any, shape: tuple[int, int]) -> str:
    """Return why ``box`` is not an ``(x, y, width, height)`` box inside an image of ``shape``."""
    try:
        x, y, w, h = (v.item() if isinstance(v, np.generic) else v for v in box)
    except (TypeError, ValueError):
        return f"{box!r} is not (x, y, width, height)"
    if not all(isinstance(v, int) for v in (x, y, w, h)):
        return f"{box!r} is not in whole pixels (ints)"
    height, width = shape
    if w < 1 or h < 1:
        return f"{box!r} has no area"
    if x < 0 or y < 0 or x + w > width or y + h > height:
        return f"{box!r} is not inside the {width}×{height} image"
    return ""


@check("detector")
def check_detector_boxes(plugin: PluginUnderTest) -> None:
    """Check ``detect`` gives boxes inside the image, for grey, colour, 16-bit and float images."""
    detector = plugin.new()
    problems = []
    for fmt, image in photo_formats().items():
        try:
            faces = detector.detect(image)
        except Exception as exc:
            problems.append(f"{fmt}: detect raised {type(exc).__name__}: {one_line(exc, 200)}")
            continue
        if not isinstance(faces, list):
            problems.append(f"{fmt}: detect returned {type(faces).__name__}, not a list of Face")
            continue
        for face in faces:
            box = getattr(face, "box", None)
            problem = box_problem(box, image.shape[:2]) if box is not None else "not a Face"
            if problem:
                problems.append(f"{fmt}: box {problem}")
    if problems:
        raise AssertionError("; ".join(problems[:6]))


def _indices(value: Any, n: int, size: int | None) -> bool:
    try:
        items = tuple(value)
    except TypeError:
        return False
    return (
        (size is None or len(items) == size)
        and len(items) > 0
        and all(isinstance(i, int | np.integer) and 0 <= i < n for i in items)
    )


@check("landmarker")
def check_landmarker_layout(plugin: PluginUnderTest) -> None:
    """Check ``n_points``, ``layout`` and the eye, nose and mouth indices describe the points."""
    cls = plugin.cls
    n = getattr(cls, "n_points", None)
    if not (isinstance(n, int) and n > 0):
        raise AssertionError(f"n_points must be a positive int, found {n!r}")
    problems = []
    layout = getattr(cls, "layout", None)
    if not isinstance(layout, str) or not layout:
        problems.append(f"layout must name the point numbering, found {layout!r}")
    for attr in ("left_eye", "right_eye"):
        if not _indices(getattr(cls, attr, None), n, None):
            problems.append(
                f"{attr} must be point indices in 0..{n - 1}, found {getattr(cls, attr, None)!r}"
            )
    nose = getattr(cls, "nose_tip", None)
    if nose is not None and not _indices((nose,), n, 1):
        problems.append(f"nose_tip must be None or an index in 0..{n - 1}, found {nose!r}")
    mouth = getattr(cls, "mouth_corners", None)
    if mouth is not None and not _indices(mouth, n, 2):
        problems.append(f"mouth_corners must be None or two indices in 0..{n - 1}, found {mouth!r}")
    if problems:
        raise AssertionError("; ".join(problems))


@check("landmarker")
def check_landmarker_points(plugin: PluginUnderTest) -> None:
    """Check ``locate`` gives ``n_boxes × n_points × 2`` finite points inside their boxes."""
    landmarker = plugin.new()
    n = int(plugin.cls.n_points)
    image = photo()
    x, y, w, h = PHOTO_BOX
    boxes = np.array([PHOTO_BOX, (x + w // 4, y + h // 4, w // 2, h // 2)])
    points = np.asarray(landmarker.locate(image, boxes))
    if points.shape != (len(boxes), n, 2):
        raise AssertionError(
            f"locate returned shape {points.shape} for {len(boxes)} boxes; expected "
            f"({len(boxes)}, n_points={n}, 2)"
        )
    if not np.isfinite(points).all():
        raise AssertionError("locate returned NaN or infinite points")
    for i, (bx, by, bw, bh) in enumerate(boxes):
        m = LANDMARK_MARGIN * max(bw, bh)
        px, py = points[i, :, 0], points[i, :, 1]
        outside = (px < bx - m) | (px > bx + bw + m) | (py < by - m) | (py > by + bh + m)
        if outside.any():
            raise AssertionError(
                f"box {i} {tuple(int(v) for v in (bx, by, bw, bh))}: points "
                f"{np.nonzero(outside)[0][:5].tolist()} lie outside it (e.g. "
                f"{tuple(np.round(points[i, np.argmax(outside)], 1).tolist())}); points are in the "
                "image's pixels, not the box's"
            )
    none = np.asarray(landmarker.locate(image, np.zeros((0, 4), int)))
    if none.shape != (0, n, 2):
        raise AssertionError(f"locate with no boxes returned shape {none.shape}, not (0, {n}, 2)")


@check("augmenter")
def check_augmenter_output(plugin: PluginUnderTest) -> None:
    """Check ``augment`` returns a new batch of the input's shape and dtype, input unchanged."""
    grey = check_faces(AUGMENT_SIDE).images[:6].copy()
    colour = np.repeat(grey[..., None], 3, axis=-1)
    augmenter = plugin.new()
    for what, images in (("grey N×H×W", grey), ("colour N×H×W×3", colour)):
        before = images.copy()
        out = augmenter.augment(images, np.random.default_rng(0))
        if not isinstance(out, np.ndarray):
            raise AssertionError(f"{what}: augment returned {type(out).__name__}, not an array")
        if out.shape != images.shape or out.dtype != images.dtype:
            raise AssertionError(
                f"{what}: augment returned {out.dtype} {out.shape} for {images.dtype} "
                f"{images.shape}; keep the batch's shape and dtype"
            )
        if not np.array_equal(images, before):
            raise AssertionError(
                f"{what}: augment changed its input in place; return a transformed copy"
            )


#: What the architecture checks build: classes, input channels and side.
ARCHITECTURE_INPUT = (7, 1, 48)


@check("architecture")
def check_architecture_build(plugin: PluginUnderTest) -> None:
    """Check ``build(7, 1, 48)`` gives torch modules ``(features, head)``: 7 logits an image."""
    if importlib.util.find_spec("torch") is None:
        raise SkipCheck('needs torch (the deep extra: pip install "ferengine[deep]")')
    import torch

    n_classes, channels, side = ARCHITECTURE_INPUT
    built = plugin.new().build(n_classes, channels, side)
    if not (isinstance(built, tuple) and len(built) == 2):
        raise AssertionError(
            f"build returned {type(built).__name__}; expected a (features, head) pair of modules"
        )
    features, head = built
    for part, module in (("features", features), ("head", head)):
        if not isinstance(module, torch.nn.Module):
            raise AssertionError(f"{part} is {type(module).__name__}, not a torch module")
    if not isinstance(head, torch.nn.Linear):
        raise AssertionError(f"head is {type(head).__name__}, not torch.nn.Linear")
    features.eval()
    head.eval()
    with torch.no_grad():
        embedding = features(torch.zeros(2, channels, side, side))
        if not (embedding.ndim == 2 and len(embedding) == 2):
            raise AssertionError(
                f"features gives shape {tuple(embedding.shape)} for 2 images; "
                "expected N×E embeddings"
            )
        logits = head(embedding)
    if tuple(logits.shape) != (2, n_classes):
        raise AssertionError(
            f"head gives shape {tuple(logits.shape)} for 2 images; expected (2, {n_classes}) logits"
        )


@check("label-space")
def check_label_space_names(plugin: PluginUnderTest) -> None:
    """Check ``names`` holds two or more distinct class names and ``space()`` keeps their order."""
    names = getattr(plugin.cls, "names", None)
    if not (isinstance(names, tuple) and len(names) >= 2):
        raise AssertionError(f"names must be a tuple of at least two class names, found {names!r}")
    if not all(isinstance(n, str) and n.strip() for n in names):
        raise AssertionError(f"names holds non-text or empty entries: {names!r}")
    space = plugin.cls.space()
    if not (isinstance(space, LabelSpace) and space.names == names and space.name == plugin.name):
        raise AssertionError(
            f"space() returned {space!r}; expected LabelSpace({plugin.name!r}, {names!r})"
        )


@check("model")
def check_model_card(plugin: PluginUnderTest) -> None:
    """Check the card: a known label space, classes in it, measured commands, the file present."""
    card = getattr(plugin.cls, "card", None)
    if not isinstance(card, ModelCard):
        raise AssertionError(f"card must be a ferengine.models.ModelCard, found {card!r}")
    problems = []
    try:
        space = get_label_space(card.label_space, plugin.lookup())
    except FerengineError as exc:
        problems.append(f"label_space: {one_line(exc, 200)}")
    else:
        outside = [c for c in card.classes if c not in space]
        if outside:
            problems.append(
                f"classes {outside} are not in label space {space.name!r} "
                f"({', '.join(space.names)})"
            )
    for i, m in enumerate(card.measurements):
        if not isinstance(m, Measurement) or not m.command.strip() or not m.metric.strip():
            problems.append(f"measurements[{i}] needs a metric and the command that measured it")
    try:
        plugin.cls.path()
    except FileNotFoundError as exc:
        problems.append(one_line(exc, 200))
    if problems:
        raise AssertionError("; ".join(problems))
