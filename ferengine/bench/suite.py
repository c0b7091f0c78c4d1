"""Benchmark suites: a TOML file naming datasets, a protocol and a grid of pipelines.

Example (``ferengine/bench/suites/quick.toml`` is the complete built-in one)::

    name = "quick"
    seed = 0

    [datasets.synthetic]            # key used in the report
    name = "synthetic"              # dataset plugin
    params = { seed = 0 }           # plugin parameters; paths may use ${ENV}
    label_space = "valence3"        # optional: map labels before benchmarking

    [protocol]
    kind = "subject-kfold"          # split | holdout | subject-holdout | kfold | subject-kfold
                                    # | loso | cross-dataset
    folds = 3
    repeats = 1
    dedupe = "none"                 # drop training images that copy a test image of their
                                    # fold before fitting: "exact" | "near" | "none"

    [preprocess]                    # named chains; every chain meets every feature
    none = []
    clahe = [{ name = "clahe", params = { clip_limit = 2.0 } }]

    [[features]]
    name = "hog"
    grid = { cell = [6, 8] }        # scikit-learn ParameterGrid: one setting per value

    [[classifiers]]
    name = "svm-linear"
    params = { C = 0.1 }

    [[pipelines]]                   # whole pipelines beside the grid (deep models)
    name = "small-cnn"
    preprocess = "none"
    steps = [{ name = "cnn", params = { arch = "small" } }]   # the last step is a classifier

    [[references]]                  # literature figures printed beside the leaderboard
    dataset = "fer2013"
    pipeline = "BoVW + SVM"
    accuracy = 0.6348
    source = "Ionescu et al. 2013"

    [report.explain]                # optional: explain each dataset's top pipelines
    top = 3                         # leaderboard rows explained
    method = "occlusion"            # an explainer plugin
    params = { patch = 8 }          # its parameters
    faces = 200                     # test faces of the first fold, a seeded sample
    pairs = 6                       # confusions in the misclassification gallery

Steps are written in the step grammar (:mod:`ferengine.steps`), the same form as model
specs. The file is checked against its declared schema (:class:`SuiteFile`) and the
registry before any work starts: every problem at once, each with its TOML path.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, ValidationInfo, model_validator

from ferengine.errors import FerengineError
from ferengine.labels import get_label_space
from ferengine.registry import Registry, get_registry
from ferengine.schemas import (
    DatasetTable,
    GridTable,
    Issue,
    PreprocessorStep,
    Step,
    Table,
    grid_checked,
    plugin_issues,
    raise_issues,
    validate,
)
from ferengine.spec import expand_files, expand_path
from ferengine.steps import StepBuilder

ProtocolKind = Literal[
    "split", "holdout", "subject-holdout", "kfold", "subject-kfold", "loso", "cross-dataset"
]
PROTOCOLS: tuple[str, ...] = get_args(ProtocolKind)
#: ``[protocol] dedupe``: which training copies of a fold's test images are dropped.
Dedupe = Literal["none", "exact", "near"]


class SuiteError(FerengineError, ValueError):
    """A benchmark suite is malformed; the message names the file and the key."""


# --- the declared schema of a suite file ---------------------------------------------------


class SuiteDataset(DatasetTable):
    """``[datasets.KEY]``: a dataset plugin, its parameters and an optional label space."""

    label_space: str | None = None

    @model_validator(mode="after")
    def _known_space(self, info: ValidationInfo) -> SuiteDataset:
        if self.label_space is not None:
            try:  # a registered label space, looked up where the suite's plugins are
                get_label_space(self.label_space, (info.context or {}).get("registry"))
            except FerengineError as exc:
                raise_issues("dataset", [(("label_space",), str(exc))])
        return self


class ProtocolTable(Table):
    """``[protocol]``: how train and test images are chosen."""

    kind: ProtocolKind = "subject-kfold"
    folds: int = Field(5, ge=2)
    repeats: int = Field(1, ge=1)
    test_size: float = Field(0.2, gt=0, lt=1)
    train: str | None = None
    test: str | None = None
    train_split: str | None = None
    test_split: str | None = None
    contempt: str = "drop"
    mapping: dict[str, str] = Field(default_factory=dict)
    datasets: list[str] = Field(default_factory=list)
    dedupe: Dedupe = "none"

    @model_validator(mode="after")
    def _needs(self) -> ProtocolTable:
        issues: list[Issue] = []
        if self.kind == "split":
            for key in ("train_split", "test_split"):
                if getattr(self, key) is None:
                    issues.append(((key,), "protocol 'split' needs train_split and test_split"))
        if self.kind == "cross-dataset":
            for key in ("train", "test"):
                if getattr(self, key) is None:
                    issues.append(((key,), "protocol 'cross-dataset' needs train and test"))
        raise_issues("protocol", issues)
        return self


class PipelineTable(Table):
    """``[[pipelines]]``: a whole pipeline beside the grid; its last step is a classifier."""

    name: str | None = None
    preprocess: str = "none"
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _ends_with_a_classifier(self, info: ValidationInfo) -> PipelineTable:
        registry = (info.context or {}).get("registry")
        if registry is not None:  # the steps passed their checks, so their names resolve
            last = self.steps[-1].name
            if StepBuilder(registry).resolve(last)[0] not in ("classifier", "model"):
                loc = ("steps", len(self.steps) - 1, "name")
                message = f"{last!r}: the last step must be a classifier or a registered model"
                raise_issues("pipeline", [(loc, message)])
        return self


class Reference(Table):
    """``[[references]]``: a literature figure printed beside the leaderboard."""

    pipeline: str
    accuracy: float = Field(ge=0, le=1)
    dataset: str | None = None
    protocol: str | None = None
    source: str | None = None


class ExplainTable(Table):
    """``[report.explain]``: explain the top pipelines of every leaderboard in the report."""

    top: int = Field(3, ge=1)
    method: str = "occlusion"
    params: dict[str, Any] = Field(default_factory=dict)
    faces: int = Field(200, ge=1)
    pairs: int = Field(6, ge=1)

    @model_validator(mode="after")
    def _known_method(self, info: ValidationInfo) -> ExplainTable:
        registry = (info.context or {}).get("registry")
        if registry is not None:
            issues = plugin_issues("explainer", self.method, self.params, registry)
            issues = [(("method",) if loc == ("name",) else loc, msg) for loc, msg in issues]
            raise_issues("explain", issues)
        return self


class ReportTable(Table):
    """``[report]``: what the report adds to the leaderboards."""

    explain: ExplainTable | None = None


class SuiteFile(Table):
    """The declared schema of a benchmark suite file."""

    name: str | None = None
    description: str = ""
    seed: int = Field(0, ge=0)
    datasets: dict[str, SuiteDataset] = Field(min_length=1)
    protocol: ProtocolTable = ProtocolTable()
    preprocess: dict[str, list[PreprocessorStep]] = Field(default_factory=lambda: {"none": []})
    features: list[Annotated[GridTable, grid_checked("feature")]] = Field(default_factory=list)
    classifiers: list[Annotated[GridTable, grid_checked("classifier")]] = Field(
        default_factory=list
    )
    pipelines: list[PipelineTable] = Field(default_factory=list)
    references: list[Reference] = Field(default_factory=list)
    report: ReportTable = ReportTable()

    @model_validator(mode="after")
    def _consistent(self) -> SuiteFile:
        issues: list[Issue] = []
        keys = sorted(self.datasets)
        for side in ("train", "test"):
            key = getattr(self.protocol, side)
            if key is not None and key not in self.datasets:
                issues.append((("protocol", side), f"{key!r} is not a [datasets] key ({keys})"))
        for i, key in enumerate(self.protocol.datasets):
            if key not in self.datasets:
                issues.append((("protocol", "datasets", i), f"{key!r} is not a [datasets] key"))
        if self.features and not self.classifiers:
            problem = "[[features]] need at least one [[classifiers]] entry"
            issues.append((("classifiers",), problem))
        if not (self.features and self.classifiers) and not self.pipelines:
            problem = "no pipelines: give [[features]] × [[classifiers]] or [[pipelines]]"
            issues.append(((), problem))
        for i, pipe in enumerate(self.pipelines):
            if pipe.preprocess != "none" and pipe.preprocess not in self.preprocess:
                problem = f"{pipe.preprocess!r} is not a [preprocess] chain"
                issues.append((("pipelines", i, "preprocess"), problem))
        raise_issues("suite", issues)
        return self


@dataclass(frozen=True)
class DatasetRef:
    """One dataset of a suite: plugin name, parameters, optional label space."""

    key: str
    name: str
    params: dict[str, Any]
    label_space: str | None = None
    base: str = "."  # folder that relative paths resolve against

    def resolved(self, path: str | None = None) -> DatasetRef:
        """Return the reference with its path expanded (``path`` overrides the suite's).

        Other string parameters holding ``${VAR}`` (a second file, such as fer2013's
        ``ferplus`` votes) are expanded the same way.
        """
        try:
            params = expand_files(self.params, Path(self.base))
        except FerengineError as exc:
            raise SuiteError(f"datasets.{self.key}.params.{exc}") from exc
        if path is not None:
            params["path"] = str(Path(path).resolve())
        elif isinstance(params.get("path"), str):
            try:
                params["path"] = expand_path(params["path"], Path(self.base))
            except FerengineError as exc:
                raise SuiteError(
                    f"datasets.{self.key}.params.path: {exc}; or pass --data {self.key}=PATH"
                ) from exc
        return replace(self, params=params)

    def describe(self) -> dict[str, Any]:
        """Return a JSON-able identity of the data (used in cache keys)."""
        ident: dict[str, Any] = {"name": self.name, "params": self.params}
        if self.label_space:
            ident["label_space"] = self.label_space
        path = self.params.get("path")
        if isinstance(path, str) and os.path.exists(path):
            stat = os.stat(path)  # content stand-in: size and modification time
            ident["file"] = [stat.st_size, int(stat.st_mtime)]
        return ident


@dataclass(frozen=True)
class Protocol:
    """How train and test images are chosen."""

    kind: str
    folds: int = 5
    repeats: int = 1
    test_size: float = 0.2
    train: str | None = None  # dataset key (cross-dataset)
    test: str | None = None
    train_split: str | None = None
    test_split: str | None = None
    contempt: str = "drop"  # cross-dataset policy for classes the model lacks
    mapping: dict[str, str] = field(default_factory=dict)
    datasets: tuple[str, ...] = ()
    dedupe: str = "none"  # drop training copies of test images: "exact" | "near" | "none"


@dataclass(frozen=True)
class ExplainSettings:
    """Which pipelines the report explains, and how (``[report.explain]``).

    Per tested dataset, the ``top`` rows of the leaderboard get a per-class mean
    saliency picture and a misclassification gallery of explainer ``method`` (with
    ``params``), made on a seeded sample of ``faces`` test faces of the first fold, with
    the ``pairs`` most frequent confusions (:mod:`ferengine.bench.explanations`).
    """

    top: int = 3
    method: str = "occlusion"
    params: dict[str, Any] = field(default_factory=dict)
    faces: int = 200
    pairs: int = 6


@dataclass(frozen=True)
class Combination:
    """One pipeline of the grid on one dataset.

    The front steps (preprocessing + feature) are what the feature cache stores;
    the classifier is fitted on their output.
    """

    dataset: str
    label: str
    front: tuple[dict[str, Any], ...]
    classifier: dict[str, Any]
    #: The ``[preprocess]`` chain the front starts with, and how many steps it has.
    chain: str = "none"
    chain_steps: int = 0

    @property
    def core(self) -> str:
        """Content hash of the combination without its preprocessing chain.

        Combinations that differ only by their ``[preprocess]`` chain share it: the
        report's preprocessing-effect table pairs them.
        """
        from joblib import hash as jhash

        return str(jhash([self.dataset, list(self.front[self.chain_steps :]), self.classifier]))

    @property
    def key(self) -> str:
        """Short content hash naming this combination in stored results."""
        from joblib import hash as jhash

        return str(jhash([self.dataset, list(self.front), self.classifier]))[:12]


@dataclass
class Suite:
    """A parsed benchmark suite (see the module docstring for the format)."""

    name: str
    source: str
    datasets: dict[str, DatasetRef]
    protocol: Protocol
    combinations: list[Combination]
    description: str = ""
    seed: int = 0
    references: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""
    explain: ExplainSettings | None = None  # [report.explain]: explain the top pipelines

    def limit(self, n: int | None) -> Suite:
        """Return the suite restricted to its first ``n`` combinations."""
        if n is None:
            return self
        if n < 1:
            raise SuiteError(f"--limit must be at least 1, got {n}")
        copy = Suite(**{**self.__dict__})
        copy.combinations = self.combinations[:n]
        return copy


def builtin_suites() -> list[str]:
    """Names of the suites shipped inside the package (``quick``)."""
    folder = resources.files("ferengine.bench") / "suites"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_suite(spec: str | Path | None = None, registry: Registry | None = None) -> Suite:
    """Read a suite from a TOML file, or a built-in suite by name (default ``quick``).

    Parameters
    ----------
    spec : str or Path, optional
        A suite file, or the name of a built-in suite.
    registry : Registry, optional
        Where its plugins are looked up; defaults to the installed ones.

    Raises
    ------
    SuiteError
        Every problem at once, one line each with its TOML path: unknown keys, missing
        sections, wrong types, unknown plugins or parameters, invalid parameter values.
    """
    if spec is None or (str(spec) in builtin_suites() and not Path(spec).is_file()):
        name = "quick" if spec is None else str(spec)
        text = (resources.files("ferengine.bench") / "suites" / f"{name}.toml").read_text()
        return parse_suite(text, f"<built-in {name}>", Path.cwd(), registry)
    path = Path(spec)
    if not path.is_file():
        raise SuiteError(
            f"benchmark suite {path} does not exist (built-in suites: {builtin_suites()})"
        )
    return parse_suite(path.read_text(encoding="utf-8"), str(path), path.parent, registry)


def parse_suite(
    text: str,
    source: str,
    base: Path,
    registry: Registry | None = None,
    check_plugins: bool = True,
) -> Suite:
    """Parse and check suite TOML ``text``; relative dataset paths resolve against ``base``.

    ``check_plugins=False`` checks only the file's shape, for reading a stored run
    (``ferengine bench report``) where its plugins need not be installed.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{source}: not valid TOML: {exc}") from exc
    checker = (registry or get_registry()) if check_plugins else None
    suite = validate(SuiteFile, raw, source, checker, SuiteError)
    datasets = {
        key: DatasetRef(key, entry.name, dict(entry.params), entry.label_space, str(base))
        for key, entry in suite.datasets.items()
    }
    table = suite.protocol
    protocol = Protocol(
        **{**table.model_dump(exclude={"datasets"}), "datasets": tuple(table.datasets)}
    )
    chains = {name: [s.to_dict() for s in steps] for name, steps in suite.preprocess.items()}
    features = [(step, label) for entry in suite.features for step, label in _expand(entry)]
    classifiers = [(step, label) for entry in suite.classifiers for step, label in _expand(entry)]
    combos = []
    for key in _tested_datasets(protocol, datasets):
        for chain, steps in chains.items():
            for feat, feat_name in features:
                for clf, clf_name in classifiers:
                    label = _label(chain, [feat_name], clf_name)
                    combos.append(Combination(key, label, (*steps, feat), clf, chain, len(steps)))
        combos += [_pipeline(pipe, chains, key) for pipe in suite.pipelines]
    labels = [(c.dataset, c.label) for c in combos]
    dupes = {lab for lab in labels if labels.count(lab) > 1}
    if dupes:
        raise SuiteError(f"{source}: pipelines listed twice: {sorted(d[1] for d in dupes)}")
    return Suite(
        name=suite.name or Path(source).stem,
        source=source,
        datasets=datasets,
        protocol=protocol,
        combinations=combos,
        description=suite.description,
        seed=suite.seed,
        references=[ref.model_dump(exclude_none=True) for ref in suite.references],
        text=text,
        explain=_explain(suite.report.explain),
    )


def _explain(table: ExplainTable | None) -> ExplainSettings | None:
    return None if table is None else ExplainSettings(**table.model_dump())


def _tested_datasets(protocol: Protocol, datasets: dict[str, DatasetRef]) -> list[str]:
    if protocol.kind == "cross-dataset":
        return [f"{protocol.train}→{protocol.test}"]
    return list(protocol.datasets or datasets)


def _expand(entry: GridTable) -> list[tuple[dict[str, Any], str]]:
    """Turn a ``[[features]]`` / ``[[classifiers]]`` entry into (step, display name) pairs."""
    out = []
    for params in entry.points():
        step = {"name": entry.name, "params": params}
        if entry.label is None:
            out.append((step, _display(step)))
        else:
            shown = {k: v for k, v in params.items() if k in entry.grid}
            out.append((step, _display({"name": entry.label, "params": shown})))
    return out


def _pipeline(pipe: PipelineTable, chains: dict[str, list], dataset: str) -> Combination:
    steps = [step.to_dict() for step in pipe.steps]
    shown = [_display(step) for step in steps]
    label = pipe.name or _label(pipe.preprocess, shown[:-1], shown[-1])
    chain = chains.get(pipe.preprocess, [])
    return Combination(
        dataset, label, (*chain, *steps[:-1]), steps[-1], pipe.preprocess, len(chain)
    )


def _display(step: dict[str, Any]) -> str:
    """``name(param=value,...)``; ``n_jobs`` is left out, as it never changes results."""
    params = {k: v for k, v in step["params"].items() if k != "n_jobs"}
    inner = ",".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in params.items())
    return f"{step['name']}({inner})" if inner else step["name"]


def _label(chain: str, steps: list[str], classifier: str) -> str:
    """Readable pipeline name: ``[chain] feature(params) → classifier(params)``."""
    parts = ([f"[{chain}]"] if chain != "none" else []) + steps
    return " ".join([*parts, "→", classifier]) if parts else classifier
