"""Temporal models: per-frame features of clips, pooling over time, and the torch temporal heads."""

import importlib.util

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils._param_validation import InvalidParameterError

import ferengine
from ferengine import registry
from ferengine.errors import ModelFormatError, StepOutputError
from ferengine.pipeline import FERPipeline
from ferengine.sequences import as_clips
from ferengine.temporal import as_sequences, sequence_lengths

needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("skorch") is None,
    reason="the temporal heads need the deep extra (torch, skorch)",
)


# --- data ----------------------------------------------------------------------------------


def random_clips(lengths, size=8, seed=0):
    """Random uint8 grey clips of the given lengths."""
    rng = np.random.default_rng(seed)
    return as_clips([rng.integers(0, 256, (t, size, size), dtype=np.uint8) for t in lengths])


def random_sequences(lengths, width=4, seed=0):
    rng = np.random.default_rng(seed)
    out = np.empty(len(lengths), dtype=object)
    for i, t in enumerate(lengths):
        out[i] = rng.normal(size=(t, width)).astype(np.float32)
    return out


def order_task(n, length=20, width=16, gap=None, seed=0):
    """Clips of random frame vectors holding two marker frames; label 1 when A comes before B.

    Every clip holds the same kinds of frames (noise, one A, one B) whatever its label: only
    their order differs, so pooling over time cannot tell the classes apart. ``gap`` fixes
    how many frames separate the markers (random positions otherwise).
    """
    rng = np.random.default_rng(seed)
    a = np.zeros(width, np.float32)
    b = np.zeros(width, np.float32)
    a[: width // 2] = 3
    b[width // 2 :] = 3
    X, y = np.empty(n, dtype=object), rng.integers(0, 2, n)
    for i in range(n):
        t = int(rng.integers(length - 4, length + 5))
        seq = rng.normal(size=(t, width)).astype(np.float32)
        if gap is None:
            p, q = sorted(rng.choice(t, 2, replace=False))
        else:
            p = int(rng.integers(0, t - gap))
            q = p + gap
        seq[p] += a if y[i] else b
        seq[q] += b if y[i] else a
        X[i] = seq
    return X, y


class Summary(TransformerMixin, BaseEstimator):
    """Per-frame mean and max grey level; records what it was fitted on and each call."""

    def fit(self, X, y=None):
        self.fitted_on_ = (len(X), None if y is None else np.asarray(y))
        self.calls_ = []
        return self

    def transform(self, X):
        self.calls_.append(len(X))
        X = np.asarray(X, dtype=np.float32)
        return np.stack([X.mean(axis=(1, 2)), X.max(axis=(1, 2))], axis=1)


class Rows(TransformerMixin, BaseEstimator):
    """A broken feature: one row fewer than frames."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.zeros((len(X) - 1, 2), np.float32)


# --- sequences ----------------------------------------------------------------------------


def test_sequences_come_as_a_1d_object_array_of_float32():
    from_list = as_sequences([np.ones((3, 2), np.float64), np.zeros((1, 2), int)])
    assert from_list.dtype == object and from_list.shape == (2,)
    assert [s.shape for s in from_list] == [(3, 2), (1, 2)]
    assert all(s.dtype == np.float32 for s in from_list)
    from_array = as_sequences(np.zeros((4, 5, 3)))
    assert from_array.shape == (4,) and from_array[0].shape == (5, 3)
    assert list(sequence_lengths(from_list)) == [3, 1]


@pytest.mark.parametrize(
    "X, message",
    [
        (np.zeros((5, 4)), "got a 2-D array of shape (5, 4): one vector per clip"),
        (np.zeros((2, 3, 8, 8), np.uint8), "'frame-features' step first"),
        ([np.ones((3, 4)), np.ones((2, 4)), np.ones((2, 5))], "clip 2 has 5 features per frame, "
                                                              "but clip 0 has 4"),
        ([np.ones((3, 4)), np.array([[1, 2, np.nan, 4]])], "clip 1 holds NaN or infinite values "
                                                           "(frame 0)"),
        ([np.ones((3, 4)), np.ones(4)], "clip 1 must be a (T, D) sequence"),
        ([np.ones((0, 4))], "clip 0 must be a (T, D) sequence with T ≥ 1"),
        ([np.array([["a", "b"]])], "clip 0 must hold real numbers"),
    ],
)  # fmt: skip
def test_bad_sequences_are_refused_naming_the_clip(X, message):
    with pytest.raises(ValueError) as info:
        as_sequences(X)
    assert message in str(info.value)


def test_a_fitted_width_is_required_of_every_clip():
    with pytest.raises(ValueError, match="clip 0 has 3 features per frame, but it was fitted on 4"):
        as_sequences([np.ones((2, 3))], width=4)


# --- frame-features ------------------------------------------------------------------------


def test_frame_features_describe_every_frame_in_batches_across_clips():
    clips = random_clips([3, 5, 1, 7])
    ff = registry.create("feature", "frame-features", feature=Summary(), batch_size=6).fit(clips)
    out = ff.transform(clips)
    assert ff.feature_.calls_[1:] == [6, 6, 4]  # after fit's one-frame probe: 16 frames in 3 calls
    assert out.dtype == object and [s.shape for s in out] == [(3, 2), (5, 2), (1, 2), (7, 2)]
    for clip, seq in zip(clips, out, strict=True):
        assert seq.dtype == np.float32
        assert np.allclose(seq, Summary().fit(clip).transform(clip))
    one_by_one = clone(ff).set_params(batch_size=1).fit(clips).transform(clips)
    assert all(np.array_equal(a, b) for a, b in zip(out, one_by_one, strict=True))


def test_frame_features_fit_the_feature_once_on_all_frames_with_their_clips_labels():
    clips = random_clips([2, 3])
    ff = registry.create("feature", "frame-features", feature=Summary())
    ff.fit(clips, ["happy", "sad"])
    n, labels = ff.feature_.fitted_on_
    assert n == 5 and labels.tolist() == ["happy"] * 2 + ["sad"] * 3
    sequences = clone(ff).fit_transform(clips, [0, 1])
    assert [s.shape for s in sequences] == [(2, 2), (3, 2)]
    assert ff.n_features_out_ == 2


def test_frame_features_build_any_registered_feature_or_pipeline_by_name():
    clips = random_clips([2, 4], size=16)
    table = {"name": "frame-features", "params": {"feature": {"name": "pixels",
                                                              "params": {"size": 4}}}}  # fmt: skip
    pipe = ferengine.pipeline(table)
    out = pipe.fit_transform(clips)
    assert type(pipe[0].feature_).__name__ == "Pixels" and out[1].shape == (4, 16)
    chain = registry.create(
        "feature", "frame-features", feature=["histeq", ("pixels", {"size": 4})]
    )
    assert isinstance(chain.fit(clips).feature_, FERPipeline)
    assert chain.transform(clips)[0].shape == (2, 16)


def test_a_frozen_fitted_feature_is_used_as_it_is():
    fitted = registry.create("feature", "pixels", size=4).fit(random_clips([6], size=16)[0])
    clips = random_clips([3, 2], size=16, seed=1)
    ff = registry.create("feature", "frame-features", feature=FrozenEstimator(fitted))
    out = ff.fit(clips).transform(clips)
    assert ff.feature_.estimator is fitted
    assert np.array_equal(out[0], fitted.transform(clips[0]))


def test_frame_features_refuse_other_frames_and_broken_features():
    clips = random_clips([2, 3])
    ff = registry.create("feature", "frame-features", feature=Summary()).fit(clips)
    with pytest.raises(ValueError, match=r"frames have shape \(16, 16\), but it was fitted on "
                                         r"frames of shape \(8, 8\)"):  # fmt: skip
        ff.transform(random_clips([2], size=16))
    with pytest.raises(ValueError, match="2 clips but 3 labels"):
        clone(ff).fit(clips, [0, 1, 1])
    with pytest.raises(ValueError, match="expected clips"):
        ff.transform(np.zeros((4, 8, 8), np.uint8))  # still images, not clips
    with pytest.raises(StepOutputError, match=r"returned shape \(4, 2\) for frames 0–4; expected"):
        registry.create("feature", "frame-features", feature=Rows()).fit_transform(clips)
    with pytest.raises(InvalidParameterError, match="'batch_size' parameter of FrameFeatures"):
        clone(ff).set_params(batch_size=0).fit(clips)


# --- temporal-pool -------------------------------------------------------------------------

POOLED = {
    "mean": lambda s: s.mean(axis=0),
    "max": lambda s: s.max(axis=0),
    "std": lambda s: s.std(axis=0),
    "meanstd": lambda s: np.concatenate([s.mean(axis=0), s.std(axis=0)]),
}


@pytest.mark.parametrize("pooling", sorted(POOLED))
def test_temporal_pool_gives_k_times_d_columns(pooling):
    X = random_sequences([1, 4, 9])
    pool = registry.create("feature", "temporal-pool", pooling=pooling).fit(X)
    out = pool.transform(X)
    assert out.dtype == np.float32 and out.shape == (3, pool.n_features_out_)
    assert pool.n_features_out_ == 4 * (2 if pooling == "meanstd" else 1)
    assert np.allclose(out, np.stack([POOLED[pooling](s) for s in X]), atol=1e-6)


def test_the_apex_frame_is_configurable_and_poolings_concatenate():
    seq = np.array([[0, 0], [1, 0], [5, 5], [2, 2], [-4, -4]], np.float32)  # mean (0.8, 0.6)
    picks = {"farthest-from-first": [5, 5], "farthest-from-mean": [-4, -4], "last": [-4, -4]}
    for how, frame in picks.items():
        pool = registry.create("feature", "temporal-pool", pooling="apex", apex_frame=how)
        assert pool.fit([seq]).transform([seq]).tolist() == [frame]
    both = registry.create("feature", "temporal-pool", pooling=["max", "apex"]).fit([seq])
    assert both.transform([seq]).tolist() == [[5, 5, 5, 5]]


def test_temporal_pool_refuses_bad_pooling_and_other_widths():
    X = random_sequences([2, 3])
    with pytest.raises(ValueError, match="pooling must be one or more of"):
        registry.create("feature", "temporal-pool", pooling=["mean", "median"]).fit(X)
    with pytest.raises(InvalidParameterError, match="'pooling' parameter of TemporalPool"):
        registry.create("feature", "temporal-pool", pooling="median").fit(X)
    pool = registry.create("feature", "temporal-pool").fit(X)
    with pytest.raises(ValueError, match="clip 1 has 3 features per frame, but it was fitted on 4"):
        pool.transform([np.ones((2, 4)), np.ones((2, 3))])


def test_pooling_cannot_tell_the_order_task_apart():
    X, y = order_task(120, seed=0)
    X_test, y_test = order_task(200, seed=1)
    pipe = ferengine.pipeline(("temporal-pool", {"pooling": ["meanstd", "apex"]}), "logistic")
    assert pipe.fit(X, y).score(X_test, y_test) < 0.7


# --- pipelines check the sequences a step returns --------------------------------------------


class Sequencer(TransformerMixin, BaseEstimator):
    """Returns the sequences it is given, or a broken version of them."""

    def __init__(self, break_at_transform=None):
        self.break_at_transform = break_at_transform

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def fit_transform(self, X, y=None):
        return self.fit(X, y).transform(X, fitting=True)

    def transform(self, X, fitting=False):
        out = as_sequences(X).copy()
        if not fitting and self.break_at_transform == "width":
            out[1] = out[1][:, :2]
        elif not fitting and self.break_at_transform == "nan":
            out[1] = out[1].copy()
            out[1][0, 0] = np.nan
        elif not fitting and self.break_at_transform == "count":
            out = out[:-1]
        return out


@pytest.mark.parametrize(
    "broken, message",
    [
        ("width", "clip 1 has 2 features per frame, but it was fitted on 4"),
        ("nan", "clip 1 holds NaN or infinite values"),
        ("count", "returned 2 sequences for 3 clips"),
    ],
)
def test_a_pipeline_names_the_step_whose_sequences_are_broken(broken, message):
    X = random_sequences([2, 3, 4])
    pipe = FERPipeline(
        [("seq", Sequencer(broken)), ("pool", registry.create("feature", "temporal-pool"))]
    )
    pipe.fit(X)
    assert pipe.step_widths_["seq"] == (4, 3)
    with pytest.raises(StepOutputError, match="pipeline step 0 'seq'") as info:
        pipe.transform(X)
    assert message in str(info.value)


# --- torch temporal heads ------------------------------------------------------------------

HEADS = ["temporal-rnn", "temporal-cnn"]
FAST = {"max_epochs": 3, "validation_fraction": 0.0}


@needs_torch
@pytest.mark.parametrize("name", HEADS)
def test_heads_predict_probabilities_of_their_classes(name, one_thread):
    X = random_sequences([3, 7, 1, 5, 2, 6] * 3)
    y = np.array(["sad", "happy", "fear"] * 6)
    head = registry.create("classifier", name, **FAST).fit(X, y)
    proba = head.predict_proba(X)
    assert head.classes_.tolist() == ["fear", "happy", "sad"]
    assert proba.shape == (18, 3) and np.allclose(proba.sum(axis=1), 1)
    assert set(head.predict(X)) <= set(y)
    assert head.n_features_in_ == 4 and head.n_epochs_ == 3
    assert head.predict_proba(X[:0]).shape == (0, 3)


@needs_torch
@pytest.mark.parametrize(
    "name, module",
    [("temporal-rnn", {}), ("temporal-rnn", {"cell": "gru", "bidirectional": True, "layers": 2}),
     ("temporal-cnn", {}), ("temporal-cnn", {"kernel": 5, "dilation": 3, "pooling": "meanmax"})],
)  # fmt: skip
def test_networks_ignore_padding_whatever_it_holds(name, module):
    import torch
    from ferengine_deep.temporal import convolutional, recurrent
    from ferengine_deep.temporal_layers import pad

    build = recurrent if name == "temporal-rnn" else convolutional
    torch.manual_seed(0)
    net = build(4, 3, **module).eval()
    sequences = random_sequences([1, 6, 3, 9])
    x, lengths = pad(sequences)
    padding = torch.arange(x.shape[1])[None, :] >= lengths[:, None]
    x[padding] = 1e3 * torch.randn(int(padding.sum()), 4)  # garbage, not zeros
    with torch.inference_mode():
        batch = net(x, lengths)
        alone = torch.cat([net(*pad([s])) for s in sequences])
    assert torch.allclose(batch, alone, atol=1e-5)


@needs_torch
@pytest.mark.parametrize("name", HEADS)
def test_a_clip_gets_the_same_prediction_alone_and_in_any_batch(name, one_thread):
    X = random_sequences([2, 9, 4, 1, 7])
    head = registry.create("classifier", name, **FAST).fit(X, [0, 1, 0, 1, 0])
    together = head.predict_proba(X)
    alone = np.concatenate([head.predict_proba(X[i : i + 1]) for i in range(len(X))])
    assert np.allclose(together, alone, atol=1e-6)


@needs_torch
@pytest.mark.slow
@pytest.mark.parametrize("name", HEADS)
def test_a_temporal_head_learns_the_order_that_pooling_cannot_see(name, one_thread):
    X, y = order_task(120, seed=0)
    X_test, y_test = order_task(200, seed=1)
    head = registry.create("classifier", name).fit(X, y)  # the defaults
    assert head.score(X_test, y_test) >= 0.85  # pooling: < 0.7, see above


@needs_torch
@pytest.mark.parametrize("name", HEADS)
def test_heads_follow_their_seed(name, one_thread):
    X = random_sequences([3, 5, 4, 6])
    y = [0, 1, 0, 1]
    proba = [registry.create("classifier", name, **FAST, seed=s).fit(X, y).predict_proba(X)
             for s in (0, 0, 1)]  # fmt: skip
    assert np.array_equal(proba[0], proba[1]) and not np.allclose(proba[0], proba[2])


@needs_torch
@pytest.mark.parametrize(
    "name, module",
    [("temporal-rnn", {"module__cell": "gru", "module__bidirectional": True}),
     ("temporal-cnn", {"module__channels": [8, 8], "module__pooling": "max"})],
)  # fmt: skip
def test_a_clip_pipeline_round_trips_through_save_and_load(name, module, tmp_path, one_thread):
    clips = random_clips([3, 6, 2, 5, 4, 7], size=12)
    y = ["happy", "sad", "happy", "sad", "happy", "sad"]
    pipe = ferengine.pipeline(("frame-features", {"feature": ("pixels", {"size": 6})}),
                              (name, {**FAST, **module}), label_space="fer7")  # fmt: skip
    pipe.fit(clips, y)
    path = ferengine.save(pipe, tmp_path / "clips.fer")
    again = ferengine.load(path)
    assert np.array_equal(again.predict_proba(clips), pipe.predict_proba(clips))
    assert again.predict_names(clips).tolist() == pipe.predict_names(clips).tolist()
    assert again[-1].get_params_for("module") == pipe[-1].get_params_for("module")


@needs_torch
def test_a_loaded_head_with_bad_statistics_is_refused(one_thread):
    from ferengine.model_checks import validate_model

    head = registry.create("classifier", "temporal-rnn", **FAST)
    head.fit(random_sequences([2, 3]), [0, 1])
    head.scale_[1] = -1.0
    with pytest.raises(ModelFormatError, match=r"scale_\[1\] = -1\.0 is not positive"):
        validate_model(head, "head.fer")


@needs_torch
@pytest.mark.parametrize("name", HEADS)
def test_bad_clips_are_named(name, one_thread):
    X = random_sequences([2, 3, 4])
    head = registry.create("classifier", name, **FAST)
    with pytest.raises(ValueError, match=f"{name}: X: clip 1 has 3 features per frame, but clip "
                                         "0 has 4"):  # fmt: skip
        head.fit([X[0], X[1][:, :3], X[2]], [0, 1, 0])
    with pytest.raises(ValueError, match=f"{name}: 3 sequences but 2 labels"):
        head.fit(X, [0, 1])
    head.fit(X, [0, 1, 0])
    with pytest.raises(ValueError, match="X: clip 0 has 5 features per frame, but it was fitted "
                                         "on 4"):  # fmt: skip
        head.predict(random_sequences([2], width=5))
    with pytest.raises(ValueError, match="got a 2-D array of shape"):
        head.predict(np.zeros((3, 4)))


@needs_torch
@pytest.mark.parametrize(
    "name, params, error, message",
    [("temporal-rnn", {"module__cell": "rnn"}, InvalidParameterError,
      "'module__cell' parameter of temporal-rnn must be a str among"),
     ("temporal-rnn", {"module__hidden": 0}, InvalidParameterError, "'module__hidden'"),
     ("temporal-rnn", {"module__hiden": 8}, ValueError, "did you mean 'module__hidden'"),
     ("temporal-cnn", {"module__kernel": 4}, ValueError, "module__kernel must be odd"),
     ("temporal-cnn", {"module__channels": []}, ValueError,
      "module__channels must be a non-empty list of positive ints"),
     ("temporal-cnn", {"module__pooling": "sum"}, InvalidParameterError, "'module__pooling'"),
     ("temporal-cnn", {"max_epochs": 0}, InvalidParameterError, "'max_epochs'")],
)  # fmt: skip
def test_bad_network_parameters_are_named_at_fit(name, params, error, message):
    head = registry.create("classifier", name, **params)
    with pytest.raises(error, match=message):
        head.fit(random_sequences([2, 3]), [0, 1])


@needs_torch
def test_heads_train_on_the_shared_torch_path(tmp_path, one_thread):
    X = random_sequences([3, 5, 4, 6, 2, 7, 3, 5] * 3)
    y = np.array([0, 1] * 12)
    params = {"max_epochs": 2, "class_weight": "balanced", "module__hidden": 8}
    first = registry.create("classifier", "temporal-rnn", **params)
    first.fit(X, y, X_val=X[:6], y_val=y[:6], checkpoint_dir=tmp_path / "ckpt",
              curves_dir=tmp_path)  # fmt: skip
    assert (tmp_path / "ckpt" / "params.pt").is_file() and (tmp_path / "curves.csv").is_file()
    assert "valid_loss" in first.history_[-1]
    resumed = registry.create("classifier", "temporal-rnn", **{**params, "max_epochs": 4})
    assert resumed.fit(X, y, X_val=X[:6], y_val=y[:6],
                       checkpoint_dir=tmp_path / "ckpt").n_epochs_ == 4  # fmt: skip
    listed = resumed.get_params()
    assert listed["module__hidden"] == 8 and clone(resumed).get_params() == listed
