"""Label spaces and the mappings between them, as data.

A :class:`LabelSpace` is an ordered tuple of class names: label *codes* are
indices into it. A :class:`LabelMapping` carries labels of one space into
another through explicit name aliases (``anger``/``angry``...) or an explicit
table (``fer7`` -> ``valence3``), with a policy for labels that have no target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ferengine.errors import LabelError

#: Synonym groups: every spelling maps to the first one (its canonical form).
ALIAS_GROUPS: tuple[tuple[str, ...], ...] = (
    ("angry", "anger", "an"),
    ("disgust", "disgusted", "di"),
    ("fear", "fearful", "afraid", "scared", "fe"),
    ("happy", "happiness", "joy", "ha"),
    ("sad", "sadness", "sa"),
    ("surprise", "surprised", "su"),
    ("neutral", "ne"),
    ("contempt", "co"),
)
ALIASES: dict[str, str] = {alias: group[0] for group in ALIAS_GROUPS for alias in group}


def canonical(label: str) -> str:
    """Return the canonical spelling of an expression name (``"Anger"`` -> ``"angry"``)."""
    key = str(label).strip().lower()
    return ALIASES.get(key, key)


@dataclass(frozen=True)
class LabelSpace:
    """An ordered set of class names; a label code is an index into ``names``.

    Parameters
    ----------
    name : str
        Identifier such as ``"fer7"``.
    names : tuple of str
        Class names in code order.
    """

    name: str
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        keys = [canonical(n) for n in self.names]
        if len(set(keys)) != len(keys):
            raise LabelError(f"label space {self.name!r} has duplicate classes: {self.names}")

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, label: object) -> bool:
        return any(canonical(n) == canonical(str(label)) for n in self.names)

    def index(self, label: str | int) -> int:
        """Return the code of a class name (aliases accepted) or check a code."""
        if isinstance(label, int | np.integer):
            if not 0 <= int(label) < len(self.names):
                raise LabelError(
                    f"label code {label} is outside label space {self.name!r} "
                    f"(0..{len(self.names) - 1})"
                )
            return int(label)
        key = canonical(label)
        for i, n in enumerate(self.names):
            if canonical(n) == key:
                return i
        raise LabelError(
            f"label {label!r} is not in label space {self.name!r}; its classes are "
            f"{', '.join(self.names)}"
        )

    def encode(self, labels: Sequence[str | int] | np.ndarray) -> np.ndarray:
        """Return int64 codes for class names or codes (aliases accepted)."""
        arr = np.asarray(labels)
        if arr.dtype.kind in "iu":
            bad = (arr < 0) | (arr >= len(self.names))
            if bad.any():
                raise LabelError(
                    f"label codes {sorted(set(arr[bad].tolist()))[:5]} are outside label space "
                    f"{self.name!r} (0..{len(self.names) - 1})"
                )
            return arr.astype(np.int64)
        lookup = {}
        for value in np.unique(arr):
            lookup[value] = self.index(str(value))
        return np.array([lookup[v] for v in arr], dtype=np.int64)

    def decode(self, codes: Sequence[int] | np.ndarray) -> np.ndarray:
        """Return class names for codes."""
        return np.asarray(self.names, dtype=object)[self.encode(np.asarray(codes, dtype=np.int64))]


FER7 = LabelSpace("fer7", ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"))
CKPLUS7 = LabelSpace(
    "ckplus7", ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")
)
AFFECTNET8 = LabelSpace(
    "affectnet8",
    ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt"),
)
AFFECTNET6 = LabelSpace("affectnet6", ("neutral", "happy", "sad", "surprise", "fear", "anger"))
FERPLUS8 = LabelSpace(
    "ferplus8",
    ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"),
)
CKPLUS8 = LabelSpace("ckplus8", ("neutral", *CKPLUS7.names))
VALENCE3 = LabelSpace("valence3", ("positive", "neutral", "negative"))

LABEL_SPACES: dict[str, LabelSpace] = {
    s.name: s for s in (FER7, CKPLUS7, CKPLUS8, AFFECTNET8, AFFECTNET6, FERPLUS8, VALENCE3)
}

#: Canonical expression -> valence class (Russell's valence axis, as binned in the seeds).
VALENCE: dict[str, str] = {
    "happy": "positive",
    "neutral": "neutral",
    "surprise": "neutral",
    "angry": "negative",
    "disgust": "negative",
    "fear": "negative",
    "sad": "negative",
    "contempt": "negative",
}


def get_label_space(space: str | LabelSpace) -> LabelSpace:
    """Return a built-in label space by name (or pass a :class:`LabelSpace` through)."""
    if isinstance(space, LabelSpace):
        return space
    try:
        return LABEL_SPACES[space]
    except KeyError:
        raise LabelError(
            f"unknown label space {space!r}; known: {', '.join(LABEL_SPACES)}"
        ) from None


@dataclass(frozen=True)
class LabelMapping:
    """Carry labels from ``source`` to ``target``.

    Parameters
    ----------
    source, target : LabelSpace
    table : mapping of str to str
        Source class name -> target class name, for every class that has a target.
    unmapped : {"drop", "error"} or str
        What happens to a source class missing from ``table``: drop its samples,
        raise :class:`~ferengine.errors.LabelError`, or map it to the named target class.
    """

    source: LabelSpace
    target: LabelSpace
    table: Mapping[str, str] = field(default_factory=dict)
    unmapped: str = "drop"

    def __post_init__(self) -> None:
        for src, dst in self.table.items():
            self.source.index(src)
            self.target.index(dst)
        if self.unmapped not in ("drop", "error"):
            self.target.index(self.unmapped)

    def code_table(self) -> np.ndarray:
        """Return, per source code, the target code or -1 for "drop"."""
        out = np.full(len(self.source), -1, dtype=np.int64)
        for i, src in enumerate(self.source.names):
            dst = self.table.get(src)
            if dst is None:
                if self.unmapped == "error":
                    continue
                if self.unmapped != "drop":
                    dst = self.unmapped
            if dst is not None:
                out[i] = self.target.index(dst)
        return out

    def apply(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map source codes; return ``(target_codes, keep_mask)`` (dropped rows hold -1)."""
        codes = self.source.encode(codes)
        table = self.code_table()
        mapped = table[codes]
        if self.unmapped == "error" and (mapped < 0).any():
            missing = sorted({self.source.names[c] for c in codes[mapped < 0]})
            raise LabelError(
                f"labels {missing} of {self.source.name!r} have no class in "
                f"{self.target.name!r} (unmapped='error'); give a table entry or a policy"
            )
        return mapped, mapped >= 0


def mapping(
    source: str | LabelSpace,
    target: str | LabelSpace,
    unmapped: str = "drop",
    table: Mapping[str, str] | None = None,
) -> LabelMapping:
    """Build a mapping between label spaces from aliases (or the valence table).

    Parameters
    ----------
    source, target : str or LabelSpace
    unmapped : {"drop", "error", "keep"} or str
        Policy for source classes with no target (see :class:`LabelMapping`);
        ``"keep"`` appends them to the target as extra classes (e.g. CK+ contempt
        kept beside the seven FER2013 classes, in a space named ``fer7+contempt``).
    table : mapping, optional
        Explicit entries that override the automatic ones, e.g. ``{"contempt": "disgust"}``.
    """
    src, dst = get_label_space(source), get_label_space(target)
    auto: dict[str, str] = {}
    for name in src.names:
        key = canonical(name)
        if dst is VALENCE3 or dst.name == "valence3":
            if key in VALENCE:
                auto[name] = VALENCE[key]
        elif name in dst:
            auto[name] = dst.names[dst.index(name)]
    for name, value in (table or {}).items():
        auto[src.names[src.index(name)]] = value
    if unmapped == "keep":
        extra = tuple(n for n in src.names if n not in auto)
        if extra:
            dst = LabelSpace(f"{dst.name}+{'+'.join(extra)}", dst.names + extra)
            auto.update({n: n for n in extra})
        unmapped = "error"
    return LabelMapping(src, dst, auto, unmapped)
