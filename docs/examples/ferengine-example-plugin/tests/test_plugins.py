"""Every plugin of the example package passes ferengine.testing's checks, one case each."""

from pathlib import Path

import numpy as np
import pytest
from ferengine_example.arousal import Arousal3
from ferengine_example.block_means import BlockMeans
from ferengine_example.centre_square import CentreSquare
from ferengine_example.contrast_stretch import ContrastStretch
from ferengine_example.csv_faces import CsvFaces
from ferengine_example.gaussian_noise import GaussianNoise
from ferengine_example.mean_face import MeanFace5
from ferengine_example.nearest_mean import NearestMean

import ferengine
from ferengine import registry
from ferengine.testing import parametrize_plugin_checks

#: A tiny file in the csv-faces format: 2 subjects × 7 expressions, 8×8 pixels.
FACES = Path(__file__).parent / "data" / "faces.csv"

PLUGINS = {
    "dataset": CsvFaces,
    "preprocessor": ContrastStretch,
    "augmenter": GaussianNoise,
    "feature": BlockMeans,
    "classifier": NearestMean,
    "detector": CentreSquare,
    "landmarker": MeanFace5,
    "label-space": Arousal3,
}


@parametrize_plugin_checks(
    [
        CsvFaces(path=str(FACES)),  # an instance: the loader needs a file
        ContrastStretch,
        GaussianNoise,
        BlockMeans,
        NearestMean,
        CentreSquare,
        MeanFace5,
        Arousal3,
    ]
)
def test_plugin_checks(plugin, check):
    """Run one ferengine.testing check on one plugin."""
    check(plugin)


@pytest.mark.parametrize(("kind", "cls"), PLUGINS.items())
def test_registered_through_the_entry_point(kind, cls):
    """The installed package registers each plugin under its kind and name."""
    assert registry.get_registry().get(kind, f"ferengine-example-plugin:{cls.name}") is cls


def test_plugins_work_together_in_a_pipeline(face_dataset):
    """Preprocessor, feature and classifier by name in one pipeline, as users write it."""
    pipe = ferengine.pipeline("contrast-stretch", ("block-means", {"grid": 4}), "nearest-mean")
    pipe.fit(face_dataset)
    assert pipe.predict_proba(face_dataset).shape == (len(face_dataset.images), 7)
    assert pipe.score(face_dataset) > 1 / 7


def test_csv_faces_reads_every_row_and_names_a_bad_one(tmp_path):
    """The loader reads the tiny file, and refuses a bad label naming file and line."""
    ds = CsvFaces(path=str(FACES)).load()
    assert ds.images.shape == (14, 8, 8) and ds.images.dtype == np.uint8
    bad = tmp_path / "bad.csv"
    bad.write_text("label,subject,pixels\nbored,s1," + " ".join(["0"] * 64) + "\n")
    with pytest.raises(ferengine.errors.DatasetError, match=r"bad.csv, line 2: 'bored'"):
        CsvFaces(path=str(bad)).load()
