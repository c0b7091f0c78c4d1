"""The shipped ``default`` model: small, safe, loadable by name, and as accurate as documented."""

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

import ferengine
from ferengine.cli import main
from ferengine.persistence import model_path, read_manifest

from .conftest import ROOT, shared_data_dir

pytest.importorskip("torch", reason="the default model ships with the deep extra")

DOCUMENTED = re.compile(r"PublicTest accuracy of the shipped model: \*\*(0\.\d+)\*\*")


def test_default_model_ships_small_with_the_seven_fer_classes():
    path = model_path("default")
    assert path.is_file() and path.stat().st_size <= 10 * 2**20
    manifest = read_manifest("default")
    assert manifest["label_space"]["name"] == "fer7"
    assert manifest["label_space"]["names"] == list(ferengine.get_label_space("fer7").names)


@pytest.mark.slow
def test_default_model_gives_probabilities_for_grey_and_colour_crops():
    model = ferengine.load("default")
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (5, 48, 48), dtype=np.uint8)
    colour = np.repeat(grey[..., None], 3, axis=-1)
    proba = model.predict_proba(grey)
    assert proba.shape == (5, 7)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(model.predict_proba(colour), proba, atol=1e-5)
    np.testing.assert_array_equal(model.predict(grey), model.classes_[proba.argmax(axis=1)])


@pytest.mark.slow
@pytest.mark.skipif(shared_data_dir() is None, reason="real data absent: set FERENGINE_DATA")
def test_evaluate_reproduces_the_documented_publictest_accuracy():
    documented = DOCUMENTED.search((ROOT / "docs" / "deep.md").read_text(encoding="utf-8"))
    assert documented, "docs/deep.md states the shipped model's PublicTest accuracy"
    csv = shared_data_dir() / "fer2013" / "fer2013.csv.gz"
    args = ["evaluate", "default", "--dataset", "fer2013", "--path", str(csv)]
    result = CliRunner().invoke(main, [*args, "--split", "PublicTest", "--json"])
    assert result.exit_code == 0, result.output
    accuracy = json.loads(result.output)["accuracy"]
    assert round(accuracy, 4) == float(documented.group(1))
