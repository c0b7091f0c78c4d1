"""Audit one dataset, or two against each other: what :func:`audit_dataset` finds.

Every image of the dataset(s) is one row of a combined index: its dataset, row, split
(``"(all)"`` for a dataset without splits) and label. Exact copies are grouped by content
hash; near copies are searched among the distinct images only (one per exact group, blank
ones left out), so a byte-identical pair is never reported again as a near pair.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ferengine.audit import checks, hashes, near
from ferengine.dataset import FaceDataset
from ferengine.errors import DatasetError

#: Largest pHash Hamming distance (of 256 bits) reported as a near-duplicate pair. On
#: clean synthetic data 2 of 11.0 million pairs of different images come this close
#: (``benchmarks/audit_thresholds.py``); small noise (σ 3), a brightness shift of 10 grey
#: levels and a JPEG round trip at quality 75 all stay within it.
NEAR_THRESHOLD = 20
#: Smallest cosine similarity of centred CNN embeddings reported with ``embeddings=True``.
#: On FER2013, pairs at 0.98 or more are nearly all one photo (often cropped differently,
#: which pHash misses); at 0.95 most are different faces with one expression.
EMBEDDING_THRESHOLD = 0.98

SCOPES = ("within split", "across splits", "across datasets")


@dataclass
class Audit:
    """What :func:`audit_dataset` found; every field holds JSON values only.

    Attributes
    ----------
    datasets : list of dict
        Each audited dataset: ``name``, ``source``, ``images``, ``image_shape``,
        ``label_space`` and ``splits`` (images per split).
    settings : dict
        The thresholds and options the audit ran with.
    exact : dict
        ``images``, ``distinct``, ``surplus`` (images − distinct; also ``per_dataset``),
        ``groups`` (distinct images with more than one copy) and ``groups_by_scope``,
        ``copies`` (per dataset and split: how many of its images have a byte-identical
        copy in each split, its own included) and ``group_list`` (every group, members
        with dataset, row, split and label).
    near : dict
        pHash pairs of different images within ``threshold`` bits: ``pairs``,
        ``pairs_by_scope``, ``copies`` (as for ``exact``, images with a near but not
        identical copy), ``copies_exact_or_near`` and ``pair_list``.
    embeddings : dict or None
        The same for cosine similarity of CNN embeddings (``embeddings=True``), each pair
        with its pHash distance too.
    blank : dict
        Images whose pixel standard deviation is below ``max_std``.
    label_conflicts : dict
        Exact groups whose copies carry different labels (compared within one label space).
    subjects : dict
        Per dataset: subjects whose images lie in several splits.
    balance : dict
        Per dataset and split: class counts and the largest/smallest ratio.
    faces : dict or None
        Per dataset: the sampled images in which the detector found no face.
    seconds : dict
        Wall time of each step.
    """

    datasets: list[dict[str, Any]]
    settings: dict[str, Any]
    exact: dict[str, Any]
    near: dict[str, Any]
    embeddings: dict[str, Any] | None
    blank: dict[str, Any]
    label_conflicts: dict[str, Any]
    subjects: dict[str, dict[str, Any]]
    balance: dict[str, dict[str, Any]]
    faces: dict[str, dict[str, Any]] | None
    seconds: dict[str, float]

    def to_json(self) -> str:
        """Return the audit as a JSON document (what ``audit.json`` holds)."""
        return json.dumps(asdict(self), indent=2)


class _Index:
    """The images of one or two datasets as one list: dataset, row, split, label of each."""

    def __init__(self, datasets: list[FaceDataset], names: list[str]) -> None:
        self.names = names
        self.owner = np.concatenate([np.full(len(ds), k) for k, ds in enumerate(datasets)])
        self.row = np.concatenate([np.arange(len(ds)) for ds in datasets])
        splits = [
            np.full(len(ds), "(all)") if ds.splits is None else ds.splits.astype(str)
            for ds in datasets
        ]
        self.split = np.concatenate(splits).astype(object)
        self.label = np.concatenate([ds.label_names.astype(str) for ds in datasets]).astype(object)
        self.space = [ds.label_space.name for ds in datasets]
        #: (dataset number, split) of every part; ``part`` numbers each image's.
        self.parts = [(k, s) for k in range(len(datasets)) for s in sorted(set(splits[k]))]
        lookup = {part: p for p, part in enumerate(self.parts)}
        self.part = np.asarray(
            [lookup[key] for key in zip(self.owner.tolist(), self.split, strict=True)],
            dtype=np.int64,
        )
        self.where = [_locator(ds) for ds in datasets]

    def __len__(self) -> int:
        return len(self.row)

    def member(self, i: int) -> dict[str, Any]:
        """Return image ``i`` as ``{"dataset", "row", "split", "label"}`` (and its file or line)."""
        owner, row = int(self.owner[i]), int(self.row[i])
        out = {
            "dataset": self.names[owner],
            "row": row,
            "split": str(self.split[i]),
            "label": str(self.label[i]),
        }
        where = self.where[owner]
        if where is not None:
            out[where[0]] = where[1][row]
        return out

    def scope(self, *sides: np.ndarray) -> str:
        """Return how far apart the images of ``sides`` lie (one side: among its images)."""
        parts = [set(self.part[s].tolist()) for s in sides]
        pairs = (
            [(a, b) for a in parts[0] for b in parts[0] if a != b]
            if len(parts) == 1
            else [(a, b) for a in parts[0] for b in parts[1]]
        )
        if any(self.parts[a][0] != self.parts[b][0] for a, b in pairs):
            return "across datasets"
        if any(a != b for a, b in pairs):
            return "across splits"
        return "within split"


def _locator(ds: FaceDataset) -> tuple[str, list] | None:
    """Return the per-image file or CSV line of a dataset (``("file", [...])``), if it has one."""
    if "files" in ds.per_sample:
        return "file", [str(f) for f in ds.meta["files"]]
    if "csv_line" in ds.per_sample:
        return "csv_line", [int(n) for n in ds.meta["csv_line"]]
    return None


def audit_dataset(
    dataset: FaceDataset,
    against: FaceDataset | None = None,
    *,
    name: str | None = None,
    against_name: str | None = None,
    near_threshold: int = NEAR_THRESHOLD,
    blank_std: float = checks.BLANK_STD,
    embeddings: bool = False,
    embedding_threshold: float = EMBEDDING_THRESHOLD,
    embedding_model: str = "fer2013",
    faces_sample: int = 0,
    detector: str = "auto",
    seed: int = 0,
) -> Audit:
    """Audit a face dataset (and, with ``against``, a second one against it).

    Parameters
    ----------
    dataset : FaceDataset
        The dataset to audit.
    against : FaceDataset, optional
        A second dataset: copies between the two are reported as ``across datasets``.
    name, against_name : str, optional
        How the report names them (default: their ``source``).
    near_threshold : int
        Largest pHash Hamming distance (0-256) of a near-duplicate pair.
    blank_std : float
        Images whose grey-level standard deviation is below this are blank; they are
        left out of the near-duplicate searches.
    embeddings : bool
        Also pair images whose centred CNN embeddings (``embedding_model``, the ``deep``
        extra) have a cosine similarity of at least ``embedding_threshold``.
    embedding_threshold : float
        See ``embeddings``.
    embedding_model : str
        A saved model ending in a fitted ``cnn`` (file or registered name); the threshold
        was chosen on ``fer2013``'s embeddings.
    faces_sample : int
        Run ``detector`` on this many random images of each dataset (0: skip the check).
    detector : str
        A registered face detector.
    seed : int
        Seed of the face-check sample.

    Returns
    -------
    Audit
    """
    start_all = time.perf_counter()
    datasets = [dataset] if against is None else [dataset, against]
    for ds in datasets:
        if not isinstance(ds, FaceDataset):
            raise DatasetError(
                f"audit: expected a FaceDataset of still images, got {type(ds).__name__}"
            )
        if not len(ds):
            raise DatasetError(f"audit: {ds.source or 'the dataset'} holds no image")
    if not 0 <= near_threshold <= hashes.PHASH_BITS:
        raise ValueError(f"near_threshold must be in 0…{hashes.PHASH_BITS}, got {near_threshold}")
    if faces_sample < 0:
        raise ValueError(f"faces_sample must be at least 0, got {faces_sample}")
    names = [name or dataset.source or "dataset"]
    if against is not None:
        names.append(against_name or against.source or "against")
        if names[1] == names[0]:
            names[1] += " (against)"
    index = _Index(datasets, names)
    seconds: dict[str, float] = {}

    def timed(step: str, started: float) -> None:
        seconds[step] = round(time.perf_counter() - started, 3)

    t = time.perf_counter()
    digests = np.concatenate([hashes.content_hashes(ds.images) for ds in datasets])
    inverse, counts = hashes.exact_groups(digests)
    timed("content hash", t)
    t = time.perf_counter()
    std = np.concatenate([checks.pixel_std(ds.images) for ds in datasets])
    timed("blank", t)

    n_parts = len(index.parts)
    per_part = np.bincount(inverse * n_parts + index.part, minlength=len(counts) * n_parts)
    per_part = per_part.reshape(len(counts), n_parts)
    members = np.split(np.argsort(inverse, kind="stable"), np.cumsum(counts)[:-1])
    exact = _exact(index, inverse, counts, members, per_part)
    first = np.asarray([m[0] for m in members], dtype=np.int64)  # one image of each

    candidates = first[std[first] >= blank_std]  # distinct, not blank
    t = time.perf_counter()
    phash = _phash(datasets, index, candidates)
    timed("perceptual hash", t)
    t = time.perf_counter()
    pairs, dist = near.hamming_pairs(phash, near_threshold)
    timed("near search", t)
    near_found = _pairs(index, inverse, members, per_part, candidates[pairs], dist, "distance")
    near_found = {
        "threshold": near_threshold,
        "hash": f"pHash, {hashes.PHASH_BITS} bits",
        "skipped_blank": int(len(first) - len(candidates)),
        **near_found,
    }
    has_near = near_found.pop("_has")
    near_found["copies_exact_or_near"] = _copies(
        index, inverse, has_near | (per_part > 0), same=has_near | (per_part > 1)
    )

    found_embeddings = None
    if embeddings:
        t = time.perf_counter()
        vectors = _embeddings(datasets, index, candidates, embedding_model)
        emb_pairs, sims = near.cosine_pairs(vectors, embedding_threshold)
        timed("embeddings", t)
        phash_distance = np.bitwise_count(phash[emb_pairs[:, 0]] ^ phash[emb_pairs[:, 1]])
        found_embeddings = _pairs(
            index,
            inverse,
            members,
            per_part,
            candidates[emb_pairs],
            sims.round(4),
            "similarity",
            {"phash_distance": phash_distance.sum(axis=1)},
        )
        found_embeddings.pop("_has")
        found_embeddings = {
            "threshold": embedding_threshold,
            "model": embedding_model,
            "skipped_blank": near_found["skipped_blank"],
            **found_embeddings,
        }

    blank_rows = np.flatnonzero(std < blank_std)
    blank = {
        "max_std": blank_std,
        "count": len(blank_rows),
        "images": [{**index.member(i), "std": round(float(std[i]), 3)} for i in blank_rows],
    }

    faces = None
    if faces_sample:
        t = time.perf_counter()
        faces = _faces(datasets, index, faces_sample, detector, seed)
        timed("faces", t)

    seconds["total"] = round(time.perf_counter() - start_all, 3)
    return Audit(
        datasets=[_describe(ds, n) for ds, n in zip(datasets, names, strict=True)],
        settings={
            "near_threshold": near_threshold,
            "blank_std": blank_std,
            "embeddings": embeddings,
            "embedding_threshold": embedding_threshold,
            "embedding_model": embedding_model if embeddings else None,
            "faces_sample": faces_sample,
            "detector": detector if faces_sample else None,
            "seed": seed,
        },
        exact=exact,
        near=near_found,
        embeddings=found_embeddings,
        blank=blank,
        label_conflicts=_label_conflicts(index, exact["group_list"]),
        subjects={
            n: checks.subjects_in_several_splits(ds) for ds, n in zip(datasets, names, strict=True)
        },
        balance={n: checks.class_balance(ds) for ds, n in zip(datasets, names, strict=True)},
        faces=faces,
        seconds=seconds,
    )


def _exact(
    index: _Index,
    inverse: np.ndarray,
    counts: np.ndarray,
    members: list[np.ndarray],
    per_part: np.ndarray,
) -> dict[str, Any]:
    """Summarise the exact groups: distinct and surplus counts, scopes, copies per split."""
    per_dataset = {}
    for k, name in enumerate(index.names):
        mine = index.owner == k
        distinct = len(np.unique(inverse[mine]))
        per_dataset[name] = {
            "images": int(mine.sum()),
            "distinct": distinct,
            "surplus": int(mine.sum()) - distinct,
        }
    groups = [
        {
            "size": int(counts[g]),
            "scope": index.scope(members[g]),
            "labels": sorted(set(index.label[members[g]].tolist())),
            "members": [index.member(i) for i in members[g]],
        }
        for g in np.flatnonzero(counts > 1)
    ]
    groups.sort(key=lambda grp: (-SCOPES.index(grp["scope"]), -grp["size"]))
    return {
        "images": len(index),
        "distinct": len(counts),
        "surplus": len(index) - len(counts),
        "per_dataset": per_dataset,
        "groups": len(groups),
        "groups_by_scope": {s: sum(grp["scope"] == s for grp in groups) for s in SCOPES},
        "copies": _copies(index, inverse, per_part > 0, same=per_part > 1),
        "group_list": groups,
    }


def _copies(
    index: _Index, inverse: np.ndarray, has: np.ndarray, same: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """Count, per split, the images whose distinct image has a copy in each split.

    ``has[g, q]`` says whether distinct image ``g`` has a copy in part ``q``; ``same``
    replaces it for an image's own part (for exact copies: a second member there).
    """
    out = []
    for p, (owner, split) in enumerate(index.parts):
        mine = index.part == p
        counts = has[inverse[mine]].sum(axis=0)
        if same is not None:
            counts[p] = same[inverse[mine], p].sum()
        for q, (other, other_split) in enumerate(index.parts):
            if counts[q]:
                out.append(
                    {
                        "dataset": index.names[owner],
                        "split": split,
                        "other_dataset": index.names[other],
                        "other_split": other_split,
                        "images": int(counts[q]),
                        "of": int(mine.sum()),
                    }
                )
    return out


def _pairs(
    index: _Index,
    inverse: np.ndarray,
    members: list[np.ndarray],
    per_part: np.ndarray,
    image_pairs: np.ndarray,
    values: np.ndarray,
    key: str,
    extra: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Describe pairs of distinct images (``image_pairs``: one image of each, M×2).

    Each pair holds its ``key`` (from ``values``), the ``extra`` values of that pair, the
    labels of both images' copies and the copies themselves. Pairs are sorted widest scope
    first, then closest first. ``_has`` (removed by the caller) marks, per distinct image
    and split, whether a paired image has a copy there.
    """
    groups = inverse[image_pairs] if len(image_pairs) else np.zeros((0, 2), dtype=np.int64)
    has = np.zeros(per_part.shape, dtype=bool)
    np.logical_or.at(has, groups[:, 0], per_part[groups[:, 1]] > 0)
    np.logical_or.at(has, groups[:, 1], per_part[groups[:, 0]] > 0)
    listed = []
    extras = [{k: v[m].item() for k, v in (extra or {}).items()} for m in range(len(groups))]
    for (a, b), value, more in zip(groups.tolist(), values.tolist(), extras, strict=True):
        listed.append(
            {
                key: value,
                **more,
                "scope": index.scope(members[a], members[b]),
                "labels": sorted(set(index.label[np.concatenate([members[a], members[b]])])),
                "a": [index.member(i) for i in members[a]],
                "b": [index.member(i) for i in members[b]],
            }
        )
    closest = -1 if key == "similarity" else 1
    listed.sort(key=lambda p: (-SCOPES.index(p["scope"]), closest * p[key]))
    return {
        "pairs": len(listed),
        "pairs_by_scope": {s: sum(p["scope"] == s for p in listed) for s in SCOPES},
        "copies": _copies(index, inverse, has),
        "pair_list": listed,
        "_has": has,
    }


def _by_owner(index: _Index, images: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Split global image numbers by dataset: ``(dataset, positions in images, rows)``."""
    out = []
    for k in range(len(index.names)):
        at = np.flatnonzero(index.owner[images] == k)
        if len(at):
            out.append((k, at, index.row[images[at]]))
    return out


def _phash(datasets: list[FaceDataset], index: _Index, images: np.ndarray) -> np.ndarray:
    """Return the perceptual hash of the given images (global numbers) of the datasets."""
    out = np.zeros((len(images), hashes.PHASH_BITS // 64), dtype=np.uint64)
    for k, at, rows in _by_owner(index, images):
        out[at] = hashes.perceptual_hashes(datasets[k].subset(rows).images)
    return out


def _embeddings(
    datasets: list[FaceDataset], index: _Index, images: np.ndarray, model: str
) -> np.ndarray:
    """Return the centred CNN embeddings of the given images (global numbers)."""
    from ferengine.audit.embeddings import centred_embeddings

    parts = _by_owner(index, images)
    vectors = centred_embeddings([datasets[k].subset(rows).images for k, _, rows in parts], model)
    out = np.zeros_like(vectors)
    out[np.concatenate([at for _, at, _ in parts])] = vectors
    return out


def _faces(
    datasets: list[FaceDataset], index: _Index, n: int, detector: str, seed: int
) -> dict[str, dict[str, Any]]:
    """Run the detector on ``n`` random images of each dataset; list those without a face."""
    rng = np.random.default_rng(seed)
    offsets = np.cumsum([0, *(len(ds) for ds in datasets)])
    out = {}
    for k, ds in enumerate(datasets):
        rows = np.sort(rng.choice(len(ds), size=min(n, len(ds)), replace=False))
        missing = checks.rows_without_face(ds.images, rows, detector)
        out[index.names[k]] = {
            "detector": detector,
            "sampled": len(rows),
            "without_face": len(missing),
            "share": round(len(missing) / len(rows), 4) if len(rows) else None,
            "images": [index.member(offsets[k] + r) for r in missing.tolist()],
        }
    return out


def _label_conflicts(index: _Index, groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the exact groups whose copies carry different labels of one label space."""
    space = dict(zip(index.names, index.space, strict=True))
    conflicts = []
    for group in groups:
        labels: dict[str, set[str]] = {}
        for m in group["members"]:
            labels.setdefault(space[m["dataset"]], set()).add(m["label"])
        if any(len(found) > 1 for found in labels.values()):
            conflicts.append(group)
    return {
        "groups": len(conflicts),
        "images": sum(g["size"] for g in conflicts),
        "group_list": conflicts,
    }


def _describe(ds: FaceDataset, name: str) -> dict[str, Any]:
    splits = (
        {"(all)": len(ds)}
        if ds.splits is None
        else {s: int((ds.splits == s).sum()) for s in sorted(set(ds.splits.tolist()))}
    )
    return {
        "name": name,
        "source": ds.source,
        "images": len(ds),
        "image_shape": list(ds.images.shape[1:]),
        "label_space": ds.label_space.name,
        "splits": splits,
    }
