"""Inputs of ``predict``: paths expanded (folders recursively), images read or refused."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

#: Files read as videos (frame by frame with OpenCV); every other file is tried as an image.
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})


#: Pillow modes kept as they are (grey, RGB(A), 16- and 32-bit grey, float grey).
NATIVE_MODES = frozenset({"L", "LA", "RGB", "RGBA", "I;16", "I;16L", "I;16B", "I;16N", "I", "F"})


class InputError(Exception):
    """An input that cannot be used; the message is the reason written to the output."""


def expand(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Yield files: each file given, and every file under each folder (sorted, recursive).

    A path that does not exist is yielded too, so that it gets its own error row.
    """
    for path in map(Path, paths):
        if path.is_dir():
            found = (p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            yield from sorted(found)
        else:
            yield path


def is_video(path: Path) -> bool:
    """Return whether a file is read as a video (by its suffix)."""
    return path.suffix.lower() in VIDEO_SUFFIXES


def read_image(path: Path) -> np.ndarray:
    """Read an image file as it is stored: grey, RGB or RGBA, 8 or 16 bits.

    Pillow decodes the file fully, so truncated files fail here instead of
    yielding a half-grey image (OpenCV only warns on them).

    Raises
    ------
    InputError
        With the reason: missing, not an image, corrupt or truncated, unsupported mode.
    """
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise InputError("no such file")
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode not in NATIVE_MODES:  # palette, CMYK, YCbCr, 1-bit, ...
                alpha = "A" in img.mode or "transparency" in img.info
                img = img.convert("RGBA" if alpha else "RGB")
            array = np.asarray(img)
    except UnidentifiedImageError:
        raise InputError("not an image file (no decoder recognises it)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"corrupt or truncated image: {exc}") from None
    if array.dtype.kind == "u" and array.dtype.itemsize == 2:
        array = array.astype(np.uint16)  # big-endian 16-bit to native
    if array.dtype == np.int32:  # Pillow's 32-bit integer mode: clip to 16 bits
        array = np.clip(array, 0, 65535).astype(np.uint16)
    if array.ndim not in (2, 3) or min(array.shape[:2]) < 1:
        raise InputError(f"unsupported image shape {array.shape}")
    return array
