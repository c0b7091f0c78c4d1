"""What a pipeline checks about its steps: their outputs, and class probabilities where needed.

:class:`~ferengine.pipeline.FERPipeline` checks what every transformer step returns, when
it is fitted and each time it transforms (:func:`check_output`): a 2-D array or sparse
matrix with one row per input (a preprocessor: one image per input image), finite
values, and at transform time the width it had when fitted; a temporal step
(``frame-features``) returns instead one finite ``(T, D)`` sequence per input clip
(:mod:`ferengine.temporal`), all of one width. A defect is a
:class:`~ferengine.errors.StepOutputError` raised as soon as the step returns, before
the next step fails on it, naming the step's position, its plugin and that plugin's
package.

:func:`require_probabilities` says, before anything is fitted, which step of a model
lacks ``predict_proba`` where class probabilities are needed (``fusion`` members,
``tta``'s classifier, the confidences of ``ferengine predict``) and how to get them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.frozen import FrozenEstimator
from sklearn.utils import get_tags
from sklearn.utils.metadata_routing import get_routing_for_object

from ferengine.errors import MissingProbabilitiesError, StepOutputError
from ferengine.extractor import ImageFeature, ImagePreprocessor
from ferengine.registry import get_registry
from ferengine.sequences import as_clips
from ferengine.temporal import as_sequences

# -- naming a step -------------------------------------------------------------------------


def plugin_of(estimator: Any) -> tuple[str | None, str, str]:
    """Return ``(kind, name, package)`` of the plugin an estimator is an instance of.

    The process-wide registry names registered classes; any other class is named by
    its ``name`` attribute or class name, with kind ``None`` and the distribution that
    installed its top-level module.
    """
    cls = type(estimator)
    record = _registered(cls)
    if record is not None:
        return record.kind, record.name, record.package
    name = getattr(cls, "name", None)
    return None, name if isinstance(name, str) else cls.__name__, _distribution(cls)


def _registered(cls: type) -> Any:
    try:
        return next((r for r in get_registry().records() if r.cls is cls), None)
    except Exception:  # a registry that cannot be built must not hide the step's own error
        return None


def _distribution(cls: type) -> str:
    top = cls.__module__.split(".")[0]
    found = metadata.packages_distributions().get(top)
    return found[0] if found else f"module {top}"


def describe(estimator: Any) -> str:
    """Return ``"feature 'hog', package ferengine"`` for an estimator (see :func:`plugin_of`)."""
    kind, name, package = plugin_of(estimator)
    return f"{kind or 'estimator'} {name!r}, package {package}"


def step_label(position: int, name: str, estimator: Any) -> str:
    """Return ``"pipeline step 1 'hog' (feature 'hog', package ferengine)"``."""
    return f"pipeline step {position} {name!r} ({describe(estimator)})"


@contextmanager
def naming(position: int, name: str, step: Any) -> Iterator[None]:
    """Prefix a :class:`StepOutputError` raised inside a step with the step's label.

    A step may check its own output (:class:`~ferengine.extractor.ImageFeature` does);
    its error then says where in the pipeline it happened too.
    """
    try:
        yield
    except StepOutputError as exc:
        label = step_label(position, name, step)
        if str(exc).startswith(label):
            raise
        raise StepOutputError(f"{label}: {exc}") from exc


# -- step outputs --------------------------------------------------------------------------


def _shape(value: Any) -> tuple[int, ...]:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return tuple(shape)
    try:
        return np.shape(value)
    except ValueError:  # a ragged list
        return (len(value),)


def _emits_images(step: Any) -> bool:
    """Whether a step may return images: unless it is known to be a feature or classifier."""
    if isinstance(step, ImagePreprocessor):
        return True
    if isinstance(step, ImageFeature):
        return False
    kind = plugin_of(step)[0]
    return kind in (None, "preprocessor")


def non_finite(out: Any) -> str | None:
    """Describe the non-finite values of an array or sparse matrix, or return ``None``.

    A sum is the cheap test (any NaN or infinity makes it non-finite); only when it
    fails (or overflows) are the values looked at one by one.
    """
    coo = out.tocoo() if sp.issparse(out) else None
    values = coo.data if coo is not None else out
    dtype = getattr(values, "dtype", None)
    if dtype is None or dtype.kind not in "fc":
        return None
    values = np.asarray(values)
    with np.errstate(over="ignore", invalid="ignore"):
        total = values.sum()
    if np.isfinite(total):
        return None
    bad = ~np.isfinite(values)
    count = int(bad.sum())
    if not count:  # the sum overflowed; every value is finite
        return None
    first = int(np.flatnonzero(bad.ravel())[0])
    value = values.ravel()[first]
    if coo is not None:
        where = (int(coo.row[first]), int(coo.col[first]))
    else:
        where = tuple(int(i) for i in np.unravel_index(first, values.shape))
    at = f"row {where[0]}" + (f", column {where[1]}" if len(where) > 1 else "")
    return f"{count} non-finite value{'s' if count > 1 else ''} (the first, {value}, at {at})"


def check_output(
    position: int,
    name: str,
    step: Any,
    X: Any,
    out: Any,
    fitted: tuple[int, int] | None = None,
) -> tuple[int, int] | None:
    """Check what a transformer step returned for ``X``; return its ``(width, rows)``.

    Parameters
    ----------
    position, name : int, str
        The step's index in the pipeline (from 0) and its name there.
    step : estimator
        The step (named in messages by its plugin and package).
    X : array-like
        What the step was given.
    out : array-like or sparse matrix
        What it returned.
    fitted : (int, int), optional
        ``(width, rows)`` of its output when it was fitted: a 2-D output must have that
        width whatever the number of rows.

    Returns
    -------
    (int, int) or None
        Width and rows of a 2-D output; ``None`` for images (and for clips).

    Raises
    ------
    StepOutputError
        Not 2-D (or images from a step that may return them), not one row per input,
        non-finite values, or a width other than ``fitted``'s.
    """
    n = len(X) if not hasattr(X, "shape") else X.shape[0]
    if isinstance(out, np.ndarray) and out.dtype == object and out.ndim == 1:
        if _emits_images(step) and len(out) and np.ndim(out[0]) >= 3:  # clips (trim-neutral)
            return _check_clips(step_label(position, name, step), n, out)
        return _check_sequences(step_label(position, name, step), n, out, fitted)
    inputs = f"{n} {'images' if len(_shape(X)) >= 3 else 'rows'}"
    shape = _shape(out)

    def fail(found: str, rule: str) -> None:
        raise StepOutputError(f"{step_label(position, name, step)} returned {found}; {rule}")

    images = len(shape) >= 3 and _emits_images(step)
    if len(shape) != 2 and not images:
        fail(
            f"an array of shape {shape} for {inputs}",
            "a feature must return a 2-D array (or sparse matrix) with one row per image",
        )
    if shape[0] != n:
        if images:
            fail(
                f"{shape[0]} images for {inputs}", "a preprocessor must return one image per input"
            )
        fail(f"{shape[0]} rows for {inputs}", "a feature must return one row per image")
    problem = non_finite(out)
    if problem is not None:
        fail(f"{problem} for {inputs}", "a step must return finite values")
    if images:
        return None
    if fitted is not None and shape[1] != fitted[0]:
        fail(
            f"{shape[1]} columns for {inputs}, but {fitted[0]} when fitted on {fitted[1]}",
            "a feature's width must not depend on the images or their number",
        )
    return shape[1], n


def _check_clips(label: str, n: int, out: np.ndarray) -> None:
    """Check a clip preprocessor's output: one non-empty uint8 clip per input clip."""
    if len(out) != n:
        raise StepOutputError(
            f"{label} returned {len(out)} clips for {n} clips; a clip preprocessor must return "
            "one clip per clip"
        )
    try:
        as_clips(out, "clips")
    except ValueError as exc:
        raise StepOutputError(
            f"{label} returned {exc}; a clip preprocessor must return one non-empty uint8 "
            "clip per clip"
        ) from None


def _check_sequences(
    label: str, n: int, out: np.ndarray, fitted: tuple[int, int] | None
) -> tuple[int, int] | None:
    """Check a temporal step's output: one finite ``(T, D)`` sequence per clip, one ``D``."""
    if len(out) != n:
        raise StepOutputError(
            f"{label} returned {len(out)} sequences for {n} clips; a temporal step must return "
            "one sequence per clip"
        )
    try:
        sequences = as_sequences(out, "sequences", None if fitted is None else fitted[0])
    except ValueError as exc:
        raise StepOutputError(
            f"{label} returned {exc}; a temporal step must return one finite (T, D) sequence "
            "per clip, of the width it had when fitted"
        ) from None
    return (int(sequences[0].shape[1]), n) if n else fitted


class CheckedStep(TransformerMixin, BaseEstimator):
    """A transformer step whose training output is checked with :func:`check_output`.

    :class:`~ferengine.pipeline.FERPipeline` wraps its transformer steps in it only
    while it fits (so scikit-learn's ``Pipeline`` fits, caches and clones them as
    usual) and unwraps them afterwards; nothing else sees it.

    Parameters
    ----------
    estimator : transformer
        The step.
    position : int
        Its index in the pipeline.
    name : str
        Its name in the pipeline.

    Attributes
    ----------
    output_ : (int, int) or None
        Width and rows of the training output (``None`` for images, or when only
        ``fit`` was called).
    """

    def __init__(self, estimator: Any = None, position: int = 0, name: str = "") -> None:
        self.estimator = estimator
        self.position = position
        self.name = name

    def fit(self, X: Any, y: Any = None, **params: Any) -> CheckedStep:
        """Fit the step (its output is not computed, so not checked).

        Returns
        -------
        self
        """
        self.estimator.fit(X, y, **params)
        self.output_ = None
        return self

    def fit_transform(self, X: Any, y: Any = None, **params: Any) -> Any:
        """Fit the step, check its output for ``X`` and return it."""
        step = self.estimator
        with naming(self.position, self.name, step):
            if hasattr(step, "fit_transform"):
                out = step.fit_transform(X, y, **params)
            else:
                out = step.fit(X, y, **params).transform(X)
        self.output_ = check_output(self.position, self.name, step, X, out)
        return out

    def transform(self, X: Any, **params: Any) -> Any:
        """Transform with the step."""
        return self.estimator.transform(X, **params)

    def get_metadata_routing(self) -> Any:
        """Return the step's metadata routing (scikit-learn routes fit parameters through it)."""
        return get_routing_for_object(self.estimator)

    def __sklearn_tags__(self):
        try:
            return get_tags(self.estimator)
        except Exception:  # not a scikit-learn estimator
            return super().__sklearn_tags__()


# -- probabilities -------------------------------------------------------------------------


def _final_step(model: Any) -> tuple[str, Any]:
    """Return ``(where, estimator)`` of the step whose ``predict_proba`` a model calls."""
    where: list[str] = []
    while True:
        if isinstance(model, FrozenEstimator):  # a saved fusion member
            model = model.estimator
            continue
        steps = getattr(model, "steps", None)
        if not isinstance(steps, list) or not steps:
            break
        name, model = steps[-1]
        where.append(f"pipeline step {len(steps) - 1} {name!r}")
    return " in ".join(reversed(where)), model


def _probability_fix(step: Any, name: str) -> str:
    """Return how to give ``step`` a ``predict_proba``, in one clause."""
    try:
        params = step.get_params(deep=False)
    except Exception:
        params = {}
    if "calibration" in params:
        return f'calibrate it: {{ name = "{name}", params = {{ calibration = "sigmoid" }} }}'
    if "probability" in params:
        return f'turn them on: {{ name = "{name}", params = {{ probability = true }} }}'
    return (
        "use a classifier that has predict_proba (ferengine plugins classifier), or register "
        "one that wraps this one in scikit-learn's CalibratedClassifierCV"
    )


def probabilities_problem(model: Any) -> str | None:
    """Return which step of ``model`` lacks ``predict_proba`` and how to add it, or ``None``.

    ``model`` is a classifier or a pipeline (nested pipelines and frozen models are
    looked through to the step that predicts). An availability check that cannot be
    answered before fitting counts as available: the first ``predict_proba`` says.
    """
    where, step = _final_step(model)
    try:
        if hasattr(step, "predict_proba"):
            return None
    except Exception:
        return None
    kind, name, package = plugin_of(step)
    what = f"{kind or 'estimator'} {name!r}, package {package}"
    subject = f"{where} ({what})" if where else what
    return f"{subject} has no predict_proba; {_probability_fix(step, name)}"


def require_probabilities(model: Any, needed_by: str) -> None:
    """Raise when ``model`` cannot give class probabilities, before it is fitted or used.

    Parameters
    ----------
    model : estimator
        A classifier or a pipeline, fitted or not.
    needed_by : str
        What needs them, starting the message (``"fusion member 1"``).

    Raises
    ------
    MissingProbabilitiesError
        One line: what needs probabilities, which step lacks ``predict_proba`` (plugin
        and package) and what to use instead.
    """
    problem = probabilities_problem(model)
    if problem is not None:
        raise MissingProbabilitiesError(f"{needed_by} needs class probabilities, but {problem}")
