"""Issue 16, data files: BOM headers, empty datasets and splits, per-sample meta on subsets."""

import codecs
import gzip

import cv2
import numpy as np
import pytest

import ferengine
from ferengine.balance import resample
from ferengine.dataset import FaceDataset
from ferengine.errors import DatasetError
from ferengine.labels import FER7, mapping

RNG = np.random.default_rng(0)
HEADER = "emotion,pixels,Usage"


def row(label, usage):
    return f"{label},{' '.join(map(str, RNG.integers(0, 256, 16)))},{usage}"


def write_csv(path, lines, bom=False):
    data = ("\n".join(lines) + "\n").encode()
    if bom:
        data = codecs.BOM_UTF8 + data
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def fer(path, **kw):
    return ferengine.load_dataset("fer2013", path=path, image_size=4, **kw)


# --- item 8: a UTF-8 byte-order mark before the header -------------------------------------


@pytest.mark.parametrize("name", ["f.csv", "f.csv.gz"])
def test_fer2013_header_after_a_bom_is_read(tmp_path, name):
    path = write_csv(tmp_path / name, [HEADER, row(3, "Training"), row(5, "PublicTest")], bom=True)
    ds = fer(path)
    assert ds.labels.tolist() == [3, 5]
    assert ds.splits.tolist() == ["Training", "PublicTest"]


def test_ferplus_votes_after_a_bom_are_read(tmp_path):
    csv_path = write_csv(tmp_path / "f.csv", [HEADER, row(0, "Training")])
    votes = tmp_path / "fer2013new.csv"
    votes.write_bytes(
        codecs.BOM_UTF8
        + b"Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,"
        b"unknown,NF\nTraining,a.png,0,8,1,0,0,0,0,1,0,0\n"
    )
    assert fer(csv_path, ferplus=votes).label_names.tolist() == ["happiness"]


def affectnet_manifest(tmp_path, rows, bom=False):
    image = np.zeros((40, 40), np.uint8)
    (tmp_path / "1").mkdir(exist_ok=True)
    cv2.imwrite(str(tmp_path / "1" / "a.jpg"), image)
    header = "subDirectory_filePath,face_x,face_y,face_width,face_height,expression"
    text = "\n".join([header, *rows]) + "\n"
    manifest = tmp_path / "training.csv"
    manifest.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode())
    return manifest


def test_affectnet_manifest_after_a_bom_is_read(tmp_path):
    manifest = affectnet_manifest(tmp_path, ["1/a.jpg,5,5,20,20,1"], bom=True)
    ds = ferengine.load_dataset("affectnet", path=manifest, size=8)
    assert ds.label_names.tolist() == ["happy"] and ds.meta["files"] == ["1/a.jpg"]


# --- item 9: an empty dataset or an empty requested split is an error naming the file -------


@pytest.mark.parametrize("name", ["f.csv", "f.csv.gz"])
def test_header_only_fer2013_is_an_error_naming_the_file(tmp_path, name):
    path = write_csv(tmp_path / name, [HEADER])
    with pytest.raises(DatasetError, match="no data rows, only a header") as info:
        fer(path)
    assert str(path) in str(info.value)


def test_an_empty_requested_usage_is_an_error_naming_file_and_usage(tmp_path):
    path = write_csv(tmp_path / "f.csv", [HEADER, row(0, "Training"), row(1, "PublicTest")])
    for usage in ("PrivateTest", ["Training", "PrivateTest"]):
        with pytest.raises(DatasetError, match="no rows of Usage 'PrivateTest'") as info:
            fer(path, usage=usage)
        assert str(path) in str(info.value)
        assert "['Training', 'PublicTest']" in str(info.value)
    assert len(fer(path, usage="PublicTest")) == 1  # a present usage still loads


def test_every_row_skipped_is_an_error_that_counts_them(tmp_path):
    path = write_csv(tmp_path / "f.csv", [HEADER, "0,1 2,Training", "9,1 2,Training"])
    with pytest.raises(DatasetError, match=r"no usable rows \(2 skipped; first: line 2: "):
        fer(path, strict=False)


def test_ferplus_dropping_every_row_is_an_error(tmp_path):
    csv_path = write_csv(tmp_path / "f.csv", [HEADER, row(0, "Training")])
    votes = tmp_path / "fer2013new.csv"
    votes.write_text(
        "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,"
        "unknown,NF\nTraining,a.png,0,0,0,0,0,0,0,0,0,10\n"
    )
    with pytest.raises(DatasetError, match="FER\\+ votes drop every row") as info:
        fer(csv_path, ferplus=votes)
    assert str(votes) in str(info.value)


def test_collector_loaders_refuse_an_empty_result_naming_the_file(tmp_path):
    manifest = affectnet_manifest(tmp_path, [])
    with pytest.raises(DatasetError, match="no usable rows") as info:
        ferengine.load_dataset("affectnet", path=manifest)
    assert str(manifest) in str(info.value)
    folder = tmp_path / "faces" / "happy"
    folder.mkdir(parents=True)
    (folder / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"no readable images under .*faces \(1 skipped"):
        ferengine.load_dataset("image-folder", path=tmp_path / "faces", strict=False)


# --- item 10: per-sample meta follows every subset -----------------------------------------


@pytest.fixture
def folder_ds(tmp_path):
    """An image folder (fer7 names) whose every image is distinct, with meta["files"]."""
    root = tmp_path / "faces"
    for k, name in enumerate(["angry", "disgust", "happy", "sad", "neutral"]):
        for i in range(3):
            (root / name).mkdir(parents=True, exist_ok=True)
            image = np.full((6, 6), 10 * k + i, np.uint8)
            cv2.imwrite(str(root / name / f"{i}.png"), image)
    ds = ferengine.load_dataset("image-folder", path=root)
    return root, ds


def assert_files_match_images(root, ds):
    assert len(ds.meta["files"]) == len(ds)
    for image, file in zip(ds.images, ds.meta["files"], strict=True):
        assert np.array_equal(cv2.imread(str(root / file), cv2.IMREAD_GRAYSCALE), image), file


def test_files_follow_a_label_mapping_that_drops_a_class(folder_ds):
    root, ds = folder_ds
    assert "files" in ds.per_sample
    # ckplus7 has no neutral: its 3 images are dropped; disgust folds into anger
    ck = ds.map_labels(mapping(FER7, "ckplus7", unmapped="drop", table={"disgust": "anger"}))
    assert len(ck) == len(ds) - 3
    assert not any(f.startswith("neutral") for f in ck.meta["files"])
    assert_files_match_images(root, ck)
    folders = [f.split("/")[0] for f in ck.meta["files"]]
    expected = {"angry": "anger", "disgust": "anger", "happy": "happy", "sad": "sadness"}
    assert [expected[f] for f in folders] == ck.label_names.tolist()


def test_files_follow_subset_where_mirrors_and_resampling(folder_ds):
    root, ds = folder_ds
    picked = ds.subset([4, 0, 4])
    assert picked.meta["files"] == [ds.meta["files"][i] for i in (4, 0, 4)]
    assert_files_match_images(root, ds.where(label="happy"))
    assert_files_match_images(root, ds.subset(ds.labels != FER7.index("happy")))
    assert_files_match_images(root, resample(ds, fraction=2.0, seed=1))
    mirrored = ds.with_mirrors()
    assert mirrored.meta["files"] == ds.meta["files"] * 2
    assert ds.meta["skipped"] is mirrored.meta["skipped"]  # dataset-level meta unchanged


def test_fer2013_csv_lines_follow_subsets_and_ferplus(tmp_path):
    path = write_csv(
        tmp_path / "f.csv",
        [HEADER, row(0, "Training"), row(1, "PublicTest"), row(2, "Training")],
    )
    ds = fer(path)
    training = ds.where(split="Training")
    assert training.meta["csv_line"].tolist() == [2, 4]
    votes = tmp_path / "fer2013new.csv"
    votes.write_text(
        "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,"
        "unknown,NF\nTraining,a.png,0,0,0,0,0,0,0,0,0,10\n"
        "PublicTest,b.png,0,9,0,0,0,0,0,0,0,0\nTraining,c.png,0,0,0,8,0,0,0,0,0,0\n"
    )
    plus = fer(path, ferplus=votes)
    assert plus.meta["csv_line"].tolist() == [3, 4]
    assert plus.meta["fer2013_labels"].tolist() == [1, 2]
    assert plus.where(split="Training").meta["fer2013_labels"].tolist() == [2]


def test_a_per_sample_entry_of_the_wrong_length_is_refused():
    images = np.zeros((3, 4, 4), np.uint8)
    with pytest.raises(DatasetError, match=r"per-sample meta\['files'\] has 2 entries"):
        FaceDataset(images, [0, 1, 2], FER7, meta={"files": ["a", "b"]}, per_sample={"files"})
    ds = FaceDataset(images, [0, 1, 2], FER7, meta={"files": ("a", "b", "c"), "n": [1, 2, 3]},
                     per_sample={"files", "absent"})  # fmt: skip
    assert ds.per_sample == {"files"}
    assert ds.subset([2]).meta == {"files": ("c",), "n": [1, 2, 3]}  # undeclared: unchanged
