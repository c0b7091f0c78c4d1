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
    hold_out = 0.1            # optional: fit without a stratified 10 % of the split,
    hold_out_seed = 0         #   score that share after training (for model selection)
    # run-time options of the training, never stored in the model (all optional):
    threads = 2               # torch threads (``ferengine --threads`` overrides it)
    verbose = 1               # 1: an epoch table and a progress bar
    checkpoint_dir = "checkpoints/run"   # saved every epoch; a rerun resumes from it
    curves_dir = "checkpoints/run"       # curves.csv and curves.png after training

    [[steps]]
    name = "hog"
    params = { cell = 6 }

    [[steps]]
    name = "svm-linear"
    params = { C = 0.1 }

Steps are written as in suites (:mod:`ferengine.steps`); the file is checked against
its declared schema (:class:`SpecFile`) and the registry before anything is loaded or
fitted, every problem reported at once with its TOML path.

The run-time options of ``[train]`` are not step parameters: ``threads`` and
``verbose`` are set through :mod:`ferengine.runtime` while the pipeline fits (an
enclosing setting, such as ``ferengine --threads``, wins), and ``checkpoint_dir`` /
``curves_dir`` (relative to the working folder, as ``--out`` is) are passed as fit
parameters to the one step whose ``fit`` takes them (``cnn``, ``softmax-head``).

``hold_out`` keeps a stratified share of the training split out of the fit
(:func:`ferengine.splits.held_out_share`) and scores the model on it: the figure to
select settings by, never the test split. It is recorded in the model, and a
``fusion(holdout=...)`` with the same share and seed learns its weights on rows its
saved members never saw.
"""

from __future__ import annotations

import inspect
import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from ferengine import runtime
from ferengine.dataset import FaceDataset
from ferengine.errors import FerengineError
from ferengine.evaluation import evaluate
from ferengine.labels import get_label_space
from ferengine.pipeline import FERPipeline, pipeline
from ferengine.registry import Registry, get_registry
from ferengine.schemas import DatasetTable, Step, Table, problem, validate
from ferengine.splits import held_out_share


class SpecError(FerengineError, ValueError):
    """A model spec is malformed; the message names the file and the key."""


#: ``[train]`` options passed as fit parameters to the step whose ``fit`` takes them.
FIT_OPTIONS: tuple[str, ...] = ("checkpoint_dir", "curves_dir")
#: Every run-time option of ``[train]``: none is recorded in a trained model.
RUNTIME_OPTIONS: tuple[str, ...] = ("threads", "verbose", *FIT_OPTIONS)


class TrainTable(Table):
    """``[train]``: which split trains and which validates, and the run-time options."""

    split: str | None = None
    validate_: str | None = Field(None, alias="validate")
    mirror: bool = False
    hold_out: float | None = Field(None, gt=0, lt=1)
    hold_out_seed: int = 0
    threads: int | None = Field(None, ge=1)
    verbose: int | None = Field(None, ge=0)
    checkpoint_dir: str | None = None
    curves_dir: str | None = None

    def fit_options(self) -> dict[str, str]:
        """Return the options passed to a step's ``fit`` (the output folders given)."""
        return {k: v for k in FIT_OPTIONS if (v := getattr(self, k)) is not None}


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
    hold_out: float | None = None
    hold_out_seed: int = 0
    description: str = ""
    label_space: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    registry: Registry | None = field(default=None, repr=False, compare=False)
    threads: int | None = None
    verbose: int | None = None
    fit_options: dict[str, str] = field(default_factory=dict)

    def pipeline(self) -> FERPipeline:
        """Build the (unfitted) pipeline of the spec on the spec's registry."""
        try:
            return pipeline(*self.steps, label_space=self.label_space, registry=self.registry)
        except (FerengineError, TypeError, ValueError) as exc:
            raise SpecError(f"{self.source}: steps: {exc}") from exc

    def recipe(self) -> dict[str, Any]:
        """Return the spec as read, without its run-time options (what a model records)."""
        train = {k: v for k, v in self.raw.get("train", {}).items() if k not in RUNTIME_OPTIONS}
        return {**self.raw, "train": train} if "train" in self.raw else dict(self.raw)

    def fit_params(self, model: FERPipeline) -> dict[str, str]:
        """Route the ``[train]`` fit options to the step whose ``fit`` takes them.

        Returns
        -------
        dict
            scikit-learn fit parameters, ``{"cnn__checkpoint_dir": ...}``.

        Raises
        ------
        SpecError
            No step, or more than one, takes an option (they would share its folder).
        """
        routed = {}
        for option, value in self.fit_options.items():
            takers = [name for name, step in model.steps
                      if option in inspect.signature(step.fit).parameters]  # fmt: skip
            if len(takers) != 1:
                found = f"steps {takers} all take it" if takers else "no step's fit takes it"
                raise SpecError(
                    f"{self.source}: train.{option}: {found}; it goes to exactly one step "
                    "(a cnn or softmax-head)"
                )
            routed[f"{takers[0]}__{option}"] = value
        return routed

    def load_data(self, data: str | Path | None = None) -> FaceDataset:
        """Load the spec's dataset; ``data`` overrides its ``path``."""
        registry = self.registry or get_registry()
        try:
            params = expand_files(self.dataset_params, Path(self.source).parent)
        except SpecError as exc:
            raise SpecError(f"{self.source}: dataset.params.{exc}") from exc
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


def expand_files(params: dict[str, Any], base: Path) -> dict[str, Any]:
    """Return dataset parameters with ``${VAR}`` expanded in the strings other than ``path``.

    A second file beside the data, such as fer2013's ``ferplus`` votes, is written with
    the same variables as ``path`` (which callers expand themselves, as ``--data`` may
    replace it).

    Raises
    ------
    SpecError
        A variable is unset; the message starts with the parameter's name.
    """
    out = dict(params)
    for name, value in params.items():
        if name != "path" and isinstance(value, str) and "${" in value:
            try:
                out[name] = expand_path(value, base)
            except SpecError as exc:
                raise SpecError(f"{name}: {exc}") from exc
    return out


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
    model = ModelSpec(
        source=str(path),
        dataset=spec.dataset.name,
        dataset_params=dict(spec.dataset.params),
        steps=[step.to_dict() for step in spec.steps],
        train_split=spec.train.split,
        validate_split=spec.train.validate_,
        mirror=spec.train.mirror,
        hold_out=spec.train.hold_out,
        hold_out_seed=spec.train.hold_out_seed,
        description=spec.description,
        label_space=spec.label_space,
        raw=raw,
        registry=registry,
        threads=spec.train.threads,
        verbose=spec.train.verbose,
        fit_options=spec.train.fit_options(),
    )
    if model.fit_options:
        model.fit_params(model.pipeline())  # an option no step takes fails here, before work
    return model


def train(spec: ModelSpec, data: str | Path | None = None) -> tuple[FERPipeline, dict[str, Any]]:
    """Fit the spec's pipeline on its training split.

    The ``[train]`` run-time options apply: threads and verbosity while fitting, the
    checkpoint and curve folders passed to the step that takes them. A rerun with the
    same ``checkpoint_dir`` resumes from the last epoch saved.

    Returns
    -------
    (FERPipeline, dict)
        The fitted pipeline and a report: sizes, fit seconds and, when the spec
        names a validation split, its :func:`ferengine.evaluation.evaluate` metrics.
    """
    model = spec.pipeline()
    dataset = spec.load_data(data)
    train_set = dataset.where(split=spec.train_split) if spec.train_split else dataset
    held_out = None
    if spec.hold_out:
        fit_idx, held_idx = held_out_share(train_set.labels, spec.hold_out, spec.hold_out_seed)
        train_set, held_out = train_set.subset(fit_idx), train_set.subset(held_idx)
    if spec.mirror:
        train_set = train_set.with_mirrors()
    fit_params = spec.fit_params(model)
    outer = runtime.current()  # an enclosing setting (ferengine --threads) wins
    threads = outer.threads if outer.threads is not None else spec.threads
    verbose = outer.verbose if outer.verbose is not None else spec.verbose
    start = time.perf_counter()
    with runtime.options(threads=threads, verbose=verbose):
        model.fit(train_set, **fit_params)
    report: dict[str, Any] = {
        "spec": spec.recipe(),
        "n_train": len(train_set),
        "fit_seconds": time.perf_counter() - start,
    }
    if held_out is not None:
        report["held_out"] = {
            "fraction": spec.hold_out, "seed": spec.hold_out_seed, "n": len(held_out),
            **evaluate(model, held_out),
        }  # fmt: skip
    if spec.validate_split:
        report["validation"] = evaluate(model, dataset, spec.validate_split)
    return model, report
