"""``local-svm``: an SVM per test sample on its nearest training samples (local learning)."""

import numpy as np
import pytest
from sklearn.svm import LinearSVC

import ferengine
from ferengine import registry


def xor_blobs(n=400, seed=0):
    """Four blobs at the corners of a square, opposite corners of one class: no line splits them."""
    rng = np.random.default_rng(seed)
    corners = np.array([[0, 0], [0, 4], [4, 0], [4, 4]], dtype=float)
    which = rng.integers(0, 4, n)
    X = corners[which] + rng.normal(0, 0.7, (n, 2))
    y = np.where(which % 3 == 0, "a", "b")  # (0,0) and (4,4) are "a"
    return X, y


def test_local_linear_svms_solve_what_one_line_cannot():
    X, y = xor_blobs()
    Xt, yt = xor_blobs(seed=1)
    local = registry.create("classifier", "local-svm", n_neighbors=30).fit(X, y)
    assert np.mean(local.predict(Xt) == yt) > 0.95
    assert np.mean(LinearSVC().fit(X, y).predict(Xt) == yt) < 0.7  # the global line fails
    scores = local.decision_function(Xt)
    assert scores.shape == (len(Xt),)  # two classes: one score, positive for classes_[1]
    assert np.array_equal(local.classes_[(scores > 0).astype(int)], local.predict(Xt))


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_three_classes_and_pure_neighbourhoods(kernel):
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [6, 0], [0, 6]], dtype=float)
    y = np.repeat([0, 1, 2], 50)
    X = centres[y] + rng.normal(0, 1.0, (150, 2))
    model = registry.create("classifier", "local-svm", n_neighbors=15, kernel=kernel).fit(X, y)
    scores = model.decision_function(centres)
    assert scores.shape == (3, 3)
    # at a centre every neighbour has the centre's class: predicted outright, others absent
    assert np.array_equal(scores.argmax(axis=1), [0, 1, 2])
    assert (np.sort(scores, axis=1)[:, :2] == -1e3).all()
    assert np.mean(model.predict(X) == y) > 0.95


def test_global_weight_adds_the_global_svm(bar_data):
    X, y = xor_blobs()
    alone = registry.create("classifier", "local-svm", n_neighbors=30).fit(X, y)
    mixed = registry.create("classifier", "local-svm", n_neighbors=30,
                            global_weight=10.0).fit(X, y)  # fmt: skip
    assert alone.global_ is None and mixed.global_ is not None
    # the global line dominates at weight 10: predictions move towards it
    glob = mixed.global_.predict(X)
    assert np.mean(mixed.predict(X) == mixed.classes_[glob]) > np.mean(
        alone.predict(X) == alone.classes_[glob])  # fmt: skip


def test_the_global_svm_has_the_local_kernel():
    X, y = xor_blobs()
    Xt, yt = xor_blobs(seed=1)
    linear = registry.create("classifier", "local-svm", n_neighbors=30, global_weight=1.0)
    rbf = registry.create("classifier", "local-svm", n_neighbors=30, kernel="rbf", gamma=0.5,
                          C=2.0, global_weight=1.0)  # fmt: skip
    assert isinstance(linear.fit(X, y).global_, LinearSVC)
    glob = rbf.fit(X, y).global_
    assert glob.get_params()["kernel"] == "rbf" and glob.gamma_ == 0.5 and glob.C == 2.0
    # an RBF SVM splits the four blobs, which no line does
    assert np.mean(rbf.classes_[glob.predict(Xt)] == yt) > 0.95
    assert np.mean(rbf.predict(Xt) == yt) > 0.95


def test_in_a_pipeline_on_faces(bar_data):
    model = ferengine.pipeline(("hog", {"cell": 8}), ("local-svm", {"n_neighbors": 20}))
    model.fit(bar_data)
    assert model.score(bar_data) > 0.95
    with pytest.raises(ValueError, match="n_neighbors"):
        registry.create("classifier", "local-svm", n_neighbors=1).fit(*xor_blobs())
