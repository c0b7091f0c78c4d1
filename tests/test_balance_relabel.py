import numpy as np
import pytest
from sklearn.model_selection import cross_val_score

import ferengine
from ferengine import mapping, splits
from ferengine.balance import ResampledClassifier, class_weights, resample, resample_indices
from ferengine.labels import AFFECTNET8, CKPLUS7, FER7
from ferengine.relabel import medoid_labels


def test_class_weight_formulas():
    y = np.array([0] * 10 + [1] * 5 + [2] * 2)
    w = class_weights(y)  # max(n) / (C * n_i)
    assert w == pytest.approx({0: 10 / 30, 1: 10 / 15, 2: 10 / 6})
    b = class_weights(y, "balanced")  # n / (C * n_i)
    assert b == pytest.approx({0: 17 / 30, 1: 17 / 15, 2: 17 / 6})
    with pytest.raises(ValueError, match="max-ratio"):
        class_weights(y, "inverse")


def test_resampling_gives_every_class_m_samples(small_ds):
    y = np.array([0] * 10 + [1] * 3)
    idx = resample_indices(y, fraction=0.5, seed=1)
    assert np.bincount(y[idx]).tolist() == [5, 5]
    assert len(set(idx[y[idx] == 0])) == 5  # big class: no repeats
    balanced = resample(small_ds.subset(np.r_[0:40, 100:104]), fraction=1.0)
    counts = [c for c in balanced.class_counts().values() if c]
    assert len(set(counts)) == 1


def test_resampled_classifier_in_a_pipeline(small_ds):
    pipe = ferengine.pipeline(
        ("pixels", {"size": 8}),
        ResampledClassifier(ferengine.registry.create("classifier", "logistic"), fraction=0.5),
    )
    scores = cross_val_score(
        pipe, small_ds.images, small_ds.labels, cv=splits.subject_kfold(small_ds, 3)
    )
    assert np.all((scores >= 0) & (scores <= 1))


def test_keep_policy_appends_unmapped_classes():
    m = mapping("ckplus7", "fer7", unmapped="keep")
    assert m.target.names == (*FER7.names, "contempt")
    assert m.target.name == "fer7+contempt"
    codes, keep = m.apply(np.arange(7))
    assert keep.all()
    assert m.target.decode(codes).tolist()[1] == "contempt"


def test_affectnet8_to_6_drops_contempt_and_disgust():
    codes, keep = mapping("affectnet8", "affectnet6").apply(np.arange(8))
    dropped = [n for n, k in zip(AFFECTNET8.names, keep, strict=True) if not k]
    assert dropped == ["disgust", "contempt"]
    kept = [n for n, k in zip(AFFECTNET8.names, keep, strict=True) if k]
    assert mapping("affectnet8", "affectnet6").target.decode(codes[keep]).tolist() == kept


def _two_level_reference():
    rng = np.random.default_rng(0)
    levels = np.r_[np.full(6, 50), np.full(6, 200)]
    images = np.clip(levels[:, None, None] + rng.normal(0, 10, (12, 8, 8)), 0, 255)
    return ferengine.FaceDataset(images.astype(np.uint8), [0] * 6 + [3] * 6, FER7)


@pytest.mark.parametrize("distance", ["pixel", "histogram"])
def test_medoid_relabelling_picks_the_nearest_class(distance):
    ref = _two_level_reference()
    queries = np.stack([np.full((8, 8), 60), np.full((8, 8), 190), np.full((8, 8), 45)])
    codes = medoid_labels(ref, queries.astype(np.uint8), distance=distance)
    assert codes.dtype == np.int64
    assert FER7.decode(codes).tolist() == ["angry", "happy", "angry"]
    with pytest.raises(ValueError, match="distance"):
        medoid_labels(ref, queries, distance="cosine")


def test_medoid_relabelling_runs_on_faces(default_ds):
    contempt = default_ds.where(label="neutral").images[:5]
    codes = medoid_labels(default_ds, contempt)
    assert len(codes) == 5 and all(0 <= c < len(FER7) for c in codes)
    assert CKPLUS7.index("contempt") == 1
