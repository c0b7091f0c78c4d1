"""Inputs of ``predict``: paths expanded (folders recursively), images read or refused."""

from __future__ import annotations

import errno
import os
import stat
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ferengine.errors import FerengineError
from ferengine.loading import MAX_PIXELS, pillow_limit_reason, pixel_limit_reason

#: Files read as videos (frame by frame with OpenCV); every other file is tried as an image.
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})


#: Pillow modes kept as they are (grey, RGB(A), 16- and 32-bit grey, float grey).
NATIVE_MODES = frozenset({"L", "LA", "RGB", "RGBA", "I;16", "I;16L", "I;16B", "I;16N", "I", "F"})

#: Names of the kinds of non-regular files, for their error rows.
FILE_KINDS = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class InputError(FerengineError, ValueError):
    """An input that cannot be used; the message is the reason written to the output."""


def expand(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Yield every input to give a row: each path given, and every entry under each folder.

    Folders are walked recursively (sorted; entries whose own name starts with a dot
    are left out, but hidden sub-folders are walked).
    Whatever is met is yielded, so that it gets its own row: regular files, but also
    broken or looping symbolic links, links to folders (not followed, so a link cannot
    make the walk loop), pipes and devices, and sub-folders that cannot be listed. A
    path that does not exist is yielded too, and a folder with no entries is yielded
    itself.
    """
    for path in map(Path, paths):
        if path.is_dir():
            yield from _entries(path) or [path]
        else:
            yield path


def _entries(folder: Path) -> list[Path]:
    """Every non-hidden entry under ``folder`` that is not a walked sub-folder, sorted."""
    found: list[Path] = []
    unlistable: list[OSError] = []
    for top, dirs, files in os.walk(folder, onerror=unlistable.append, followlinks=False):
        links = [d for d in dirs if os.path.islink(os.path.join(top, d))]  # not walked
        found += (Path(top, name) for name in [*files, *links] if not name.startswith("."))
    found += (Path(exc.filename) for exc in unlistable if exc.filename is not None)
    return sorted(found)


def is_video(path: Path) -> bool:
    """Return whether a file is read as a video (by its suffix)."""
    return path.suffix.lower() in VIDEO_SUFFIXES


def open_input(path: Path) -> BinaryIO:
    """Open a path for reading if it is a regular file, without ever blocking.

    It is opened non-blocking and checked on the open descriptor, so a named pipe or
    a device never stalls the batch, and nothing can be swapped in between a check
    and the read.

    Raises
    ------
    InputError
        With the reason: missing, a broken or looping link, a folder, not a regular
        file, or not readable.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        if path.is_symlink():
            raise InputError("broken symbolic link: its target does not exist") from None
        raise InputError("no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError("symbolic link loop: the link leads back to itself") from None
        if path.is_dir():  # Windows refuses to open folders
            raise InputError(_folder_reason(path)) from None
        raise InputError(f"cannot read file: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise InputError(_folder_reason(path))
        kind = next((name for test, name in FILE_KINDS if test(mode)), "a special file")
        raise InputError(f"not a regular file: {kind}")
    return os.fdopen(fd, "rb")


def _folder_reason(path: Path) -> str:
    """Why a folder met as an input has no row of its own content."""
    if not os.access(path, os.R_OK | os.X_OK):
        return "cannot list folder: permission denied"
    try:
        with os.scandir(path) as entries:
            names = [e.name for e in entries]
    except OSError as exc:
        return f"cannot list folder: {exc.strerror}"
    if path.is_symlink() and any(not n.startswith(".") for n in names):
        return "symbolic link to a folder: not followed inside a folder (name it as an input)"
    if names:
        return "folder holds only hidden files (names starting with a dot are left out)"
    return "folder holds no files"


def check_file(path: Path) -> None:
    """Raise :class:`InputError` unless ``path`` is a readable regular file (:func:`open_input`)."""
    open_input(path).close()


def read_image(path: Path, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """Read an image file as it is stored: grey, RGB or RGBA, 8 or 16 bits.

    The header is read first: an image of more than ``max_pixels`` pixels (width ×
    height) is refused before any decoding (decompression bombs: a small file declaring
    a huge image). Pillow then decodes the file fully, so truncated files fail here
    instead of yielding a half-grey image (OpenCV only warns on them).

    Raises
    ------
    InputError
        With the reason: missing, not a regular file, not readable, not an image,
        above ``max_pixels``, corrupt or truncated, unsupported mode.
    """
    return read_photo(path, max_pixels)[0]


def read_photo(path: Path, max_pixels: int | None = MAX_PIXELS,
               reduce_to: int | None = None) -> tuple[np.ndarray, float]:  # fmt: skip
    """Read an image file as :func:`read_image` does, a large JPEG at reduced size.

    With ``reduce_to``, a JPEG whose longer side exceeds twice that is decoded at 1/2,
    1/4 or 1/8 of its size by the JPEG decoder itself (Pillow's ``draft``, libjpeg's
    DCT scaling, as OpenCV's ``IMREAD_REDUCED_*``), never below ``reduce_to`` on its
    longer side: a fraction of the decoding work, for a detector that works at most at
    that size anyway.

    Returns
    -------
    image : ndarray
    factor : float
        The stored width over the decoded width (1.0 when decoded whole): multiply
        coordinates in ``image`` by it to get the file's pixels.

    Raises
    ------
    InputError
        With the reason: missing, not a regular file, not readable, not an image,
        above ``max_pixels``, corrupt or truncated, unsupported mode.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with open_input(path) as fh, warnings.catch_warnings():
            # max_pixels replaces Pillow's warning; Pillow's own error (above twice
            # PIL.Image.MAX_IMAGE_PIXELS) is reported as too large below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fh) as img:  # lazy: the header only
                reason = pixel_limit_reason(*img.size, max_pixels)
                if reason is not None:
                    raise InputError(reason)
                width = img.size[0]
                if reduce_to and img.format == "JPEG" and max(img.size) > 2 * reduce_to:
                    share = reduce_to / max(img.size)
                    img.draft(img.mode, (round(img.size[0] * share), round(img.size[1] * share)))
                img.load()
                if img.mode not in NATIVE_MODES:  # palette, CMYK, YCbCr, 1-bit, ...
                    alpha = "A" in img.mode or "transparency" in img.info
                    img = img.convert("RGBA" if alpha else "RGB")
                array = np.asarray(img)
    except Image.DecompressionBombError as exc:
        raise InputError(pillow_limit_reason(exc, max_pixels)) from None
    except UnidentifiedImageError:
        raise InputError("not an image file (no decoder recognises it)") from None
    except InputError:
        raise
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"corrupt or truncated image: {exc}") from None
    if array.dtype.kind == "u" and array.dtype.itemsize == 2:
        array = array.astype(np.uint16)  # big-endian 16-bit to native
    if array.dtype == np.int32:  # Pillow's 32-bit integer mode: clip to 16 bits
        array = np.clip(array, 0, 65535).astype(np.uint16)
    if array.ndim not in (2, 3) or min(array.shape[:2]) < 1:
        raise InputError(f"unsupported image shape {array.shape}")
    return array, width / array.shape[1]
