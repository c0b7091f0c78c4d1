"""FER2013 in the canonical Kaggle CSV (``emotion,pixels,Usage``), with optional FER+ labels."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import math
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from ferengine.dataset import FaceDataset
from ferengine.errors import DatasetError
from ferengine.labels import FER7, FERPLUS8
from ferengine.loading import LoadReport
from ferengine.plugin import DatasetPlugin

USAGES = ("Training", "PublicTest", "PrivateTest")
FERPLUS_EMOTIONS = FERPLUS8.names  # vote columns 2..9 of fer2013new.csv, in this order
#: The ten vote columns of fer2013new.csv, in file order (``meta["vote_names"]``).
FERPLUS_VOTE_NAMES = (*FERPLUS_EMOTIONS, "unknown", "NF")


def _read_text(path: Path) -> bytes:
    """Return the file's bytes (gunzipped for ``.gz``), without a UTF-8 byte-order mark.

    Spreadsheet tools often save CSVs with a BOM before the header; it is not part of
    the first column's name.
    """
    if not path.is_file():
        raise DatasetError(f"fer2013: {path} does not exist")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            return fh.read().removeprefix(codecs.BOM_UTF8)
    except (OSError, EOFError) as exc:
        raise DatasetError(f"fer2013: cannot read {path}: {exc}") from exc


def _parse_pixels(text: bytes) -> np.ndarray:
    # np.fromstring in text mode is numpy's fastest text-to-number path (about 5× faster
    # than str.split + int); a bad token makes it raise or stop early, which the caller's
    # length check catches (an empty result here) before _pixel_problem says what is wrong.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return np.fromstring(text, dtype=np.int32, sep=" ")
    except ValueError:
        return np.zeros(0, np.int32)


def _pixel_problem(text: bytes, expected: int) -> str:
    tokens = text.split()
    bad = next((t for t in tokens if not t.isdigit()), None)
    if bad is not None:
        return f"pixel value {bad.decode(errors='replace')!r} is not a non-negative integer"
    if len(tokens) != expected:
        return f"pixel string holds {len(tokens)} values, expected {expected}"
    return "pixel values must lie in 0..255"


class FER2013(DatasetPlugin):
    """FER2013 from its Kaggle CSV (plain or .gz), any subset of Usage, optional FER+ relabelling.

    Parameters
    ----------
    path : str or Path
        ``fer2013.csv`` or ``fer2013.csv.gz`` (columns ``emotion,pixels,Usage``).
    usage : str or list of str, optional
        Keep only these Usage values (``Training``, ``PublicTest``, ``PrivateTest``);
        default: every one present. ``meta["usages_present"]`` lists what the file holds.
    image_size : int
        Side of the square images (48 in FER2013).
    ferplus : str or Path, optional
        Microsoft's ``fer2013new.csv``: replaces the labels by the majority of the 10
        annotator votes in the 8-class FER+ space (``ferplus8``, with contempt).
        Rows are matched to the CSV in order within each Usage. The votes themselves
        are kept: ``meta["votes"]`` (per image, N×10, in the file's column order) and
        ``meta["vote_names"]`` (the ten column names: the eight emotions, ``unknown``,
        ``NF``), which the benchmark scores against.
    ferplus_unknown : {"drop", "keep"}
        Rows whose top vote is ``unknown``: drop them, or keep their best emotion.
        Rows whose top vote is ``NF`` (not a face) or with no image name are always dropped.
    ferplus_ties : {"drop", "first"}
        Rows whose top emotions tie: drop them, or take the first in FER+ order.
    strict : bool
        Raise on the first malformed row (True) or skip and report it (False).
    """

    name = "fer2013"

    def __init__(
        self,
        path,
        usage=None,
        image_size: int = 48,
        ferplus=None,
        ferplus_unknown: str = "drop",
        ferplus_ties: str = "drop",
        strict: bool = True,
    ) -> None:
        self.path = path
        self.usage = usage
        self.image_size = image_size
        self.ferplus = ferplus
        self.ferplus_unknown = ferplus_unknown
        self.ferplus_ties = ferplus_ties
        self.strict = strict

    def _wanted_usages(self) -> set[str] | None:
        if self.usage is None:
            return None
        wanted = {self.usage} if isinstance(self.usage, str) else set(self.usage)
        unknown = wanted - set(USAGES)
        if unknown:
            raise ValueError(f"fer2013: usage {sorted(unknown)} not in {list(USAGES)}")
        return wanted

    def load(self) -> FaceDataset:
        """Parse the CSV (and the FER+ votes if given)."""
        for value, allowed, param in (
            (self.ferplus_unknown, ("drop", "keep"), "ferplus_unknown"),
            (self.ferplus_ties, ("drop", "first"), "ferplus_ties"),
        ):
            if value not in allowed:
                raise ValueError(f"fer2013: {param} must be one of {allowed}, got {value!r}")
        wanted = self._wanted_usages()
        path = Path(self.path)
        report = LoadReport(f"fer2013 {path}", self.strict)
        lines = _read_text(path).splitlines()
        if not lines:
            raise DatasetError(f"fer2013: {path} is empty")
        header = [h.strip().strip('"') for h in lines[0].decode(errors="replace").split(",")]
        missing = [c for c in ("emotion", "pixels", "Usage") if c not in header]
        if missing:
            raise DatasetError(
                f"fer2013: {path}: header {header} lacks column(s) {missing}; "
                "expected emotion,pixels,Usage"
            )
        i_emo, i_pix, i_use = (header.index(c) for c in ("emotion", "pixels", "Usage"))
        n_px = self.image_size * self.image_size
        images, labels, usages, rows, all_usages = [], [], [], [], []
        present: set[str] = set()
        for lineno, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            fields = line.split(b",")
            where = f"line {lineno}"
            if len(fields) != len(header):
                report.problem(where, f"{len(fields)} fields, expected {len(header)}")
                continue
            usage = fields[i_use].strip().strip(b'"').decode(errors="replace")
            if usage not in USAGES:
                report.problem(where, f"Usage {usage!r} is not one of {list(USAGES)}")
                continue
            present.add(usage)
            all_usages.append((usage, lineno))
            if wanted is not None and usage not in wanted:
                continue
            emotion = fields[i_emo].strip().strip(b'"')
            if not emotion.isdigit() or int(emotion) >= len(FER7):
                report.problem(where, f"emotion {emotion.decode(errors='replace')!r} is not 0..6")
                continue
            text = fields[i_pix].strip().strip(b'"')
            values = _parse_pixels(text)
            if values.size != n_px or values.min(initial=0) < 0 or values.max(initial=0) > 255:
                report.problem(where, _pixel_problem(text, n_px))
                continue
            images.append(values.astype(np.uint8).reshape(self.image_size, self.image_size))
            labels.append(int(emotion))
            usages.append(usage)
            rows.append(lineno)
        has_rows = any(line.strip() for line in lines[1:])
        self._check_not_empty(report, wanted, present, usages, has_rows)
        meta = {
            "usages_present": [u for u in USAGES if u in present],
            "csv_line": np.asarray(rows),
            **report.meta(),
        }
        ds = FaceDataset(
            images=np.stack(images),
            labels=np.asarray(labels, dtype=np.int64),
            label_space=FER7,
            subjects=None,
            splits=np.asarray(usages, dtype=str),
            source=f"fer2013 {path}",
            meta=meta,
            per_sample=frozenset({"csv_line"}),
        )
        if self.ferplus is not None:
            ds = self._relabel(ds, all_usages, rows)
        return ds

    @staticmethod
    def _check_not_empty(
        report: LoadReport,
        wanted: set[str] | None,
        present: set[str],
        usages: list[str],
        has_rows: bool,
    ) -> None:
        """Raise ``DatasetError`` when no row, or no row of a requested Usage, was loaded."""
        holds = [u for u in USAGES if u in present]
        if wanted is not None:
            for usage in (u for u in USAGES if u in wanted):
                if usage not in usages:
                    raise report.nothing_loaded(
                        f"no rows of Usage {usage!r}; the file holds {holds or 'no rows'}"
                    )
        if not usages:
            raise report.nothing_loaded(
                "no usable rows" if has_rows else "no data rows, only a header"
            )

    def _relabel(self, ds: FaceDataset, all_usages, rows) -> FaceDataset:
        votes, names = _read_ferplus(Path(self.ferplus))
        # Align by order within each Usage: robust to files that omit a whole Usage.
        ferplus_by_usage: dict[str, list[int]] = {}
        for i, (usage, _) in enumerate(votes):
            ferplus_by_usage.setdefault(usage, []).append(i)
        csv_pos: dict[int, tuple[str, int]] = {}
        seen: dict[str, int] = {}
        for usage, lineno in all_usages:
            csv_pos[lineno] = (usage, seen.get(usage, 0))
            seen[usage] = seen.get(usage, 0) + 1
        for usage, count in seen.items():
            have = len(ferplus_by_usage.get(usage, []))
            if have != count:
                raise DatasetError(
                    f"fer2013: {self.ferplus} has {have} {usage} rows but {self.path} has "
                    f"{count}; FER+ labels must come from the matching fer2013new.csv"
                )
        codes = np.full(len(ds), -1, dtype=np.int64)
        kept_votes = np.zeros((len(ds), len(FERPLUS_VOTE_NAMES)))
        dropped = {"not_face": 0, "unknown": 0, "tie": 0}
        for k, lineno in enumerate(rows):
            usage, pos = csv_pos[lineno]
            j = ferplus_by_usage[usage][pos]
            v = votes[j][1]
            kept_votes[k] = v
            emo = v[:8]
            top = emo.max()
            if not names[j] or v[9] >= max(top, v[8]) or v.sum() == 0:
                dropped["not_face"] += 1
                continue
            if v[8] > top and self.ferplus_unknown == "drop":
                dropped["unknown"] += 1
                continue
            best = np.flatnonzero(emo == top)
            if len(best) > 1 and self.ferplus_ties == "drop":
                dropped["tie"] += 1
                continue
            codes[k] = best[0]
        keep = codes >= 0
        source = f"{ds.source} + FER+ {self.ferplus}"
        if not keep.any():
            counts = ", ".join(f"{k}: {v}" for k, v in dropped.items())
            raise DatasetError(f"{source}: the FER+ votes drop every row ({counts})")
        with_votes = replace(
            ds,
            meta={
                **ds.meta,
                "ferplus_dropped": dropped,
                "fer2013_labels": ds.labels,
                "votes": kept_votes,
                "vote_names": list(FERPLUS_VOTE_NAMES),
            },
            per_sample=ds.per_sample | {"fer2013_labels", "votes"},
        )
        return replace(
            with_votes.subset(keep), labels=codes[keep], label_space=FERPLUS8, source=source
        )


def _read_ferplus(path: Path) -> tuple[list[tuple[str, np.ndarray]], list[str]]:
    """Return ``[(usage, votes[10]), ...]`` and image names from ``fer2013new.csv``."""
    if not path.is_file():
        raise DatasetError(f"fer2013: FER+ file {path} does not exist")
    text = _read_text(path).decode(errors="replace")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    expected = ["Usage", "Image name", *[n.capitalize() for n in FERPLUS_EMOTIONS]]
    if header is None or [h.strip().lower() for h in header[:10]] != [e.lower() for e in expected]:
        raise DatasetError(
            f"fer2013: {path}: header {header} does not start with {expected} "
            "(then unknown, NF): not a fer2013new.csv"
        )
    out, names = [], []
    for lineno, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) < 12:
            raise DatasetError(f"fer2013: {path}: line {lineno} has {len(row)} fields, expected 12")
        try:
            votes = np.array([float(x) for x in row[2:12]])
        except ValueError as exc:
            raise DatasetError(f"fer2013: {path}: line {lineno}: {exc}") from exc
        if not all(math.isfinite(x) and x >= 0 for x in votes):
            raise DatasetError(f"fer2013: {path}: line {lineno}: votes must be non-negative")
        out.append((row[0].strip(), votes))
        names.append(row[1].strip())
    return out, names
