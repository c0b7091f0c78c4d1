"""Model specs: a TOML file naming the data, the splits and the pipeline of one trained model.

Example::

    description = "HOG + linear SVM"
    label_space = "fer7"      # optional: the pipeline's label space

    [dataset]
    name = "fer2013"
    params = { path = "${FERENGINE_DATA}/fer2013/fer2013.csv.gz" }   # or relative to this file

    [train]
    split = "Training"        # which split trains
    validate = "PublicTest"   # optional: scored after training
    mirror = false            # optional: add every training image's horizontal mirror

    [[steps]]
    name = "hog"
    params = { cell = 6 }

    [[steps]]
    name = "svm-linear"
    params = { C = 0.1 }

Steps are written as in suites (:mod:`ferengine.steps`); the file is checked against
its declared schema (:class:`SpecFile`) and the registry before anything is loaded or
fitted, every problem reported at once with its TOML path.
"""

from __future__ import annotations

import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from ferengine.dataset import FaceDataset
from ferengine.errors import FerengineError
from ferengine.evaluation import evaluate
from ferengine.labels import get_label_space
from ferengine.pipeline import FERPipeline, pipeline
from ferengine.registry import Registry, get_registry
from ferengine.schemas import DatasetTable, Step, Table, problem, validate


class SpecError(FerengineError, ValueError):
    """A model spec is malformed; the message names the file and the key."""


class TrainTable(Table):
    """``[train]``: which split trains and which validates."""

    split: str | None = None
    validate_: str | None = Field(None, alias="validate")
    mirror: bool = False


class SpecFile(Table):
    """The declared schema of a model spec file."""

    description: str = ""
    label_space: str | None = None
    dataset: DatasetTable
    train: TrainTable = TrainTable()
    steps: list[Step] = Field(min_length=1)

    @field_validator("label_space")
    @classmethod
    def _known_space(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                get_label_space(value)
            except FerengineError as exc:
                raise problem(str(exc)) from None
        return value


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
    registry: Registry | None = field(default=None, repr=False, compare=False)

    def pipeline(self) -> FERPipeline:
        """Build the (unfitted) pipeline of the spec on the spec's registry."""
        try:
            return pipeline(*self.steps, label_space=self.label_space, registry=self.registry)
        except (FerengineError, TypeError, ValueError) as exc:
            raise SpecError(f"{self.source}: steps: {exc}") from exc

    def load_data(self, data: str | Path | None = None) -> FaceDataset:
        """Load the spec's dataset; ``data`` overrides its ``path``."""
        registry = self.registry or get_registry()
        params = dict(self.dataset_params)
        if data is not None:
            params["path"] = str(data)
        elif isinstance(params.get("path"), str):
            try:
                params["path"] = expand_path(params["path"], Path(self.source).parent)
            except SpecError as exc:
                raise SpecError(
                    f"{self.source}: dataset.params.path: {exc}; or pass --data"
                ) from exc
        if "path" not in params and "path" in registry.info("dataset", self.dataset)["parameters"]:
            raise SpecError(
                f"{self.source}: [dataset] {self.dataset!r} needs a path; "
                "set dataset.params.path or pass --data"
            )
        return registry.create("dataset", self.dataset, **params).load()


def expand_path(value: str, base: Path) -> str:
    """Expand ``~`` and ``${VAR}`` in a data path; relative paths resolve against ``base``."""
    expanded = os.path.expandvars(os.path.expanduser(value))
    if "$" in expanded:
        raise SpecError(f"unset environment variable in path {value!r}")
    path = Path(expanded)
    return str(path if path.is_absolute() else (base / path))


def load_spec(path: str | Path, registry: Registry | None = None) -> ModelSpec:
    """Read and check a model spec file.

    Parameters
    ----------
    path : str or Path
        The TOML file.
    registry : Registry, optional
        Where its plugins are looked up (and later built); defaults to the installed ones.

    Raises
    ------
    SpecError
        Every problem at once, one line each with its TOML path: unknown keys, missing
        sections, wrong types, unknown plugins or parameters, invalid parameter values.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"model spec {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from exc
    registry = registry or get_registry()
    spec = validate(SpecFile, raw, str(path), registry, SpecError)
    return ModelSpec(
        source=str(path),
        dataset=spec.dataset.name,
        dataset_params=dict(spec.dataset.params),
        steps=[step.to_dict() for step in spec.steps],
        train_split=spec.train.split,
        validate_split=spec.train.validate_,
        mirror=spec.train.mirror,
        description=spec.description,
        label_space=spec.label_space,
        raw=raw,
        registry=registry,
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
