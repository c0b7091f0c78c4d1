"""The synthetic-sequences dataset: animated clips and its dynamics-only class pair."""

from dataclasses import replace

import numpy as np
import pytest
from ferengine_datasets import synthetic_sequences as sq
from ferengine_datasets.synthetic import _identity
from scipy.stats import ks_2samp
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import NearestCentroid

import ferengine
from ferengine import get_label_space, mapping, splits
from ferengine.sequences import ClipDataset

SMALL = {"n_subjects": 3, "clips_per_class": 2, "frames": (6, 9), "size": 24, "seed": 4}
PAIR = ("surprise-onset", "surprise-offset")


def load(**params):
    return ferengine.load_dataset("synthetic-sequences", **params)


@pytest.fixture(scope="module")
def small():
    return load(**SMALL)


@pytest.fixture(scope="module")
def pair():
    """The pair alone: 16 subjects × 3 clips × 2 classes, 24×24 (about 1,100 frames)."""
    return load(n_subjects=16, clips_per_class=3, frames=(10, 14), size=24, classes=())


def codes(ds, *names):
    return [ds.label_space.index(n) for n in names]


def test_clips_labels_subjects_and_frame_meta(small):
    assert isinstance(small, ClipDataset)
    assert small.label_space == get_label_space("fer7-dynamics")
    assert small.label_space.names[:7] == get_label_space("fer7").names
    assert small.label_space.names[7:] == PAIR
    assert len(small) == 3 * 9 * 2
    assert small.labels.dtype == np.int64
    assert sorted(np.bincount(small.labels).tolist()) == [6] * 9
    assert set(small.lengths.tolist()) <= set(range(6, 10)) and len(set(small.lengths)) > 1
    for clip in small.clips:
        assert clip.dtype == np.uint8 and clip.shape[1:] == (24, 24)
    assert sorted(small.frame_meta) == ["blink", "frame", "intensity"]
    for clip, intensity, frame, blink in zip(small.clips, *small.frame_meta.values(), strict=True):
        assert intensity.shape == frame.shape == blink.shape == (len(clip),)
        assert intensity.dtype.kind == "f" and 0 <= intensity.min() <= intensity.max() <= 1
        np.testing.assert_array_equal(frame, np.arange(len(clip)))
        assert blink.dtype == bool
    assert small.splits is None
    assert small.meta["dynamics_pair"] == PAIR


def test_every_subject_shows_every_class_and_folds_keep_subjects_apart(small):
    for subject in np.unique(small.subjects):
        assert set(small.labels[small.subjects == subject].tolist()) == set(range(9))
    for train, test in splits.subject_kfold(small, n_splits=3):
        assert not set(small.subjects[train]) & set(small.subjects[test])
    # One subject is one face: its neutral clips look alike, other subjects' less so.
    neutral = small.subset(small.labels == small.label_space.index("neutral"))
    means = np.stack([c.astype(float).mean(0) for c in neutral.clips])
    same = np.abs(means[0] - means[1]).mean()
    assert all(same < np.abs(means[0] - m).mean() for m in means[2:])


def test_deterministic_and_each_clip_depends_on_its_own_key_only(small):
    again = load(**SMALL)
    for a, b in zip(small.clips, again.clips, strict=True):
        np.testing.assert_array_equal(a, b)

    def clip(ds, subject, name, k):
        rows = np.flatnonzero((ds.subjects == f"synth-{subject:03d}") & (ds.label_names == name))
        return ds.clips[rows[k]], ds.frame_meta["intensity"][rows[k]]

    more = load(**{**SMALL, "n_subjects": 4, "clips_per_class": 3})
    fewer = load(**{**SMALL, "classes": ("surprised", "happy")})
    plain = load(**{**SMALL, "dynamics_pair": False})
    for subject, name, k in [(0, "angry", 0), (2, "surprise", 1), (1, "surprise-offset", 1)]:
        ref, intensity = clip(small, subject, name, k)
        others = [more, fewer] if name in ("surprise", "surprise-offset") else [more, plain]
        for ds in others:
            got, got_intensity = clip(ds, subject, name, k)
            np.testing.assert_array_equal(got, ref)
            np.testing.assert_array_equal(got_intensity, intensity)
    other_seed = load(**{**SMALL, "seed": 5})
    assert not np.array_equal(other_seed.clips[0][:6], small.clips[0][:6])


def test_classes_select_expressions_and_the_pair_adds_two():
    ds = load(**{**SMALL, "n_subjects": 1, "classes": ("surprised", "happy")})
    assert ds.label_names.tolist() == [n for n in ("happy", "surprise", *PAIR) for _ in "ab"]
    plain = load(**{**SMALL, "n_subjects": 1, "classes": ["sad"], "dynamics_pair": False})
    assert plain.label_space.name == "fer7" and set(plain.label_names) == {"sad"}
    only_pair = load(**{**SMALL, "n_subjects": 1, "classes": ()})
    assert set(only_pair.label_names) == set(PAIR)


def test_intensity_rises_then_falls(small):
    names = small.label_names
    for name, intensity in zip(names, small.frame_meta["intensity"], strict=True):
        steps = np.diff(intensity)
        peak = int(np.argmax(intensity))
        if name == "neutral":
            assert not intensity.any()
            continue
        assert 0.6 * 0.999 <= intensity.max() <= 1.0  # the default apex range (0.6, 1.0)
        assert (steps[:peak] >= 0).all() and (steps[peak:] <= 0).all(), (name, intensity)
        if name == "surprise-onset":
            assert intensity[0] == 0 and intensity[-1] == intensity.max()
        elif name == "surprise-offset":
            assert intensity[0] == intensity.max() and intensity[-1] == 0
        else:  # neutral first, an apex inside, the offset begun by the last frame
            assert intensity[0] == 0 and 0 < peak < len(intensity) - 1
            assert intensity[-1] < intensity.max()


def test_pixels_follow_the_intensity():
    """Frames move away from the clip's most neutral frame as the expression grows."""
    ds = load(**{**SMALL, "classes": ("surprise", "fear", "happy")})
    correlations = []
    for clip, intensity in zip(ds.clips, ds.frame_meta["intensity"], strict=True):
        rest = clip[np.argmin(intensity)].astype(float)
        change = np.abs(clip.astype(float) - rest).mean(axis=(1, 2))
        correlations.append(np.corrcoef(change, intensity)[0, 1])
    assert np.median(correlations) > 0.5, correlations


def test_blinks_close_the_eyes_for_one_or_two_frames(small):
    blinks = small.frame_meta["blink"]
    assert sum(b.any() for b in blinks) > len(small) / 4
    for b in blinks:  # runs of blinking frames are short (two blinks may touch: <= 4)
        runs = np.diff(np.flatnonzero(np.diff(np.r_[0, b.astype(int), 0])))[::2]
        assert (runs <= 4).all()
    # Render a plan with and without its blinks: only blink frames change, at the eyes.
    rng = np.random.default_rng(7)
    plan = sq._plan(rng, 30, "full", (0.8, 0.8))
    assert (plan.eye < 1).any()
    ident = _identity(np.random.default_rng([0, 0]))
    expression = sq._EXPRESSIONS[sq.FER7_DYNAMICS.index("happy")]
    render = lambda p: sq._film(ident, expression, p, np.random.default_rng(1), 48)  # noqa: E731
    blinking, open_eyes = render(plan), render(replace(plan, eye=np.ones(30)))
    changed = np.abs(blinking.astype(int) - open_eyes).sum(axis=(1, 2)) > 0
    np.testing.assert_array_equal(changed, plan.eye < 1)
    rows = np.flatnonzero(np.abs(blinking.astype(int) - open_eyes).sum(axis=(0, 2)))
    assert rows.min() > 8 and rows.max() < 30  # eyes sit at 40-45 % of the height


def test_offset_clips_are_onset_clips_played_backwards(pair):
    offset = sq.FER7_DYNAMICS.index("surprise-offset")
    ident = _identity(np.random.default_rng([0, 5]))
    rows = np.flatnonzero((pair.subjects == "synth-005") & (pair.label_names == PAIR[1]))
    for k, row in enumerate(rows):
        rng = np.random.default_rng([0, 5, offset, k, sq._CLIP_STREAM])
        n = int(rng.integers(10, 15))
        plan = sq._plan(rng, n, "rise", (0.6, 1.0))
        onset = sq._film(ident, sq._EXPRESSIONS[sq._PAIR_EXPRESSION], plan, rng, 24)
        np.testing.assert_array_equal(pair.clips[row], onset[::-1])
        np.testing.assert_array_equal(pair.frame_meta["intensity"][row], plan.intensity[::-1])


def test_the_pair_has_the_same_frames_in_distribution(pair):
    """Order-free statistics of a clip (one value per clip: clips are independent draws)."""
    statistics = {
        "length": pair.lengths,
        "mean intensity": [i.mean() for i in pair.frame_meta["intensity"]],
        "apex intensity": [i.max() for i in pair.frame_meta["intensity"]],
        "blinks": [b.sum() for b in pair.frame_meta["blink"]],
        "brightness": [c.mean() for c in pair.clips],
        "contrast": [c.std() for c in pair.clips],
    }
    onset, offset = (pair.labels == c for c in codes(pair, *PAIR))
    for what, values in statistics.items():
        values = np.asarray(values, dtype=float)
        assert ks_2samp(values[onset], values[offset]).pvalue > 0.01, what


def test_order_free_pipelines_are_at_chance_and_time_separates_the_pair(pair):
    """Mean-pooled pixels and apex frames cannot tell the pair apart; first vs second half can."""
    folds = splits.subject_kfold(pair, n_splits=4)

    def accuracy(features):
        X = np.stack([np.asarray(f, dtype=float).ravel() for f in features])
        return cross_val_score(NearestCentroid(), X, pair.labels, cv=folds).mean()

    def halves(clip):
        h = len(clip) // 2
        return clip[:h].astype(float).mean(0) - clip[-h:].astype(float).mean(0)

    # 96 clips: chance is 0.5 with a standard deviation of about 0.05.
    assert 0.35 < accuracy(c.mean(0) for c in pair.clips) < 0.65
    assert 0.35 < accuracy(pair.frames("apex").images) < 0.65
    assert accuracy(halves(c) for c in pair.clips) > 0.9


def test_label_space_maps_to_fer7():
    space = get_label_space("fer7-dynamics")
    keep = mapping(space, "fer7").code_table()
    assert keep[:7].tolist() == list(range(7)) and keep[7:].tolist() == [-1, -1]
    merged = mapping(space, "fer7", table=dict.fromkeys(PAIR, "surprise")).code_table()
    assert merged[7:].tolist() == [5, 5]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_subjects": 0}, "'n_subjects' parameter"),
        ({"clips_per_class": 1.5}, "'clips_per_class' parameter"),
        ({"frames": 5}, "'frames' parameter"),
        ({"frames": (10, 5)}, "frames must be ints with 6 <= low <= high"),
        ({"frames": (8,)}, r"frames must be a \(low, high\) pair"),
        ({"size": 8}, "'size' parameter"),
        ({"intensity": (0.5, 1.2)}, "intensity must be floats with 0.0 <= low"),
        ({"classes": "happy"}, "'classes' parameter"),
        ({"classes": ("happy", "contempt")}, "classes holds 'contempt'"),
        ({"classes": ("happy", "joy")}, "classes names 'joy' twice"),
        ({"classes": (), "dynamics_pair": False}, "no class"),
        ({"dynamics_pair": "yes"}, "'dynamics_pair' parameter"),
    ],
)
def test_bad_parameters_name_the_parameter(params, message):
    with pytest.raises(ValueError, match=message):
        load(**{**SMALL, **params})
