"""Loaders on the real datasets in $FERENGINE_DATA or ../shared/data (skipped when absent)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import ferengine
from ferengine.cli import main

from .conftest import shared_data_dir

DATA = shared_data_dir()
pytestmark = [
    pytest.mark.skipif(
        DATA is None, reason="real data absent: set FERENGINE_DATA or place ../shared/data"
    ),
    pytest.mark.slow,  # reads the full datasets
]
FER_TRAIN = [3995, 436, 4097, 7215, 4830, 3171, 4965]
FER_PUBLIC = [467, 56, 496, 895, 653, 415, 607]


@pytest.fixture(scope="module")
def fer():
    return ferengine.load_dataset("fer2013", path=DATA / "fer2013" / "fer2013.csv.gz")


def test_fer2013_counts(fer):
    assert len(fer) == 32298
    assert fer.meta["usages_present"] == ["Training", "PublicTest"]
    assert np.bincount(fer.where(split="Training").labels).tolist() == FER_TRAIN
    assert np.bincount(fer.where(split="PublicTest").labels).tolist() == FER_PUBLIC
    assert fer.images.shape[1:] == (48, 48) and fer.meta["n_skipped"] == 0


def test_ckplus48_as_image_folder():
    ds = ferengine.load_dataset("image-folder", path=DATA / "ckplus48", subject_regex=r"S(\d+)_")
    assert len(ds) == 981 and ds.label_space.name == "ckplus7"
    assert len(set(ds.subjects.tolist())) == 118
    assert ds.class_counts() == {
        "anger": 135,
        "contempt": 54,
        "disgust": 177,
        "fear": 75,
        "happy": 207,
        "sadness": 84,
        "surprise": 249,
    }


@pytest.mark.parametrize(
    ("args", "n"),
    [
        (["image-folder", "--path", "ckplus48", "--param", r"subject_regex=S(\d+)_"], 981),
        (["fer2013", "--path", "fer2013/fer2013.csv.gz"], 32298),
    ],
)
def test_datasets_show_writes_contact_sheet(tmp_path, args, n):
    args[2] = str(DATA / args[2])
    result = CliRunner().invoke(main, ["datasets", "show", *args, "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["n"] == n
    sheet = tmp_path / f"{args[0]}-contact-sheet.png"
    assert sheet.stat().st_size > 10_000
