"""The deep plugin: CNN zoo, the cnn estimator, augmenters, embeddings, trees, ensembles."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow  # every test here trains a CNN
pytest.importorskip("skorch")

from ferengine_deep import augment as aug  # noqa: E402
from ferengine_deep.layers import Normalize, network  # noqa: E402

import ferengine  # noqa: E402
from ferengine import registry, splits  # noqa: E402

FAST = {"epochs": 4, "batch_size": 32, "threads": 1, "arch_params": {"width": 8, "embedding": 32}}


@pytest.fixture(scope="module")
def faces():
    ds = ferengine.load_dataset("synthetic", size=32)
    (train, test), *_ = splits.subject_kfold(ds, n_splits=3)
    return ds.images[train], ds.labels[train], ds.images[test], ds.labels[test]


@pytest.fixture(scope="module")
def fitted(faces):
    X, y, _, _ = faces
    params = {"arch": "small32", "arch_params": None, "epochs": 12}
    return registry.create("classifier", "cnn", **{**FAST, **params}).fit(X, y)


# --- zoo ---------------------------------------------------------------------------------
ZOO = {"compact": 48, "lenet": 48, "vgg": 48, "vgg1024": 48, "small32": 32, "bkstart": 48,
       "bkvgg12": 42, "resnet18": 48, "densenet": 48}  # fmt: skip


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


def test_small32_has_about_367k_parameters():
    net = network(registry.create("architecture", "small32"), 7, 1, 32)
    assert 360_000 < sum(p.numel() for p in net.parameters()) < 370_000


def test_architecture_parameters_are_checked_by_name(faces):
    X, y, _, _ = faces
    cnn = registry.create("classifier", "cnn", **{**FAST, "arch_params": {"widht": 8}})
    with pytest.raises(ValueError, match=r"arch_params: .*'widht' \(did you mean 'width'\?\)"):
        cnn.fit(X, y)
    with pytest.raises(ValueError, match=r"arch: .*did you mean 'compact'"):
        registry.create("classifier", "cnn", **{**FAST, "arch": "compakt"}).fit(X, y)


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


def test_saved_cnn_predicts_the_same_and_holds_no_pickle(fitted, faces, tmp_path):
    _, _, X_test, _ = faces
    path = ferengine.save(fitted, tmp_path / "cnn.fer")
    again = ferengine.load(path)
    assert np.array_equal(again.predict(X_test), fitted.predict(X_test))
    assert np.allclose(again.decision_function(X_test), fitted.decision_function(X_test))


def test_training_resumes_from_its_checkpoint(faces, tmp_path):
    X, y, _, _ = faces
    first = registry.create("classifier", "cnn", **{**FAST, "epochs": 2},
                            checkpoint_dir=str(tmp_path / "ckpt")).fit(X, y)  # fmt: skip
    assert first.n_epochs_ == 2 and (tmp_path / "ckpt" / "params.pt").is_file()
    resumed = registry.create("classifier", "cnn", **{**FAST, "epochs": 5},
                              checkpoint_dir=str(tmp_path / "ckpt")).fit(X, y)  # fmt: skip
    assert resumed.n_epochs_ == 5  # 2 loaded + 3 trained
    assert [row["epoch"] for row in resumed.history_] == [1, 2, 3, 4, 5]


def test_resumed_one_cycle_schedule_continues_where_it_stopped(faces, tmp_path, monkeypatch):
    from ferengine_deep import net

    X, y, _, _ = faces
    params = {**FAST, "schedule": "onecycle", "lr": 0.01, "validation_fraction": 0.0}
    registry.create("classifier", "cnn", **params, checkpoint_dir=str(tmp_path / "a")).fit(X, y)
    batches = -(-len(X) // FAST["batch_size"])
    collate, calls = net.Collate.__call__, []

    def interrupted(self, samples):  # Ctrl-C in the third epoch
        calls.append(1)
        if len(calls) > 2 * batches:
            raise KeyboardInterrupt
        return collate(self, samples)

    monkeypatch.setattr(net.Collate, "__call__", interrupted)
    first = registry.create("classifier", "cnn", **params, checkpoint_dir=str(tmp_path / "b"))
    assert first.fit(X, y).n_epochs_ == 2
    monkeypatch.setattr(net.Collate, "__call__", collate)
    resumed = registry.create("classifier", "cnn", **params, checkpoint_dir=str(tmp_path / "b"))
    assert resumed.fit(X, y).n_epochs_ == FAST["epochs"]

    def rates(folder):
        history = json.loads((tmp_path / folder / "history.json").read_text())
        return [batch["event_lr"] for epoch in history for batch in epoch["batches"]]

    assert len(rates("b")) == len(rates("a")) == FAST["epochs"] * batches
    assert np.allclose(rates("b"), rates("a"))


def test_curves_are_written_as_csv_and_png(faces, tmp_path):
    X, y, _, _ = faces
    registry.create("classifier", "cnn", **{**FAST, "epochs": 3}, schedule="cosine",
                    curves_dir=str(tmp_path)).fit(X, y)  # fmt: skip
    rows = (tmp_path / "curves.csv").read_text().strip().splitlines()
    assert rows[0].startswith("epoch,train_loss,valid_loss") and len(rows) == 4
    assert (tmp_path / "curves.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "params",
    [{"optimizer": "sgd", "schedule": "onecycle", "lr": 0.05},
     {"optimizer": "adadelta", "lr": 1.0, "schedule": "plateau", "patience": 2},
     {"loss": "squared-hinge", "class_weight": "max-ratio", "normalize": "pixel"},
     {"loss": "hinge", "label_smoothing": 0.0, "augment": "fer", "augment_copies": 1},
     {"arch": "small32", "arch_params": None, "size": 32, "validation_fraction": 0}],
)  # fmt: skip
def test_training_options_run(params, faces):
    X, y, X_test, _ = faces
    clf = registry.create("classifier", "cnn", **{**FAST, "epochs": 2, **params}).fit(X, y)
    assert clf.predict(X_test).shape == (len(X_test),)


def test_given_validation_set_is_used(faces):
    X, y, X_test, y_test = faces
    clf = registry.create("classifier", "cnn", **FAST).fit(X, y, X_val=X_test, y_val=y_test)
    assert "valid_acc" in clf.history_[-1]


def test_bad_parameters_are_named(faces):
    X, y, _, _ = faces
    for bad in ({"optimizer": "rmsprop"}, {"arch": "vgg99"}, {"schedule": "step"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            registry.create("classifier", "cnn", **FAST, **bad).fit(X, y)


def test_transfer_freezes_the_backbone_and_trains_a_new_head(fitted, faces, tmp_path):
    X, y, _, _ = faces
    source = ferengine.save(fitted, tmp_path / "source.fer")
    keep = np.isin(y, [0, 3, 5])
    target = registry.create("classifier", "cnn", init=str(source), trainable="head",
                             epochs=2, threads=1).fit(X[keep], y[keep])  # fmt: skip
    assert target.module_.head.out_features == 3 and target.config_["arch"] == "small32"
    for name, value in fitted.module_.features.state_dict().items():
        if "running" not in name and "num_batches" not in name:  # BN statistics still adapt
            assert torch.equal(value, target.module_.features.state_dict()[name]), name


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


# --- embeddings, heads, trees, ensembles -----------------------------------------------------


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
    head = registry.create("classifier", "softmax-head", epochs=30, threads=1).fit(X[:200], y[:200])
    assert head.score(X[200:], y[200:]) > 0.6
    again = ferengine.load(ferengine.save(head, tmp_path / "head.fer"))
    assert np.allclose(again.predict_proba(X[200:]), head.predict_proba(X[200:]))


def test_cnn_tree_routes_softly_and_hardly_and_reports_nodes(faces):
    X, y, X_test, y_test = faces
    node = [("hog", {"cell": 8}), ("logistic", {"C": 0.1})]
    # balanced nodes give fear half the root's mass: soft products need unbalanced nodes
    soft = registry.create("classifier", "cnn-tree", node=node, balance=False).fit(X, y)
    proba = soft.predict_proba(X_test)
    assert np.allclose(proba.sum(axis=1), 1) and soft.score(X_test, y_test) > 2 / 7
    hard = registry.create("classifier", "cnn-tree", node=node, routing="hard").fit(X, y)
    assert set(np.unique(hard.predict_proba(X_test))) <= {0.0, 1.0}
    assert hard.score(X_test, y_test) > 2 / 7
    report = soft.node_report(X_test, y_test)
    assert set(report) == {"root", "1", "1.0", "1.1"}
    assert report["root"]["n"] == len(y_test) and 0 <= report["1.0"]["accuracy"] <= 1


def test_tta_averages_the_views(faces):
    X, y, X_test, _ = faces
    base = [("hog", {"cell": 8}), "logistic"]
    tta = registry.create("classifier", "tta", estimator=base).fit(X, y)
    inner = tta.estimator_
    expected = (inner.predict_proba(X_test) + inner.predict_proba(X_test[:, :, ::-1])) / 2
    assert np.allclose(tta.predict_proba(X_test), expected)
    ten = registry.create("classifier", "tta", estimator=base, mode="ten-crop", crop=28).fit(X, y)
    assert ten.predict_proba(X_test).shape == (len(X_test), 7)


@pytest.mark.parametrize("method", ["average", "weighted", "max", "stacking"])
def test_fusion_of_two_pipelines(method, faces):
    X, y, X_test, _ = faces
    members = [[("hog", {"cell": 8}), "logistic"], [("lbp", {"grid": 4}), "logistic"]]
    fused = registry.create("classifier", "fusion", members=members, method=method).fit(X, y)
    proba = fused.predict_proba(X_test)
    assert np.allclose(proba.sum(axis=1), 1)
    member_probas = [m.predict_proba(X_test) for m in fused.ensemble_.estimators_]
    if method == "average":
        assert np.allclose(proba, np.mean(member_probas, axis=0))
    if method == "weighted":
        assert ((fused.weights_ >= 0) & (fused.weights_ <= 1)).all()
        assert np.allclose(proba, np.average(member_probas, axis=0, weights=fused.weights_))
    if method == "max":
        top = np.max(member_probas, axis=0)
        assert np.allclose(proba, top / top.sum(axis=1, keepdims=True))


def test_fusion_stacking_learns_on_cross_fitted_probabilities(faces):
    """The meta-learner is the one fitted on 5-fold out-of-fold member probabilities."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    X, y, X_test, _ = faces
    members = [[("hog", {"cell": 8}), "logistic"], [("lbp", {"grid": 4}), "logistic"]]
    fused = registry.create("classifier", "fusion", members=members, method="stacking").fit(X, y)
    built = [ferengine.pipeline(*m) for m in members]
    oof = np.hstack([cross_val_predict(m, X, y, cv=5, method="predict_proba") for m in built])
    meta = LogisticRegression(max_iter=1000).fit(oof, y)
    assert np.allclose(fused.ensemble_.final_estimator_.coef_, meta.coef_, atol=1e-4)
    test = np.hstack([m.fit(X, y).predict_proba(X_test) for m in built])
    assert np.allclose(fused.predict_proba(X_test), meta.predict_proba(test), atol=1e-4)


def test_fusion_keeps_a_saved_member_as_saved(faces, tmp_path):
    X, y, X_test, _ = faces
    saved = ferengine.pipeline(("hog", {"cell": 8}), "logistic").fit(X[:40], y[:40])
    path = ferengine.save(saved, tmp_path / "member.fer")
    members = [str(path), [("lbp", {"grid": 4}), "logistic"]]
    fused = registry.create("classifier", "fusion", members=members, method="weighted").fit(X, y)
    frozen = fused.ensemble_.estimators_[0]
    assert np.allclose(frozen.predict_proba(X_test), saved.predict_proba(X_test))
    again = ferengine.load(ferengine.save(fused, tmp_path / "fused.fer"))
    assert np.allclose(again.predict_proba(X_test), fused.predict_proba(X_test))
    with pytest.raises(ValueError, match="predicts the classes"):
        registry.create("classifier", "fusion", members=[str(path)]).fit(X[y < 3], y[y < 3])
