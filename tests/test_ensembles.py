"""The meta-classifiers (ferengine_ensembles): class tree, test-time augmentation, fusion.

They combine classifiers of any family; these tests use hand-crafted pipelines only, so
they need no torch.
"""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

import ferengine
from ferengine import registry, splits


@pytest.fixture(scope="module")
def faces():
    ds = ferengine.load_dataset("synthetic", size=32)
    (train, test), *_ = splits.subject_kfold(ds, n_splits=3)
    return ds.images[train], ds.labels[train], ds.images[test], ds.labels[test]


def test_the_meta_classifiers_come_from_the_ensembles_package():
    for name in ("tta", "fusion", "cnn-tree"):
        cls = registry.get_registry().record("classifier", name).cls
        assert cls.__module__.startswith("ferengine_ensembles."), (name, cls)


@pytest.mark.slow
def test_the_package_works_without_torch(tmp_path):
    """Fit, save and load each meta-classifier in a process where torch cannot be imported."""
    code = f"""
import sys
class NoTorch:  # as if the deep extra were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "skorch"):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, NoTorch())
import numpy as np
import ferengine
from ferengine import registry
assert registry.get_registry().record("classifier", "cnn").status != "ok"
X = np.random.default_rng(0).integers(0, 256, (40, 16, 16), dtype=np.uint8)
y = np.arange(40) % 2
node = ["pixels", "logistic"]
for name, params in [("tta", {{"estimator": node}}), ("fusion", {{"members": [node, node]}}),
                     ("cnn-tree", {{"node": node, "partition": [0, 1]}})]:
    model = registry.create("classifier", name, **params).fit(X, y)
    again = ferengine.load(ferengine.save(model, {str(tmp_path)!r} + "/" + name + ".fer"))
    assert np.allclose(again.predict_proba(X), model.predict_proba(X))
    print(type(again).__module__)
assert "torch" not in sys.modules
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    expected = ["ferengine_ensembles.tta", "ferengine_ensembles.fusion", "ferengine_ensembles.tree"]
    assert out.stdout.split() == expected


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("tta", {"mode": "mirror"}, r"The 'mode' parameter of TTA must be a str among"),
        ("tta", {"crop": 0}, r"The 'crop' parameter of TTA must be an int in the range \[1, inf\)"),
        ("tta", {"estimator": 3}, r"The 'estimator' parameter of TTA must be None, an instance"),
        ("fusion", {"method": "median"}, r"The 'method' parameter of Fusion must be a str among"),
        (
            "fusion",
            {"cv": 1},
            r"The 'cv' parameter of Fusion must be an int in the range \[2, inf\)",
        ),
        ("fusion", {"members": "a.fer"}, r"The 'members' parameter of Fusion must be None, an"),
        ("cnn-tree", {"routing": "greedy"}, r"The 'routing' parameter of ClassifierTree must be"),
        ("cnn-tree", {"balance": "yes"}, r"The 'balance' parameter of ClassifierTree must be"),
        ("cnn-tree", {"seed": -1}, r"The 'seed' parameter of ClassifierTree must be an int"),
    ],
)
def test_bad_parameters_are_named_before_any_fitting(name, params, message, faces):
    X, y, _, _ = faces
    node = ["pixels", "logistic"]
    nested = {"tta": {"estimator": node}, "fusion": {"members": [node]}, "cnn-tree": {"node": node}}
    model = registry.create("classifier", name, **{**nested[name], **params})
    with pytest.raises(InvalidParameterError, match=message):
        model.fit(X, y)


def test_fusion_needs_a_member(faces):
    X, y, _, _ = faces
    with pytest.raises(ValueError, match="'members' parameter needs at least one member"):
        registry.create("classifier", "fusion", members=[]).fit(X, y)


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


@pytest.mark.slow
def test_tta_averages_the_views(faces):
    X, y, X_test, _ = faces
    base = [("hog", {"cell": 8}), "logistic"]
    tta = registry.create("classifier", "tta", estimator=base).fit(X, y)
    inner = tta.estimator_
    expected = (inner.predict_proba(X_test) + inner.predict_proba(X_test[:, :, ::-1])) / 2
    assert np.allclose(tta.predict_proba(X_test), expected)
    ten = registry.create("classifier", "tta", estimator=base, mode="ten-crop", crop=28).fit(X, y)
    assert ten.predict_proba(X_test).shape == (len(X_test), 7)


@pytest.mark.parametrize(
    "method",
    ["average", pytest.param("weighted", marks=pytest.mark.slow), "max",
     pytest.param("stacking", marks=pytest.mark.slow)],
)  # fmt: skip
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.parametrize("method", ["weighted", "stacking"])
def test_fusion_with_a_holdout_learns_on_the_share_its_members_never_saw(method, faces):
    """Members fit once without the held-out share; the fusion learns on their share predictions."""
    from sklearn.linear_model import LogisticRegression

    X, y, X_test, _ = faces
    members = [[("hog", {"cell": 8}), "logistic"], [("lbp", {"grid": 4}), "logistic"]]
    fused = registry.create(
        "classifier", "fusion", members=members, method=method, holdout=0.25, random_state=1
    ).fit(X, y)
    fit, held = splits.held_out_share(y, 0.25, 1)
    built = [ferengine.pipeline(*m).fit(X[fit], y[fit]) for m in members]
    on_share = [m.predict_proba(X[held]) for m in built]
    on_test = [m.predict_proba(X_test) for m in built]
    if method == "weighted":
        expected = [np.mean(p.argmax(1) == y[held]) for p in on_share]
        assert np.allclose(fused.weights_, expected)
        assert np.allclose(
            fused.predict_proba(X_test), np.average(on_test, axis=0, weights=expected)
        )
    else:
        meta = LogisticRegression(max_iter=1000).fit(np.hstack(on_share), y[held])
        assert np.allclose(fused.predict_proba(X_test), meta.predict_proba(np.hstack(on_test)))
    with pytest.raises(ValueError, match="learns neither"):
        registry.create("classifier", "fusion", members=members, holdout=0.25).fit(X, y)
    # refitted without the share: the cross-fitted ensemble answers, not the old members
    fused.set_params(holdout=None).fit(X, y)
    assert not hasattr(fused, "members_") and hasattr(fused, "ensemble_")


@pytest.mark.slow
def test_fusion_with_a_holdout_refuses_a_saved_member_that_saw_the_share(faces, tmp_path):
    from ferengine.spec import load_spec, train

    spec = tmp_path / "member.toml"
    spec.write_text(
        '[dataset]\nname = "synthetic"\nparams = { n_subjects = 8, per_expression = 2 }\n'
        "[train]\nhold_out = 0.25\nhold_out_seed = 1\n"
        '[[steps]]\nname = "hog"\nparams = { cell = 8 }\n[[steps]]\nname = "logistic"\n'
    )
    model_spec = load_spec(spec)
    model, report = train(model_spec)
    honest = ferengine.save(model, tmp_path / "honest.fer", info={"training": report})
    everything = ferengine.save(model, tmp_path / "all.fer")
    ds = model_spec.load_data()
    other = [("lbp", {"grid": 4}), "logistic"]

    def fuse(member, seed=1):
        return registry.create(
            "classifier", "fusion", members=[str(member), other], method="weighted",
            holdout=0.25, random_state=seed,
        ).fit(ds.images, ds.labels)  # fmt: skip

    fused = fuse(honest)
    assert fused.weights_[0] == pytest.approx(report["held_out"]["accuracy"])
    with pytest.raises(ValueError, match="never saw the held-out share"):
        fuse(everything)
    with pytest.raises(ValueError, match="hold_out_seed = 2"):
        fuse(honest, seed=2)
    with pytest.raises(ValueError, match="not the same training split"):
        registry.create(
            "classifier", "fusion", members=[str(honest), other], method="weighted",
            holdout=0.25, random_state=1,
        ).fit(ds.images[:-14], ds.labels[:-14])  # fmt: skip
