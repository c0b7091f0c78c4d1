"""Benchmark suites: a TOML file naming datasets, a protocol and a grid of pipelines.

Example (``ferengine/bench/suites/quick.toml`` is the complete built-in one)::

    name = "quick"
    seed = 0

    [datasets.synthetic]            # key used in the report
    name = "synthetic"              # dataset plugin
    params = { seed = 0 }           # plugin parameters; "path" may use ${ENV}
    label_space = "valence3"        # optional: map labels before benchmarking

    [protocol]
    kind = "subject-kfold"          # split | holdout | kfold | subject-kfold | loso | cross-dataset
    folds = 3
    repeats = 1

    [preprocess]                    # named chains; every chain meets every feature
    none = []
    clahe = [{ name = "clahe" }]

    [[features]]
    name = "hog"
    grid = { cell = [6, 8] }        # scikit-learn ParameterGrid: one setting per value

    [[classifiers]]
    name = "svm-linear"
    params = { C = 0.1 }

    [[pipelines]]                   # whole pipelines beside the grid (deep models)
    name = "small-cnn"
    preprocess = "none"
    steps = [{ name = "cnn", arch = "small" }]   # last step is the classifier

    [[references]]                  # literature figures printed beside the leaderboard
    dataset = "fer2013"
    pipeline = "BoVW + SVM"
    accuracy = 0.6348
    source = "Ionescu et al. 2013"
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from sklearn.model_selection import ParameterGrid

from ferengine.errors import FerengineError
from ferengine.spec import expand_path

PROTOCOLS = ("split", "holdout", "kfold", "subject-kfold", "loso", "cross-dataset")
_TOP = {
    "name", "description", "seed", "datasets", "protocol", "preprocess",
    "features", "classifiers", "pipelines", "references",
}  # fmt: skip
_PROTOCOL = {
    "kind", "folds", "repeats", "test_size", "train", "test", "train_split", "test_split",
    "contempt", "mapping", "datasets",
}  # fmt: skip


class SuiteError(FerengineError, ValueError):
    """A benchmark suite is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class DatasetRef:
    """One dataset of a suite: plugin name, parameters, optional label space."""

    key: str
    name: str
    params: dict[str, Any]
    label_space: str | None = None
    base: str = "."  # folder that relative paths resolve against

    def resolved(self, path: str | None = None) -> DatasetRef:
        """Return the reference with its path expanded (``path`` overrides the suite's)."""
        params = dict(self.params)
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


def load_suite(spec: str | Path | None = None) -> Suite:
    """Read a suite from a TOML file, or a built-in suite by name (default ``quick``).

    Raises
    ------
    SuiteError
        Unknown keys, missing sections or wrong types, naming the file and the key.
    """
    if spec is None or (str(spec) in builtin_suites() and not Path(spec).exists()):
        name = "quick" if spec is None else str(spec)
        text = (resources.files("ferengine.bench") / "suites" / f"{name}.toml").read_text()
        return parse_suite(text, f"<built-in {name}>", Path.cwd())
    path = Path(spec)
    if not path.is_file():
        raise SuiteError(
            f"benchmark suite {path} does not exist (built-in suites: {builtin_suites()})"
        )
    return parse_suite(path.read_text(encoding="utf-8"), str(path), path.parent)


def parse_suite(text: str, source: str, base: Path) -> Suite:
    """Parse suite TOML ``text``; relative dataset paths resolve against ``base``."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{source}: not valid TOML: {exc}") from exc
    _keys(raw, _TOP, source, "top level")
    datasets = _datasets(raw.get("datasets"), source, base)
    protocol = _protocol(raw.get("protocol", {}), datasets, source)
    chains = raw.get("preprocess", {"none": []})
    if not isinstance(chains, dict) or not all(isinstance(c, list) for c in chains.values()):
        raise SuiteError(f"{source}: [preprocess] maps chain names to lists of step tables")
    for chain, steps in chains.items():
        for i, step in enumerate(steps, 1):
            _step(step, source, f"preprocess.{chain}[{i}]")
    features = _expand(raw.get("features", []), source, "features")
    classifiers = _expand(raw.get("classifiers", []), source, "classifiers")
    if features and not classifiers:
        raise SuiteError(f"{source}: [[features]] need at least one [[classifiers]] entry")
    combos = []
    for key in _tested_datasets(protocol, datasets):
        for chain, steps in chains.items():
            for feat, feat_name in features:
                for clf, clf_name in classifiers:
                    label = _label(chain, [feat_name], clf_name)
                    combos.append(Combination(key, label, (*steps, feat), clf))
        for i, pipe in enumerate(raw.get("pipelines", []), 1):
            combos.append(_pipeline(pipe, chains, key, source, i))
    if not combos:
        raise SuiteError(
            f"{source}: no pipelines: give [[features]] × [[classifiers]] or [[pipelines]]"
        )
    labels = [(c.dataset, c.label) for c in combos]
    dupes = {lab for lab in labels if labels.count(lab) > 1}
    if dupes:
        raise SuiteError(f"{source}: pipelines listed twice: {sorted(d[1] for d in dupes)}")
    references = raw.get("references", [])
    for i, ref in enumerate(references, 1):
        if not isinstance(ref, dict) or not {"pipeline", "accuracy"} <= set(ref):
            raise SuiteError(f"{source}: references[{i}] needs pipeline and accuracy")
    return Suite(
        name=str(raw.get("name", Path(source).stem)),
        source=source,
        datasets=datasets,
        protocol=protocol,
        combinations=combos,
        description=str(raw.get("description", "")),
        seed=_int(raw.get("seed", 0), source, "seed"),
        references=references,
        text=text,
    )


def _keys(table: dict[str, Any], allowed: set[str], source: str, where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise SuiteError(
            f"{source}: {where}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}"
        )


def _int(value: Any, source: str, key: str, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise SuiteError(f"{source}: {key} must be an integer ≥ {minimum}, got {value!r}")
    return value


def _datasets(table: Any, source: str, base: Path) -> dict[str, DatasetRef]:
    if not isinstance(table, dict) or not table:
        raise SuiteError(
            f'{source}: needs [datasets.KEY] tables, e.g. [datasets.fer2013] name = "fer2013"'
        )
    out = {}
    for key, entry in table.items():
        where = f"datasets.{key}"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise SuiteError(f"{source}: {where} needs a name (the dataset plugin)")
        _keys(entry, {"name", "params", "label_space"}, source, where)
        params = dict(entry.get("params", {}))
        out[key] = DatasetRef(key, entry["name"], params, entry.get("label_space"), str(base))
    return out


def _protocol(table: Any, datasets: dict[str, DatasetRef], source: str) -> Protocol:
    if not isinstance(table, dict):
        raise SuiteError(f"{source}: [protocol] must be a table")
    _keys(table, _PROTOCOL, source, "protocol")
    kind = table.get("kind", "subject-kfold")
    if kind not in PROTOCOLS:
        raise SuiteError(f"{source}: protocol.kind {kind!r} is not one of {PROTOCOLS}")
    proto = Protocol(
        kind=kind,
        folds=_int(table.get("folds", 5), source, "protocol.folds", 2),
        repeats=_int(table.get("repeats", 1), source, "protocol.repeats", 1),
        test_size=float(table.get("test_size", 0.2)),
        train=table.get("train"),
        test=table.get("test"),
        train_split=table.get("train_split"),
        test_split=table.get("test_split"),
        contempt=str(table.get("contempt", "drop")),
        mapping=dict(table.get("mapping", {})),
        datasets=tuple(table.get("datasets", ())),
    )
    if not 0 < proto.test_size < 1:
        raise SuiteError(f"{source}: protocol.test_size must be in (0, 1)")
    if kind == "split" and not (proto.train_split and proto.test_split):
        raise SuiteError(f"{source}: protocol 'split' needs train_split and test_split")
    if kind == "cross-dataset":
        for side in ("train", "test"):
            if getattr(proto, side) not in datasets:
                raise SuiteError(
                    f"{source}: protocol.{side} must name one of the "
                    f"[datasets] keys {sorted(datasets)}"
                )
    for key in proto.datasets:
        if key not in datasets:
            raise SuiteError(f"{source}: protocol.datasets: {key!r} is not a [datasets] key")
    return proto


def _tested_datasets(protocol: Protocol, datasets: dict[str, DatasetRef]) -> list[str]:
    if protocol.kind == "cross-dataset":
        return [f"{protocol.train}→{protocol.test}"]
    return list(protocol.datasets or datasets)


def _step(step: Any, source: str, where: str) -> dict[str, Any]:
    if not isinstance(step, dict) or not isinstance(step.get("name"), str):
        raise SuiteError(f"{source}: {where} must be a table with a name, got {step!r}")
    return step


def _expand(entries: Any, source: str, section: str) -> list[tuple[dict[str, Any], str]]:
    """Turn ``[[features]]`` / ``[[classifiers]]`` tables into (step, display name) pairs."""
    if not isinstance(entries, list):
        raise SuiteError(f"{source}: {section} must be an array of tables ([[{section}]])")
    out = []
    for i, entry in enumerate(entries, 1):
        where = f"{section}[{i}]"
        _step(entry, source, where)
        _keys(entry, {"name", "params", "grid", "label"}, source, where)
        grid = entry.get("grid", {})
        if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
            raise SuiteError(f"{source}: {where}.grid maps parameters to non-empty lists")
        for point in ParameterGrid(grid) if grid else [{}]:
            step = {"name": entry["name"], **entry.get("params", {}), **point}
            label = entry.get("label")
            out.append((step, _display(step) if label is None else _display(point, str(label))))
    return out


def _pipeline(pipe: Any, chains: dict[str, list], dataset: str, source: str, i: int) -> Combination:
    where = f"pipelines[{i}]"
    if not isinstance(pipe, dict) or not isinstance(pipe.get("steps"), list) or not pipe["steps"]:
        raise SuiteError(f"{source}: {where} needs steps = [ ... ] ending with a classifier")
    _keys(pipe, {"name", "preprocess", "steps"}, source, where)
    chain = pipe.get("preprocess", "none")
    if chain not in chains and chain != "none":
        raise SuiteError(f"{source}: {where}.preprocess {chain!r} is not a [preprocess] chain")
    steps = [_step(s, source, f"{where}.steps") for s in pipe["steps"]]
    shown = [_display(step) for step in steps]
    label = str(pipe.get("name") or _label(chain, shown[:-1], shown[-1]))
    return Combination(dataset, label, (*chains.get(chain, []), *steps[:-1]), steps[-1])


def _display(step: dict[str, Any], name: str | None = None) -> str:
    """``name(param=value,...)``; ``n_jobs`` is left out, as it never changes results."""
    params = {k: v for k, v in step.items() if k not in ("name", "n_jobs")}
    inner = ",".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in params.items())
    name = step["name"] if name is None else name
    return f"{name}({inner})" if inner else name


def _label(chain: str, steps: list[str], classifier: str) -> str:
    """Readable pipeline name: ``[chain] feature(params) → classifier(params)``."""
    parts = ([f"[{chain}]"] if chain != "none" else []) + steps
    return " ".join([*parts, "→", classifier]) if parts else classifier
