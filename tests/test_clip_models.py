"""End-to-end clip networks (cnn-lstm, c3d, convlstm) and late fusion over clips."""

import importlib.util

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils._param_validation import InvalidParameterError

import ferengine
from ferengine import registry
from ferengine.errors import MissingProbabilitiesError, ModelFormatError
from ferengine.sequences import as_clips

needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("skorch") is None,
    reason="the clip networks need the deep extra (torch, skorch)",
)

NETS = ["cnn-lstm", "c3d", "convlstm"]
#: Small networks and short training: every test here fits in seconds.
TINY = {
    "cnn-lstm": {"module__cnn": "lenet", "module__hidden": 8},
    "c3d": {"frames": 6, "module__channels": (4, 8)},
    "convlstm": {"module__channels": (4,), "module__hidden": 4},
}
FAST = {"max_epochs": 2, "validation_fraction": 0.0}


def tiny(name, **params):
    return registry.create("classifier", name, **{**TINY[name], **FAST, **params})


def cascade(**params):
    """A small cnn-lstm whose CNN comes from ``init``."""
    return registry.create("classifier", "cnn-lstm", module__hidden=8, **{**FAST, **params})


def random_clips(lengths, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return as_clips([rng.integers(0, 256, (t, size, size), dtype=np.uint8) for t in lengths])


@pytest.fixture(scope="module")
def pair():
    """The dynamics-only pair of synthetic-sequences: 6 subjects × 2 clips per class, 16×16."""
    ds = ferengine.load_dataset("synthetic-sequences", n_subjects=6, clips_per_class=2,
                                classes=(), size=16, frames=(6, 9))  # fmt: skip
    return ds.clips, ds.label_names


# --- the networks --------------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("name", NETS)
def test_networks_predict_probabilities_of_the_clip_classes(name, pair, one_thread):
    clips, labels = pair
    net = tiny(name).fit(clips, labels)
    proba = net.predict_proba(clips)
    assert net.classes_.tolist() == ["surprise-offset", "surprise-onset"]
    assert proba.shape == (len(clips), 2) and np.allclose(proba.sum(axis=1), 1)
    assert set(net.predict(clips)) <= set(labels)
    assert net.n_epochs_ == 2 and net.size_ == 16 and net.n_parameters_ > 0
    assert net.predict_proba(clips[:0]).shape == (0, 2)


@needs_torch
def test_clips_are_greyed_resized_and_resampled():
    from ferengine_deep.clip_nets import uniform_frames

    assert uniform_frames(5, 3).tolist() == [0, 2, 4]
    assert uniform_frames(2, 4).tolist() == [0, 0, 1, 1]  # short clips repeat frames
    rng = np.random.default_rng(0)
    colour = as_clips([rng.integers(0, 256, (t, 20, 30, 3), dtype=np.uint8) for t in (3, 7)])
    net = tiny("c3d", size=12, frames=5).fit(colour, [0, 1])
    prepared = net._frames(colour)
    assert [c.shape for c in prepared] == [(5, 12, 12), (5, 12, 12)]
    assert net.frame_shape_ == (20, 30, 3)
    with pytest.raises(ValueError, match=r"c3d: the clips' frames are 20×30; give size="):
        tiny("c3d").fit(colour, [0, 1])


@needs_torch
@pytest.mark.parametrize("name", ["cnn-lstm", "convlstm"])
def test_networks_ignore_padding_whatever_it_holds(name):
    import torch
    from ferengine_deep.clip_layers import pad_clips

    torch.manual_seed(0)
    net = tiny(name).set_params(max_epochs=1).fit(random_clips([2, 5]), [0, 1]).module_.eval()
    clips = list(random_clips([1, 6, 3, 4], seed=1))
    x, lengths = pad_clips(clips)
    padding = torch.arange(x.shape[1])[None, :] >= lengths[:, None]
    x[padding] = torch.randint(0, 256, (int(padding.sum()), 1, 16, 16), dtype=torch.uint8)
    with torch.inference_mode():
        batch = net(x, lengths)
        alone = torch.cat([net(*pad_clips([c])) for c in clips])
    assert torch.allclose(batch, alone, atol=1e-5)


@needs_torch
@pytest.mark.parametrize("name", NETS)
def test_a_clip_gets_the_same_prediction_alone_and_in_any_batch(name, one_thread):
    clips = random_clips([2, 9, 4, 1, 7])
    net = tiny(name).fit(clips, [0, 1, 0, 1, 0])
    together = net.predict_proba(clips)
    alone = np.concatenate([net.predict_proba(clips[i : i + 1]) for i in range(len(clips))])
    assert np.allclose(together, alone, atol=1e-5)


@needs_torch
@pytest.mark.parametrize("name", NETS)
def test_networks_follow_their_seed(name, pair, one_thread):
    clips, labels = pair
    proba = [tiny(name, seed=s).fit(clips, labels).predict_proba(clips) for s in (0, 0, 1)]
    assert np.array_equal(proba[0], proba[1]) and not np.allclose(proba[0], proba[2])


@needs_torch
@pytest.mark.parametrize("name", NETS)
def test_a_clip_network_round_trips_through_save_and_load(name, pair, tmp_path, one_thread):
    clips, labels = pair
    pipe = ferengine.pipeline((name, {**TINY[name], **FAST, "normalize": "pixel"}),
                              label_space="fer7-dynamics")  # fmt: skip
    pipe.fit(clips, labels)
    again = ferengine.load(ferengine.save(pipe, tmp_path / f"{name}.fer"))
    assert np.array_equal(again.predict_proba(clips), pipe.predict_proba(clips))
    assert again.predict_names(clips).tolist() == pipe.predict_names(clips).tolist()
    assert again[-1].get_params() == pipe[-1].get_params()


@needs_torch
def test_a_loaded_network_with_a_tampered_size_is_refused(pair, one_thread):
    from ferengine.model_checks import validate_model

    net = tiny("convlstm").fit(*pair)
    net.size_ = 10**6
    with pytest.raises(ModelFormatError, match=r"size_ = 1000000 is outside \[1, 1025\)"):
        validate_model(net, "clips.fer")


# --- the cascade's CNN from a still model ----------------------------------------------------


@pytest.fixture(scope="module")
def still_cnn(tmp_path_factory, pair):
    """A lenet cnn trained on the pair's frames and saved."""
    import torch

    clips, labels = pair
    frames = np.concatenate(list(clips))
    frame_labels = np.repeat(labels, [len(c) for c in clips])
    torch.manual_seed(0)
    cnn = registry.create("classifier", "cnn", module="lenet", max_epochs=1,
                          validation_fraction=0.0, bf16=False)  # fmt: skip
    path = tmp_path_factory.mktemp("still") / "lenet.fer"
    return ferengine.save(ferengine.pipeline(cnn).fit(frames, frame_labels), path)


@needs_torch
def test_the_cascade_starts_from_a_still_cnn_and_can_freeze_it(still_cnn, pair, one_thread):
    clips, labels = pair
    source = ferengine.load(still_cnn)[-1].module_
    frozen = cascade(init=str(still_cnn), trainable="temporal", max_epochs=3)
    frozen.fit(clips, labels)
    assert frozen.config_["cnn"] == "lenet"
    for key, value in source.features.state_dict().items():
        assert torch_equal(frozen.module_.features.state_dict()[key], value), key
    tuned = cascade(init=str(still_cnn), max_epochs=3).fit(clips, labels)
    weights = [k for k in source.features.state_dict() if k.endswith("weight")]
    assert any(not torch_equal(tuned.module_.features.state_dict()[k],
                               source.features.state_dict()[k]) for k in weights)  # fmt: skip
    last = cascade(init=str(still_cnn), trainable=1, max_epochs=3).fit(clips, labels)
    changed = [k for k in weights if not torch_equal(last.module_.features.state_dict()[k],
                                                     source.features.state_dict()[k])]  # fmt: skip
    assert changed == [weights[-1]]  # only the CNN's last weight layer learned


def torch_equal(a, b):
    return bool((a == b).all())


@needs_torch
def test_the_cascade_starts_from_the_shipped_model(one_thread):
    clips = random_clips([3, 4, 2, 5], size=48)
    net = cascade(init="default", trainable="temporal", max_epochs=1)
    net.fit(clips, [0, 1, 0, 1])
    assert net.config_ == {"cnn": "compact", "cnn_params": {"width": 32}, "normalize": "image"}
    assert net.predict_proba(clips).shape == (4, 2)
    source = ferengine.load("default")[-1].module_.features.state_dict()
    frozen = net.module_.features.state_dict()
    assert any("running_mean" in key for key in source)  # batch norms kept their statistics
    assert all(torch_equal(frozen[key], value) for key, value in source.items())


@needs_torch
def test_init_errors_name_the_parameter(still_cnn, pair):
    clips, labels = pair
    with pytest.raises(ValueError, match="trainable='temporal' freezes the CNN that init loads"):
        tiny("cnn-lstm", trainable="temporal").fit(clips, labels)
    with pytest.raises(ValueError, match=r"size=24, but the init model's cnn takes 16×16 frames"):
        cascade(init=str(still_cnn), size=24).fit(clips, labels)
    with pytest.raises(ValueError, match=r"its CNN comes from init\) has no parameter 'cnn'"):
        tiny("cnn-lstm", init=str(still_cnn)).fit(clips, labels)  # TINY names module__cnn


# --- training path, augmentation, errors ------------------------------------------------------


@needs_torch
def test_clip_networks_train_on_the_shared_torch_path(pair, tmp_path, one_thread):
    clips, labels = pair
    params = {"class_weight": "balanced", "augment": "light"}
    first = tiny("c3d", **params)
    first.fit(clips, labels, X_val=clips[:4], y_val=labels[:4],
              checkpoint_dir=tmp_path / "ckpt", curves_dir=tmp_path)  # fmt: skip
    assert (tmp_path / "ckpt" / "params.pt").is_file() and (tmp_path / "curves.csv").is_file()
    assert "valid_loss" in first.history_[-1]
    resumed = tiny("c3d", **params, max_epochs=4)
    resumed.fit(clips, labels, X_val=clips[:4], y_val=labels[:4], checkpoint_dir=tmp_path / "ckpt")
    assert resumed.n_epochs_ == 4
    listed = resumed.get_params()
    assert listed["module__channels"] == (4, 8) and clone(resumed).get_params() == listed


@needs_torch
def test_augmentation_draws_once_per_clip_for_all_its_frames():
    from ferengine_deep import augment as aug
    from ferengine_deep.clip_layers import ClipCollate

    still = np.random.default_rng(0).integers(0, 256, (16, 16), dtype=np.uint8)
    clips = [np.stack([still] * 4), np.stack([still] * 6)]
    collate = ClipCollate(aug.chain("fer"), np.random.default_rng(0))
    batch, _ = collate([(c, 0) for c in clips])
    x, lengths = batch["x"].numpy()[:, :, 0], batch["lengths"].tolist()
    assert lengths == [4, 6]
    for clip, t in zip(x, lengths, strict=True):
        assert all(np.array_equal(clip[0], frame) for frame in clip[:t])  # one draw per clip
        assert not np.array_equal(clip[0], still)  # ... and it changed the frames
    assert not np.array_equal(x[0, 0], x[1, 0])  # each clip its own draw


@needs_torch
@pytest.mark.parametrize(
    "name, params, error, message",
    [("cnn-lstm", {"module__cnn": "lenett"}, ValueError,
      "module__cnn: .*did you mean 'lenet'"),
     ("cnn-lstm", {"module__cnn": "compact", "module__cnn__widht": 8}, ValueError,
      "did you mean 'module__cnn__width'"),
     ("cnn-lstm", {"module__cell": "rnn"}, InvalidParameterError,
      "'module__cell' parameter of cnn-lstm"),
     ("cnn-lstm", {"trainable": "head"}, InvalidParameterError, "'trainable' parameter"),
     ("c3d", {"frames": None}, InvalidParameterError, "'frames' parameter of C3DClassifier"),
     ("c3d", {"module__channels": []}, ValueError,
      "c3d: module__channels must be a non-empty list of positive ints"),
     ("c3d", {"module__grid": 0}, InvalidParameterError, "'module__grid' parameter of c3d"),
     ("convlstm", {"module__kernel": 4}, ValueError, "convlstm: module__kernel must be odd"),
     ("convlstm", {"module__hiden": 4}, ValueError, "did you mean 'module__hidden'"),
     ("convlstm", {"size": 0}, InvalidParameterError, "'size' parameter"),
     ("convlstm", {"augment": "heavy"}, InvalidParameterError, "'augment' parameter")],
)  # fmt: skip
def test_bad_parameters_are_named_at_fit(name, params, error, message, pair):
    with pytest.raises(error, match=message):
        tiny(name, **params).fit(*pair)


@needs_torch
@pytest.mark.parametrize("name", NETS)
def test_bad_clips_are_named(name, one_thread):
    clips = list(random_clips([2, 3, 4]))
    with pytest.raises(ValueError, match=f"{name}: X: clip 1 must be uint8, got float64"):
        tiny(name).fit([clips[0], clips[1].astype(float), clips[2]], [0, 1, 0])
    with pytest.raises(ValueError, match=f"{name}: X: clip 2 has frames of shape"):
        tiny(name).fit([clips[0], clips[1], clips[2][:, :8]], [0, 1, 0])
    with pytest.raises(ValueError, match=f"{name}: 3 clips but 2 labels"):
        tiny(name).fit(clips, [0, 1])
    net = tiny(name).fit(clips, [0, 1, 0])
    with pytest.raises(ValueError, match=r"X: the clips' frames have shape \(8, 8\), but it was "
                                         r"fitted on frames of shape \(16, 16\)"):  # fmt: skip
        net.predict(random_clips([3], size=8))


# --- clip-frames -------------------------------------------------------------------------


class Brightness(ClassifierMixin, BaseEstimator):
    """Probabilities from each image's mean grey level; records what it was fitted on."""

    def fit(self, X, y):
        self.fitted_on_ = (np.asarray(X).copy(), np.asarray(y))
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        bright = np.asarray(X, dtype=float).mean(axis=(1, 2)) / 255
        return np.stack([1 - bright, bright], axis=1)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def test_clip_frames_average_a_still_models_frame_probabilities():
    clips = random_clips([3, 1, 5, 2], size=4)
    model = registry.create("classifier", "clip-frames", estimator=Brightness(), batch_size=4)
    model.fit(clips, ["a", "b", "a", "b"])
    X, y = model.estimator_.fitted_on_
    assert len(X) == 11 and y.tolist() == ["a"] * 3 + ["b"] + ["a"] * 5 + ["b"] * 2
    proba = model.predict_proba(clips)
    expected = [Brightness().predict_proba(c).mean(axis=0) for c in clips]
    assert np.allclose(proba, expected) and model.classes_.tolist() == ["a", "b"]
    one_by_one = clone(model).set_params(batch_size=1).fit(clips, [0, 1, 0, 1])
    assert np.allclose(one_by_one.predict_proba(clips), proba)


def test_clip_frames_fit_on_the_frames_asked_for():
    clip = np.zeros((4, 2, 2), np.uint8)
    clip[1] = 200  # farthest from the first frame
    clip[3] = 50
    for how, frame in (("last", 3), ("farthest-from-first", 1)):
        model = registry.create("classifier", "clip-frames", estimator=Brightness(),
                                fit_frames=how).fit(as_clips([clip, clip]), [0, 1])  # fmt: skip
        X, _ = model.estimator_.fitted_on_
        assert len(X) == 2 and np.array_equal(X[0], clip[frame])


def test_clip_frames_use_a_frozen_model_as_it_is():
    clips = random_clips([3, 2], size=4)
    fitted = Brightness().fit(np.zeros((2, 4, 4)), ["x", "y"])
    model = registry.create("classifier", "clip-frames", estimator=FrozenEstimator(fitted))
    model.fit(clips, ["p", "q"])
    assert model.classes_.tolist() == ["x", "y"] and model.estimator_.estimator is fitted


def test_clip_frames_errors_name_the_parameter_and_the_clip():
    clips = random_clips([2, 3], size=4)
    with pytest.raises(ValueError, match="clip-frames: the 'estimator' parameter needs"):
        registry.create("classifier", "clip-frames").fit(clips, [0, 1])
    with pytest.raises(MissingProbabilitiesError, match="clip-frames's estimator needs class"):
        registry.create("classifier", "clip-frames", estimator=["pixels", "svm-linear"]).fit(
            clips, [0, 1]
        )
    with pytest.raises(InvalidParameterError, match="'fit_frames' parameter of ClipFrames"):
        registry.create("classifier", "clip-frames", estimator=Brightness(),
                        fit_frames="apex").fit(clips, [0, 1])  # fmt: skip
    model = registry.create("classifier", "clip-frames", estimator=Brightness())
    with pytest.raises(ValueError, match="clip-frames: X: clip 1 must be uint8"):
        model.fit([clips[0], clips[1].astype(np.int16)], [0, 1])
    with pytest.raises(ValueError, match="clip-frames: 2 clips but 3 labels"):
        model.fit(clips, [0, 1, 0])
    model.fit(clips, [0, 1])
    with pytest.raises(ValueError, match=r"fitted on frames of shape \(4, 4\)"):
        model.predict(random_clips([2], size=6))


# --- clip-fusion ---------------------------------------------------------------------------


def top(frames):
    return frames[:, :2].reshape(len(frames), -1).astype(np.float32)


def bottom(frames):
    return frames[:, 2:].reshape(len(frames), -1).astype(np.float32)


def halves_task(n, seed):
    """Clips whose class shows, weakly and with independent noise, in both halves of the frame.

    Each half alone gives a member that errs often; the two members err on different
    clips, so averaging their probabilities is right more often than either.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    sign = (2 * y - 1)[:, None, None, None]
    clips = 128 + rng.normal(0, 10, (n, 3, 4, 4))
    clips[:, :, :2] += 10 * sign + rng.normal(0, 20, (n, 1, 1, 1))
    clips[:, :, 2:] += 10 * sign + rng.normal(0, 20, (n, 1, 1, 1))
    return as_clips(np.clip(clips, 0, 255).astype(np.uint8)), y


def half_member(part):
    return {"name": "clip-frames", "params": {"estimator": [FunctionTransformer(part), "logistic"]}}


def test_fusion_of_two_members_beats_either_on_the_halves_task():
    X, y = halves_task(300, seed=0)
    X_test, y_test = halves_task(600, seed=1)
    members = [half_member(top), half_member(bottom)]
    fused = registry.create("classifier", "clip-fusion", members=members).fit(X, y)
    alone = [ferengine.pipeline(m).fit(X, y).score(X_test, y_test) for m in members]
    assert fused.score(X_test, y_test) >= max(alone) + 0.03, alone


@pytest.mark.parametrize("method", ["average", "weighted", "max", "stacking"])
def test_clip_fusion_combines_the_members_clip_probabilities(method):
    X, y = halves_task(60, seed=2)
    fused = registry.create("classifier", "clip-fusion", method=method, cv=3,
                            members=[half_member(top), half_member(bottom)]).fit(X, y)  # fmt: skip
    proba = fused.predict_proba(X)
    members = np.stack([m.predict_proba(X) for m in fused.ensemble_.estimators_])
    assert proba.shape == (60, 2) and np.allclose(proba.sum(axis=1), 1)
    if method == "average":
        assert np.allclose(proba, members.mean(axis=0))
    elif method == "weighted":
        assert np.all((fused.weights_ >= 0) & (fused.weights_ <= 1))
        assert np.allclose(proba, np.average(members, axis=0, weights=fused.weights_))
    elif method == "max":
        peak = members.max(axis=0)
        assert np.allclose(proba, peak / peak.sum(axis=1, keepdims=True))
    else:  # a logistic regression on the members' out-of-fold probabilities
        assert fused.ensemble_.final_estimator_.n_features_in_ == 2


def test_clip_fusion_errors_name_it():
    X, y = halves_task(10, seed=0)
    with pytest.raises(ValueError, match="clip-fusion: the 'members' parameter needs"):
        registry.create("classifier", "clip-fusion").fit(X, y)
    with pytest.raises(ValueError, match="clip-fusion: X: clip 1 must be uint8, got float64"):
        registry.create("classifier", "clip-fusion", members=[half_member(top)]).fit(
            [X[0], X[1].astype(float), *X[2:]], y
        )
    with pytest.raises(ValueError, match=r"clip-fusion: X: expected clips \(n, T, H, W"):
        registry.create("classifier", "clip-fusion", members=[half_member(top)]).fit(
            np.zeros((10, 4, 4), np.uint8), y
        )
    with pytest.raises(MissingProbabilitiesError, match=r"clip-fusion \(method 'average'\)"):
        registry.create("classifier", "clip-fusion",
                        members=[[("frame-features", {"feature": "pixels"}), "temporal-pool",
                                  "svm-linear"]]).fit(X, y)  # fmt: skip


@needs_torch
def test_a_temporal_and_a_still_member_fuse_and_round_trip(pair, tmp_path, one_thread):
    clips, labels = pair
    members = [("c3d", {**TINY["c3d"], **FAST}),
               ("clip-frames", {"estimator": [("pixels", {"size": 8}), "logistic"]})]  # fmt: skip
    pipe = ferengine.pipeline(("clip-fusion", {"members": members, "method": "weighted",
                                               "cv": 2}), label_space="fer7-dynamics")  # fmt: skip
    pipe.fit(clips, labels)
    again = ferengine.load(ferengine.save(pipe, tmp_path / "fused.fer"))
    assert np.array_equal(again.predict_proba(clips), pipe.predict_proba(clips))
    assert again.predict_names(clips).tolist() == pipe.predict_names(clips).tolist()
    saved = ferengine.save(ferengine.pipeline(members[1]).fit(clips, labels), tmp_path / "f.fer")
    frozen = registry.create("classifier", "clip-fusion", members=[str(saved)]).fit(clips, labels)
    assert np.allclose(frozen.predict_proba(clips), ferengine.load(saved).predict_proba(clips))


# --- learning the dynamics-only pair --------------------------------------------------------


@pytest.fixture(scope="module")
def pair_split():
    """The dynamics pair, 18 subjects × 3 clips per class; 12 subjects train, 6 test."""
    ds = ferengine.load_dataset("synthetic-sequences", n_subjects=18, clips_per_class=3,
                                classes=(), size=16, frames=(8, 12))  # fmt: skip
    test = np.isin(ds.subjects, sorted(set(ds.subjects))[:6])
    return ds.clips[~test], ds.labels[~test], ds.clips[test], ds.labels[test]


@needs_torch
@pytest.mark.parametrize(
    "name, params",
    [("cnn-lstm", {"module__cnn": "lenet", "module__hidden": 16}), ("c3d", {"frames": 8}),
     ("convlstm", {})],
)  # fmt: skip
def test_each_network_learns_the_pair_only_time_tells_apart(name, params, pair_split, one_thread):
    X, y, X_test, y_test = pair_split
    net = registry.create("classifier", name, max_epochs=20, validation_fraction=0.0, **params)
    assert net.fit(X, y).score(X_test, y_test) >= 0.75  # chance: 0.5 (36 unseen-subject clips)
