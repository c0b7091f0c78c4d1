"""Sanity checks of explanation maps: do they change when the model's knowledge is gone.

Adebayo et al. (2018), "Sanity Checks for Saliency Maps". A map that explains the
model must depend on what the model learned: explain the same faces with a copy of the
model whose learned parameters are randomised (:func:`model_randomization_test`), or
with the same pipeline trained on permuted labels (:func:`data_randomization_test`), and
compare each face's two maps by Spearman's rank correlation. A correlation near 1 means
the maps show the face (edges, contrast) more than the model; a method passes when the
randomised model's maps are clearly different (correlation well below 1).

What "randomised" means per model (:func:`randomized_model`):

* a torch network (a step with a ``module_`` network, such as ``cnn``): its layers'
  parameters are re-initialised as the network first drew them (each layer's
  ``reset_parameters``; batch norms forget their running statistics). With ``layers=k``
  only the top ``k`` weight layers (:func:`torch_layers`: a convolution or linear layer
  with the normalisation after it) are, the cascading test of the paper;
* a model with linear coefficients (``coef_``/``intercept_``, an MLP's ``coefs_``, the
  estimators a wrapper holds: ``logistic``, ``svm-linear``, ``mlp``): the entries of
  each coefficient array are permuted, keeping their scale and spread;
* any other classifier (trees, forests, XGBoost, kernel SVMs, nearest neighbours): its
  last step is fitted again, on the faces given (through the pipeline's fitted earlier
  steps) with random labels — a model of the same kind that knows nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats
from sklearn.base import clone

from ferengine.explain.base import Explainer, check_faces, describe_model

__all__ = [
    "data_randomization_test",
    "model_randomization_test",
    "randomized_model",
    "rank_correlations",
    "torch_layers",
]

#: Fitted attributes holding a linear model's learned coefficients (arrays or lists of them).
COEFFICIENTS = ("coef_", "intercept_", "coefs_", "intercepts_")
#: How deep :func:`randomized_model` looks for coefficients inside wrapping estimators.
DEPTH = 4


def rank_correlations(first: np.ndarray, second: np.ndarray) -> dict[str, np.ndarray]:
    """Return Spearman's rank correlation between two sets of maps, face by face.

    Parameters
    ----------
    first, second : ndarray of shape (n, H, W)
        Maps of the same faces (by two models, say).

    Returns
    -------
    dict
        ``spearman``: the correlation of the maps' values; ``spearman_abs``: of their
        absolute values (a sign flip does not count as a change). Arrays of shape (n,);
        NaN for a face where either map is constant (the rank correlation is undefined).

    Raises
    ------
    ValueError
        The two sets of maps differ in shape.
    """
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(
            f"rank correlations compare two N×H×W sets of maps of one shape, got {a.shape} "
            f"and {b.shape}"
        )
    found = {"spearman": np.full(len(a), np.nan), "spearman_abs": np.full(len(a), np.nan)}
    for key, transform in (("spearman", lambda m: m), ("spearman_abs", np.abs)):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            x, y = transform(x).ravel(), transform(y).ravel()
            if np.ptp(x) > 0 and np.ptp(y) > 0:
                found[key][i] = stats.spearmanr(x, y).statistic
    return found


def _summary(values: np.ndarray) -> dict[str, Any]:
    """Return the mean and median of per-face correlations, and how many were defined."""
    defined = values[np.isfinite(values)]
    return {
        "mean": round(float(defined.mean()), 4) if defined.size else None,
        "median": round(float(np.median(defined)), 4) if defined.size else None,
        "faces": int(defined.size),
        "undefined": int(values.size - defined.size),
    }


def _per_face(correlations: dict[str, np.ndarray]) -> dict[str, list[float | None]]:
    """Return per-face correlations as JSON lists (None where undefined)."""
    return {
        key: [round(float(x), 4) if np.isfinite(x) else None for x in values]
        for key, values in correlations.items()
    }


def _steps(model: Any) -> tuple[list[Any], Any]:
    """Return a model's fitted steps before its classifier, and the classifier."""
    steps = [s for _, s in getattr(model, "steps", [("", model)])
             if s is not None and not isinstance(s, str)]  # fmt: skip
    if not steps:
        raise ValueError(f"the model {describe_model(model)} has no steps to randomise")
    return steps[:-1], steps[-1]


def _network(step: Any) -> Any:
    """Return a step's torch network (``module_``), or None."""
    module = getattr(step, "module_", None)
    return module if hasattr(module, "named_modules") and hasattr(module, "parameters") else None


def _layer_groups(network: Any) -> list[tuple[str, list[Any]]]:
    """Return a network's weight layers, bottom first, each with the normalisations after it."""
    import torch

    norms = (torch.nn.modules.batchnorm._NormBase, torch.nn.GroupNorm, torch.nn.LayerNorm)
    groups: list[tuple[str, list[Any]]] = []
    for name, module in network.named_modules():
        if not list(module.parameters(recurse=False)):
            continue
        if isinstance(module, norms) and groups:
            groups[-1][1].append(module)
        else:
            groups.append((name, [module]))
    return groups


def torch_layers(model: Any) -> list[str]:
    """Return the names of a model's torch weight layers, top (the output layer) first.

    A weight layer is a module with parameters of its own (a convolution, a linear
    layer), with the normalisation layers that follow it; it is re-initialised by its
    ``reset_parameters``, or without one redrawn from a normal distribution of its
    parameters' spread;
    :func:`randomized_model` with ``layers=k`` re-initialises the first ``k`` of them.

    Raises
    ------
    ValueError
        The model's last step holds no torch network (``module_``).
    """
    _, last = _steps(model)
    network = _network(last)
    if network is None:
        raise ValueError(
            f"the model {describe_model(model)} holds no torch network (module_): only "
            "torch networks are randomised layer by layer"
        )
    return [name for name, _ in reversed(_layer_groups(network))]


def _reinitialise(network: Any, layers: int | None, seed: int) -> None:
    """Re-initialise the top ``layers`` weight layers of a network (all of them for None)."""
    import torch

    groups = _layer_groups(network)
    chosen = groups if layers is None else groups[len(groups) - layers :]
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for _, modules in chosen:
            for module in modules:
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
                    continue
                for values in module.parameters(recurse=False):  # no initialiser: redraw
                    spread = float(values.std()) if values.numel() > 1 else 0.0
                    torch.nn.init.normal_(values, std=spread or 0.02)
    network.eval()


def _permute_coefficients(estimator: Any, rng: np.random.Generator, depth: int = 0,
                          seen: set[int] | None = None) -> int:  # fmt: skip
    """Permute the entries of every coefficient array of an estimator and those it wraps.

    An estimator's intercepts are permuted only beside its coefficients (``coef_`` or
    ``coefs_``): a kernel SVM's ``intercept_`` alone is not a linear model. Returns how
    many coefficient arrays were permuted.
    """
    seen = set() if seen is None else seen
    if id(estimator) in seen or depth > DEPTH or not hasattr(estimator, "__dict__"):
        return 0
    seen.add(id(estimator))
    found = 0
    own = vars(estimator)
    if any(_arrays(own.get(name)) for name in ("coef_", "coefs_")):
        for name in COEFFICIENTS:
            value = own.get(name)
            permuted = [rng.permutation(a.ravel()).reshape(a.shape) for a in _arrays(value)]
            if not permuted:
                continue
            setattr(estimator, name, permuted if isinstance(value, list) else permuted[0])
            found += name in ("coef_", "coefs_")
    for name, value in own.items():
        if name in COEFFICIENTS or name.startswith("__"):
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            if hasattr(item, "predict") or hasattr(item, "predict_proba"):
                found += _permute_coefficients(item, rng, depth + 1, seen)
    return found


def _arrays(value: Any) -> list[np.ndarray]:
    """Return the float arrays of more than one entry in a fitted attribute (array or list)."""
    items = value if isinstance(value, list) else [value]
    found = [a for a in items if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    return found if found and len(found) == len(items) and any(a.size > 1 for a in found) else []


def _refit_on_noise(model: Any, before: list[Any], last: Any, faces: Any, seed: int) -> Any:
    """Return the classifier step fitted again on the faces' features with random labels."""
    classes = np.asarray(getattr(last, "classes_", []))
    name = describe_model(last)
    if faces is None:
        raise ValueError(
            f"randomising the model {describe_model(model)} fits its last step {name!r} "
            "again on random labels: give faces= (face crops it can take)"
        )
    images = check_faces(faces)
    if len(classes) < 2 or len(images) < len(classes):
        raise ValueError(
            f"randomising the model {describe_model(model)} fits its last step {name!r} "
            f"again on random labels of its {len(classes)} classes: give at least "
            f"{max(2, len(classes))} faces, got {len(images)}"
        )
    labels = np.random.default_rng(seed).permutation(np.resize(classes, len(images)))
    features = images
    for step in before:
        features = step.transform(features)
    refit = clone(last)
    if "random_state" in refit.get_params():
        refit.set_params(random_state=seed)
    return refit.fit(features, labels)


def randomized_model(model: Any, *, layers: int | None = None, seed: int = 0,
                     faces: Any = None) -> Any:  # fmt: skip
    """Return a copy of a fitted model whose learned parameters are random.

    The model itself is not changed. How each kind of model is randomised is in the
    module's description: torch networks re-initialised (all layers, or the top
    ``layers``), linear coefficients permuted, other classifiers fitted again on
    ``faces`` with random labels.

    Parameters
    ----------
    model : estimator
        A fitted classifier or pipeline.
    layers : int, optional
        Torch networks only: re-initialise the top ``layers`` weight layers
        (:func:`torch_layers`); None: all of them.
    seed : int
        Seed of the new parameters (or permutations, or random labels).
    faces : array-like, optional
        Face crops the last step is fitted on with random labels, for classifiers with
        neither a torch network nor coefficients (at least one face per class).

    Raises
    ------
    ValueError
        ``layers`` out of range or given for a model without a torch network; faces
        missing, or too few, for a classifier that must be fitted again.
    """
    randomized = copy.deepcopy(model)
    before, last = _steps(randomized)
    network = _network(last)
    if network is not None:
        count = len(_layer_groups(network))
        if layers is not None and not 1 <= layers <= count:
            raise ValueError(f"layers={layers}: the network has {count} weight layers")
        _reinitialise(network, layers, seed)
        return randomized
    if layers is not None:
        raise ValueError(
            f"layers={layers}: the model {describe_model(model)} holds no torch network; "
            "only torch networks are randomised layer by layer (give layers=None)"
        )
    if _permute_coefficients(last, np.random.default_rng(seed)):
        return randomized
    refit = _refit_on_noise(model, before, last, faces, seed)
    if not hasattr(randomized, "steps"):
        return refit
    randomized.steps[-1] = (randomized.steps[-1][0], refit)
    return randomized


def _maps(explainer: Explainer, model: Any, faces: np.ndarray, targets: Sequence[str],
          batch: int) -> np.ndarray:  # fmt: skip
    """Return the maps of faces for given target class names, a batch of faces at a time."""
    return np.concatenate([
        explainer.explain(model, faces[i : i + batch], list(targets[i : i + batch])).maps
        for i in range(0, len(faces), batch)
    ])  # fmt: skip


def _original(explainer: Explainer, model: Any, faces: np.ndarray, target: Any,
              maps: np.ndarray | None, batch: int) -> tuple[np.ndarray, list[str]]:  # fmt: skip
    """Return the trained model's maps and the class name each explains."""
    from ferengine.explain.base import resolve_targets
    from ferengine.prediction.predictor import class_names

    names = list(class_names(model))
    predicted = (np.asarray(model.predict_proba(faces)).argmax(axis=1) if target is None
                 else np.zeros(len(faces), dtype=np.int64))  # fmt: skip
    columns = resolve_targets(target, names, list(getattr(model, "classes_", names)), predicted)
    targets = [names[int(c)] for c in columns]
    if maps is None:
        return _maps(explainer, model, faces, targets, batch), targets
    maps = np.asarray(maps, dtype=np.float32)
    if maps.shape != faces.shape[:3]:
        raise ValueError(f"maps= has shape {maps.shape}; the faces need {faces.shape[:3]}")
    return maps, targets


def model_randomization_test(model: Any, faces: Any, explainer: Explainer, *,
                             target: Any = None, cascade: bool = True, seed: int = 0,
                             maps: np.ndarray | None = None, fit_faces: Any = None,
                             batch: int = 32) -> dict[str, Any]:  # fmt: skip
    """Compare a method's maps of a trained model with its maps of the model randomised.

    Each face's map explains the same class in both models (the trained model's
    predicted class, or ``target``), so only the model changes. For torch networks
    and ``cascade``, copies with the top 1, 2, … layers randomised are explained in
    turn, ending with every layer random; other models have one stage, the
    whole classifier randomised (:func:`randomized_model`).

    Parameters
    ----------
    model : estimator
        The fitted model.
    faces : array-like of shape (n, H, W) or (n, H, W, C)
        Face crops to explain.
    explainer : Explainer
        The method under test.
    target : None, str or sequence, optional
        The class each map explains, as :meth:`Explainer.explain` takes it (None: the
        trained model's predicted class; with ``maps``, the classes they explain).
    cascade : bool
        Torch networks: also randomise the layers one by one from the top.
    seed : int
        Seed of the random parameters.
    maps : ndarray of shape (n, H, W), optional
        The trained model's maps of the faces, already computed (of the classes
        ``target`` says), so they are not computed again.
    fit_faces : array-like, optional
        Faces a classifier without network or coefficients is fitted on with random
        labels (default: ``faces``).
    batch : int
        Faces per explainer call.

    Returns
    -------
    dict
        ``method``, ``model``, ``faces`` and ``stages``: per stage, ``randomized`` (the
        layers randomised, top first, or ``"all"``), and the mean, median and count of
        the faces' ``spearman`` and ``spearman_abs`` correlations (see
        :func:`rank_correlations`) with the trained model's maps; the last stage holds
        the per-face correlations too (``per_face``).
    """
    images = check_faces(faces)
    explainer.check_model(model)
    original, targets = _original(explainer, model, images, target, maps, batch)
    _, last = _steps(model)
    stages: list[tuple[Any, int | None]] = [("all", None)]
    if _network(last) is not None and cascade:
        names = torch_layers(model)
        stages = [(names[:k], k) for k in range(1, len(names) + 1)]
    found = []
    for described, layers in stages:
        random = randomized_model(model, layers=layers, seed=seed,
                                  faces=images if fit_faces is None else fit_faces)  # fmt: skip
        correlations = rank_correlations(original, _maps(explainer, random, images, targets,
                                                         batch))  # fmt: skip
        found.append({"randomized": described,
                      **{k: _summary(v) for k, v in correlations.items()}})  # fmt: skip
    found[-1]["per_face"] = _per_face(correlations)
    return {
        "test": "model randomisation",
        "method": explainer.name,
        "model": describe_model(model),
        "faces": len(images),
        "seed": seed,
        "stages": found,
    }


def data_randomization_test(model: Any, train_faces: Any, train_labels: Any, faces: Any,
                            explainer: Explainer, *, target: Any = None, seed: int = 0,
                            batch: int = 32) -> dict[str, Any]:  # fmt: skip
    """Compare a method's maps of a model with those of the same pipeline fitted on permuted labels.

    The model's unfitted copy (:func:`sklearn.base.clone`) is fitted on ``train_faces``
    with ``train_labels`` permuted: it can only memorise. Each face's map explains the
    same class in both models. Meant for small models: it trains the pipeline again.

    Parameters
    ----------
    model : estimator
        The fitted model (its parameters are reused, not its fitted state).
    train_faces, train_labels : array-like
        Training faces and their labels (what the model was fitted on, or like it).
    faces : array-like
        Face crops to explain.
    explainer : Explainer
        The method under test.
    target : None, str or sequence, optional
        The class each map explains (default: the trained model's predicted class).
    seed : int
        Seed of the permutation.
    batch : int
        Faces per explainer call.

    Returns
    -------
    dict
        ``method``, ``model``, ``faces``, ``permuted_train_accuracy`` (how well the
        permuted-label model fits its own training labels), ``train_accuracy`` of the
        model, and the mean, median and count of the faces' ``spearman`` and
        ``spearman_abs`` correlations, with the per-face ones (``per_face``).

    Raises
    ------
    ValueError
        Training faces and labels differ in number.
    """
    images = check_faces(faces)
    train = check_faces(train_faces)
    labels = np.asarray(train_labels)
    if len(labels) != len(train):
        raise ValueError(f"train_labels has {len(labels)} labels for {len(train)} train_faces")
    explainer.check_model(model)
    original, targets = _original(explainer, model, images, target, None, batch)
    permuted = np.random.default_rng(seed).permutation(labels)
    random = clone(model).fit(train, permuted)
    correlations = rank_correlations(original, _maps(explainer, random, images, targets, batch))
    return {
        "test": "data randomisation",
        "method": explainer.name,
        "model": describe_model(model),
        "faces": len(images),
        "seed": seed,
        "train_accuracy": round(float(model.score(train, labels)), 4),
        "permuted_train_accuracy": round(float(random.score(train, permuted)), 4),
        **{k: _summary(v) for k, v in correlations.items()},
        "per_face": _per_face(correlations),
    }
