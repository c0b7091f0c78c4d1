"""Issue 16, items 13-14: strict plugin loading, and name clashes resolved by package."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import ferengine
from ferengine import registry
from ferengine.bench.suite import load_suite
from ferengine.cli import main
from ferengine.errors import (
    InvalidPluginError,
    PluginConflictError,
    PluginLoadError,
    PluginWarning,
    UnknownPluginError,
)
from ferengine.registry import Registry, canonical_package, split_name
from ferengine.spec import load_spec
from tests.fake_plugins import feature_module


def feature_dist(make_dist, package, name, tag=None):
    module = package.replace("-", "_")
    src = feature_module(name, tag=tag or package)
    make_dist(package, {module: module}, {f"{module}.py": src})


def hook_dist(make_dist, package, body, hook="ferengine_register_features"):
    module = package.replace("-", "_")
    src = f"import ferengine\n@ferengine.hookimpl\ndef {hook}():\n    {body}\n"
    make_dist(package, {module: module}, {f"{module}.py": src})


def cli(*args):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def strict(monkeypatch):
    monkeypatch.setenv("FERENGINE_STRICT_PLUGINS", "1")


# -- 13. strict mode ---------------------------------------------------------------------

STRICT_CASES = {
    # package: (hook body or module source, expected error, words the message must hold)
    "fakeplug-raises": ("raise ValueError('bad hook')", PluginLoadError, ["bad hook"]),
    "fakeplug-nonclass": ("return [42]", InvalidPluginError, ["42", "not a class"]),
    "fakeplug-none": ("return None", PluginLoadError, ["None", "not an iterable"]),
    "fakeplug-nodoc": (
        "return [type('NoDoc', (), {'name': 'no-doc'})]",
        InvalidPluginError,
        ["no-doc", "docstring"],
    ),
}


@pytest.mark.parametrize("package", list(STRICT_CASES))
def test_strict_mode_raises_on_a_bad_hook_naming_package_and_plugin(make_dist, strict, package):
    body, error, words = STRICT_CASES[package]
    hook_dist(make_dist, package, body)
    with pytest.raises(error) as caught:
        Registry.from_entry_points()
    message = str(caught.value)
    assert package in message and package.replace("-", "_") in message  # package + entry point
    assert all(w in message for w in words) and "\n" not in message


def test_without_strict_mode_the_same_problems_are_only_recorded(make_dist):
    for package, (body, _, _) in STRICT_CASES.items():
        hook_dist(make_dist, package, body)
    reg = Registry.from_entry_points(strict=False)
    broken = {f.package for f in reg.failures} | {r.package for r in reg.invalid}
    assert set(STRICT_CASES) <= broken
    assert reg.create("feature", "pixels") is not None


def test_strict_mode_raises_on_an_import_error(make_dist):
    make_dist("fakeplug-imp", {"imp": "fakeplug_imp"}, {"fakeplug_imp.py": "import nope_xyz\n"})
    with pytest.raises(PluginLoadError, match=r"'imp'.*fakeplug-imp.*nope_xyz"):
        Registry.from_entry_points(strict=True)

    with pytest.raises(ImportError):  # PluginLoadError is an ImportError, as before
        Registry.from_entry_points(strict=True)


def test_strict_mode_raises_on_a_misspelled_hook(make_dist):
    hook_dist(make_dist, "fakeplug-typo", "return []", hook="ferengine_register_feature")
    with pytest.raises(InvalidPluginError, match="fakeplug-typo.*ferengine_register_feature"):
        Registry.from_entry_points(strict=True)


def test_strict_mode_raises_on_a_name_clash_between_packages(make_dist):
    feature_dist(make_dist, "fakeplug-one", "dup")
    feature_dist(make_dist, "fakeplug-two", "dup")
    with pytest.raises(PluginConflictError, match="fakeplug-one:dup.*fakeplug-two:dup"):
        Registry.from_entry_points(strict=True)


def test_strict_mode_raises_on_a_clash_with_a_builtin(make_dist):
    feature_dist(make_dist, "fakeplug-shadow", "pixels")
    with pytest.raises(PluginConflictError, match="fakeplug-shadow.*'fakeplug-shadow:pixels'"):
        Registry.from_entry_points(strict=True)


def test_strict_mode_raises_when_one_package_registers_a_name_twice(make_dist):
    src = feature_module("twice", tag="a") + (
        "\nclass Other(Mean):\n    '''Another.'''\n"
        "\n@ferengine.hookimpl(specname='ferengine_register_features')\n"
        "def more():\n    return [Other]\n"
    )
    make_dist("fakeplug-twice", {"twice": "fakeplug_twice"}, {"fakeplug_twice.py": src})
    reg = Registry.from_entry_points(strict=False)
    assert next(r.reason for r in reg.invalid if r.name == "twice").count("twice") >= 2
    with pytest.raises(InvalidPluginError, match="fakeplug-twice.*'twice' twice"):
        Registry.from_entry_points(strict=True)


def test_strict_mode_makes_the_cli_exit_non_zero_with_one_line(make_dist, strict, fresh_registry):
    hook_dist(make_dist, "fakeplug-raises", "raise ValueError('bad hook')")
    for args in (["plugins"], ["plugins", "feature", "--json"], ["datasets", "show", "x"]):
        result = cli(*args)
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert "fakeplug-raises" in lines[0] and "bad hook" in lines[0]


def test_unavailable_plugins_are_not_a_strict_mode_failure(make_dist):
    src = feature_module("heavy", requires=("no_such_lib_q",), tag="x")
    make_dist("fakeplug-heavy", {"heavy": "fakeplug_heavy"}, {"fakeplug_heavy.py": src})
    reg = Registry.from_entry_points(strict=True)
    assert reg.record("feature", "heavy").status == "unavailable"


# -- 14. qualified names -----------------------------------------------------------------


def test_name_grammar_tells_kind_package_and_name_apart():
    assert split_name("pixels") == (None, None, "pixels")
    assert split_name("feature:pixels") == ("feature", None, "pixels")
    assert split_name("my-plugin:pixels") == (None, "my-plugin", "pixels")
    assert split_name("feature:my-plugin:pixels") == ("feature", "my-plugin", "pixels")
    assert split_name("feature:feature:pixels") == ("feature", "feature", "pixels")
    for bad in ("a:b:c:d", "pkg:other:pixels", ":pixels", "pkg:"):
        with pytest.raises(UnknownPluginError, match="KIND:PACKAGE:NAME"):
            split_name(bad)
    assert canonical_package("My_Plugin.x") == canonical_package("my-plugin-x") == "my-plugin-x"


def test_builtin_and_package_qualified_names_resolve():
    pixels = registry.get_registry().get("feature", "pixels")
    assert registry.get_registry().get("feature", "ferengine:pixels") is pixels
    assert registry.get_registry().get("feature", "feature:ferengine:pixels") is pixels
    assert registry.create("feature", "FerEngine:pixels", size=8).size == 8
    assert (
        ferengine.load_dataset("ferengine:synthetic", n_subjects=2, size=16).images.shape[1] == 16
    )
    with pytest.raises(UnknownPluginError, match="names a feature, not a classifier"):
        registry.create("classifier", "feature:pixels")
    with pytest.raises(UnknownPluginError, match=r"from package 'nopkg'.*'ferengine:pixels'"):
        registry.create("feature", "nopkg:pixels")


@pytest.fixture
def shadowed(make_dist):
    """A registry where a third-party package also registers the built-in 'pixels'."""
    feature_dist(make_dist, "fakeplug-shadow", "pixels", tag="shadow")
    with pytest.warns(
        PluginWarning,
        match=r"^fakeplug-shadow also registers feature 'pixels'; "
        r"use 'fakeplug-shadow:pixels' for it$",
    ):
        reg = Registry.from_entry_points(strict=False)
    saved = registry._default
    registry.set_registry(reg)
    yield reg
    registry.set_registry(saved)


def test_a_builtin_name_keeps_resolving_to_the_builtin(shadowed):
    builtin = shadowed.create("feature", "pixels")
    assert type(builtin).__module__.startswith("ferengine_classic")
    other = shadowed.create("feature", "fakeplug-shadow:pixels")
    assert other.tag == "shadow"
    assert shadowed.create("feature", "FakePlug_Shadow:pixels").tag == "shadow"  # PEP 503
    assert shadowed.record("feature", "pixels").status == "ok"
    assert "pixels" in shadowed.names("feature", available_only=True)


def test_qualified_names_work_in_pipelines_specs_and_suites(shadowed, small_ds, tmp_path):
    steps = {
        "pixels": "ferengine_classic",
        "feature:pixels": "ferengine_classic",
        "fakeplug-shadow:pixels": "fakeplug_shadow",
        "feature:fakeplug-shadow:pixels": "fakeplug_shadow",
    }
    for step, module in steps.items():
        pipe = ferengine.pipeline(step, "logistic")
        assert type(pipe.steps[0][1]).__module__.startswith(module), step
        assert pipe.steps[0][0] == "pixels"
    pipe = ferengine.pipeline(("fakeplug-shadow:pixels", {"k": 3}), "ferengine:logistic")
    assert pipe.fit(small_ds).steps[0][1].k == 3

    spec = tmp_path / "m.toml"
    spec.write_text(
        '[dataset]\nname = "ferengine:synthetic"\n'
        '[[steps]]\nname = "fakeplug-shadow:pixels"\nparams = { k = 2 }\n'
        '[[steps]]\nname = "classifier:logistic"\n'
    )
    model = load_spec(spec).pipeline()
    assert model.steps[0][1].tag == "shadow" and model.steps[0][1].k == 2

    # The default benchmark suite still builds with the plain built-in names.
    for combo in load_suite(None).combinations:
        ferengine.pipeline(*combo.front, combo.classifier)


def test_cli_shows_every_candidate_and_the_shadowed_row(shadowed):
    result = cli("plugins", "show", "feature", "pixels")
    assert result.exit_code == 0, result.output
    assert "ferengine:pixels" in result.output and "fakeplug-shadow:pixels" in result.output
    data = json.loads(cli("plugins", "show", "feature", "fakeplug-shadow:pixels", "--json").output)
    assert data["package"] == "fakeplug-shadow" and data["parameters"] == {"k": 1}
    assert [c["status"] for c in data["candidates"]] == ["ok", "shadowed"]
    rows = json.loads(cli("plugins", "feature", "--json").output)
    [row] = [r for r in rows if r["package"] == "fakeplug-shadow"]
    assert row["status"] == "shadowed" and "'fakeplug-shadow:pixels'" in row["reason"]
    assert row["qualified"] == "fakeplug-shadow:pixels"


def test_clash_between_two_packages_names_both_and_the_qualified_forms(make_dist):
    feature_dist(make_dist, "fakeplug-one", "dup")
    feature_dist(make_dist, "fakeplug-two", "dup")
    reg = Registry.from_entry_points(strict=False)
    with pytest.raises(PluginConflictError) as caught:
        reg.create("feature", "dup")
    message = str(caught.value)
    for part in ("'fakeplug-one'", "'fakeplug-two'", "'fakeplug-one:dup'", "'fakeplug-two:dup'"):
        assert part in message
    assert reg.create("feature", "fakeplug-one:dup").tag == "fakeplug-one"
    assert reg.create("feature", "fakeplug_two:dup").tag == "fakeplug-two"
    with pytest.raises(PluginConflictError):
        ferengine.pipeline("dup", "logistic", registry=reg)
    pipe = ferengine.pipeline("fakeplug-two:dup", "logistic", registry=reg)
    assert pipe.steps[0][1].tag == "fakeplug-two"
    listed = [r for r in reg.records("feature") if r.name == "dup"]
    assert [(r.package, r.status) for r in listed] == [
        ("fakeplug-one", "conflict"),
        ("fakeplug-two", "conflict"),
    ]


def test_cli_plugins_show_lists_both_clashing_packages(make_dist, fresh_registry):
    feature_dist(make_dist, "fakeplug-one", "dup")
    feature_dist(make_dist, "fakeplug-two", "dup")
    result = cli("plugins", "show", "feature", "dup")
    assert result.exit_code == 0, result.output
    assert "fakeplug-one:dup" in result.output and "fakeplug-two:dup" in result.output
    assert "conflict" in result.output
    data = json.loads(cli("plugins", "show", "feature", "fakeplug-two:dup", "--json").output)
    assert data["package"] == "fakeplug-two" and data["status"] == "ok"


def test_qualified_detector_name(make_dist):
    reg = Registry.from_entry_points(strict=False)
    detector = reg.create("detector", "ferengine:none")
    assert detector.detect(np.zeros((8, 8), np.uint8))[0].box == (0, 0, 8, 8)


def test_a_broken_package_is_listed_under_every_kind_filter(make_dist, fresh_registry):
    make_dist("fakeplug-broken", {"broken": "fakeplug_broken"}, {"fakeplug_broken.py": "1/0\n"})
    hook_dist(make_dist, "fakeplug-raises", "raise ValueError('bad hook')")
    for kind in (*registry.KINDS, None):
        args = ["plugins", "--json"] if kind is None else ["plugins", kind, "--json"]
        rows = json.loads(cli(*args).output)
        broken = {r["package"] for r in rows if r["status"] == "broken"}
        assert "fakeplug-broken" in broken, kind
        # A failing hook is listed under its own kind (and in the full list).
        assert ("fakeplug-raises" in broken) == (kind in (None, "feature")), kind
    table = cli("plugins", "classifier").output
    assert "fakeplug-broken" in table and "ZeroDivisionError" in table


def test_cli_prints_the_shadowing_warning_in_one_line(make_dist, fresh_registry):
    feature_dist(make_dist, "fakeplug-shadow", "pixels")
    result = cli("plugins", "feature", "--json")
    assert result.exit_code == 0, result.output
    warning = "warning: fakeplug-shadow also registers feature 'pixels'; "
    warning += "use 'fakeplug-shadow:pixels' for it\n"
    assert result.stderr == warning
    assert {r["status"] for r in json.loads(result.stdout) if r["name"] == "pixels"} == {
        "ok",
        "shadowed",
    }
