"""Data larger than memory: memory-mapped datasets, their build-once cache, lazy consumers."""

from __future__ import annotations

import json
import os
import pickle
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import ferengine
from ferengine import FaceDataset, balance, datacache, registry, splits
from ferengine.datacache import load_cached, open_cached
from ferengine.errors import CacheWarning, DamagedCacheError, DatasetError
from ferengine.labels import FER7
from ferengine.memmap import MemmapImages
from ferengine.plugin import DatasetPlugin

PARAMS = {"n_subjects": 5, "per_expression": 6, "size": 40, "seed": 2}  # 210 images


@pytest.fixture(scope="module")
def in_memory():
    return ferengine.load_dataset("synthetic", **PARAMS)


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def mapped(cache: Path, **params) -> FaceDataset:
    return ferengine.load_dataset(
        "synthetic", memmap=True, cache_dir=str(cache), **PARAMS, **params
    )


def images_file(ds: FaceDataset) -> Path:
    return Path(ds.meta["cache"]) / "images.npy"


# MemmapImages --------------------------------------------------------------------------
@pytest.fixture
def stored(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (23, 5, 4), dtype=np.uint8)
    np.save(tmp_path / "a.npy", array)
    return array, MemmapImages(tmp_path / "a.npy")


@pytest.mark.parametrize(
    "key",
    [
        3,
        -1,
        slice(2, 9),
        slice(None, None, -3),
        np.array([5, 0, 5, 22]),
        np.arange(23) % 3 == 0,
        (slice(1, 4), 2),
        (7, slice(None), 1),
        (..., 0),
    ],
)
def test_memmap_images_index_like_numpy(stored, key):
    array, images = stored
    np.testing.assert_array_equal(images[key], array[key])


def test_memmap_images_subsets_compose_and_read_nothing(stored, monkeypatch):
    array, images = stored
    reads = []
    monkeypatch.setattr(MemmapImages, "_read", lambda self, p: reads.append(p) or array[:0])
    sub = images.subset(np.arange(3, 20)).subset(np.array([0, 2, 2, 16]))
    assert reads == [] and sub.shape == (4, 5, 4) and len(sub) == 4
    assert sub.file_rows().tolist() == [3, 5, 5, 19]
    monkeypatch.undo()
    np.testing.assert_array_equal(np.asarray(sub), array[[3, 5, 5, 19]])


def test_memmap_images_is_read_only_unless_writable(stored, tmp_path):
    array, images = stored
    with pytest.raises(TypeError, match="read-only"):
        images[0] = 0
    assert isinstance(images.open(), np.memmap) and not images.open().flags.writeable
    writer = MemmapImages(images.path, writable=True)
    writer[np.array([1, 4])] = 7
    assert (images[1] == 7).all() and (images[4] == 7).all()
    np.testing.assert_array_equal(images[2], array[2])


def test_memmap_images_refuse_bad_rows_files_and_truncation(stored, tmp_path):
    _, images = stored
    with pytest.raises(ValueError, match=r"rows must lie in \[0, 23\)"):
        MemmapImages(images.path, rows=[0, 23])
    with pytest.raises(IndexError):
        images[23]
    (tmp_path / "junk.npy").write_bytes(b"not an array")
    with pytest.raises(ValueError, match="not a .npy array file"):
        MemmapImages(tmp_path / "junk.npy")
    data = images.path.read_bytes()
    (tmp_path / "short.npy").write_bytes(data[:-10])
    with pytest.raises(ValueError, match="needs"):
        MemmapImages(tmp_path / "short.npy")


def test_pickles_the_path_not_the_pixels(cache, in_memory):
    cloudpickle = pytest.importorskip("cloudpickle")
    ds = mapped(cache)
    full = np.load(images_file(ds), mmap_mode="r")
    # numpy's own memmap pickles as an in-memory copy of every pixel ...
    assert len(pickle.dumps(full)) > full.nbytes
    # ... a memory-mapped dataset (what Dask's cloudpickle sends a worker) as its path
    for dumps in (pickle.dumps, cloudpickle.dumps):
        payload = dumps(ds.subset(np.arange(0, 210, 2)))
        assert len(payload) < full.nbytes / 20
        back = pickle.loads(payload)
        assert back.memmapped and back.images.path == ds.images.path
        np.testing.assert_array_equal(np.asarray(back.images), in_memory.images[::2])


# the cache -----------------------------------------------------------------------------
def test_memmap_round_trip_equals_in_memory(cache, in_memory):
    ds = mapped(cache)
    assert ds.memmapped and isinstance(ds.images, MemmapImages)
    assert ds.images.path.parent.parent.parent == cache / "datasets"
    np.testing.assert_array_equal(np.asarray(ds.images), in_memory.images)
    np.testing.assert_array_equal(ds.labels, in_memory.labels)
    np.testing.assert_array_equal(ds.subjects, in_memory.subjects)
    assert ds.splits is None and ds.label_space == in_memory.label_space
    assert ds.source == in_memory.source
    assert ds.meta == {**in_memory.meta, "cache": str(images_file(ds).parent)}


def test_second_load_reuses_the_cache(cache, monkeypatch):
    first = mapped(cache)
    path = images_file(first)
    stamp = path.stat().st_mtime_ns, path.stat().st_ino
    from ferengine_datasets import synthetic

    monkeypatch.setattr(synthetic, "_draw", lambda *a: pytest.fail("rendered again"))
    second = mapped(cache)
    assert images_file(second) == path
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == stamp
    assert len(list((cache / "datasets" / "synthetic").iterdir())) == 2  # folder + its lock


def test_key_follows_parameters_not_the_cache_folder(cache, tmp_path):
    a = registry.create("dataset", "synthetic", **PARAMS, memmap=True, cache_dir=str(cache))
    b = registry.create("dataset", "synthetic", **PARAMS, memmap=True, cache_dir="elsewhere")
    c = registry.create("dataset", "synthetic", **{**PARAMS, "seed": 3}, memmap=True)
    assert datacache.dataset_key(a) == datacache.dataset_key(b) != datacache.dataset_key(c)
    source = tmp_path / "faces.csv"
    source.write_text("x")
    before = datacache.dataset_key(a, [source])
    os.utime(source, ns=(1, 1))
    assert datacache.dataset_key(a, [source]) != before


def test_cache_folder_from_parameter_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FERENGINE_CACHE", str(tmp_path / "env"))
    assert datacache.cache_root(tmp_path / "param") == tmp_path / "param"
    assert datacache.cache_root() == tmp_path / "env"
    monkeypatch.delenv("FERENGINE_CACHE")
    assert datacache.cache_root().name == "ferengine"


def _damage_truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size - 100)


def _damage_bytes(path: Path) -> None:
    with open(path, "r+b") as fh:  # the last byte: the last image, always in the digest
        fh.seek(-1, os.SEEK_END)
        last = fh.read(1)
        fh.seek(-1, os.SEEK_END)
        fh.write(bytes([last[0] ^ 0xFF]))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_damage_truncate, "needs"),
        (_damage_bytes, "digest"),
        (lambda p: (p.parent / "dataset.json").unlink(), "dataset.json"),
        (lambda p: (p.parent / "columns.npz").write_bytes(b"PK\x03\x04 half"), "columns.npz"),
    ],
    ids=["truncated", "changed-pixels", "no-record", "bad-columns"],
)
def test_damaged_cache_is_rebuilt_with_a_warning(cache, in_memory, damage, reason):
    path = images_file(mapped(cache))
    damage(path)
    with pytest.raises(DamagedCacheError, match=re.escape(str(path.parent))):
        open_cached(path.parent)
    with pytest.warns(CacheWarning, match=f"damaged dataset cache .*{reason}"):
        again = mapped(cache)
    np.testing.assert_array_equal(np.asarray(again.images), in_memory.images)
    open_cached(path.parent)  # whole again


class Rows(DatasetPlugin):
    """A loader returning its dataset in memory (the generic, non-streaming build)."""

    name = "rows"

    def __init__(self, n: int = 6, fail: bool = False) -> None:
        self.n = n
        self.fail = fail

    def load(self) -> FaceDataset:
        return load_cached(self, self._build, cache_dir=os.environ["ROWS_CACHE"])

    def _build(self, allocate) -> FaceDataset:
        if self.fail:
            raise RuntimeError("interrupted")
        n = self.n
        return FaceDataset(
            images=np.arange(n * 12, dtype=np.uint8).reshape(n, 3, 4),
            labels=np.arange(n) % 7,
            label_space=FER7,
            subjects=[f"s{i}" for i in range(n)],
            splits=["Training"] * (n - 1) + ["PublicTest"],
            source="rows",
            meta={
                "files": [f"{i}.png" for i in range(n)],
                "frame": tuple(range(n)),
                "score": np.linspace(0, 1, n),
                "note": {"a": [1, 2]},
            },
            per_sample=frozenset({"files", "frame", "score"}),
        )


def test_any_loader_caches_its_columns_and_meta(cache, monkeypatch):
    monkeypatch.setenv("ROWS_CACHE", str(cache))
    built = Rows()._build(None)
    ds = Rows().load()
    assert ds.memmapped
    np.testing.assert_array_equal(np.asarray(ds.images), built.images)
    assert ds.splits.tolist() == built.splits.tolist()
    assert ds.meta["files"] == built.meta["files"] and ds.meta["frame"] == built.meta["frame"]
    np.testing.assert_array_equal(ds.meta["score"], built.meta["score"])
    assert ds.meta["note"] == {"a": [1, 2]} and ds.per_sample == built.per_sample
    sub = ds.where(split="Training")
    assert sub.memmapped and sub.meta["frame"] == (0, 1, 2, 3, 4)


def test_an_interrupted_build_leaves_no_cache(cache, monkeypatch):
    monkeypatch.setenv("ROWS_CACHE", str(cache))
    with pytest.raises(RuntimeError, match="interrupted"):
        Rows(fail=True).load()
    assert [
        p.name for p in (cache / "datasets" / "rows").iterdir() if not p.name.endswith(".lock")
    ] == []
    stale = cache / "datasets" / "rows" / f".{datacache.dataset_key(Rows())}.killed.tmp"
    stale.mkdir()  # what a killed (SIGKILL) build leaves; the next build clears it
    assert Rows().load().memmapped and not stale.exists()


def test_a_loader_must_return_what_it_allocated(cache, monkeypatch):
    monkeypatch.setenv("ROWS_CACHE", str(cache))

    def build(allocate):
        allocate((2, 3, 4))
        return Rows(n=2)._build(None)

    with pytest.raises(DatasetError, match="returns the array it filled"):
        load_cached(Rows(), build, cache_dir=cache)


def test_affectnet_reads_images_once_then_opens_its_cache(tmp_path, cache, monkeypatch):
    import cv2
    from ferengine_datasets import affectnet

    rng = np.random.default_rng(0)
    (tmp_path / "1").mkdir()
    rows = []
    for i in range(6):
        cv2.imwrite(str(tmp_path / "1" / f"{i}.png"), rng.integers(0, 256, (30, 30), np.uint8))
        rows.append(f"1/{i}.png,2,2,20,20,{i % 8}")
    rows.append("1/0.png,2,2,20,20,9")  # Uncertain: dropped and counted
    manifest = tmp_path / "training.csv"
    header = "subDirectory_filePath,face_x,face_y,face_width,face_height,expression"
    manifest.write_text("\n".join([header, *rows]) + "\n")
    params = {"path": str(manifest), "size": 16, "cache_dir": str(cache)}
    plain = ferengine.load_dataset("affectnet", **params)
    ds = ferengine.load_dataset("affectnet", memmap=True, **params)
    assert ds.memmapped and ds.meta["dropped"]["Uncertain"] == 1
    np.testing.assert_array_equal(np.asarray(ds.images), plain.images)
    assert ds.meta["files"] == plain.meta["files"] and ds.splits.tolist() == ["training"] * 6
    monkeypatch.setattr(affectnet, "read_image", lambda *a, **k: pytest.fail("read again"))
    assert ferengine.load_dataset("affectnet", memmap=True, **params).memmapped
    manifest.write_text(manifest.read_text().replace(",9\n", ",8\n"))  # changed source
    os.utime(manifest, ns=(1, 1))
    with pytest.raises(pytest.fail.Exception, match="read again"):
        ferengine.load_dataset("affectnet", memmap=True, **params)


# consumers read slices -------------------------------------------------------------------
def test_subsets_stay_memory_mapped_and_read_nothing(cache, in_memory, monkeypatch):
    ds = mapped(cache)
    reads = []
    monkeypatch.setattr(MemmapImages, "_read", lambda self, p: reads.append(p))
    (train, test), *_ = splits.holdout(ds, 0.25, seed=0)
    derived = [
        ds.subset(train),
        ds.where(label=["happy", "sad"]),
        ds.map_labels(ferengine.mapping("fer7", "valence3")),
        balance.resample(ds.subset(test), seed=1),
    ]
    assert reads == []
    for sub in derived:
        assert sub.memmapped and sub.images.path == ds.images.path
    monkeypatch.undo()
    np.testing.assert_array_equal(np.asarray(derived[0].images), in_memory.images[train])
    assert not ds.subset(test[:4]).with_mirrors().memmapped  # mirrors are made in memory


def test_features_over_a_memmap_never_hold_every_image_as_floats(cache):
    ds = mapped(cache)
    hog = registry.create("feature", "hog", batch_size=16).fit(ds.images)
    expected = hog.transform(np.asarray(ds.images))
    tracemalloc.start()
    got = hog.transform(ds.images)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    np.testing.assert_array_equal(got, expected)
    whole_as_float32 = len(ds) * 40 * 40 * 4
    assert peak < got.nbytes + whole_as_float32 / 4, peak


@pytest.mark.slow
@pytest.mark.parametrize(
    "steps",
    [
        (("hog", {"cell": 8, "batch_size": 50}), ("svm-linear", {"C": 0.1})),
        (("resize", {"size": 32}), ("hog", {"batch_size": 33}), LogisticRegression(max_iter=300)),
        (  # a feature that learns from the images (its _fit gets them all)
            (
                "bovw",
                {"words": 16, "step": 8, "sizes": (8,), "pyramid": (1,), "max_descriptors": 2000},
            ),
            ("svm-linear", {"C": 0.1}),
        ),
    ],
    ids=["hog-svm", "resize-hog-logistic", "bovw"],
)
def test_pipeline_on_a_memmap_equals_in_memory(cache, in_memory, steps):
    ds = mapped(cache)
    (train, test), *_ = splits.holdout(ds, 0.3, seed=0)
    memory = ferengine.pipeline(*steps).fit(in_memory.subset(train))
    lazy = ferengine.pipeline(*steps)
    lazy.predict_batch = 17  # several batches, the last one short
    lazy.fit(ds.subset(train))
    np.testing.assert_array_equal(
        lazy.predict(ds.subset(test)), memory.predict(in_memory.subset(test))
    )
    assert lazy.score(ds.subset(test)) == memory.score(in_memory.subset(test))
    if hasattr(memory[-1], "predict_proba"):
        np.testing.assert_allclose(  # float32 BLAS sums differ with the batch, in ulps
            lazy.predict_proba(ds.subset(test)),
            memory.predict_proba(in_memory.subset(test)),
            rtol=1e-5,
        )


def test_bench_reads_a_memory_mapped_dataset(cache, tmp_path, in_memory):
    from ferengine.bench import RunOptions, load_suite, run_suite

    params = ", ".join(f"{k} = {v}" for k, v in PARAMS.items())
    spec = tmp_path / "suite.toml"
    spec.write_text(
        f'name = "mm"\nseed = 0\n[datasets.synthetic]\nname = "synthetic"\n'
        f'params = {{ {params}, memmap = true, cache_dir = "{cache}" }}\n'
        '[protocol]\nkind = "holdout"\ntest_size = 0.3\n[preprocess]\nnone = []\n'
        '[[features]]\nname = "hog"\nparams = { cell = 8 }\n'
        '[[classifiers]]\nname = "svm-linear"\nparams = { C = 0.1 }\n'
    )
    summary = run_suite(load_suite(spec), RunOptions(out=tmp_path / "run"))
    assert summary.failed == 0 and summary.ran == 1
    (train, test), *_ = splits.holdout(in_memory, 0.3, seed=0)
    pipe = ferengine.pipeline(("hog", {"cell": 8}), ("svm-linear", {"C": 0.1}))
    expected = pipe.fit(in_memory.subset(train)).score(in_memory.subset(test))
    record = json.loads(next((tmp_path / "run" / "runs").glob("*.json")).read_text())
    assert record["accuracy"] == expected


@pytest.mark.slow
def test_a_dask_worker_reads_the_file_it_is_sent(cache, in_memory):
    distributed = pytest.importorskip("dask.distributed")
    ds = mapped(cache).subset(np.arange(1, 210, 3))
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        path, total = client.submit(
            lambda d: (str(d.images.path), int(np.asarray(d.images).sum())), ds
        ).result()
    assert path == str(ds.images.path)
    assert total == int(in_memory.images[1::3].sum())
