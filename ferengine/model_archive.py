"""Read model archives without trusting what they declare: size limits and damage checks.

A model file is a zip (``manifest.json`` + ``model.skops``) whose payload is a
zip of its own (skops' ``schema.json`` plus one ``.npy`` or ``.bin`` member per
array or byte string). Before any member is decompressed, the sizes declared in
the zip directories are checked:

* ``manifest.json`` may declare at most :data:`MANIFEST_MAX_BYTES` (1 MiB, fixed);
* every other member, the payload's members together, and the bytes skops will
  read for the arrays the schema refers to (a member referred to twice counts
  twice) may declare at most the *payload limit*: :data:`DEFAULT_MAX_MODEL_BYTES`
  (2 GiB), or the ``FERENGINE_MAX_MODEL_BYTES`` environment variable (bytes), or
  ``max_bytes=`` of :func:`ferengine.load`;
* a member above 1 MiB may not expand more than :data:`MAX_RATIO` times
  (deflate reaches ~1000:1 on zip bombs; real model data reaches a few);
* an archive may hold at most :data:`MAX_MEMBERS` members;
* every ``.npy`` array may declare no more elements than its member stores.

Declared sizes bound memory only if members are read in steps: ``ZipFile.read``
decompresses a member's whole stream in one call and only then cuts it to the
declared size (a member declaring 1,000 bytes whose stream holds 1 GiB costs
1 GiB). :func:`read_member` reads in 1 MiB steps, stopping at the declared size
where :mod:`zipfile` checks the CRC, and :func:`check_payload` hands skops a
repacked payload whose members are stored uncompressed.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

from ferengine.errors import ModelFormatError, one_line

MANIFEST = "manifest.json"
PAYLOAD = "model.skops"
#: Largest ``manifest.json`` accepted (bytes, fixed).
MANIFEST_MAX_BYTES = 1 << 20
#: Default payload limit (bytes); see :func:`max_model_bytes`.
DEFAULT_MAX_MODEL_BYTES = 2 << 30
#: Environment variable that overrides :data:`DEFAULT_MAX_MODEL_BYTES`.
MAX_MODEL_BYTES_ENV = "FERENGINE_MAX_MODEL_BYTES"
#: Largest expansion (declared size / stored size) of a member above :data:`RATIO_FLOOR`.
MAX_RATIO = 200
#: Members declaring at most this many bytes may expand more than :data:`MAX_RATIO`.
RATIO_FLOOR = 1 << 20
#: Most members an archive (the model file or its payload) may hold.
MAX_MEMBERS = 100_000
_READABLE = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"
_CHUNK = 1 << 20
#: Errors the zip and decompression modules raise on damaged data.
_DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError,
           ValueError, KeyError, IndexError, OverflowError, MemoryError)  # fmt: skip


def max_model_bytes(max_bytes: int | None = None) -> int:
    """Return the payload limit in bytes: ``max_bytes``, else the environment, else 2 GiB.

    Raises
    ------
    ModelFormatError
        ``max_bytes`` or ``FERENGINE_MAX_MODEL_BYTES`` is not a positive integer.
    """
    source, value = "max_bytes", max_bytes
    if value is None:
        source, value = MAX_MODEL_BYTES_ENV, os.environ.get(MAX_MODEL_BYTES_ENV)
        if value is None or not value.strip():
            return DEFAULT_MAX_MODEL_BYTES
    try:
        limit = int(value)
    except (TypeError, ValueError):
        limit = 0
    if isinstance(value, bool) or limit <= 0:
        raise ModelFormatError(f"{source} must be a positive number of bytes, got {value!r}")
    return limit


def describe_damage(exc: BaseException) -> str:
    """Return an exception as ``Type: message`` on one line."""
    message = one_line(exc, 300)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _why_not_a_zip(path: Path) -> str:
    """Say what a file that is not a readable zip archive is."""
    size = path.stat().st_size
    if size == 0:
        return f"{path} is empty (0 bytes): not a ferengine model"
    with path.open("rb") as fh:
        head = fh.read(4)
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return (
            f"{path} is a pickle file, not a ferengine model (expected a zip with {MANIFEST}); "
            "pickle files are refused because loading them can run arbitrary code"
        )
    if head == _ZIP_MAGIC or head[:2] == b"PK":
        return (
            f"{path} is a truncated or damaged zip archive ({size} bytes, its central "
            "directory is missing or unreadable): not a readable ferengine model"
        )
    return (
        f"{path} is not a ferengine model: expected a zip archive holding {MANIFEST} and "
        f"{PAYLOAD}, found {size} bytes starting with {head!r}"
    )


def check_members(zf: zipfile.ZipFile, where: str, limit: int, caps: dict[str, int]) -> None:
    """Check the declared sizes of every member of an open archive before reading any.

    ``caps`` maps member names to a lower limit of their own (the manifest's).

    Raises
    ------
    ModelFormatError
        A member is encrypted, uses an unknown compression, declares more than its
        limit or expands more than :data:`MAX_RATIO`; or the archive holds too many
        members, or more than ``limit`` bytes in total.
    """
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ModelFormatError(
            f"{where} holds {len(infos)} members, more than the {MAX_MEMBERS} allowed"
        )
    total = 0
    for info in infos:
        name = one_line(repr(info.filename), 80)
        if info.flag_bits & 0x1:
            raise ModelFormatError(f"{where}: member {name} is encrypted")
        if info.compress_type not in _READABLE:
            raise ModelFormatError(
                f"{where}: member {name} uses unknown compression method {info.compress_type}"
            )
        cap = caps.get(info.filename, limit)
        if info.file_size > cap:
            raise ModelFormatError(
                f"{where}: member {name} declares {info.file_size} bytes, above the limit of "
                f"{cap} bytes{_hint(info.filename in caps)}"
            )
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ModelFormatError(
                f"{where}: member {name} declares {info.file_size} bytes stored in "
                f"{info.compress_size} (expands more than {MAX_RATIO}:1): refusing a zip bomb"
            )
        total += info.file_size
    if total > limit:
        raise ModelFormatError(
            f"{where}: members declare {total} bytes in total, above the limit of {limit} bytes"
            f"{_hint()}"
        )


def _hint(fixed: bool = False) -> str:
    if fixed:
        return " (fixed)"
    return f" (raise it with {MAX_MODEL_BYTES_ENV} or load(..., max_bytes=))"


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """Return a member's bytes, decompressing at most 1 MiB past its declared size.

    ``ZipFile.read`` decompresses a member's whole stream in one call before cutting
    it to the declared size: a member declaring 1,000 bytes whose stream expands to
    1 GiB costs 1 GiB. Reading in 1 MiB steps stops at the declared size, where
    :mod:`zipfile` checks the CRC.
    """
    parts, total = [], 0
    with zf.open(info) as fh:
        while chunk := fh.read(_CHUNK):
            total += len(chunk)
            if total > info.file_size:  # zipfile stops there; never trust it blindly
                raise zipfile.BadZipFile(f"member {info.filename!r} holds more than it declares")
            parts.append(chunk)
    return b"".join(parts)


def read_archive(path: Path, limit: int) -> tuple[Any, bytes]:
    """Return the parsed manifest and the payload bytes of a model file.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ModelFormatError
        The file is empty, not a zip, truncated, damaged (bad CRC, broken
        compressed data), lacks a member, breaks a size limit, or its manifest
        is not JSON.
    """
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    try:
        zf = zipfile.ZipFile(path)
    except PermissionError:
        raise
    except _DAMAGE as exc:
        raise ModelFormatError(_why_not_a_zip(path)) from exc
    with zf:
        names = set(zf.namelist())
        if not {MANIFEST, PAYLOAD} <= names:
            shown = sorted(one_line(repr(n), 80) for n in names)[:20]
            raise ModelFormatError(
                f"{path} lacks {sorted({MANIFEST, PAYLOAD} - names)}; found {shown}"
            )
        check_members(zf, str(path), limit, {MANIFEST: MANIFEST_MAX_BYTES})
        try:
            raw_manifest = read_member(zf, zf.getinfo(MANIFEST))
            payload = read_member(zf, zf.getinfo(PAYLOAD))
        except _DAMAGE as exc:
            raise ModelFormatError(f"{path} is damaged: {describe_damage(exc)}") from exc
    try:
        manifest = json.loads(raw_manifest)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, deep nesting
        raise ModelFormatError(
            f"{path}: {MANIFEST} is not valid JSON: {describe_damage(exc)}"
        ) from exc
    return manifest, payload


def check_payload(payload: bytes, path: Path, limit: int) -> bytes:
    """Check a skops payload before skops reads any of it; return it repacked for skops.

    Besides :func:`check_members` on the payload (and on any ``.npz`` member,
    itself a zip), the bytes skops will read for the members ``schema.json``
    refers to must stay within ``limit``, and every ``.npy`` member must hold as
    many bytes as its header's shape and dtype declare. Every member is read in
    bounded steps (its CRC checked) and stored uncompressed in the zip returned,
    so skops never decompresses a stream that expands past its declared size.

    Raises
    ------
    ModelFormatError
        The payload is not a zip, is damaged, or breaks a limit.
    """
    where = f"{path}: {PAYLOAD}"
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as zf:
            check_members(zf, where, limit, {})
            infos = {info.filename: info for info in zf.infolist()}
            if "schema.json" not in infos:
                raise ModelFormatError(f"{where} is damaged: it lacks schema.json")
            _check_references(read_member(zf, infos["schema.json"]), infos, where, limit)
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as repacked:
                for name, info in infos.items():
                    data = read_member(zf, info)
                    _check_member_content(data, name, where, limit)
                    repacked.writestr(name, data)
    except ModelFormatError:
        raise
    except Exception as exc:  # zipfile, zlib, json and numpy's header parser raise many kinds
        raise ModelFormatError(f"{where} is damaged: {describe_damage(exc)}") from exc
    return out.getvalue()


def _check_references(
    schema_bytes: bytes, infos: dict[str, zipfile.ZipInfo], where: str, limit: int
) -> None:
    """Check the members ``schema.json`` refers to exist and, read as often as referred, fit."""
    referred = 0
    for name in _referred_files(json.loads(schema_bytes)):
        if name not in infos:
            raise ModelFormatError(
                f"{where} is damaged: schema.json refers to missing member "
                f"{one_line(repr(name), 80)}"
            )
        referred += infos[name].file_size
        if referred > limit:
            raise ModelFormatError(
                f"{where}: schema.json makes skops read more than {limit} bytes "
                f"(members referred to repeatedly){_hint()}"
            )


def _referred_files(node: Any) -> Iterator[str]:
    """Yield every member name a skops schema refers to (``"file"`` entries), repeats included."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            name = item.get("file")
            if isinstance(name, str):
                yield name
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _check_member_content(data: bytes, name: str, where: str, limit: int) -> None:
    """Check an ``.npy`` member's header against its size; check an ``.npz`` member's sizes."""
    shown = one_line(repr(name), 80)
    if data.startswith(_NPY_MAGIC):
        fh = io.BytesIO(data)
        version = npy_format.read_magic(fh)
        read_header = (npy_format.read_array_header_1_0 if version == (1, 0)
                       else npy_format.read_array_header_2_0)  # fmt: skip
        shape, _, dtype = read_header(fh)  # refuses headers above 10,000 bytes
        stored = len(data) - fh.tell()
        if dtype.hasobject:
            return  # np.load(allow_pickle=False) refuses it before reading any data
        declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if declared > stored:
            raise ModelFormatError(
                f"{where} is damaged: array {shown} declares shape {tuple(shape)} of {dtype} "
                f"({declared} bytes) but stores {stored}"
            )
    elif data.startswith(_ZIP_MAGIC):  # a scipy sparse matrix (.npz): a zip inside the zip
        with zipfile.ZipFile(io.BytesIO(data)) as npz:
            check_members(npz, f"{where}: {shown}", limit, {})
            for info in npz.infolist():
                read_member(npz, info)  # scipy reads it in bounded steps too; check the CRC
