"""The shipped models: small, safe, loadable by name, and as accurate as their cards say."""

import json
import os
import re
import shlex

import numpy as np
import pytest
from click.testing import CliRunner

import ferengine
from ferengine.cli import main
from ferengine.persistence import model_path, read_manifest
from ferengine.registry import get_registry

from .conftest import ROOT, shared_data_dir

pytest.importorskip("torch", reason="the shipped models need the deep extra")

# name → label space of the models that ship inside ferengine_deep
SHIPPED = {"default": "ferplus8", "fer2013": "fer7"}
# docs/deep.md states each shipped model's PublicTest accuracy in these words
DOCUMENTED = re.compile(r"PublicTest accuracy of `([\w-]+)`: \*\*(0\.\d+)\*\*")
# a card's metric → the key of `ferengine evaluate --json` that holds it
EVALUATE_KEYS = {"accuracy": "accuracy", "balanced accuracy": "balanced_accuracy",
                 "macro-F1": "macro_f1"}  # fmt: skip


def card(name):
    return get_registry().get("model", name).card


def publictest_commands(name):
    """Each evaluate command of ``name``'s card on PublicTest → the figures it measured."""
    commands = {}
    for m in card(name).measurements:
        if "PublicTest" in m.data and m.metric in EVALUATE_KEYS:
            commands.setdefault(m.command, {})[EVALUATE_KEYS[m.metric]] = m.value
    return commands


def test_ferengine_deep_ships_exactly_the_listed_models():
    records = get_registry().records("model")
    shipped = {r.name for r in records if r.cls.__module__ == "ferengine_deep.cards"}
    assert shipped == set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_is_small_with_its_label_space(name):
    path = model_path(name)
    assert path.is_file() and path.stat().st_size <= 10 * 2**20
    manifest = read_manifest(name)
    space = SHIPPED[name]
    assert manifest["label_space"]["name"] == space == card(name).label_space
    assert manifest["label_space"]["names"] == list(ferengine.get_label_space(space).names)
    assert tuple(manifest["label_space"]["names"]) == card(name).classes


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_gives_probabilities_for_grey_and_colour_crops(name):
    model = ferengine.load(name)
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (5, 48, 48), dtype=np.uint8)
    colour = np.repeat(grey[..., None], 3, axis=-1)
    proba = model.predict_proba(grey)
    assert proba.shape == (5, len(card(name).classes))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(model.predict_proba(colour), proba, atol=1e-5)
    np.testing.assert_array_equal(model.predict(grey), model.classes_[proba.argmax(axis=1)])


def test_docs_state_each_shipped_models_card_figure():
    text = (ROOT / "docs" / "deep.md").read_text(encoding="utf-8")
    documented = {name: float(value) for name, value in DOCUMENTED.findall(text)}
    assert set(documented) == set(SHIPPED), "docs/deep.md states each model's PublicTest accuracy"
    for name in SHIPPED:
        accuracy = next(m.value for m in card(name).measurements if m.metric == "accuracy")
        assert documented[name] == accuracy, name


@pytest.mark.slow
@pytest.mark.skipif(shared_data_dir() is None, reason="real data absent: set FERENGINE_DATA")
@pytest.mark.parametrize("name", SHIPPED)
def test_card_commands_reproduce_the_recorded_publictest_figures(name, monkeypatch):
    commands = publictest_commands(name)
    assert commands, f"the card of {name} records its PublicTest accuracy"
    monkeypatch.setenv("FERENGINE_DATA", str(shared_data_dir()))
    for command, recorded in commands.items():
        args = shlex.split(os.path.expandvars(command))
        assert args[:3] == ["ferengine", "evaluate", name] and "--json" in args, command
        result = CliRunner().invoke(main, args[1:])
        assert result.exit_code == 0, result.output
        measured = json.loads(result.output)
        assert {key: round(measured[key], 4) for key in recorded} == recorded
