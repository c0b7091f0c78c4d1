"""Model specs: a TOML file naming the data, the splits and the pipeline of one trained model.

Example::

    description = "HOG + linear SVM"

    [dataset]
    name = "fer2013"
    path = "${FERENGINE_DATA}/fer2013/fer2013.csv.gz"   # or relative to this file

    [train]
    split = "Training"        # which split trains
    validate = "PublicTest"   # optional: scored after training
    mirror = false            # optional: add every training image's horizontal mirror

    [[steps]]
    name = "hog"
    cell = 6

    [[steps]]
    name = "svm-linear"
    C = 0.1
"""

from __future__ import annotations

import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferengine.dataset import FaceDataset
from ferengine.errors import FerengineError
from ferengine.evaluation import evaluate
from ferengine.pipeline import FERPipeline, pipeline
from ferengine.registry import create


class SpecError(FerengineError, ValueError):
    """A model spec is malformed; the message names the file and the key."""


_TOP = {"description", "dataset", "train", "steps", "label_space"}
_TRAIN = {"split", "validate", "mirror"}


@dataclass
class ModelSpec:
    """A parsed model spec (see the module docstring for the file format)."""

    source: str
    dataset: str
    dataset_params: dict[str, Any]
    steps: list[dict[str, Any]]
    train_split: str | None = None
    validate_split: str | None = None
    mirror: bool = False
    description: str = ""
    label_space: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def pipeline(self) -> FERPipeline:
        """Build the (unfitted) pipeline of the spec."""
        try:
            return pipeline(*self.steps, label_space=self.label_space)
        except (FerengineError, TypeError, ValueError) as exc:
            raise SpecError(f"{self.source}: [[steps]]: {exc}") from exc

    def load_data(self, data: str | Path | None = None) -> FaceDataset:
        """Load the spec's dataset; ``data`` overrides its ``path``."""
        params = dict(self.dataset_params)
        if data is not None:
            params["path"] = str(data)
        elif isinstance(params.get("path"), str):
            try:
                params["path"] = expand_path(params["path"], Path(self.source).parent)
            except SpecError as exc:
                raise SpecError(f"{self.source}: dataset.path: {exc}; or pass --data") from exc
        if "path" not in params and "path" in _dataset_params(self.dataset):
            raise SpecError(
                f"{self.source}: [dataset] {self.dataset!r} needs a path; "
                "set dataset.path or pass --data"
            )
        return create("dataset", self.dataset, **params).load()


def _dataset_params(name: str) -> dict[str, Any]:
    from ferengine.registry import info

    return info("dataset", name)["parameters"]


def expand_path(value: str, base: Path) -> str:
    """Expand ``~`` and ``${VAR}`` in a data path; relative paths resolve against ``base``."""
    expanded = os.path.expandvars(os.path.expanduser(value))
    if "$" in expanded:
        raise SpecError(f"unset environment variable in path {value!r}")
    path = Path(expanded)
    return str(path if path.is_absolute() else (base / path))


def load_spec(path: str | Path) -> ModelSpec:
    """Read and check a model spec file.

    Raises
    ------
    SpecError
        Unknown keys, missing sections or wrong types, naming the file and the key.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"model spec {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from exc
    unknown = set(raw) - _TOP
    if unknown:
        raise SpecError(
            f"{path}: unknown top-level keys {sorted(unknown)}; allowed: {sorted(_TOP)}"
        )
    dataset = raw.get("dataset")
    if not isinstance(dataset, dict) or not isinstance(dataset.get("name"), str):
        raise SpecError(f'{path}: needs a [dataset] table with a name, e.g. name = "fer2013"')
    params = {k: v for k, v in dataset.items() if k != "name"}
    train = raw.get("train", {})
    if not isinstance(train, dict) or set(train) - _TRAIN:
        raise SpecError(f"{path}: [train] takes only {sorted(_TRAIN)}, got {train!r}")
    steps = raw.get("steps")
    if not isinstance(steps, list) or not steps:
        raise SpecError(f"{path}: needs at least one [[steps]] table with a name")
    for i, step in enumerate(steps, 1):
        if not isinstance(step, dict) or not isinstance(step.get("name"), str):
            raise SpecError(f"{path}: step {i} needs a name, got {step!r}")
    return ModelSpec(
        source=str(path),
        dataset=dataset["name"],
        dataset_params=params,
        steps=steps,
        train_split=train.get("split"),
        validate_split=train.get("validate"),
        mirror=bool(train.get("mirror", False)),
        description=str(raw.get("description", "")),
        label_space=raw.get("label_space"),
        raw=raw,
    )


def train(spec: ModelSpec, data: str | Path | None = None) -> tuple[FERPipeline, dict[str, Any]]:
    """Fit the spec's pipeline on its training split.

    Returns
    -------
    (FERPipeline, dict)
        The fitted pipeline and a report: sizes, fit seconds and, when the spec
        names a validation split, its :func:`ferengine.evaluation.evaluate` metrics.
    """
    model = spec.pipeline()
    dataset = spec.load_data(data)
    train_set = dataset.where(split=spec.train_split) if spec.train_split else dataset
    if spec.mirror:
        train_set = train_set.with_mirrors()
    start = time.perf_counter()
    model.fit(train_set)
    report: dict[str, Any] = {
        "spec": spec.raw,
        "n_train": len(train_set),
        "fit_seconds": time.perf_counter() - start,
    }
    if spec.validate_split:
        report["validation"] = evaluate(model, dataset, spec.validate_split)
    return model, report
