"""Prediction rows as a pandas DataFrame: one row per face, and one per input without a face.

With a temporal model, every clip classified (and every track too short for one) is a
row too, told apart by the ``kind`` column ("frame" or "clip").

pandas is optional (the ``frame`` extra): it is imported when a frame is asked for, and
its absence is an :class:`ImportError` that says how to install it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ferengine.extras import install_hint

if TYPE_CHECKING:
    import pandas as pd

#: The extra that brings pandas.
FRAME_EXTRA = "frame"

#: The columns every frame has, before the class probabilities, with their dtypes
#: (nullable integers, strings and booleans: a row without a face holds NA there).
COLUMNS: dict[str, str] = {
    "input": "string",
    "frame": "Int64",
    "track": "Int64",
    "x": "Int64",
    "y": "Int64",
    "width": "Int64",
    "height": "Int64",
    "score": "float64",
    "found_by": "string",
    "alignment": "string",
    "landmarks_ok": "boolean",
    "label": "string",
    "confidence": "float64",
}
#: The columns a temporal model's frame adds after ``input`` (``kind``) and after
#: ``track`` (a clip's span: video frame indices and seconds).
CLIP_COLUMNS: dict[str, str] = {
    "kind": "string",
    "first_frame": "Int64",
    "last_frame": "Int64",
    "first_time": "float64",
    "last_time": "float64",
}
#: ``kind`` of the rows of faces (and of inputs without one) and of clips.
FRAME_KIND, CLIP_KIND = "frame", "clip"
#: Prefix of the valence probability columns ("valence_positive", …): valence3's
#: "neutral" would otherwise clash with fer7's.
VALENCE_PREFIX = "valence_"


def import_pandas() -> Any:
    """Return the pandas module.

    Raises
    ------
    ImportError
        pandas is not installed; the one-line message names the extra that brings it.
    """
    try:
        import pandas
    except ImportError as exc:
        raise ImportError(
            f"predict(..., as_frame=True) needs pandas, which is not installed; "
            f"{install_hint(FRAME_EXTRA)}"
        ) from exc
    return pandas


def frame_columns(class_names: Sequence[str], valence_names: Sequence[str] | None = None,
                  clips: bool = False) -> dict[str, str]:  # fmt: skip
    """Return the column names of :func:`to_frame`'s frame, in order, with their dtypes.

    Raises
    ------
    ValueError
        A class name is also the name of another column.
    """
    columns = dict(COLUMNS)
    if clips:
        head, span = ("input", "kind"), ("frame", "track", *list(CLIP_COLUMNS)[1:])
        types = {**COLUMNS, **CLIP_COLUMNS}
        columns = {n: types[n] for n in (*head, *span)} | columns
    names = [str(n) for n in class_names]
    if valence_names is not None:
        names += ["valence", *(VALENCE_PREFIX + str(n) for n in valence_names)]
    for name in names:
        if name in columns:
            raise ValueError(
                f"class name {name!r} is also the name of a column of the prediction frame; "
                "use the rows (as_frame=False) for this model"
            )
        columns[name] = "string" if name == "valence" else "float64"
    return {**columns, "error": "string"}


def to_frame(rows: Iterable[dict[str, Any]], class_names: Sequence[str],
             valence_names: Sequence[str] | None = None,
             clips: bool = False) -> pd.DataFrame:  # fmt: skip
    """Return prediction rows as a DataFrame with one row per face (and per clip).

    No input is lost: an image, frame or video row without a face (no face found, an
    unreadable file, a video that ended early) becomes one row whose face columns are
    NA, with the reason, if any, in ``error``.

    Parameters
    ----------
    rows : iterable of dict
        Rows as :func:`ferengine.prediction.predict` returns them (``input``, ``faces``,
        ``error``, and ``frame`` for videos).
    class_names : sequence of str
        The model's classes (:attr:`FacePredictor.names`): one probability column each,
        named after the class.
    valence_names : sequence of str, optional
        The valence groups (``labels="valence3"``): a ``valence`` column and one
        ``valence_<group>`` probability column per group.
    clips : bool
        The rows are a temporal model's: each of a row's ``clips`` is a row of ``kind``
        "clip" (``frame`` NA; its span in ``first_frame``, ``last_frame``,
        ``first_time``, ``last_time``; a track too short for a clip has NA labels and
        its note in ``error``), the faces rows of ``kind`` "frame" (NA labels: the
        model labels clips only).

    Returns
    -------
    pandas.DataFrame
        Columns, in order: ``input``; ``frame`` and ``track`` (videos; NA for still
        images); the box as ``x``, ``y``, ``width``, ``height``; ``score`` (NaN when the
        detector gives none or optical flow moved the box); ``found_by``; ``alignment``;
        ``landmarks_ok`` (the face has landmarks); ``label``; ``confidence``; one column
        per class; ``valence`` and ``valence_<group>`` with ``valence_names``; ``error``.
        Integers are nullable ``Int64``, text ``string``, ``landmarks_ok`` ``boolean``,
        probabilities and scores ``float64``. With ``clips``, ``kind`` follows ``input``
        and the clip span follows ``track``.

    Raises
    ------
    ImportError
        pandas is not installed (the ``frame`` extra).
    ValueError
        A class name is also the name of another column.
    """
    pd = import_pandas()
    columns = frame_columns(class_names, valence_names, clips)
    kind = {"kind": FRAME_KIND} if clips else {}
    records = []
    for row in rows:
        base = {"input": row["input"], **kind, "frame": row.get("frame"),
                "error": row.get("error")}  # fmt: skip
        records.extend({**base, **_face_columns(face)} for face in row["faces"])
        records.extend(_clip_columns(row["input"], clip) for clip in row.get("clips") or [])
        if not row["faces"] and not row.get("clips"):
            records.append(base)
    frame = pd.DataFrame.from_records(records, columns=list(columns))
    return frame.astype(columns)


def _face_columns(face: dict[str, Any]) -> dict[str, Any]:
    """Return the columns of one face record."""
    x, y, width, height = face["box"]
    landmarks = face.get("landmarks")
    values = {
        "track": face.get("track"), "x": x, "y": y, "width": width, "height": height,
        "score": face.get("score"), "found_by": face.get("found_by"),
        "alignment": face.get("alignment"), "landmarks_ok": landmarks is not None,
    }  # fmt: skip
    return {**values, **_label_columns(face)}


def _clip_columns(name: str, clip: dict[str, Any]) -> dict[str, Any]:
    """Return the columns of one clip record (or of a track too short for a clip)."""
    span = {k: clip[k] for k in ("track", *list(CLIP_COLUMNS)[1:])}
    return {"input": name, "kind": CLIP_KIND, **span, **_label_columns(clip),
            "error": clip.get("error")}  # fmt: skip


def _label_columns(record: dict[str, Any]) -> dict[str, Any]:
    """Return the label, confidence, probability and valence columns of a face or clip."""
    values = {"label": record.get("label"), "confidence": record.get("confidence"),
              **(record.get("probabilities") or {})}  # fmt: skip
    if record.get("valence") is not None:
        values["valence"] = record["valence"]
        values.update({VALENCE_PREFIX + k: p for k, p in record["valence_probabilities"].items()})
    return values
