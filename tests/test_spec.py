import json

import pytest
from click.testing import CliRunner

import ferengine
from ferengine.cli import main
from ferengine.spec import SpecError, load_spec, train

SPEC = """
description = "test model"

[dataset]
name = "synthetic"
n_subjects = 8
per_expression = 2

[[steps]]
name = "hog"
cell = 8

[[steps]]
name = "svm-linear"
C = 1.0
"""


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "model.toml"
    path.write_text(SPEC)
    return path


def test_spec_trains_a_pipeline(spec_file):
    spec = load_spec(spec_file)
    assert spec.dataset == "synthetic" and [s["name"] for s in spec.steps] == ["hog", "svm-linear"]
    model, report = train(spec)
    assert report["n_train"] == 8 * 7 * 2 and report["fit_seconds"] > 0
    assert model.named_steps["hog"].cell == 8


def test_mirror_doubles_the_training_set(spec_file):
    spec_file.write_text(
        spec_file.read_text().replace("[[steps]]", "[train]\nmirror = true\n\n[[steps]]", 1)
    )
    spec = load_spec(spec_file)
    assert spec.mirror
    _, report = train(spec)
    assert report["n_train"] == 2 * 8 * 7 * 2


def test_train_and_evaluate_commands(spec_file, tmp_path):
    runner = CliRunner()
    out = tmp_path / "m.zip"
    result = runner.invoke(main, ["train", str(spec_file), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert ferengine.persistence.read_manifest(out)["info"]["training"]["n_train"] == 112
    args = ["evaluate", str(out), "--dataset", "synthetic", "--param", "seed=7", "--json"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for key in ("n", "accuracy", "balanced_accuracy", "macro_f1", "per_class", "confusion_matrix"):
        assert key in report
    assert report["n"] == sum(map(sum, report["confusion_matrix"])) == 504
    assert report["accuracy"] > 1 / 7
    assert set(report["per_class"]) == set(report["labels"])
    table = runner.invoke(main, ["evaluate", str(out), "--dataset", "synthetic"])
    assert "confusion matrix" in table.output and "macro-F1" in table.output


def test_evaluate_on_one_split_of_a_folder(tmp_path, spec_file):
    import cv2
    import numpy as np

    for seed, split in enumerate(("train", "test")):
        ds = ferengine.load_dataset("synthetic", n_subjects=3, per_expression=1, seed=seed)
        for i, (img, name) in enumerate(zip(ds.images, ds.label_names, strict=True)):
            folder = tmp_path / "data" / split / name
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f"{i}.png"), img)
    model_path = tmp_path / "m.zip"
    CliRunner().invoke(main, ["train", str(spec_file), "--out", str(model_path)])
    args = ["evaluate", str(model_path), "--dataset", "image-folder", "--path",
            str(tmp_path / "data"), "--split", "test", "--json"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["n"] == len(ds) and np.isfinite(
        json.loads(result.output)["accuracy"]
    )


@pytest.mark.parametrize(
    "text,word",
    [
        ("[dataset]\nname='synthetic'\n[[steps]]\nname='hog'\n[extra]\n", "unknown top-level"),
        ("[[steps]]\nname='hog'\n", "[dataset]"),
        ("[dataset]\nname='synthetic'\n", "[[steps]]"),
        ("[dataset]\nname='synthetic'\n[[steps]]\nC=1\n", "step 1 needs a name"),
        ("[dataset]\nname='synthetic'\n[train]\nsplt='x'\n[[steps]]\nname='hog'\n", "[train]"),
        ("[dataset\n", "not valid TOML"),
    ],
)
def test_malformed_specs_name_file_and_key(tmp_path, text, word):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SpecError, match="bad.toml") as info:
        load_spec(path)
    assert word in str(info.value)


def test_unknown_step_and_missing_path(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[dataset]\nname='synthetic'\n[[steps]]\nname='hgo'\n")
    with pytest.raises(SpecError, match="did you mean"):
        train(load_spec(path))
    path.write_text("[dataset]\nname='fer2013'\n[[steps]]\nname='hog'\n")
    with pytest.raises(SpecError, match="--data"):
        load_spec(path).load_data()
    path.write_text(
        "[dataset]\nname='fer2013'\npath='$NO_SUCH_VAR_X/f.csv'\n[[steps]]\nname='hog'\n"
    )
    with pytest.raises(SpecError, match="NO_SUCH_VAR_X"):
        load_spec(path).load_data()


def test_shipped_specs_parse():
    from pathlib import Path

    specs = sorted(Path(__file__).parent.parent.joinpath("benchmarks", "models").glob("*.toml"))
    assert specs
    for path in specs:
        spec = load_spec(path)
        spec.pipeline()  # every step name and parameter is valid
