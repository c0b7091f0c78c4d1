"""Label spaces and the mappings between them, as data.

A :class:`LabelSpace` is an ordered tuple of class names: label *codes* are
indices into it. Label spaces are known by name through the ``label-space`` plugin kind
(:class:`LabelSpacePlugin`; the built-in ones are below). A :class:`LabelMapping`
carries labels of one space into another through explicit name aliases
(``anger``/``angry``...) or an explicit table (``fer7`` -> ``valence3``), with a policy
for labels that have no target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ferengine.errors import FerengineError, LabelError

if TYPE_CHECKING:
    from ferengine.registry import Registry

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


class LabelSpacePlugin:
    """Declare a label space by name: the ``label-space`` plugin kind.

    A plugin package registers subclasses from its ``ferengine_register_label_spaces``
    hook; every argument that takes a label space name (``label_space=`` of pipelines,
    datasets and suites, :func:`mapping`, :func:`get_label_space`) then accepts it.
    Subclasses set ``name`` (kebab-case), ``names`` (the class names in code order;
    aliases such as anger/angry match across spaces, see :data:`ALIAS_GROUPS`) and a
    docstring whose first line describes the space. The class is checked when it is
    defined: duplicate classes fail the plugin's import.

    The hook returns classes, as every other hook does, so that the registry reports
    each space's package, version and description the same way.
    """

    name: ClassVar[str]
    names: ClassVar[tuple[str, ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "names" in cls.__dict__:
            cls.space()  # raises LabelError on duplicate classes

    @classmethod
    def space(cls) -> LabelSpace:
        """Return the declared :class:`LabelSpace`."""
        return LabelSpace(cls.name, tuple(cls.names))


class Fer7(LabelSpacePlugin):
    """FER2013's seven basic expressions (also JAFFE's and the synthetic faces')."""

    name = "fer7"
    names = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


class CKPlus7(LabelSpacePlugin):
    """CK+'s seven peak expressions, contempt included, in CK+'s code order."""

    name = "ckplus7"
    names = ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")


class CKPlus8(LabelSpacePlugin):
    """CK+'s seven expressions after neutral (code 0), as CK+'s emotion files number them."""

    name = "ckplus8"
    names = ("neutral", *CKPlus7.names)


class AffectNet8(LabelSpacePlugin):
    """AffectNet's eight expression categories, in its code order."""

    name = "affectnet8"
    names = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")


class AffectNet6(LabelSpacePlugin):
    """AffectNet's categories without disgust and contempt (its six largest)."""

    name = "affectnet6"
    names = ("neutral", "happy", "sad", "surprise", "fear", "anger")


class FerPlus8(LabelSpacePlugin):
    """FER+'s eight majority-vote classes, in the order of its vote columns."""

    name = "ferplus8"
    names = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")


class Valence3(LabelSpacePlugin):
    """Positive, neutral and negative valence (Russell's valence axis, binned)."""

    name = "valence3"
    names = ("positive", "neutral", "negative")


#: The built-in label-space plugins (registered by the ``ferengine_datasets`` plugin).
BUILTIN_LABEL_SPACES: tuple[type[LabelSpacePlugin], ...] = (
    Fer7, CKPlus7, CKPlus8, AffectNet8, AffectNet6, FerPlus8, Valence3,
)  # fmt: skip

FER7 = Fer7.space()
CKPLUS7 = CKPlus7.space()
CKPLUS8 = CKPlus8.space()
AFFECTNET8 = AffectNet8.space()
AFFECTNET6 = AffectNet6.space()
FERPLUS8 = FerPlus8.space()
VALENCE3 = Valence3.space()

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


def get_label_space(space: str | LabelSpace, registry: Registry | None = None) -> LabelSpace:
    """Return a registered label space by name (or pass a :class:`LabelSpace` through).

    Parameters
    ----------
    space : str or LabelSpace
        A ``label-space`` plugin name (``ferengine plugins label-space``), plain or
        qualified (``PACKAGE:NAME``), or a label space.
    registry : Registry, optional
        Where the name is looked up (default: the installed plugins).

    Raises
    ------
    LabelError
        No label space has that name (the closest names are suggested), or several
        packages register it.
    """
    if isinstance(space, LabelSpace):
        return space
    from ferengine.registry import get_registry

    try:
        return (registry or get_registry()).get("label-space", space).space()
    except FerengineError as exc:
        message = exc.args[0] if exc.args else str(exc)
        raise LabelError(f"unknown label space {space!r}: {message}") from None


def label_spaces(registry: Registry | None = None) -> dict[str, LabelSpace]:
    """Return every available registered label space by name, in name order."""
    from ferengine.registry import get_registry

    registry = registry or get_registry()
    return {
        name: registry.get("label-space", name).space()
        for name in registry.names("label-space", available_only=True)
    }


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
