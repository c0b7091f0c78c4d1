"""Write an :class:`~ferengine.audit.Audit` as ``audit.json`` and a self-contained ``audit.html``.

The page needs no network: styles are inline and every image is a base64 PNG in the
file. It shows summary tables, then the offending groups and pairs side by side, each
section capped at ``max_shown`` entries with the total stated.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ferengine.audit.run import SCOPES, Audit
from ferengine.dataset import FaceDataset
from ferengine.fileio import write_atomic

#: Entries shown per section of the page (the JSON holds them all).
MAX_SHOWN = 60
#: Copies of one exact group shown as captions (the rest counted).
MAX_MEMBERS = 6
#: Side of a thumbnail on the page, in CSS pixels (the PNG keeps the image's own size).
THUMB = 96

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; max-width: 70em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
img { width: THUMBpx; height: THUMBpx; image-rendering: pixelated; border: 1px solid #999; }
.note { color: #555; }
.flag { color: #a40000; font-weight: 600; }
""".replace("THUMB", str(THUMB))


def write_json(audit: Audit, path: str | Path) -> Path:
    """Write ``audit.json``: every count and every offending group and pair."""
    return write_atomic(path, audit.to_json() + "\n")


def write_html(
    audit: Audit, datasets: Sequence[FaceDataset], path: str | Path, max_shown: int = MAX_SHOWN
) -> Path:
    """Write the audit as one self-contained HTML page.

    Parameters
    ----------
    audit : Audit
    datasets : sequence of FaceDataset
        The audited datasets, in the order of ``audit.datasets`` (their images are shown).
    path : str or Path
        The page to write.
    max_shown : int
        Entries shown per section; the page says how many there are in all.
    """
    if len(datasets) != len(audit.datasets):
        raise ValueError(f"the audit is of {len(audit.datasets)} datasets, got {len(datasets)}")
    page = _Page({d["name"]: ds for d, ds in zip(audit.datasets, datasets, strict=True)})
    title = " against ".join(d["name"] for d in audit.datasets)
    body = [f"<h1>Dataset audit: {_e(title)}</h1>", _settings(audit), _summary(audit)]
    body += [_copies_table(audit), _balance(audit)]
    body.append(
        page.groups(
            "Exact duplicates",
            audit.exact["group_list"],
            max_shown,
            "byte-identical images; widest scope first, then largest",
        )
    )
    body.append(
        page.groups(
            "Label conflicts",
            audit.label_conflicts["group_list"],
            max_shown,
            "byte-identical images under different labels",
        )
    )
    body.append(
        page.pairs(
            "Near duplicates (perceptual hash)",
            audit.near["pair_list"],
            "distance",
            max_shown,
            f"pHash Hamming distance ≤ {audit.near['threshold']} of 256 bits",
        )
    )
    if audit.embeddings is not None:
        body.append(
            page.pairs(
                "Near duplicates (CNN embeddings)",
                audit.embeddings["pair_list"],
                "similarity",
                max_shown,
                f"cosine similarity of centred embeddings ≥ {audit.embeddings['threshold']}",
            )
        )
    body.append(
        page.singles(
            "Blank or near-constant images",
            audit.blank["images"],
            max_shown,
            f"grey-level standard deviation < {audit.blank['max_std']}",
            "std",
        )
    )
    if audit.faces is not None:
        missing = [m for found in audit.faces.values() for m in found["images"]]
        body.append(
            page.singles(
                "No face found",
                missing,
                max_shown,
                "sampled images in which the detector found no face",
            )
        )
    doc = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Audit: {_e(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
    return write_atomic(path, doc)


def _e(value: Any) -> str:
    return html.escape(str(value))


def _phash_note(pair: dict[str, Any]) -> str:
    """Return the pHash distance of an embedding pair, as a second line of its cell."""
    return f"<br>pHash {pair['phash_distance']}" if "phash_distance" in pair else ""


def _labels_cell(labels: list[str]) -> str:
    """Return a table cell of labels, flagged when there is more than one."""
    flag = ' class="flag"' if len(labels) > 1 else ""
    return f"<td{flag}>{_e(', '.join(labels))}</td>"


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else _e(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[bool]) -> str:
    def cell(tag: str, value: Any, num: bool) -> str:
        return f'<{tag} class="n">{_n(value)}</{tag}>' if num else f"<{tag}>{_n(value)}</{tag}>"

    head = "".join(cell("th", h, num) for h, num in zip(header, numeric, strict=True))
    body = "".join(
        "<tr>" + "".join(cell("td", v, num) for v, num in zip(row, numeric, strict=True)) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _settings(audit: Audit) -> str:
    shown = ", ".join(f"{k} = {v}" for k, v in audit.settings.items() if v is not None)
    datasets = "; ".join(
        f"{d['name']} ({d['source']}): {d['images']:,} images "
        f"{'×'.join(map(str, d['image_shape']))}, {d['label_space']}"
        for d in audit.datasets
    )
    return (
        f'<p class="note">{_e(datasets)}.<br>Settings: {_e(shown)}. '
        f"Took {audit.seconds['total']:.1f} s.</p>"
    )


def _summary(audit: Audit) -> str:
    rows: list[tuple[str, Any]] = []
    for name, ex in audit.exact["per_dataset"].items():
        rows.append(
            (
                f"{name}: images / distinct / surplus exact copies",
                f"{ex['images']:,} / {ex['distinct']:,} / {ex['surplus']:,}",
            )
        )
    if len(audit.datasets) > 1:
        rows.append(
            (
                "both datasets: distinct / surplus",
                f"{audit.exact['distinct']:,} / {audit.exact['surplus']:,}",
            )
        )
    scopes = lambda found: ", ".join(f"{found[s]:,} {s}" for s in SCOPES if found[s])  # noqa: E731
    rows.append(
        (
            "exact duplicate groups",
            f"{audit.exact['groups']:,} ({scopes(audit.exact['groups_by_scope']) or 'none'})",
        )
    )
    rows.append(
        (
            f"near-duplicate pairs (pHash ≤ {audit.near['threshold']})",
            f"{audit.near['pairs']:,} ({scopes(audit.near['pairs_by_scope']) or 'none'})",
        )
    )
    if audit.embeddings is not None:
        rows.append(
            (
                f"embedding pairs (cosine ≥ {audit.embeddings['threshold']})",
                f"{audit.embeddings['pairs']:,} "
                f"({scopes(audit.embeddings['pairs_by_scope']) or 'none'})",
            )
        )
    rows.append((f"blank images (std < {audit.blank['max_std']})", audit.blank["count"]))
    rows.append(
        (
            "label conflicts (exact groups / images)",
            f"{audit.label_conflicts['groups']:,} / {audit.label_conflicts['images']:,}",
        )
    )
    for name, found in audit.subjects.items():
        shown = (
            f"{found['in_several_splits']:,} of {found['subjects']:,}"
            if found["known"]
            else f"unknown: {found['reason']}"
        )
        rows.append((f"{name}: subjects in several splits", shown))
    for name, found in (audit.faces or {}).items():
        rows.append(
            (
                f"{name}: no face found ({found['detector']})",
                f"{found['without_face']:,} of {found['sampled']:,} sampled "
                f"({100 * (found['share'] or 0):.1f} %)",
            )
        )
    return "<h2>Summary</h2>" + _table(["check", "finding"], rows, [False, False])


def copies_rows(audit: Audit) -> tuple[list[str], list[list[Any]]]:
    """Return the table of copies per split: its header and one row per pair of splits.

    A row counts the images of one split that have a copy in another split (or, for their
    own split, a second copy there): byte-identical, near (a different image within the
    pHash threshold), either, and with embeddings a CNN-embedding pair too.
    """
    kinds = {
        "exact": audit.exact["copies"],
        "near": audit.near["copies"],
        "exact or near": audit.near["copies_exact_or_near"],
    }
    if audit.embeddings is not None:
        kinds["CNN embeddings"] = audit.embeddings["copies"]
    keyed: dict[tuple, dict[str, int]] = {}
    for kind, entries in kinds.items():
        for c in entries:
            key = (
                f"{c['dataset']} {c['split']}",
                f"{c['other_dataset']} {c['other_split']}",
                c["of"],
            )
            keyed.setdefault(key, {})[kind] = c["images"]
    header = ["images of", "with a copy in", *kinds, "of"]
    rows = [
        [mine, other, *(f.get(k, 0) for k in kinds), of] for (mine, other, of), f in keyed.items()
    ]
    return header, rows


def _copies_table(audit: Audit) -> str:
    header, rows = copies_rows(audit)
    if not rows:
        return '<h2 id="copies">Copies across splits</h2><p>No image has a copy anywhere.</p>'
    note = (
        '<p class="note">Images of a split with a copy in a split (their own split: a '
        "second copy there). Near: a different image within the pHash threshold.</p>"
    )
    numeric = [False, False, *([True] * (len(header) - 2))]
    return '<h2 id="copies">Copies across splits</h2>' + note + _table(header, rows, numeric)


def _balance(audit: Audit) -> str:
    out = ["<h2>Class balance</h2>"]
    for name, splits in audit.balance.items():
        classes = list(next(iter(splits.values()))["counts"])
        rows = [[c, *(s["counts"][c] for s in splits.values())] for c in classes]
        rows.append(["largest / smallest", *(s["imbalance"] for s in splits.values())])
        out.append(
            f"<h3>{_e(name)}</h3>"
            + _table(["class", *splits], rows, [False, *([True] * len(splits))])
        )
    return "".join(out)


class _Page:
    """Thumbnails of audited images, each encoded once."""

    def __init__(self, datasets: dict[str, FaceDataset]) -> None:
        self.datasets = datasets
        self.cache: dict[tuple[str, int], str] = {}

    def image(self, member: dict[str, Any]) -> str:
        key = (member["dataset"], member["row"])
        if key not in self.cache:
            img = np.asarray(self.datasets[key[0]].images[key[1]])
            if img.ndim == 3:
                img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
            png = base64.b64encode(cv2.imencode(".png", img)[1].tobytes()).decode("ascii")
            self.cache[key] = f'<img alt="" src="data:image/png;base64,{png}">'
        return self.cache[key]

    @staticmethod
    def caption(member: dict[str, Any]) -> str:
        where = (
            f", {member['file']}"
            if "file" in member
            else (f", CSV line {member['csv_line']}" if "csv_line" in member else "")
        )
        return _e(
            f"{member['dataset']} {member['split']} row {member['row']}{where}: {member['label']}"
        )

    def members(self, members: list[dict[str, Any]]) -> str:
        shown = "<br>".join(self.caption(m) for m in members[:MAX_MEMBERS])
        more = len(members) - MAX_MEMBERS
        return shown + (f"<br>… and {more} more" if more > 0 else "")

    @staticmethod
    def heading(title: str, total: int, max_shown: int, what: str) -> str:
        shown = f"showing {min(total, max_shown):,} of {total:,}" if total else "none"
        anchor = re.sub(r"[^a-z]+", "-", title.lower()).strip("-")
        return f'<h2 id="{anchor}">{_e(title)}</h2><p class="note">{_e(what)}: {shown}.</p>'

    def groups(self, title: str, groups: list[dict], max_shown: int, what: str) -> str:
        rows = [
            f"<tr><td>{self.image(g['members'][0])}</td><td class='n'>{g['size']}</td>"
            f"<td>{_e(g['scope'])}</td>"
            f"{_labels_cell(g['labels'])}"
            f"<td>{self.members(g['members'])}</td></tr>"
            for g in groups[:max_shown]
        ]
        table = (
            "<table><tr><th>image</th><th class='n'>copies</th><th>scope</th>"
            "<th>labels</th><th>where</th></tr>" + "".join(rows) + "</table>"
        )
        return self.heading(title, len(groups), max_shown, what) + (table if rows else "")

    def pairs(self, title: str, pairs: list[dict], key: str, max_shown: int, what: str) -> str:
        rows = [
            f"<tr><td>{self.image(p['a'][0])}</td><td>{self.image(p['b'][0])}</td>"
            f"<td class='n'>{_e(p[key])}{_phash_note(p)}</td><td>{_e(p['scope'])}</td>"
            f"{_labels_cell(p['labels'])}"
            f"<td>{self.members(p['a'])}</td><td>{self.members(p['b'])}</td></tr>"
            for p in pairs[:max_shown]
        ]
        table = (
            f"<table><tr><th>image a</th><th>image b</th><th class='n'>{_e(key)}</th>"
            "<th>scope</th><th>labels</th><th>a: where</th><th>b: where</th></tr>"
            + "".join(rows)
            + "</table>"
        )
        return self.heading(title, len(pairs), max_shown, what) + (table if rows else "")

    def singles(
        self, title: str, members: list[dict], max_shown: int, what: str, extra: str | None = None
    ) -> str:
        cells = [
            f"<tr><td>{self.image(m)}</td><td>{self.caption(m)}"
            + (f"<br>{_e(extra)} {_e(m[extra])}" if extra else "")
            + "</td></tr>"
            for m in members[:max_shown]
        ]
        table = "<table><tr><th>image</th><th>where</th></tr>" + "".join(cells) + "</table>"
        return self.heading(title, len(members), max_shown, what) + (table if cells else "")
