"""A strict, bounded codec of the UBJSON that XGBoost writes (``Booster.save_raw("ubj")``).

Hand-written because the one parser at hand, libxgboost's, crashes the
interpreter on a damaged buffer, and the only PyPI codec (py-ubjson) has not
been released since 2020. :func:`decode` reads values, objects and (typed or
counted) arrays; every count is checked against the bytes left before anything
is allocated, nesting is limited, and the whole buffer must be consumed. Typed
numeric arrays become numpy arrays. :func:`encode` writes a decoded value back in
the forms XGBoost itself writes, so libxgboost only ever parses well-formed input.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

#: Fixed-size value markers and their big-endian numpy types.
_NUMBERS = {b"i": ">i1", b"U": ">u1", b"I": ">i2", b"l": ">i4", b"L": ">i8", b"d": ">f4",
            b"D": ">f8"}  # fmt: skip
_INTEGERS = (b"i", b"U", b"I", b"l", b"L")
_STRUCTS = {marker: struct.Struct(layout) for marker, layout in
            {b"i": ">b", b"U": ">B", b"I": ">h", b"l": ">i", b"L": ">q", b"d": ">f",
             b"D": ">d"}.items()}  # fmt: skip
MAX_DEPTH = 64


class UBJSONError(ValueError):
    """The buffer is not well-formed UBJSON (of the subset XGBoost writes)."""


def decode(data: bytes) -> Any:
    """Return the value a UBJSON buffer holds.

    Raises
    ------
    UBJSONError
        The buffer is truncated, malformed, nests deeper than 64 levels, declares
        more items than it holds, or has bytes after its value.
    """
    reader = _Reader(bytes(data))
    value = reader.value(reader.marker(), 0)
    if reader.pos != len(reader.data):
        raise UBJSONError(f"{len(reader.data) - reader.pos} bytes after the value")
    return value


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise UBJSONError(f"truncated at byte {self.pos} (needs {n} more)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def marker(self) -> bytes:
        return self.take(1)

    def peek(self) -> bytes:
        return self.data[self.pos : self.pos + 1]

    def number(self, marker: bytes) -> Any:
        layout = _STRUCTS[marker]
        end = self.pos + layout.size
        if end > len(self.data):
            raise UBJSONError(f"truncated at byte {self.pos} (needs {layout.size} more)")
        value = layout.unpack_from(self.data, self.pos)[0]
        self.pos = end
        return value

    def count(self) -> int:
        marker = self.marker()
        if marker not in _INTEGERS:
            raise UBJSONError(f"a length has marker {marker!r} at byte {self.pos - 1}")
        value = self.number(marker)
        if value < 0 or value > len(self.data) - self.pos:
            raise UBJSONError(f"length {value} at byte {self.pos} exceeds the bytes left")
        return value

    def value(self, marker: bytes, depth: int) -> Any:
        if marker in _NUMBERS:
            return self.number(marker)
        if marker == b"S":
            return self.take(self.count()).decode("utf-8")
        if marker == b"C":
            return self.take(1).decode("ascii")
        if marker in (b"T", b"F", b"Z"):
            return {b"T": True, b"F": False, b"Z": None}[marker]
        if depth >= MAX_DEPTH:
            raise UBJSONError(f"nesting deeper than {MAX_DEPTH} at byte {self.pos}")
        if marker == b"[":
            return self.array(depth + 1)
        if marker == b"{":
            return self.object(depth + 1)
        raise UBJSONError(f"unknown marker {marker!r} at byte {self.pos - 1}")

    def header(self) -> tuple[bytes | None, int | None]:
        kind = None
        if self.peek() == b"$":
            self.take(1)
            kind = self.marker()
            if self.peek() != b"#":
                raise UBJSONError(f"a typed container without a count at byte {self.pos}")
        if self.peek() == b"#":
            self.take(1)
            return kind, self.count()
        return kind, None

    def array(self, depth: int) -> Any:
        kind, count = self.header()
        if kind is not None:
            if kind not in _NUMBERS:
                raise UBJSONError(f"typed array of {kind!r} at byte {self.pos}")
            dtype = np.dtype(_NUMBERS[kind])
            if count is None or count * dtype.itemsize > len(self.data) - self.pos:
                raise UBJSONError(f"array of {count} {dtype} exceeds the bytes left")
            raw = self.take(count * dtype.itemsize)
            return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="))
        if count is not None:
            return [self.value(self.marker(), depth) for _ in range(count)]
        items = []
        while (marker := self.marker()) != b"]":
            items.append(self.value(marker, depth))
        return items

    def object(self, depth: int) -> dict[str, Any]:
        kind, count = self.header()
        if kind is not None:
            raise UBJSONError(f"typed object at byte {self.pos}")
        out: dict[str, Any] = {}
        while True:
            if count is not None and len(out) == count:
                return out
            if count is None and self.peek() == b"}":
                self.take(1)
                return out
            key = self.take(self.count()).decode("utf-8")
            if key in out:
                raise UBJSONError(f"key {key!r} repeated at byte {self.pos}")
            out[key] = self.value(self.marker(), depth)


_MARKERS = {np.dtype(layout).newbyteorder("="): marker for marker, layout in _NUMBERS.items()}


def encode(value: Any) -> bytes:
    """Return the UBJSON of a value :func:`decode` returned (in XGBoost's own forms)."""
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _length(n: int) -> bytes:
    return b"L" + _STRUCTS[b"L"].pack(n)


def _encode(value: Any, out: list[bytes]) -> None:
    if value is None or isinstance(value, bool):
        out.append({None: b"Z", True: b"T", False: b"F"}[value])
    elif isinstance(value, int):
        out.append(b"L" + _STRUCTS[b"L"].pack(value))
    elif isinstance(value, float):
        single = _STRUCTS[b"d"].pack(value)
        exact = _STRUCTS[b"d"].unpack(single)[0] == value or value != value
        out.append(b"d" + single if exact else b"D" + _STRUCTS[b"D"].pack(value))
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        out.append(b"S" + _length(len(raw)) + raw)
    elif isinstance(value, np.ndarray):
        marker = _MARKERS[value.dtype]
        data = value.astype(value.dtype.newbyteorder(">")).tobytes()
        out.append(b"[$" + marker + b"#" + _length(len(value)) + data)
    elif isinstance(value, list):
        out.append(b"[#" + _length(len(value)))
        for item in value:
            _encode(item, out)
    elif isinstance(value, dict):
        out.append(b"{")
        for key, item in value.items():
            raw = key.encode("utf-8")
            out.append(_length(len(raw)) + raw)
            _encode(item, out)
        out.append(b"}")
    else:
        raise TypeError(f"cannot encode a {type(value).__name__} as UBJSON")
