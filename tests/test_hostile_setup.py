"""Issue 16, items 15-16: a core install without the extras, and missing required parameters."""

import json
import subprocess
import sys
from importlib import metadata

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import ferengine
from ferengine import registry
from ferengine.cli import main
from ferengine.errors import MissingParameterError
from ferengine.extras import extra_for, install_hint, missing_extra_message

# Runs the CLI's entry function as after `pip install -e .`: the extras' modules raise
# ModuleNotFoundError on import (and importlib.util.find_spec), as they would if absent.
CORE_ONLY = """
import sys
HIDDEN = {"torch", "skorch", "dlib", "_dlib_pybind11", "face_recognition_models", "xgboost"}

class HideExtras:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, HideExtras())
from ferengine.cli import main
main(sys.argv[1:], prog_name="ferengine")
"""

DEEP_FORMS = ('pip install "ferengine[deep]"', 'pip install -e ".[deep]"')


def core_only(*args, cwd):
    return subprocess.run(
        [sys.executable, "-c", CORE_ONLY, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("core")
    cv2.imwrite(str(folder / "photo.png"), np.full((64, 64), 128, np.uint8))
    return folder


# -- 15. commands that need an extra ---------------------------------------------------


@pytest.mark.slow
def test_predict_without_torch_says_which_extra_in_one_line(photo):
    result = core_only("predict", "photo.png", "--out", "out", cwd=photo)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "torch" in lines[0] and "'deep' extra" in lines[0]
    assert all(form in lines[0] for form in DEEP_FORMS)


@pytest.mark.slow
def test_unavailable_detector_and_evaluate_give_the_hint(photo, small_ds):
    model = ferengine.save(
        ferengine.pipeline(("pixels", {"size": 16}), "logistic").fit(small_ds), photo / "m.fer"
    )
    result = core_only("predict", "photo.png", "--model", str(model), "--detector", "dlib-hog",
                       "--out", "out2", cwd=photo)  # fmt: skip
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "dlib-hog" in line and 'pip install "ferengine[landmarks]"' in line
    assert 'pip install -e ".[landmarks]"' in line

    result = core_only("evaluate", "default", "--dataset", "synthetic", cwd=photo)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "model 'default' is unavailable: missing dependency: torch" in line
    assert all(f in line for f in DEEP_FORMS)


@pytest.mark.slow
def test_plugins_give_the_install_hint_for_every_unavailable_plugin(photo):
    result = core_only("plugins", "--json", cwd=photo)
    assert result.returncode == 0, result.stderr
    unavailable = {r["name"]: r["reason"] for r in json.loads(result.stdout)
                   if r["status"] == "unavailable"}  # fmt: skip
    expected = {"cnn", "cnn-embedding", "softmax-head", "landmarks", "align", "xgboost",
                "dlib-hog", "dlib-mmod"}  # fmt: skip
    assert expected <= set(unavailable)
    for name, reason in unavailable.items():
        assert 'pip install "ferengine[' in reason and 'pip install -e ".[' in reason, name
    assert "[landmarks]" in core_only("plugins", "feature", cwd=photo).stdout  # not eaten as markup


def test_every_builtin_requirement_names_an_extra_ferengine_provides():
    extras = set(metadata.metadata("ferengine").get_all("Provides-Extra"))
    for rec in registry.records():
        if rec.cls is not None and getattr(rec.cls, "requires", ()):
            assert rec.cls.extra in extras, f"{rec.kind} {rec.name}"


def test_missing_module_hints_follow_wrapped_errors():
    assert extra_for("torch.nn") == "deep" and extra_for("not_an_extra_module") is None
    try:
        try:
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        except ModuleNotFoundError as inner:
            raise ValueError("could not load the model") from inner
    except ValueError as exc:
        message = missing_extra_message(exc, "ferengine evaluate")
    assert (
        message == f"ferengine evaluate needs torch, which is not installed; {install_hint('deep')}"
    )
    assert install_hint("my-plugin[gpu]") == 'install it: pip install "my-plugin[gpu]"'


# -- 16. missing required parameters ---------------------------------------------------


def cli(*args):
    return CliRunner().invoke(main, list(args))


def test_datasets_show_without_path_names_the_option(tmp_path):
    for args in (
        ("datasets", "show", "fer2013", "--out", str(tmp_path)),
        ("evaluate", "m.fer", "--dataset", "fer2013"),
    ):
        result = cli(*args)
        assert result.exit_code != 0
        assert "Error: dataset 'fer2013' needs --path" in result.output
        assert "__init__" not in result.output and "positional" not in result.output


DATASET_SRC = '''
import numpy as np
import ferengine

class Tokened(ferengine.DatasetPlugin):
    """Needs a path and a token."""
    name = "tokened"
    def __init__(self, path, token, size=4):
        self.path, self.token, self.size = path, token, size
    def load(self):
        space = ferengine.get_label_space("fer7")
        return ferengine.FaceDataset(np.zeros((2, 4, 4), np.uint8), [0, 1], space)

class Picky(ferengine.FaceDetector):
    """Needs a threshold."""
    name = "picky"
    def __init__(self, threshold, mode="all", max_side=None):
        self.threshold, self.mode, self.max_side = threshold, mode, max_side
    def _find(self, grey):
        return []

@ferengine.hookimpl
def ferengine_register_datasets():
    return [Tokened]

@ferengine.hookimpl
def ferengine_register_detectors():
    return [Picky]
'''


def test_other_required_parameters_are_named_as_the_cli_spells_them(
    make_dist, fresh_registry, tmp_path
):
    make_dist("fakeplug-tok", {"tok": "fakeplug_tok"}, {"fakeplug_tok.py": DATASET_SRC})
    result = cli("datasets", "show", "tokened", "--out", str(tmp_path))
    assert "Error: dataset 'tokened' needs --path and --param token=VALUE" in result.output
    result = cli("datasets", "show", "fakeplug-tok:tokened", "--path", "x", "--out", str(tmp_path))
    assert "needs --param token=VALUE" in result.output and "--path" not in result.output
    result = cli("datasets", "show", "tokened", "--path", "x", "--param", "token=abc",
                 "--out", str(tmp_path))  # fmt: skip
    assert result.exit_code == 0, result.output
    result = cli("predict", str(tmp_path), "--detector", "picky")
    assert result.exit_code != 0
    assert "Error: detector 'picky' needs --detector-param threshold=VALUE" in result.output

    with pytest.raises(MissingParameterError, match="'path', 'token'") as caught:
        registry.create("dataset", "tokened", size=2)
    assert caught.value.missing == ["path", "token"] and isinstance(caught.value, TypeError)
