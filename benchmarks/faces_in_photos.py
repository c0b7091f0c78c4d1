"""Faces found in real photos and in tight face crops, per detector; happy-vs-neutral accuracy.

Detection (the default mode). For each detector of ``--detectors`` (default: haar,
dlib-hog, dlib-mmod, and blazeface and auto when they are registered), made with
``ferengine.registry.create("detector", name, **params)`` and its own defaults:

- the share of the 1,200 photos of ``wild/img`` with at least one face (each holds one);
- the share of each tight-crop set (``crop_sets.py``: wild crops cut around dlib-mmod's
  full-resolution boxes, the first ``--fer-limit`` FER2013 PublicTest crops and all CK+48
  crops, each resized to a random side from 32 to 300 px) with at least one face, also
  by size band (32-63, 64-127, 128-300 px) and pooled over the three sets;
- the share with exactly one face, and the time of ``detector.detect(image)`` per image
  (mean, median, p95 ms; images decoded beforehand, one untimed warm-up call);
- for multi-stage detectors, the share of faces by the stage that found them (the
  faces' ``found_by``).

A detector listed in ``--cap`` (default ``dlib-mmod=100``: about 1 s per 350×350 photo on
2 cores without BLAS) runs on a seeded random subset of that many images of each set,
the same subset on every run; the tables give the images each figure counts. Prints
markdown tables; ``--json FILE`` writes every figure.

Accuracy (``--accuracy``): the happy-vs-neutral accuracy of ferengine and of the peer
package ``fer`` 25.10.3 on the wild photos' labels (``labels.csv``: happiness or
neutral). A photo counts as happy when the top class of its largest face is happy,
neutral when it is neutral; a photo without a face counts as wrong. Also printed:
accuracy among the photos where a face was found, and the share of those whose top class
is another class. ferengine's rows come from ``--predictions`` (``predictions.jsonl``
files or their folders, a row each), else from ``ferengine.predict`` run here with its
defaults; the peer's from ``--peer`` (written by ``peer_fer.py``). Each system after the
first is tested against it: McNemar's exact test, paired on the photos.

Nothing here times ferengine against the peer: run the two commands side by side with an
external timer, one after the other (never at the same time), on the same photos::

    /work/peer-fer/bin/python benchmarks/peer_fer.py /work/shared/data/wild/img --out peer.jsonl
    .venv/bin/ferengine predict /work/shared/data/wild/img --out D --no-annotate --json

then compare their answers::

    python benchmarks/faces_in_photos.py --accuracy --predictions D --peer peer.jsonl

Usage::

    python benchmarks/faces_in_photos.py [--detectors NAME[:KEY=VALUE,...] ...]
        [--cap NAME=N|all ...] [--fer-limit 1000] [--seed 0] [--jobs 1] [--json FILE]
    python benchmarks/faces_in_photos.py --accuracy [--predictions PATH] [--peer FILE]

The real data is read from ``$FERENGINE_DATA`` (default ``../shared/data``). The first
run computes dlib-mmod's boxes for the wild crops (about 1 s a photo on a quiet 2-core
machine, 20 min on one core; ``--jobs 2`` halves it) into a cache outside the project
(see ``crop_sets.py``); later runs read it.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import crop_sets
import numpy as np
from crop_sets import CropSet
from datapaths import data_dir, fer2013_csv, wild_dir

import ferengine
from ferengine.bench.contrasts import mcnemar
from ferengine.labels import canonical
from ferengine.prediction.inputs import read_image
from ferengine.prediction.run import read_jsonl

#: Detectors measured by default, then the new ones when they are registered.
DEFAULT_DETECTORS = ("haar", "dlib-hog", "dlib-mmod")
NEW_DETECTORS = ("blazeface", "auto")
#: Images per set a slow detector runs on by default (a seeded random subset).
DEFAULT_CAPS = {"dlib-mmod": 100}
PHOTOS = "wild photos"
POOLED = "all crops"
#: The wild labels' names for the model's classes.
WILD_CLASSES = {"happiness": "happy", "neutral": "neutral"}


@dataclass
class Detector:
    """A detector to measure: its label in the tables, registry name and parameters."""

    label: str
    name: str
    params: dict[str, Any]


def parse_detector(text: str) -> Detector:
    """Parse ``NAME`` or ``NAME:KEY=VALUE,KEY=VALUE`` (values as Python literals, else str)."""
    name, _, rest = text.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"--detectors {text!r}: {item!r} is not KEY=VALUE")
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    return Detector(text, name, params)


def parse_cap(text: str) -> tuple[str, int | None]:
    """Parse ``NAME=N`` or ``NAME=all``."""
    name, sep, value = text.partition("=")
    if not sep or not (value == "all" or (value.isdigit() and int(value) > 0)):
        raise argparse.ArgumentTypeError(f"--cap {text!r}: expected NAME=N (N ≥ 1) or NAME=all")
    return name, None if value == "all" else int(value)


def default_detectors() -> list[Detector]:
    """The reference detectors, and the new ones among the registered detectors."""
    registered = set(ferengine.registry.names("detector"))
    names = [*DEFAULT_DETECTORS, *(n for n in NEW_DETECTORS if n in registered)]
    return [Detector(n, n, {}) for n in names]


def subset(n: int, cap: int | None, seed: int) -> np.ndarray:
    """Indices of a seeded random subset of ``cap`` of ``n`` images (all without a cap)."""
    if cap is None or cap >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, cap, replace=False))


@dataclass
class Measured:
    """What one detector found on (a subset of) one set, image by image."""

    index: np.ndarray
    counts: np.ndarray
    seconds: np.ndarray
    stages: Counter

    @classmethod
    def pooled(cls, parts: list[Measured]) -> Measured:
        """Concatenate measurements of several sets (indices lose their meaning)."""
        stages: Counter = Counter()
        for part in parts:
            stages.update(part.stages)
        return cls(
            np.concatenate([p.index for p in parts]),
            np.concatenate([p.counts for p in parts]),
            np.concatenate([p.seconds for p in parts]),
            stages,
        )


def measure(detector: Any, images: list[np.ndarray], index: np.ndarray) -> Measured:
    """Time ``detector.detect`` on each image of ``index``; count faces and their stages."""
    detector.detect(images[int(index[0])])  # load the model outside the timing
    counts, seconds, stages = [], [], Counter()
    for i in index:
        start = time.perf_counter()
        faces = detector.detect(images[int(i)])
        seconds.append(time.perf_counter() - start)
        counts.append(len(faces))
        stages.update(getattr(face, "found_by", None) for face in faces)
    return Measured(index, np.array(counts), np.array(seconds), stages)


def figures(m: Measured, name: str, sides: np.ndarray | None = None) -> dict[str, Any]:
    """Rates, times, stages (when not just ``name``) and, given the sides, rates by band."""
    ms = 1000 * m.seconds
    found = m.counts >= 1
    out: dict[str, Any] = {
        "images": len(m.counts),
        "found": int(found.sum()),
        "rate": round(float(found.mean()), 4),
        "exactly_one": round(float(np.mean(m.counts == 1)), 4),
        "ms_mean": round(float(ms.mean()), 2),
        "ms_median": round(float(np.median(ms)), 2),
        "ms_p95": round(float(np.percentile(ms, 95)), 2),
    }
    faces = sum(m.stages.values())
    if faces and set(m.stages) - {None, name}:
        out["found_by"] = {str(stage): round(n / faces, 4) for stage, n in m.stages.most_common()}
    if sides is not None:
        bands = {}
        for label, lo, hi in crop_sets.BANDS:
            mask = (sides >= lo) & (sides <= hi)
            bands[label] = {
                "images": int(mask.sum()),
                "rate": round(float(found[mask].mean()), 4) if mask.any() else None,
            }
        out["bands"] = bands
    return out


def load_sets(args: argparse.Namespace) -> dict[str, CropSet]:
    """The wild photos (as a set, sides = longer side) and the three tight-crop sets."""
    start = time.perf_counter()
    paths = crop_sets.wild_photos(wild_dir())
    photos = [read_image(p) for p in paths]
    boxes = crop_sets.wild_boxes(paths, jobs=args.jobs)
    sets = {
        PHOTOS: CropSet(PHOTOS, photos, np.array([max(p.shape[:2]) for p in photos])),
        "wild crops": crop_sets.wild_crops(paths, boxes, args.seed),
        "FER2013 PublicTest": crop_sets.fer_crops(fer2013_csv(), args.fer_limit, args.seed),
        "CK+48": crop_sets.ck_crops(data_dir() / "ckplus48", args.seed),
    }
    print(f"sets made in {time.perf_counter() - start:.1f} s (seed {args.seed}):")
    for name, s in sets.items():
        bands = ", ".join(f"{label} {int(mask.sum())}" for label, mask in s.bands())
        bands = "" if name == PHOTOS else f" ({bands})"
        note = f"; {s.left_out} photos left out (dlib-mmod found no face)" if s.left_out else ""
        print(f"- {name}: {len(s.images)} images{bands}{note}")
    return sets


def detection(args: argparse.Namespace) -> dict[str, Any]:
    """Measure every detector on every set; return the figures by detector and set."""
    sets = load_sets(args)
    caps = {**DEFAULT_CAPS, **dict(args.cap)}
    results: dict[str, Any] = {}
    for det in args.detectors:
        detector = ferengine.registry.create("detector", det.name, **det.params)
        cap = caps.get(det.label, caps.get(det.name))
        start = time.perf_counter()
        per_set, crops = {}, []
        for name, s in sets.items():
            m = measure(detector, s.images, subset(len(s.images), cap, args.seed))
            crop = name != PHOTOS
            per_set[name] = figures(m, det.name, s.sides[m.index] if crop else None)
            if crop:
                crops.append((m, s.sides[m.index]))
        pooled = Measured.pooled([m for m, _ in crops])
        per_set[POOLED] = figures(pooled, det.name, np.concatenate([sd for _, sd in crops]))
        results[det.label] = {"name": det.name, "params": det.params, "cap": cap, "sets": per_set}
        print(f"{det.label}: {time.perf_counter() - start:.0f} s", flush=True)
    summary = {name: {"images": len(s.images), "left_out": s.left_out} for name, s in sets.items()}
    return {"sets": summary, "detectors": results}


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def print_detection(results: dict[str, Any]) -> None:
    """Print the rate-and-time table and the size-band table."""
    rows, band_rows = [], []
    for label, det in results["detectors"].items():
        for name, f in det["sets"].items():
            stages = ", ".join(f"{k} {v:.1%}" for k, v in f.get("found_by", {}).items()) or "—"
            rows.append([label, name, f["images"], f"{f['rate']:.3f}", f"{f['exactly_one']:.3f}",
                         f"{f['ms_mean']:.1f}", f"{f['ms_median']:.1f}", f"{f['ms_p95']:.1f}",
                         stages])  # fmt: skip
            if "bands" in f:
                band_rows.append([label, name] + [
                    "—" if b["rate"] is None else f"{b['rate']:.3f} ({b['images']})"
                    for b in f["bands"].values()
                ])  # fmt: skip
    print()
    print(table(["detector", "set", "images", "≥ 1 face", "exactly 1", "ms mean", "ms median",
                 "ms p95", "faces found by"], rows))  # fmt: skip
    print()
    print(table(["detector", "crops", *(b[0] for b in crop_sets.BANDS)], band_rows))


def top_class(faces: list[dict], key: str) -> str | None:
    """Top class of the largest face (box ``[x, y, w, h]``); None without a face."""
    if not faces:
        return None
    face = max(faces, key=lambda f: f["box"][2] * f["box"][3])
    scores = face[key]
    return max(scores, key=scores.get)


def ferengine_answers(predictions: Path | None) -> dict[str, str | None]:
    """``{file name: top class}`` from a predictions.jsonl (or its folder), or a fresh run."""
    if predictions is None:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"running ferengine.predict({wild_dir() / 'img'}) with its defaults")
            ferengine.predict(wild_dir() / "img", out=tmp, annotate_images=False)
            rows = read_jsonl(Path(tmp) / "predictions.jsonl")
    else:
        path = predictions / "predictions.jsonl" if predictions.is_dir() else predictions
        rows = read_jsonl(path)
    return {Path(r["input"]).name: top_class(r["faces"], "probabilities") for r in rows
            if r.get("frame") is None}  # fmt: skip


def peer_answers(path: Path) -> dict[str, str | None]:
    """``{file name: top class}`` from ``peer_fer.py``'s output."""
    return {Path(r["file"]).name: r["top"] for r in read_jsonl(path)}


def answer_runs(answers: dict[str, str | None], labels: dict[str, str]) -> list[dict[str, Any]]:
    """The answers as one fold of a benchmark run (labelled photos in ``labels`` order).

    A photo without an answer gets "" (wrong); any label space's spelling (FER+ says
    "happiness") counts as its canonical class.
    """
    truth = np.array([WILD_CLASSES[labels[f]] for f in labels])
    top = np.array([canonical(answers[f]) if answers.get(f) else "" for f in labels])
    return [{"repeat": 0, "fold": 0, "test_index": np.arange(len(labels)),
             "y_true": truth, "y_pred": top}]  # fmt: skip


def scores(run: dict[str, Any], missing: int) -> dict[str, Any]:
    """Happy-vs-neutral accuracy over every labelled photo and over those with a face.

    ``run`` is :func:`answer_runs`' fold; ``missing`` counts the labelled photos without a row.
    """
    truth, top = run["y_true"], run["y_pred"]
    found = top != ""
    right = top == truth
    other = found & ~np.isin(top, list(WILD_CLASSES.values()))
    return {
        "photos": len(truth),
        "missing": missing,
        "face_found": round(float(found.mean()), 4),
        "accuracy": round(float(right.mean()), 4),
        "accuracy_face_found": round(float(right[found].mean()), 4) if found.any() else None,
        "other_classes": round(float(other.sum() / max(found.sum(), 1)), 4),
        "happy_recall": round(float(right[truth == "happy"].mean()), 4),
        "neutral_recall": round(float(right[truth == "neutral"].mean()), 4),
    }


def accuracy(args: argparse.Namespace) -> dict[str, Any]:
    """Score ferengine's and the peer's answers on the wild labels; print a table."""
    labels = crop_sets.wild_labels(wild_dir())
    unknown = sorted(set(labels.values()) - set(WILD_CLASSES))
    if unknown:
        raise ValueError(f"{wild_dir() / 'labels.csv'}: unexpected labels {unknown}")
    answers = {"ferengine" if path is None else f"ferengine ({path})": ferengine_answers(path)
               for path in args.predictions or [None]}  # fmt: skip
    if args.peer is not None:
        answers["fer 25.10.3"] = peer_answers(args.peer)
    runs = {name: answer_runs(a, labels) for name, a in answers.items()}
    results = {name: scores(runs[name][0], sum(f not in answers[name] for f in labels))
               for name in answers}  # fmt: skip
    rows = [[name, r["photos"], f"{r['face_found']:.3f}", f"{r['accuracy']:.3f}",
             "—" if r["accuracy_face_found"] is None else f"{r['accuracy_face_found']:.3f}",
             f"{r['happy_recall']:.3f}", f"{r['neutral_recall']:.3f}", f"{r['other_classes']:.3f}"]
            for name, r in results.items()]  # fmt: skip
    print(table(["system", "photos", "face found", "accuracy (all photos)",
                 "accuracy (face found)", "happy recall", "neutral recall",
                 "other classes (face found)"], rows))  # fmt: skip
    # each system against the first, paired on the photos: the benchmark's exact McNemar test
    first, *others = answers
    for name in others:
        test = mcnemar(runs[first], runs[name])
        results[name]["mcnemar_vs_first"] = test
        print(
            f"McNemar, {first} vs {name}: b={test['b']} (only the first right), "
            f"c={test['c']} (only the second), p={test['p']:.3g}"
        )
    for name, r in results.items():
        if r["missing"]:
            print(f"warning: {name} has no row for {r['missing']} labelled photos (counted wrong)")
    return {"accuracy": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = f"{', '.join(DEFAULT_DETECTORS)}, and {', '.join(NEW_DETECTORS)} when registered"
    parser.add_argument("--detectors", nargs="+", type=parse_detector, default=None,
                        help=f"NAME or NAME:KEY=VALUE,... (default: {defaults})")  # fmt: skip
    parser.add_argument("--cap", nargs="+", type=parse_cap, default=[],
                        help="NAME=N: run NAME on a seeded random N images per set "
                        "(default dlib-mmod=100; NAME=all for no cap)")  # fmt: skip
    parser.add_argument("--fer-limit", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="processes for uncached boxes")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--accuracy", action="store_true", help="happy-vs-neutral accuracy")
    parser.add_argument("--predictions", type=Path, nargs="+",
                        help="ferengine's predictions.jsonl files (or their folders)")  # fmt: skip
    parser.add_argument("--peer", type=Path, help="peer_fer.py's output")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, python {platform.python_version()}, "
          f"ferengine {ferengine.__version__}, data {data_dir()}")  # fmt: skip
    if args.accuracy:
        out = accuracy(args)
    else:
        args.detectors = args.detectors or default_detectors()
        out = detection(args)
        print_detection(out)
    if args.json is not None:
        run = {"date": date.today().isoformat(), "command": " ".join(sys.argv),
               "machine": platform.machine(), "cpus": os.cpu_count()}  # fmt: skip
        args.json.write_text(json.dumps({"run": run, **out}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
