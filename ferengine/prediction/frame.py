"""Prediction rows as a pandas DataFrame: one row per face, and one per input without a face.

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


def frame_columns(class_names: Sequence[str],
                  valence_names: Sequence[str] | None = None) -> dict[str, str]:  # fmt: skip
    """Return the column names of :func:`to_frame`'s frame, in order, with their dtypes.

    Raises
    ------
    ValueError
        A class name is also the name of another column.
    """
    columns = dict(COLUMNS)
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
             valence_names: Sequence[str] | None = None) -> pd.DataFrame:  # fmt: skip
    """Return prediction rows as a DataFrame with one row per face.

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

    Returns
    -------
    pandas.DataFrame
        Columns, in order: ``input``; ``frame`` and ``track`` (videos; NA for still
        images); the box as ``x``, ``y``, ``width``, ``height``; ``score`` (NaN when the
        detector gives none or optical flow moved the box); ``found_by``; ``alignment``;
        ``landmarks_ok`` (the face has landmarks); ``label``; ``confidence``; one column
        per class; ``valence`` and ``valence_<group>`` with ``valence_names``; ``error``.
        Integers are nullable ``Int64``, text ``string``, ``landmarks_ok`` ``boolean``,
        probabilities and scores ``float64``.

    Raises
    ------
    ImportError
        pandas is not installed (the ``frame`` extra).
    ValueError
        A class name is also the name of another column.
    """
    pd = import_pandas()
    columns = frame_columns(class_names, valence_names)
    records = []
    for row in rows:
        base = {"input": row["input"], "frame": row.get("frame"), "error": row.get("error")}
        records.extend({**base, **_face_columns(face)} for face in row["faces"])
        if not row["faces"]:
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
        "label": face["label"], "confidence": face["confidence"],
        **face["probabilities"],
    }  # fmt: skip
    if "valence" in face:
        values["valence"] = face["valence"]
        values.update({VALENCE_PREFIX + k: p for k, p in face["valence_probabilities"].items()})
    return values
