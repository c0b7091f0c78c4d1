"""The deep plugin: CNN zoo, the cnn estimator, augmenters, embeddings and heads."""

import json
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow  # every test here trains a CNN
pytest.importorskip("skorch")

from ferengine_deep import augment as aug  # noqa: E402
from ferengine_deep.layers import Normalize, network  # noqa: E402
from sklearn.base import clone  # noqa: E402

import ferengine  # noqa: E402
from ferengine import registry, runtime, splits  # noqa: E402

FAST = {"max_epochs": 4, "batch_size": 32, "module__width": 8, "module__embedding": 32}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Train on one torch thread (the machine's cores are shared), runtime options left unset."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def faces():
    ds = ferengine.load_dataset("synthetic", size=32)
    (train, test), *_ = splits.subject_kfold(ds, n_splits=3)
    return ds.images[train], ds.labels[train], ds.images[test], ds.labels[test]


@pytest.fixture(scope="module")
def fitted(faces):
    X, y, _, _ = faces
    params = {"module": "small32", "max_epochs": 12}
    return registry.create("classifier", "cnn", **params, batch_size=32).fit(X, y)


# --- zoo ---------------------------------------------------------------------------------
ZOO = {"compact": 48, "lenet": 48, "vgg": 48, "vgg1024": 48, "small32": 32, "bkstart": 48,
       "bkvgg12": 42, "resnet18": 48, "densenet": 48, "mobilenet-v2": 48, "mini-xception": 48,
       "xception": 48}  # fmt: skip


def test_the_zoo_is_registered_with_native_sizes():
    assert set(ZOO) <= set(registry.names("architecture"))
    assert {a: registry.create("architecture", a).native_size for a in ZOO} == ZOO
    info = registry.info("architecture", "compact")
    assert info["parameters"] == {"width": 32, "dropout": 0.4, "embedding": 256}
    assert info["requires"] == ["torch"] and info["description"].startswith("A narrow VGG")


@pytest.mark.parametrize("arch", sorted(ZOO))
def test_every_architecture_maps_faces_to_class_scores(arch):
    size = ZOO[arch]
    net = network(registry.create("architecture", arch), 7, 1, size).eval()
    with torch.no_grad():
        x = torch.randint(0, 256, (2, 1, size, size), dtype=torch.uint8)
        assert net(x).shape == (2, 7)
        assert net.embed(x).shape == (2, net.embedding_size)


def test_mini_xception_is_about_as_small_as_the_papers():
    net = network(registry.create("architecture", "mini-xception"), 7, 1, 48)
    assert 45_000 < sum(p.numel() for p in net.parameters()) < 65_000  # paper: 60k (Keras)
    separable = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert len(separable) == 8  # two depthwise convs in each of the four modules


def test_small32_has_about_367k_parameters():
    net = network(registry.create("architecture", "small32"), 7, 1, 32)
    assert 360_000 < sum(p.numel() for p in net.parameters()) < 370_000


def test_architecture_parameters_are_checked_by_name(faces):
    X, y, _, _ = faces
    cnn = registry.create("classifier", "cnn", **{"module__widht": 8, "max_epochs": 1})
    expected = (
        r"cnn: module__widht: architecture 'compact' has no parameter 'widht' "
        r"\(did you mean 'module__width'\?\); its parameters: width, dropout, embedding"
    )
    with pytest.raises(ValueError, match=expected):
        cnn.fit(X, y)
    assert not hasattr(cnn, "module_")  # refused before any training
    with pytest.raises(ValueError, match=r"cnn: module: .*did you mean 'compact'"):
        registry.create("classifier", "cnn", **{**FAST, "module": "compakt"}).fit(X, y)


def test_a_network_must_be_a_features_head_pair():
    from ferengine.architectures import Architecture

    class Bare(Architecture):
        """Returns one module."""

        name = "bare"

        def build(self, n_classes, in_channels, size):
            return torch.nn.Linear(size * size, n_classes)

    with pytest.raises(TypeError, match=r"'bare': build\(\) must return \(features, head\)"):
        network(Bare(), 7, 1, 8)


def test_pixel_normalisation_learns_training_statistics():
    images = torch.randint(0, 256, (50, 1, 8, 8), dtype=torch.uint8)
    norm = Normalize("pixel", 1, 8).fit(images)
    out = norm(images)
    assert torch.allclose(out.mean(dim=0), torch.zeros(1, 8, 8), atol=1e-4)
    assert torch.allclose(out.std(dim=0), torch.ones(1, 8, 8), atol=1e-2)


# --- the cnn estimator -------------------------------------------------------------------


def test_cnn_learns_expressions_above_chance(fitted, faces):
    _, _, X_test, y_test = faces
    assert fitted.score(X_test, y_test) > 2 / 7  # chance is 1/7
    proba = fitted.predict_proba(X_test)
    assert proba.shape == (len(X_test), 7) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert fitted.n_epochs_ == 12 and {"train_loss", "valid_loss"} <= set(fitted.history_[-1])


def test_cnn_is_deterministic_for_a_seed(faces):
    X, y, X_test, _ = faces
    a = registry.create("classifier", "cnn", **FAST, bf16=False).fit(X, y).decision_function(X_test)
    b = registry.create("classifier", "cnn", **FAST, bf16=False).fit(X, y).decision_function(X_test)
    assert np.allclose(a, b, atol=1e-5)


def test_a_cnn_trained_in_bf16_predicts_in_float32(faces):
    X, y, X_test, _ = faces
    cnn = registry.create("classifier", "cnn", **{**FAST, "max_epochs": 1}, bf16=True).fit(X, y)
    assert cnn.bf16_
    batch = torch.from_numpy(cnn._inputs(X_test, "X")).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        float32 = cnn.module_(batch).numpy()
    # bfloat16 keeps 8 bits of mantissa: under autocast the logits differ by ~1e-2
    np.testing.assert_allclose(cnn.decision_function(X_test), float32, rtol=1e-5, atol=1e-5)


def test_saved_cnn_predicts_the_same_and_holds_no_pickle(fitted, faces, tmp_path):
    _, _, X_test, _ = faces
    path = ferengine.save(fitted, tmp_path / "cnn.fer")
    again = ferengine.load(path)
    assert np.array_equal(again.predict(X_test), fitted.predict(X_test))
    assert np.allclose(again.decision_function(X_test), fitted.decision_function(X_test))


def test_training_resumes_from_its_checkpoint(faces, tmp_path):
    X, y, _, _ = faces
    folder = tmp_path / "ckpt"
    first = registry.create("classifier", "cnn", **{**FAST, "max_epochs": 2})
    assert first.fit(X, y, checkpoint_dir=folder).n_epochs_ == 2
    assert (folder / "params.pt").is_file()
    resumed = registry.create("classifier", "cnn", **{**FAST, "max_epochs": 5})
    assert resumed.fit(X, y, checkpoint_dir=folder).n_epochs_ == 5  # 2 loaded + 3 trained
    assert [row["epoch"] for row in resumed.history_] == [1, 2, 3, 4, 5]


def test_resumed_one_cycle_schedule_continues_where_it_stopped(faces, tmp_path, monkeypatch):
    from ferengine_deep import net

    X, y, _, _ = faces
    params = {**FAST, "schedule": "onecycle", "lr": 0.01, "validation_fraction": 0.0}
    registry.create("classifier", "cnn", **params).fit(X, y, checkpoint_dir=tmp_path / "a")
    batches = -(-len(X) // FAST["batch_size"])
    collate, calls = net.Collate.__call__, []

    def interrupted(self, samples):  # Ctrl-C in the third epoch
        calls.append(1)
        if len(calls) > 2 * batches:
            raise KeyboardInterrupt
        return collate(self, samples)

    monkeypatch.setattr(net.Collate, "__call__", interrupted)
    first = registry.create("classifier", "cnn", **params)
    assert first.fit(X, y, checkpoint_dir=tmp_path / "b").n_epochs_ == 2
    monkeypatch.setattr(net.Collate, "__call__", collate)
    resumed = registry.create("classifier", "cnn", **params)
    assert resumed.fit(X, y, checkpoint_dir=tmp_path / "b").n_epochs_ == FAST["max_epochs"]

    def rates(folder):
        history = json.loads((tmp_path / folder / "history.json").read_text())
        return [batch["event_lr"] for epoch in history for batch in epoch["batches"]]

    assert len(rates("b")) == len(rates("a")) == FAST["max_epochs"] * batches
    assert np.allclose(rates("b"), rates("a"))


def test_curves_are_written_as_csv_and_png(faces, tmp_path):
    X, y, _, _ = faces
    cnn = registry.create("classifier", "cnn", **{**FAST, "max_epochs": 3}, schedule="cosine")
    cnn.fit(X, y, curves_dir=tmp_path)
    rows = (tmp_path / "curves.csv").read_text().strip().splitlines()
    assert rows[0].startswith("epoch,train_loss,valid_loss") and len(rows) == 4
    assert (tmp_path / "curves.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "params",
    [{"optimizer": "sgd", "schedule": "onecycle", "lr": 0.05},
     {"optimizer": "adadelta", "lr": 1.0, "schedule": "plateau", "patience": 2},
     {"criterion": "squared-hinge", "class_weight": "max-ratio", "normalize": "pixel"},
     {"criterion": "hinge", "criterion__margin": 0.5, "augment": "fer", "augment_copies": 1},
     {"module": "small32", "size": 32, "validation_fraction": 0}],
)  # fmt: skip
def test_training_options_run(params, faces):
    X, y, X_test, _ = faces
    small = {} if "module" in params else FAST  # small32 takes no width
    clf = registry.create("classifier", "cnn", **{**small, "max_epochs": 2, **params}).fit(X, y)
    assert clf.predict(X_test).shape == (len(X_test),)


def test_given_validation_set_is_used(faces):
    X, y, X_test, y_test = faces
    clf = registry.create("classifier", "cnn", **FAST).fit(X, y, X_val=X_test, y_val=y_test)
    assert "valid_acc" in clf.history_[-1]


def test_bad_parameters_are_named(faces):
    X, y, _, _ = faces
    for bad in ({"optimizer": "rmsprop"}, {"module": "vgg99"}, {"schedule": "step"},
                {"criterion": "hinge", "criterion__label_smoothing": 0.1}):  # fmt: skip
        with pytest.raises(ValueError, match=list(bad)[-1]):
            registry.create("classifier", "cnn", **FAST, **bad).fit(X, y)


def test_transfer_freezes_the_backbone_and_trains_a_new_head(fitted, faces, tmp_path):
    X, y, _, _ = faces
    source = ferengine.save(fitted, tmp_path / "source.fer")
    keep = np.isin(y, [0, 3, 5])
    target = registry.create("classifier", "cnn", init=str(source), trainable="head",
                             max_epochs=2).fit(X[keep], y[keep])  # fmt: skip
    assert target.module_.head.out_features == 3 and target.config_["module"] == "small32"
    for name, value in fitted.module_.features.state_dict().items():
        if "running" not in name and "num_batches" not in name:  # BN statistics still adapt
            assert torch.equal(value, target.module_.features.state_dict()[name]), name


# --- parameters by prefix, as in skorch ------------------------------------------------------


def test_prefixed_parameters_are_listed_set_and_cloned_as_in_skorch():
    from sklearn.base import clone

    cnn = registry.create("classifier", "cnn", module__width=8, optimizer__eps=1e-6)
    params = cnn.get_params()
    assert params["module__width"] == 8 and params["optimizer__eps"] == 1e-6
    assert params["module"] == "compact" and "module__dropout" not in params  # only those given
    copy = clone(cnn)
    assert copy.get_params() == params and copy.module__width == 8
    copy.set_params(module__width=16, criterion__label_smoothing=0.1, lr=0.01)
    assert (copy.module__width, copy.criterion__label_smoothing, copy.lr) == (16, 0.1, 0.01)
    assert cnn.module__width == 8 and "criterion__label_smoothing" not in cnn.get_params()
    assert copy.get_params_for("module") == {"width": 16}
    pipe = ferengine.pipeline(("cnn", {"module__width": 8}))
    pipe.set_params(cnn__module__width=4, cnn__optimizer="sgd", cnn__optimizer__momentum=0.5)
    assert pipe.get_params()["cnn__module__width"] == 4
    assert clone(pipe).steps[0][1].get_params_for("optimizer") == {"momentum": 0.5}
    assert "module__width=8" in repr(cnn)


@pytest.mark.parametrize("bad", ["epochs", "arch_params", "threads", "checkpoint_dir", "verbose",
                                 "modul__width", "optimizer__lr"])  # fmt: skip
def test_an_unknown_or_removed_parameter_is_refused_at_fit(bad, faces):
    X, y, _, _ = faces
    cnn = registry.create("classifier", "cnn", **{bad: 1})  # kept, as skorch keeps it
    assert cnn.get_params()[bad] == 1
    expected = "has no parameter 'lr' (it is set by cnn's own parameter 'lr')" if (
        bad == "optimizer__lr") else f"unexpected parameter '{bad}'"  # fmt: skip
    with pytest.raises(ValueError, match=re.escape(f"cnn: {bad}: ") + ".*" + re.escape(expected)):
        cnn.fit(X, y)
    assert not hasattr(cnn, "module_")
    if "__" not in bad or bad.startswith("modul_"):  # optimizer__lr is a prefixed parameter
        with pytest.raises(ValueError, match=bad.split("__")[0]):
            registry.create("classifier", "cnn").set_params(**{bad: 1})


def test_a_parameter_name_ending_in_an_underscore_is_refused_at_once():
    with pytest.raises(TypeError, match="cnn: unexpected parameter 'module__'"):
        registry.create("classifier", "cnn", module__=1)
    with pytest.raises(ValueError, match="cnn: unexpected parameter 'module__'"):
        registry.create("classifier", "cnn").set_params(module__=1)


def test_optimizer_and_criterion_settings_reach_torch(faces, tmp_path):
    X, y, _, _ = faces
    cnn = registry.create("classifier", "cnn", **{**FAST, "max_epochs": 1}, optimizer="sgd",
                          optimizer__momentum=0.5, optimizer__weight_decay=1e-3)  # fmt: skip
    cnn.fit(X, y, checkpoint_dir=tmp_path)
    group = torch.load(tmp_path / "optimizer.pt")["param_groups"][0]
    assert (group["momentum"], group["weight_decay"], group["nesterov"]) == (0.5, 1e-3, True)
    with pytest.raises(ValueError, match=r"optimizer__momentun: optimizer 'sgd' \(torch\.optim"
                                         r"\.SGD\) has no parameter 'momentun' \(did you mean "
                                         r"'optimizer__momentum'\?\)"):  # fmt: skip
        registry.create("classifier", "cnn", optimizer="sgd", optimizer__momentun=0.5).fit(X, y)


def test_run_time_options_are_read_at_fit_and_predict_and_never_saved(fitted, faces, tmp_path,
                                                                     monkeypatch):  # fmt: skip
    X, y, X_test, _ = faces
    seen = []
    monkeypatch.setattr(torch, "set_num_threads", lambda n: seen.append(n))
    with runtime.options(threads=3):
        fitted.predict(X_test[:4])
    assert seen[0] == 3  # set for the call, then restored
    seen.clear()
    with runtime.options(threads=2, verbose=1):
        registry.create("classifier", "cnn", **{**FAST, "max_epochs": 1}).fit(X, y)
    assert seen[0] == 2
    monkeypatch.undo()
    path = ferengine.save(ferengine.pipeline(fitted), tmp_path / "m.fer")
    manifest = json.dumps(ferengine.persistence.read_manifest(path))
    for word in ("threads", "verbose", "checkpoint", "curves"):
        assert word not in manifest
    with pytest.raises(ValueError, match="threads must be ≥ 1"):
        runtime.options(threads=0).__enter__()


def test_an_augment_list_resolves_on_the_registry_the_step_was_built_with(faces):
    from ferengine.errors import UnknownPluginError
    from ferengine.plugin import Augmenter
    from ferengine.plugin_manager import load_entry_points
    from ferengine.registry import Registry, get_registry

    class Invert(Augmenter):
        """Invert every image (an augmenter only the private registry has)."""

        name = "private-invert"

        def __init__(self, p: float = 1.0):
            self.p = p

        def augment(self, images, rng):
            return 255 - images

    class Plugins:
        @ferengine.hookimpl
        def ferengine_register_augmenters(self):
            return [Invert]

    loaded = load_entry_points()
    loaded.manager.register(Plugins(), name="private-augmenters")
    private = Registry(loaded)
    assert "private-invert" not in get_registry().names("augmenter")
    augment = ["flip", {"name": "private-invert", "params": {"p": 0.5}}]
    step = ("cnn", {**FAST, "max_epochs": 1, "augment": augment})
    built = ferengine.pipeline(step, registry=private).steps[0][1]
    flip, invert = built.augment
    assert isinstance(invert, Invert) and invert.p == 0.5 and flip.name == "flip"
    X, y, _, _ = faces
    assert built.fit(X, y).n_epochs_ == 1  # the built augmenters, no lookup at fit time
    with pytest.raises(UnknownPluginError, match="no augmenter plugin named 'private-invert'"):
        ferengine.pipeline(step)  # the global registry lacks it: refused when building


def test_softmax_head_takes_the_same_prefixed_spelling(tmp_path):
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=200, n_features=12, n_informative=6, n_classes=3,
                               random_state=0)  # fmt: skip
    head = registry.create("classifier", "softmax-head", module__hidden=[8, 8],
                           module__dropout=0.1, max_epochs=3)  # fmt: skip
    head.fit(X, y, checkpoint_dir=tmp_path)
    linear = [m for m in head.module_ if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linear] == [8, 8, 3] and head.module_[2].p == 0.1
    group = torch.load(tmp_path / "optimizer.pt")["param_groups"][0]
    assert group["weight_decay"] == 1e-4  # the head's default, overridable by prefix
    hint = (
        r"module__hiden: the softmax head has no parameter 'hiden' \(did you mean 'module__hidden'"
    )
    with pytest.raises(ValueError, match=hint):
        registry.create("classifier", "softmax-head", module__hiden=[8]).fit(X, y)


# --- model specs: run-time options in [train] --------------------------------------------------

SPEC = """
[dataset]
name = "synthetic"
params = {{ size = 32, n_subjects = 6 }}

[train]
{train}

[[steps]]
name = "cnn"
[steps.params]
module__width = 4
module__embedding = 8
max_epochs = {epochs}
batch_size = 32
{extra}
"""


def _spec(tmp_path, train="", epochs=1, extra=""):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(train=train, epochs=epochs, extra=extra))
    return path


def test_a_spec_takes_run_time_options_from_train_and_resumes(tmp_path, monkeypatch):
    from ferengine.spec import load_spec, train

    monkeypatch.chdir(tmp_path)
    options = 'threads = 1\nverbose = 0\ncheckpoint_dir = "ckpt"\ncurves_dir = "curves"'
    model, report = train(load_spec(_spec(tmp_path, options, epochs=1)))
    assert (tmp_path / "ckpt" / "params.pt").is_file()
    assert (tmp_path / "curves" / "curves.csv").is_file()
    assert "checkpoint_dir" not in report["spec"]["train"]  # the record holds no run-time option
    model, _ = train(load_spec(_spec(tmp_path, options, epochs=3)))
    assert [row["epoch"] for row in model.steps[0][1].history_] == [1, 2, 3]  # resumed at 2


@pytest.mark.parametrize(("extra", "train", "message"), [
    ("threads = 2", "", r"steps\[0\]\.params\.threads: classifier 'cnn': unexpected parameter"),
    ("module__widht = 4", "", r"steps\[0\]\.params\.module__widht: classifier 'cnn': "
                                r"architecture 'compact' has no parameter 'widht'"),
    ("module = 'compakt'", "", r"steps\[0\]\.params\.module: .*did you mean 'compact'"),
    ("augment = ['flip', 'flpi']", "", r"params\.augment\[1\]: .*did you mean 'flip'"),
    ("", "threads = 0", r"train\.threads: Input should be greater than or equal to 1"),
])  # fmt: skip
def test_a_spec_is_refused_before_any_work(tmp_path, extra, train, message):
    from ferengine.spec import SpecError, load_spec

    with pytest.raises(SpecError, match=message):
        load_spec(_spec(tmp_path, train, extra=extra))


def test_a_fit_option_no_step_takes_is_refused(tmp_path):
    from ferengine.spec import SpecError, load_spec

    path = tmp_path / "spec.toml"
    path.write_text('[dataset]\nname = "synthetic"\n[train]\ncurves_dir = "c"\n'
                    '[[steps]]\nname = "pixels"\n[[steps]]\nname = "logistic"\n')  # fmt: skip
    with pytest.raises(SpecError, match=r"train\.curves_dir: no step's fit takes it"):
        load_spec(path)


def test_the_cli_threads_option_wins_over_the_spec(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from ferengine.cli import main

    seen = []
    monkeypatch.setattr(torch, "set_num_threads", lambda n: seen.append(n))
    spec = _spec(tmp_path, "threads = 2")
    out = tmp_path / "m.fer"
    result = CliRunner().invoke(main, ["--threads", "3", "train", str(spec), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert seen and set(seen[::2]) == {3}  # each call sets 3, then restores
    seen.clear()
    assert CliRunner().invoke(main, ["train", str(spec), "--out", str(out)]).exit_code == 0
    assert seen[0] == 2


# --- augmenters ----------------------------------------------------------------------------


def test_augmenters_keep_shape_and_dtype_and_follow_the_seed(faces):
    X = faces[0][:16]
    for name in ("flip", "affine", "rotate", "shift", "zoom", "shear", "brightness-contrast",
                 "blur", "salt-pepper", "random-crop"):  # fmt: skip
        augmenter = registry.create(
            "augmenter", name, **({"size": 28} if name == "random-crop" else {})
        )
        a = augmenter.augment(X, np.random.default_rng(1))
        b = augmenter.augment(X, np.random.default_rng(1))
        assert a.shape == X.shape and a.dtype == np.uint8 and np.array_equal(a, b), name


def test_flip_and_identity_affine_are_exact(faces):
    X = faces[0][:8]
    rng = np.random.default_rng(0)
    assert np.array_equal(
        registry.create("augmenter", "flip", p=1.0).augment(X, rng), X[:, :, ::-1]
    )
    still = registry.create("augmenter", "affine", rotation=0, zoom=0, shift=0, shear=0)
    assert np.abs(still.augment(X, rng).astype(int) - X).max() <= 1


def test_presets_build_chains():
    assert [a.name for a in aug.chain("fer")] == ["flip", "affine", "brightness-contrast"]
    with pytest.raises(ValueError, match="preset"):
        aug.chain("strong")


# --- embeddings and heads ------------------------------------------------------------------


def test_cnn_embedding_from_a_saved_model_feeds_any_classifier(fitted, faces, tmp_path):
    X, y, X_test, y_test = faces
    path = ferengine.save(fitted, tmp_path / "cnn.fer")
    pipe = ferengine.pipeline(("cnn-embedding", {"model": str(path)}), "logistic").fit(X, y)
    emb = pipe.steps[0][1].transform(X_test)
    assert emb.shape == (len(X_test), fitted.module_.embedding_size) and emb.dtype == np.float32
    assert pipe.score(X_test, y_test) > 2 / 7


def test_softmax_head_learns_and_round_trips(tmp_path):
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=300, n_features=20, n_informative=8, n_classes=3,
                               random_state=0)  # fmt: skip
    head = registry.create("classifier", "softmax-head", max_epochs=30).fit(X[:200], y[:200])
    assert head.score(X[200:], y[200:]) > 0.6
    again = ferengine.load(ferengine.save(head, tmp_path / "head.fer"))
    assert np.allclose(again.predict_proba(X[200:]), head.predict_proba(X[200:]))


def test_a_model_saved_before_a_parameter_existed_takes_its_default(fitted, tmp_path):
    """The shipped fer2013 model predates the recipe options (mixup, ema…).

    It loads, clones and saves.
    """
    old = dict(fitted.__getstate__())
    for name in ("mixup", "cutmix", "ema"):
        old.pop(name)  # as a file written before these parameters existed
    restored = type(fitted).__new__(type(fitted))
    restored.__setstate__(old)
    params = restored.get_params()
    assert params["mixup"] == 0 and params["cutmix"] == 0 and params["ema"] is None
    clone(restored)
    ferengine.save(restored, tmp_path / "old.fer")
    assert ferengine.load(tmp_path / "old.fer").get_params()["ema"] is None
