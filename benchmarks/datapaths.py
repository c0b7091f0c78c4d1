"""Where the benchmark scripts find the real datasets: $FERENGINE_DATA or ../shared/data."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """The folder holding fer2013/ and ckplus48/."""
    return Path(os.environ.get("FERENGINE_DATA", ROOT.parent / "shared" / "data"))


def fer2013_csv() -> Path:
    """The gzipped FER2013 CSV."""
    return data_dir() / "fer2013" / "fer2013.csv.gz"


def wild_dir() -> Path:
    """The folder of the 1,200 labelled web photos (``img/`` and ``labels.csv``)."""
    return data_dir() / "wild"
