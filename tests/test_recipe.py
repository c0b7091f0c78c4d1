"""Training recipes of the torch classifiers: mixup / CutMix, EMA / SWA, SAM, random erasing.

Every fit here is a tiny network on one torch thread (the machine's cores are shared).
"""

from __future__ import annotations

import numpy as np
import pytest

from ferengine.registry import get_registry
from ferengine.testing import check_plugin
from tests.conftest import TINY_CNN

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from ferengine_deep.mixing import BatchMixer  # noqa: E402
from ferengine_deep.net import BF16Net  # noqa: E402

#: One batch of the 140 bar faces per epoch, plain SGD, LeNet (no dropout, no batch norm):
#: a run whose steps depend neither on the shuffling nor on torch's random state, so a
#: resumed fit can be compared with an uninterrupted one.
FULL_BATCH = {"module": "lenet", "batch_size": 140, "optimizer": "sgd", "lr": 0.05,
              "max_epochs": 4, "validation_fraction": 0.0, "bf16": False}  # fmt: skip


def cnn(**params):
    return get_registry().create("classifier", "cnn", **{**TINY_CNN, **params})


def weights(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def max_difference(a, b):
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


@pytest.fixture
def nets(monkeypatch):
    """The skorch nets the fits in a test train, in order (spied on ``fitted_module``)."""
    seen = []
    original = BF16Net.fitted_module

    def spy(self, X, y):
        seen.append(self)
        return original(self, X, y)

    monkeypatch.setattr(BF16Net, "fitted_module", spy)
    return seen


# ---- mixup and CutMix --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["mixup", "cutmix"])
def test_mixed_batches_get_probability_rows_that_change_the_loss(method):
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.integers(0, 256, (16, 1, 12, 12), dtype=np.uint8))
    y = torch.from_numpy(np.arange(16) % 4)
    mixed, targets = BatchMixer(4, **{method: 1.0}, seed=1)(x, y)
    assert targets.shape == (16, 4)
    assert torch.allclose(targets.sum(dim=1), torch.ones(16))
    assert (targets.max(dim=1).values < 1).any()  # some rows are not one-hot
    assert not torch.equal(mixed.float(), x.float())
    logits = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    loss = torch.nn.functional.cross_entropy
    assert not torch.isclose(loss(logits, targets), loss(logits, y))


def test_cutmix_pastes_one_box_and_its_share_is_the_targets_weight():
    x = torch.arange(8, dtype=torch.uint8).repeat_interleave(100).reshape(8, 1, 10, 10)
    y = torch.arange(8)
    mixer = BatchMixer(8, cutmix=1.0, seed=3)
    mixed, targets = mixer(x, y)
    for i in range(8):
        kept = (mixed[i] == i).float().mean()
        # each image keeps its own pixels where the target weighs its own class
        assert targets[i, i] == pytest.approx(float(kept), abs=1e-6)


def test_a_batch_left_unmixed_gets_one_hot_rows():
    x = torch.zeros(4, 1, 6, 6)
    mixed, targets = BatchMixer(3, mixup=1.0, prob=0.0)(x, torch.tensor([0, 1, 2, 0]))
    assert mixed is x
    assert torch.equal(targets, torch.eye(3)[[0, 1, 2, 0]])


def test_cutmix_refuses_inputs_that_are_not_images():
    with pytest.raises(ValueError, match="cutmix"):
        BatchMixer(2, cutmix=1.0)(torch.zeros(4, 5), torch.tensor([0, 1, 0, 1]))


def test_mixing_changes_the_training_loss_and_still_learns(bar_data, one_thread):
    X, y = bar_data.images, bar_data.labels
    plain = cnn(max_epochs=3).fit(X, y)
    mixed = cnn(max_epochs=3, mixup=0.4, cutmix=1.0).fit(X, y)
    assert [r["train_loss"] for r in plain.history_] != [r["train_loss"] for r in mixed.history_]
    smoothed = cnn(max_epochs=3, mixup=0.4, criterion__label_smoothing=0.1).fit(X, y)
    assert smoothed.history_[0]["train_loss"] != mixed.history_[0]["train_loss"]


# ---- weight averaging --------------------------------------------------------------------


def test_the_ema_weights_differ_from_the_trained_ones_and_predict(bar_data, nets, one_thread):
    X, y = bar_data.images, bar_data.labels
    plain = cnn().fit(X, y)
    averaged = cnn(ema=0.9).fit(X, y)
    net = nets[-1]
    assert averaged.module_ is net.average_.module
    assert int(net.average_.n_averaged) == averaged.n_epochs_ * 5  # 140 faces, batches of 32
    # the trained weights follow the seed whatever the average does …
    assert max_difference(weights(net.module_), weights(plain.module_)) < 1e-6
    # … and the model keeps, and predicts with, the average instead
    assert max_difference(weights(averaged.module_), weights(net.module_)) > 1e-3
    assert not np.allclose(averaged.decision_function(X), plain.decision_function(X))
    assert averaged.score(X, y) >= 0.9


def test_a_resumed_fit_continues_the_ema(bar_data, tmp_path, nets, one_thread):
    """Two epochs, interrupted, then two more, against four at once.

    Both runs take the same steps (:data:`FULL_BATCH`); they differ only by the summation
    order inside the shuffled batch (float rounding, about 1e-7 here), far below the gap
    between the average and the trained weights, which a restarted average would show.
    """
    X, y = bar_data.images, bar_data.labels
    params = {"ema": 0.5}
    whole = get_registry().create("classifier", "cnn", **{**FULL_BATCH, **params})
    whole.fit(X, y)
    first = get_registry().create("classifier", "cnn", **{**FULL_BATCH, **params, "max_epochs": 2})
    first.fit(X, y, checkpoint_dir=tmp_path)
    assert (tmp_path / "average.pt").is_file()
    resumed = get_registry().create("classifier", "cnn", **{**FULL_BATCH, **params})
    resumed.fit(X, y, checkpoint_dir=tmp_path)
    assert resumed.n_epochs_ == 4
    assert int(nets[-1].average_.n_averaged) == 4  # 2 saved + 2 resumed steps
    gap = max_difference(weights(whole.module_), weights(nets[0].module_))
    assert gap > 1e-3  # the average is far from the trained weights (400× the tolerance)
    assert max_difference(weights(resumed.module_), weights(whole.module_)) < 1e-5


def test_resuming_with_an_average_needs_one_in_the_checkpoint(bar_data, tmp_path, one_thread):
    X, y = bar_data.images, bar_data.labels
    cnn(max_epochs=1).fit(X, y, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="ema: the checkpoint"):
        cnn(max_epochs=2, ema=0.9).fit(X, y, checkpoint_dir=tmp_path)


def test_swa_averages_the_last_epochs_and_recomputes_batch_statistics(bar_data, nets, one_thread):
    X, y = bar_data.images, bar_data.labels
    model = cnn(swa=3).fit(X, y)
    net = nets[-1]
    assert int(net.average_.n_averaged) == 3
    assert model.module_ is net.average_.module
    norms = [m for m in model.module_.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(int(m.num_batches_tracked) == 5 for m in norms)  # one pass: 5 batches
    assert model.score(X, y) >= 0.9


def test_early_stopping_restores_the_average_of_the_best_epoch(bar_data, nets, one_thread):
    X, y = bar_data.images, bar_data.labels
    model = cnn(ema=0.8, validation_fraction=0.25, patience=2, max_epochs=6).fit(X, y)
    assert {"valid_loss", "valid_acc"} <= set(model.history_[-1])
    assert model.module_ is nets[-1].average_.module


# ---- sharpness-aware minimisation --------------------------------------------------------


def test_sam_takes_two_passes_per_step_and_learns_the_bar(bar_data, monkeypatch, one_thread):
    X, y = bar_data.images, bar_data.labels
    passes = []
    original = BF16Net.train_step_single

    def counted(self, batch, **kwargs):
        passes.append(len(batch[0]))
        return original(self, batch, **kwargs)

    monkeypatch.setattr(BF16Net, "train_step_single", counted)
    cnn(max_epochs=1).fit(X, y)
    assert len(passes) == 5  # 140 faces in batches of 32
    passes.clear()
    model = cnn(sam=0.05).fit(X, y)
    assert len(passes) == 2 * 5 * model.n_epochs_
    assert model.score(X, y) >= 0.95


def test_the_sam_ascent_moves_by_rho_and_restores_the_weights():
    from ferengine_deep.sam import ascent, frozen_statistics

    layer = torch.nn.Linear(3, 2)
    layer(torch.randn(5, 3)).sum().backward()
    before = [p.detach().clone() for p in layer.parameters()]
    with ascent(layer.parameters(), 0.1):
        now = [p.detach() for p in layer.parameters()]
        moved = torch.cat([(p - b).flatten() for p, b in zip(now, before, strict=True)])
        assert float(moved.norm()) == pytest.approx(0.1, rel=1e-5)
    for p, b in zip(layer.parameters(), before, strict=True):
        assert torch.allclose(p, b, atol=1e-7)
    norm = torch.nn.BatchNorm1d(3)
    with frozen_statistics(norm):
        norm(torch.randn(8, 3) + 5)
    assert torch.equal(norm.running_mean, torch.zeros(3))


# ---- seeds and parameters ----------------------------------------------------------------


def test_the_recipes_follow_the_seed(bar_data, one_thread):
    X, y = bar_data.images, bar_data.labels
    params = {"max_epochs": 2, "mixup": 0.4, "cutmix": 1.0, "mix_prob": 0.8, "ema": 0.9,
              "sam": 0.05, "augment": ["flip", "random-erasing"]}  # fmt: skip
    a, b = cnn(**params).fit(X, y), cnn(**params).fit(X, y)
    assert max_difference(weights(a.module_), weights(b.module_)) == 0
    c = cnn(**params, seed=1).fit(X, y)
    assert max_difference(weights(a.module_), weights(c.module_)) > 0


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"mixup": -0.1}, "mixup"),
        ({"cutmix": "lots"}, "cutmix"),
        ({"mix_prob": 1.5}, "mix_prob"),
        ({"ema": 1.0}, "ema"),
        ({"swa": 0}, "swa"),
        ({"sam": 0.0}, "sam"),
        ({"mixup": 0.2, "criterion": "hinge"}, "mixup"),
        ({"cutmix": 1.0, "criterion": "squared-hinge"}, "cutmix"),
        ({"ema": 0.99, "swa": 2}, "ema and swa"),
        ({"swa": 9, "max_epochs": 8}, "swa"),
    ],
)
def test_bad_recipe_values_are_refused_naming_the_parameter(params, named, bar_data):
    with pytest.raises(ValueError, match=named):
        cnn(**params).fit(bar_data.images[:20], bar_data.labels[:20])


def test_the_recipes_are_off_by_default():
    params = cnn().get_params()
    off = {"mixup": 0.0, "cutmix": 0.0, "mix_prob": 1.0, "ema": None, "swa": None, "sam": None}
    assert {k: params[k] for k in off} == off


# ---- training on annotators' votes -------------------------------------------------------


def test_one_hot_votes_train_exactly_as_the_labels(bar_data, one_thread):
    """Cross-entropy to a one-hot distribution is the cross-entropy to its class."""
    X, y = bar_data.images, bar_data.labels
    classes = np.unique(y)
    onehot = (y[:, None] == classes[None]).astype(float) * 10  # ten unanimous votes
    full_batch = get_registry().create
    labels = full_batch("classifier", "cnn", **FULL_BATCH).fit(X, y)
    votes = full_batch("classifier", "cnn", **FULL_BATCH, targets="votes").fit(X, y, votes=onehot)
    assert max_difference(weights(labels.module_), weights(votes.module_)) < 1e-5


def test_a_pipeline_passes_the_datasets_votes_and_the_network_learns_them(bar_data, one_thread):
    """Votes that disagree with every label: the network follows the votes."""
    import ferengine

    space = bar_data.label_space
    happy, sad = space.index("happy"), space.index("sad")
    counts = np.zeros((len(bar_data), 4))  # vote columns: sad, happy, unknown, NF
    counts[bar_data.labels == happy, 0] = 8  # the crowd says sad where the label says happy
    counts[bar_data.labels == sad, 1] = 8
    counts[:, 2] = 2
    voted = ferengine.FaceDataset(
        bar_data.images, bar_data.labels, space,
        meta={"votes": counts, "vote_names": ["sad", "happy", "unknown", "NF"]},
        per_sample=frozenset({"votes"}),
    )  # fmt: skip
    model = ferengine.pipeline(("cnn", {**TINY_CNN, "max_epochs": 15, "targets": "votes"}))
    model.fit(voted)
    flipped = np.where(bar_data.labels == happy, sad, happy)
    assert np.mean(model.predict(bar_data.images) == flipped) > 0.9
    with pytest.raises(ValueError, match="FaceDataset that carries them"):
        ferengine.pipeline(("cnn", {**TINY_CNN, "targets": "votes"})).fit(
            bar_data.images, bar_data.labels
        )
    with pytest.raises(ferengine.errors.DatasetError, match="no annotator votes"):
        ferengine.pipeline(("cnn", {**TINY_CNN, "targets": "votes"})).fit(bar_data)


@pytest.mark.parametrize(
    ("params", "votes", "named"),
    [
        ({}, None, "needs the annotators' votes"),
        ({"criterion": "hinge"}, np.ones((20, 2)), "cross-entropy"),
        ({"validation_fraction": 0.2}, np.ones((20, 2)), "validation_fraction"),
        ({}, np.ones((20, 3)), r"expected \(n_samples, 2\)"),
        ({}, -np.ones((20, 2)), "non-negative"),
    ],
)
def test_bad_vote_training_is_refused_naming_the_problem(params, votes, named, bar_data):
    model = cnn(targets="votes", **params)
    with pytest.raises(ValueError, match=named):
        model.fit(bar_data.images[:20], bar_data.labels[:20], votes=votes)


# ---- random erasing ----------------------------------------------------------------------


def test_random_erasing_passes_the_augmenter_checks():
    results = check_plugin("augmenter:random-erasing")
    assert results and all(r.status in ("passed", "skipped") for r in results)


def test_random_erasing_erases_inside_its_box_only():
    augmenter = get_registry().create("augmenter", "random-erasing", p=1.0, value=7)
    images = np.full((50, 48, 48), 200, np.uint8)
    boxes = augmenter.boxes(50, 48, 48, np.random.default_rng(5))
    out = augmenter.augment(images, np.random.default_rng(5))
    assert (boxes[:, 2] > 0).all()  # p=1: every image gets a box
    for image, (top, left, h, w) in zip(out, boxes, strict=True):
        assert top + h <= 48 and left + w <= 48
        assert 0.02 * 48 * 48 - 48 <= h * w <= 0.4 * 48 * 48 + 48  # area, rounding aside
        inside = np.zeros_like(image, bool)
        inside[top : top + h, left : left + w] = True
        assert (image[inside] == 7).all() and (image[~inside] == 200).all()
    none = get_registry().create("augmenter", "random-erasing", p=0.0)
    assert np.array_equal(none.augment(images, np.random.default_rng(0)), images)


@pytest.mark.parametrize(
    ("params", "named"),
    [({"area": [0.5, 0.1]}, "area"), ({"area": [0.0, 0.3]}, "area"),
     ({"aspect": [0.0, 2.0]}, "aspect"), ({"value": 300}, "value"), ({"p": 2}, "p")],
)  # fmt: skip
def test_random_erasing_refuses_bad_values_naming_them(params, named):
    augmenter = get_registry().create("augmenter", "random-erasing", **params)
    with pytest.raises(ValueError, match=named):
        augmenter.augment(np.zeros((2, 8, 8), np.uint8), np.random.default_rng(0))
