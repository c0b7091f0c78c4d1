"""One folder per class, optionally under split folders (Kaggle FER2013 export, CK+48, ...)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ferengine.dataset import FaceDataset
from ferengine.errors import DatasetError
from ferengine.imageops import size_pair
from ferengine.labels import ALIAS_GROUPS, LabelSpace, get_label_space, label_spaces
from ferengine.loading import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    Collector,
    LoadReport,
    check_max_pixels,
)
from ferengine.plugin import DatasetPlugin

#: Folder names recognised as splits (case-insensitive) -> the split name recorded.
SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "test": "test",
    "testing": "test",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "publictest": "PublicTest",
    "privatetest": "PrivateTest",
}


def _alias_table() -> str:
    return "; ".join("/".join(g) for g in ALIAS_GROUPS)


def _dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


#: Spaces tried, in order, when no label space is given.
INFERENCE_ORDER = ("fer7", "ckplus7", "ckplus8", "ferplus8", "affectnet8")


def _infer_space(folders: list[str], source: str, what: str) -> LabelSpace:
    """Return the first space of :data:`INFERENCE_ORDER` that holds every class folder."""
    for name in INFERENCE_ORDER:
        space = get_label_space(name)
        if all(f in space for f in folders):
            return space
    best = max(label_spaces().values(), key=lambda s: sum(f in s for f in folders))
    unknown = [f for f in folders if f not in best]
    raise DatasetError(
        f"{source}: {what} {unknown} match no class of any registered label space "
        f"(closest: {best.name} = {', '.join(best.names)}). Known aliases: {_alias_table()}. "
        "Rename the folders, pass label_space=, or label_space='folders' to use the names as is"
    )


def class_label_space(label_space: str | LabelSpace | None, classes: list[str],
                      folders_name: str, source: str,
                      what: str = "class folders") -> LabelSpace:  # fmt: skip
    """Return the label space of class names found in folder names (or a manifest).

    Parameters
    ----------
    label_space : str, LabelSpace or None
        A registered space (or space), which must hold every class (through aliases);
        None, the first of :data:`INFERENCE_ORDER` that does; ``"folders"``, a new space
        named ``folders_name`` of the sorted class names as they are.
    classes : list of str
        The class names found, sorted.
    folders_name : str
        Name of the space ``"folders"`` makes.
    source : str
        Prefix of error messages (the loader's name).
    what : str
        What the class names are, in error messages ("class folders", "labels").

    Raises
    ------
    DatasetError
        A class is in no space (or not in the given one), with the known aliases.
    """
    if label_space == "folders":
        return LabelSpace(folders_name or "folders", tuple(classes))
    if label_space is None:
        return _infer_space(classes, source, what)
    space = get_label_space(label_space)
    unknown = [f for f in classes if f not in space]
    if unknown:
        raise DatasetError(
            f"{source}: {what} {unknown} are not in label space {space.name} "
            f"({', '.join(space.names)}). Known aliases: {_alias_table()}"
        )
    return space


def class_folders(root: Path, source: str) -> list[tuple[str | None, Path]]:
    """Return ``[(split or None, class_folder), ...]`` of a folder of class folders.

    ``root`` holds either class folders, or split folders (:data:`SPLIT_NAMES`) each
    holding class folders; ``source`` prefixes error messages.

    Raises
    ------
    DatasetError
        ``root`` holds no folder, or mixes split folders with others.
    """
    top = _dirs(root)
    if not top:
        raise DatasetError(f"{source}: {root} holds no class folders")
    is_split = [d.name.lower() in SPLIT_NAMES for d in top]
    if any(is_split) and not all(is_split):
        raise DatasetError(
            f"{source}: {root} mixes split folders "
            f"{[d.name for d, s in zip(top, is_split, strict=True) if s]} with other "
            f"folders {[d.name for d, s in zip(top, is_split, strict=True) if not s]}"
        )
    if not all(is_split):
        return [(None, d) for d in top]
    return [(SPLIT_NAMES[s.name.lower()], d) for s in top for d in _dirs(s)]


class ImageFolder(DatasetPlugin):
    r"""Images in one folder per class, optionally under split folders (train/, test/, ...).

    Parameters
    ----------
    path : str or Path
        Root folder: either class folders, or split folders each holding class folders.
    label_space : str or LabelSpace, optional
        Space of the class folders (names matched through aliases such as anger/angry).
        ``None`` picks the first of fer7, ckplus7, ckplus8, ferplus8, affectnet8 that
        holds every folder; ``"folders"``
        makes a space from the folder names as they are, in sorted order.
    subject_regex : str, optional
        Regular expression searched in each file name; its first group is the subject
        id (CK+: ``S(\\d+)_``). A file it does not match is a bad file.
    color : bool
        Load RGB (N×H×W×3) instead of grey.
    size : int or (int, int), optional
        Resize every image to this size; ``None`` requires all images to share one size.
    strict : bool
        Raise on the first bad file (True) or skip and report it (False).
    max_pixels : int or None
        Images whose header declares more pixels (width × height) are refused before
        decoding — a bad file (default 50 000 000; ``None``: no limit of ferengine's own).
    """

    name = "image-folder"

    def __init__(
        self,
        path,
        label_space=None,
        subject_regex: str | None = None,
        color: bool = False,
        size=None,
        strict: bool = True,
        max_pixels: int | None = MAX_PIXELS,
    ) -> None:
        self.path = path
        self.label_space = label_space
        self.subject_regex = subject_regex
        self.color = color
        self.size = size
        self.strict = strict
        self.max_pixels = max_pixels

    def load(self) -> FaceDataset:
        """Walk the folders and read every image."""
        root = Path(self.path)
        if not root.is_dir():
            raise DatasetError(f"image-folder: {root} is not a folder")
        size = None if self.size is None else size_pair(self.size, "image-folder: size")
        max_pixels = check_max_pixels(self.max_pixels)
        regex = re.compile(self.subject_regex) if self.subject_regex else None
        if regex is not None and regex.groups < 1:
            raise ValueError(f"image-folder: subject_regex {self.subject_regex!r} has no group")
        layout = class_folders(root, "image-folder")
        folders = sorted({d.name for _, d in layout})
        space = class_label_space(self.label_space, folders, root.name, "image-folder")
        report = LoadReport(f"image-folder {root}", self.strict)
        found = Collector(report)
        hashes: dict[str, Path] = {}
        for split, folder in layout:
            files = sorted(
                p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
            )
            if not files:
                report.problem(folder, "class folder holds no images")
                continue
            code = space.index(folder.name)
            for f in files:
                rel = f.relative_to(root)
                data = f.read_bytes()
                digest = hashlib.blake2b(data, digest_size=16).hexdigest()
                if digest in hashes:
                    report.problem(rel, f"duplicate of {hashes[digest].relative_to(root)}")
                    continue
                hashes[digest] = f
                subject = None
                if regex is not None:
                    m = regex.search(f.name)
                    if m is None:
                        report.problem(
                            rel, f"file name does not match subject_regex {self.subject_regex!r}"
                        )
                        continue
                    subject = m.group(1)
                img = report.read(f, rel, self.color, size, data=data, max_pixels=max_pixels)
                if img is not None:
                    found.add(img, code, rel, subject=subject, split=split)
        return found.dataset(space, f"no readable images under {root}")
