import json

import numpy as np
import pytest
from click.testing import CliRunner

import ferengine
from ferengine.cli import main
from ferengine.spec import SpecError, load_spec, train

SPEC = """
description = "test model"

[dataset]
name = "synthetic"
params = { n_subjects = 8, per_expression = 2 }

[[steps]]
name = "hog"
params = { cell = 8 }

[[steps]]
name = "svm-linear"
params = { C = 1.0 }
"""


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "model.toml"
    path.write_text(SPEC)
    return path


def test_spec_trains_a_pipeline(spec_file):
    spec = load_spec(spec_file)
    assert spec.dataset == "synthetic" and spec.steps == [
        {"name": "hog", "params": {"cell": 8}},
        {"name": "svm-linear", "params": {"C": 1.0}},
    ]
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


def test_hold_out_leaves_a_stratified_share_out_of_the_fit_and_scores_it(spec_file, tmp_path):
    spec_file.write_text(
        spec_file.read_text().replace(
            "[[steps]]", "[train]\nhold_out = 0.25\nhold_out_seed = 3\n\n[[steps]]", 1
        )
    )
    spec = load_spec(spec_file)
    model, report = train(spec)
    held = report["held_out"]
    assert (held["fraction"], held["seed"], held["n"]) == (0.25, 3, 28)
    assert report["n_train"] == 112 - 28 and held["n"] == sum(map(sum, held["confusion_matrix"]))
    # the share is the one splits.held_out_share names, and the fit never saw it
    ds = spec.load_data()
    fit, kept = ferengine.splits.held_out_share(ds.labels, 0.25, 3)
    assert np.bincount(ds.labels[kept]).tolist() == [4] * 7  # stratified
    again = ferengine.pipeline(("hog", {"cell": 8}), ("svm-linear", {"C": 1.0})).fit(ds.subset(fit))
    assert np.array_equal(again.predict(ds.images[kept]), model.predict(ds.images[kept]))
    assert held["accuracy"] == pytest.approx(
        np.mean(model.predict(ds.images[kept]) == ds.labels[kept])
    )
    result = CliRunner().invoke(main, ["train", str(spec_file), "--out", str(tmp_path / "m.fer")])
    assert result.exit_code == 0, result.output
    assert "held-out 25% of the training split" in result.output


@pytest.mark.slow
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


HEAD = "[dataset]\nname='synthetic'\n"


@pytest.mark.parametrize(
    "text,word",
    [
        (HEAD + "[[steps]]\nname='hog'\n[extra]\n", "extra: unknown key"),
        ("[[steps]]\nname='hog'\n", "dataset: Field required"),
        (HEAD, "steps: Field required"),
        (HEAD + "[[steps]]\nparams={C=1}\n", "steps[0].name: Field required"),
        (
            HEAD + "[train]\nsplt='x'\n[[steps]]\nname='hog'\n",
            "train.splt: unknown key; did you mean 'split'?",
        ),
        (
            HEAD + "[train]\nvalidat='x'\n[[steps]]\nname='hog'\n",
            "train.validat: unknown key; did you mean 'validate'?",
        ),
        (HEAD + "[train]\nmirror='yes'\n[[steps]]\nname='hog'\n", "train.mirror: Input should"),
        (
            HEAD + "[[steps]]\nname='hog'\ncell=6\n",
            "steps[0].cell: unknown key; parameters go in params = { cell = ... }",
        ),
        (HEAD + "[[steps]]\nname='hgo'\n", "steps[0].name: no preprocessor, feature, classifier"),
        (
            HEAD + "[[steps]]\nname='hog'\nparams={cel=6}\n",
            "steps[0].params.cel: unknown parameter of feature 'hog'; did you mean 'cell'?",
        ),
        (
            HEAD.replace("'synthetic'", "'synthetc'") + "[[steps]]\nname='hog'\n",
            "dataset.name: no dataset plugin named 'synthetc'; did you mean 'synthetic'",
        ),
        (
            HEAD + "[[steps]]\nname='logistic'\nparams={C=-1}\n",
            "steps[0].params.C: The 'C' parameter of classifier 'logistic' must be a float",
        ),
        ("[dataset\n", "not valid TOML"),
    ],
)
def test_malformed_specs_name_file_and_key(tmp_path, text, word):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert f"bad.toml: {word}" in str(info.value)


def test_every_problem_is_reported_at_once_before_loading_data(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("data loaded before the spec was checked")

    monkeypatch.setattr(ferengine.registry.Registry, "create", refuse)
    path = tmp_path / "bad.toml"
    path.write_text(
        "[dataset]\nname='synthetic'\nparams={sede=1}\n[train]\nmirror='yes'\n"
        "[[steps]]\nname='concat'\nparams={features=['hgo', {name='lbp', params={gird=4}}]}\n"
        "[[steps]]\nname='knn'\nparams={n_neighbors=0}\n"
    )
    with pytest.raises(SpecError) as info:
        load_spec(path)
    lines = str(info.value).splitlines()
    assert lines[0] == f"{path}: 5 problems"
    paths = [line.split(": ")[1] for line in lines[1:]]
    assert paths == [
        "dataset.params.sede",
        "train.mirror",
        "steps[0].params.features[0]",
        "steps[0].params.features[1].params.gird",
        "steps[1].params.n_neighbors",
    ]


def test_unknown_step_and_missing_path(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[dataset]\nname='fer2013'\n[[steps]]\nname='hog'\n")
    with pytest.raises(SpecError, match="--data"):
        load_spec(path).load_data()
    path.write_text(
        "[dataset]\nname='fer2013'\nparams={path='$NO_SUCH_VAR_X/f.csv'}\n[[steps]]\nname='hog'\n"
    )
    with pytest.raises(SpecError, match=r"dataset\.params\.path: .*NO_SUCH_VAR_X"):
        load_spec(path).load_data()


def test_shipped_specs_parse():
    from pathlib import Path

    specs = sorted(Path(__file__).parent.parent.joinpath("benchmarks", "models").glob("*.toml"))
    assert specs
    for path in specs:
        spec = load_spec(path)
        spec.pipeline()  # every step name and parameter is valid


def test_dataset_files_beside_the_path_expand_variables(tmp_path, monkeypatch):
    """fer2013's ferplus votes file is written with ${FERENGINE_DATA} like its path."""
    from ferengine.spec import expand_files

    monkeypatch.setenv("FERX", str(tmp_path))
    params = {"path": "${FERX}/a.csv", "ferplus": "${FERX}/b.csv", "usage": ["Training"]}
    assert expand_files(params, tmp_path) == {**params, "ferplus": f"{tmp_path}/b.csv"}
    monkeypatch.delenv("FERX")
    with pytest.raises(SpecError, match="ferplus: unset environment variable"):
        expand_files(params, tmp_path)
