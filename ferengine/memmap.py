"""Images kept in a ``.npy`` file and read through memory maps, one window at a time.

A :class:`MemmapImages` stands where a :class:`~ferengine.FaceDataset` would hold an
in-memory ``N×H×W`` array. It holds the file and a selection of its rows, not the
pixels: :meth:`MemmapImages.subset` composes selections without reading anything,
and indexing (``images[i]``, ``images[a:b]``, ``images[rows]``) reads only the rows
asked for and returns an ordinary array. Consumers that walk the images in batches
(image features, :class:`~ferengine.FERPipeline` prediction, the benchmark's feature
jobs) therefore never hold more than one batch of pixels; ``np.asarray(images)``
still gives the whole selection in memory when that is what is wanted.

Each read maps only the byte range of its rows (``numpy.memmap`` with an offset) and
unmaps it when done. A memory map kept open for the whole file would leave every
page it ever touched in the process's resident set (file-backed pages count in
RSS until the kernel reclaims them), so a pass over a 3 GB file would show a 3 GB
process even though it never copied the file.

Pickling sends the path and the row selection, never the pixels: a ``numpy.memmap``
pickles as a full in-memory copy of its data, which a Dask or loky worker would then
receive in every task. Workers must see the file at the same path.
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MemmapImages", "read_npy_header"]

_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def read_npy_header(path: str | Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """Return the shape, dtype and data offset of a C-ordered ``.npy`` file.

    Raises
    ------
    ValueError
        The file is not a ``.npy`` array file, is Fortran-ordered, holds Python objects,
        or is shorter than its header says (a truncated file).
    """
    path = Path(path)
    with open(path, "rb") as fh:
        try:
            version = np.lib.format.read_magic(fh)
            read = _HEADER_READERS.get(version)
            if read is None:
                raise ValueError(f"unsupported .npy format version {version}")
            shape, fortran, dtype = read(fh)
        except (ValueError, SyntaxError, EOFError) as exc:
            raise ValueError(f"{path}: not a .npy array file ({exc})") from None
        offset = fh.tell()
    if fortran or dtype.hasobject:
        raise ValueError(
            f"{path}: expected a C-ordered numeric array, got {dtype} (fortran={fortran})"
        )
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    size = path.stat().st_size
    if size != expected:
        raise ValueError(
            f"{path}: file has {size} bytes but its header ({shape}, {dtype}) needs {expected}"
        )
    return tuple(int(s) for s in shape), dtype, offset


class MemmapImages:
    """A read-only selection of rows of an array stored in a ``.npy`` file.

    Behaves like a read-only array of shape ``(len(rows), *image_shape)`` for the
    operations ferengine performs on images: ``len``, ``shape``, ``dtype``, ``ndim``,
    indexing (which reads and returns an ordinary array) and ``np.asarray`` (which reads
    the whole selection).

    Parameters
    ----------
    path : str or Path
        The ``.npy`` file (C order; the first axis is the images).
    rows : array-like of int, optional
        Positions in the file of the selected images, in order (repeats allowed);
        ``None`` selects every image.
    writable : bool
        Allow ``images[rows] = values``, written through to the file a window at a
        time (what a loader filling a new cache file uses). Readers get read-only
        instances.

    Raises
    ------
    ValueError
        The file is not a readable ``.npy`` array, or a row is outside it.
    """

    def __init__(self, path: str | Path, rows: Any = None, writable: bool = False) -> None:
        self.path = Path(path)
        self.writable = bool(writable)
        file_shape, self.dtype, self._offset = read_npy_header(self.path)
        if len(file_shape) < 1:
            raise ValueError(f"{self.path}: holds a scalar, not an array of images")
        self._n_file = file_shape[0]
        self._inner = file_shape[1:]
        if rows is not None:
            rows = np.asarray(rows)
            if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "iu"):
                raise ValueError(f"rows must be a 1-D array of ints, got {rows.dtype} {rows.shape}")
            rows = rows.astype(np.int64, copy=False)
            if rows.size and (rows.min() < 0 or rows.max() >= self._n_file):
                raise ValueError(
                    f"rows must lie in [0, {self._n_file}) for {self.path}, got "
                    f"{rows.min()}..{rows.max()}"
                )
        self.rows: np.ndarray | None = rows

    # array-like surface -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """``(n_selected, *image_shape)``."""
        return (len(self), *self._inner)

    @property
    def ndim(self) -> int:
        """Number of axes (3 for grey images, 4 for colour)."""
        return 1 + len(self._inner)

    @property
    def size(self) -> int:
        """Number of values in the selection."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        """Bytes the selection takes once read into memory."""
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self._n_file if self.rows is None else len(self.rows)

    def __repr__(self) -> str:
        shape = "×".join(map(str, self._inner))
        return f"MemmapImages({len(self)} × {shape} {self.dtype} of {self.path})"

    def __reduce__(self) -> tuple[Any, tuple[str, np.ndarray | None, bool]]:
        """Pickle the file path and the row selection (never the pixels)."""
        return (type(self), (str(self.path), self.rows, self.writable))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy is False:
            raise ValueError("MemmapImages cannot be viewed without reading (copy=False)")
        out = self._read(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype, copy=False)

    def __getitem__(self, key: Any) -> np.ndarray:
        """Read the images ``key`` selects (an int, slice, int array or mask, then any axes)."""
        head, rest = (key[0], key[1:]) if isinstance(key, tuple) and key else (key, ())
        if head is Ellipsis or head is None:
            return np.asarray(self)[key]
        if isinstance(head, int | np.integer):
            i = operator.index(head)
            if not -len(self) <= i < len(self):
                raise IndexError(f"index {i} is out of bounds for {len(self)} images")
            image = self._read(np.array([i % len(self)]))[0]
            return image[rest] if rest else image
        positions = np.arange(len(self))[head]  # slices, int arrays and masks, numpy's rules
        out = self._read(positions)
        return out[(slice(None), *rest)] if rest else out

    def __setitem__(self, key: Any, value: Any) -> None:
        """Write images to the file: ``key`` selects rows (an int, slice, int array or mask)."""
        if not self.writable:
            raise TypeError(f"{self!r} is read-only")
        if isinstance(key, tuple):
            raise TypeError("MemmapImages writes whole images: index the rows only")
        positions = np.atleast_1d(np.arange(len(self))[key])
        rows = positions if self.rows is None else self.rows[positions]
        if not len(rows):
            return
        lo, hi = int(rows.min()), int(rows.max()) + 1
        window = self._window(lo, hi, "r+")
        try:
            window[rows - lo] = value
            window.flush()
        finally:
            del window

    # selections and reads -----------------------------------------------------------
    def subset(self, index: Any) -> MemmapImages:
        """Return the selection of these images that ``index`` picks, reading nothing.

        Parameters
        ----------
        index : slice, array of int or boolean mask
            Positions in this selection, as numpy indexes an array's first axis.
        """
        positions = np.arange(len(self))[index]
        rows = positions if self.rows is None else self.rows[positions]
        return MemmapImages(self.path, np.atleast_1d(rows), self.writable)

    def file_rows(self) -> np.ndarray:
        """Positions in the file of the selected images."""
        return np.arange(self._n_file) if self.rows is None else self.rows

    def open(self) -> np.memmap:
        """Return the whole file as a read-only ``numpy.memmap`` (every row, not the selection)."""
        return np.load(self.path, mmap_mode="r")

    def _read(self, positions: np.ndarray) -> np.ndarray:
        """Read the images at ``positions`` of the selection into a new C-ordered array."""
        rows = positions if self.rows is None else self.rows[positions]
        if not len(rows):
            return np.empty((0, *self._inner), self.dtype)
        lo, hi = int(rows.min()), int(rows.max()) + 1
        window = self._window(lo, hi, "r")
        try:
            return window[rows - lo]  # advanced indexing copies; the map is released below
        finally:
            del window

    def _window(self, lo: int, hi: int, mode: str) -> np.memmap:
        """Map rows ``lo`` to ``hi`` (exclusive) of the file."""
        row_bytes = int(np.prod(self._inner, dtype=np.int64)) * self.dtype.itemsize
        return np.memmap(
            self.path,
            dtype=self.dtype,
            mode=mode,
            offset=self._offset + lo * row_bytes,
            shape=(hi - lo, *self._inner),
        )
