import json
import os
import pickle
import zipfile
from dataclasses import replace

import numpy as np
import pytest
import skops.io as sio
from sklearn.preprocessing import FunctionTransformer

import ferengine
from ferengine.errors import ModelFormatError, UnsafeModelError
from ferengine.persistence import read_manifest


@pytest.fixture(scope="module")
def fitted(small_ds):
    return ferengine.pipeline(("pixels", {"size": 16}), ("logistic", {"C": 0.5})).fit(small_ds)


def test_save_load_round_trip_gives_identical_predictions(fitted, small_ds, tmp_path):
    path = ferengine.save(fitted, tmp_path / "model.fer")
    loaded = ferengine.load(path)
    assert type(loaded) is type(fitted)
    np.testing.assert_array_equal(loaded.predict(small_ds.images), fitted.predict(small_ds.images))
    np.testing.assert_array_equal(
        loaded.predict_proba(small_ds.images), fitted.predict_proba(small_ds.images)
    )
    assert loaded.label_space_ == small_ds.label_space


def test_manifest_records_label_space_params_and_versions(fitted, tmp_path):
    manifest = read_manifest(ferengine.save(fitted, tmp_path / "m.fer"))
    assert manifest["label_space"] == {"name": "fer7", "names": list(fitted.label_space_.names)}
    steps = {s["name"]: s for s in manifest["steps"]}
    assert steps["pixels"]["plugin"] == "feature:pixels"
    assert steps["pixels"]["params"]["size"] == 16
    assert steps["logistic"]["params"]["C"] == 0.5
    assert steps["logistic"]["package"] == "ferengine"
    for dist in ("ferengine", "scikit-learn", "numpy", "skops"):
        assert manifest["packages"][dist] not in ("", "?")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_plain_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.fer"
    path.write_bytes(pickle.dumps(_Exploit()))
    with pytest.raises(ModelFormatError, match="pickle files are refused"):
        ferengine.load(path)


def _forge(path, obj):
    """A well-formed ferengine archive whose payload holds ``obj``."""
    manifest = {"format": "ferengine-model", "format_version": 1}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        zf.writestr("model.skops", sio.dumps(obj))
    return path


def test_payload_calling_os_system_is_refused(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))
    path = _forge(tmp_path / "evil.fer", FunctionTransformer(func=os.system))
    with pytest.raises(UnsafeModelError, match="refusing"):
        ferengine.load(path)
    assert calls == []


def test_unknown_classes_are_refused(tmp_path):
    path = _forge(tmp_path / "evil.fer", {"x": _Exploit.__new__(_Exploit)})
    with pytest.raises(UnsafeModelError, match="_Exploit"):
        ferengine.load(path)


def test_damaged_or_foreign_archives_are_refused(tmp_path, fitted):
    with zipfile.ZipFile(tmp_path / "a.fer", "w") as zf:
        zf.writestr("something.txt", "hi")
    with pytest.raises(ModelFormatError, match="lacks"):
        ferengine.load(tmp_path / "a.fer")
    good = ferengine.save(fitted, tmp_path / "b.fer")
    with zipfile.ZipFile(good) as zf:
        payload = zf.read("model.skops")
    with zipfile.ZipFile(tmp_path / "c.fer", "w") as zf:
        zf.writestr(
            "manifest.json", json.dumps({"format": "ferengine-model", "format_version": 99})
        )
        zf.writestr("model.skops", payload)
    with pytest.raises(ModelFormatError, match="format_version 99"):
        ferengine.load(tmp_path / "c.fer")
    with zipfile.ZipFile(tmp_path / "d.fer", "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format": "ferengine-model", "format_version": 1}))
        zf.writestr("model.skops", payload[: len(payload) // 2])
    with pytest.raises(ModelFormatError, match="damaged"):
        ferengine.load(tmp_path / "d.fer")
    with pytest.raises(FileNotFoundError):
        ferengine.load(tmp_path / "missing.fer")


def test_a_registered_model_file_resolves_inside_its_package(tmp_path, monkeypatch, fitted):
    from ferengine.models import ModelCard, PretrainedModel

    pkg = tmp_path / "fakeshipped"
    (pkg / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    card = ModelCard(package="fakeshipped", file="models/m.fer", label_space="fer7",
                     classes=("a", "b"), input_size=(48, 48), channels=1, normalization="",
                     preprocessing="", training_data="", licence="")  # fmt: skip
    shipped = type("Shipped", (PretrainedModel,), {"name": "shipped", "card": card})
    with pytest.raises(FileNotFoundError, match=r"models/m.fer is missing from package"):
        shipped.path()
    ferengine.save(fitted, pkg / "models" / "m.fer")
    assert shipped.path() == pkg / "models" / "m.fer"
    gone = type(
        "Gone", (PretrainedModel,), {"name": "gone", "card": replace(card, package="nope_xyz")}
    )
    with pytest.raises(FileNotFoundError, match="'nope_xyz' is not installed"):
        gone.path()


def test_a_local_file_named_like_a_registered_model_must_be_told_apart(monkeypatch, tmp_path):
    from ferengine.models import AmbiguousModelError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").write_bytes(b"not a zip")
    with pytest.raises(AmbiguousModelError, match=r"'\./default' for the file or 'model:default'"):
        ferengine.load("default")
    with pytest.raises(ModelFormatError):
        ferengine.load("./default")
    with pytest.raises(ModelFormatError):
        ferengine.load(tmp_path / "default")  # a Path is always a path
