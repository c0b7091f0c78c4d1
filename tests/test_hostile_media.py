"""Hostile and damaged images and videos (issue 16, items 5-7): no crash, no lost row.

Decompression bombs are refused from their header (``predict`` rows, loader skips);
every input named or found gets a row (empty folders, broken and looping links, pipes,
unreadable and non-image files); truncated or corrupt videos say how many frames were
read, skipped or missing.
"""

import contextlib
import csv
import errno
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import zlib

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import ferengine
from ferengine.cli import main
from ferengine.errors import DatasetError
from ferengine.loading import read_image as load_image
from ferengine.prediction.inputs import InputError, expand
from ferengine.prediction.inputs import read_image as predict_image
from ferengine.prediction.run import read_jsonl

LIMIT_REASON = "image too large: 900000000 pixels, above max_pixels=50000000"


def bomb_png(width: int, height: int, rows_per_block: int = 1000) -> bytes:
    """A valid single-colour (black, grey) PNG of ``width`` × ``height``, made in ~0.5 s.

    Hand-written on purpose: no library writes a 900-megapixel image without holding
    it. Each block of rows is deflated once and ended with a full flush, which resets
    the compressor, so the same compressed bytes repeat for every block.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    block = (b"\x00" * (width + 1)) * rows_per_block  # filter byte + black pixels, per row
    deflate = zlib.compressobj(9)
    first = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    again = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    assert first.endswith(again) and height % rows_per_block == 0
    adler = 1
    for _ in range(height // rows_per_block):
        adler = zlib.adler32(block, adler)
    stream = first + again * (height // rows_per_block - 1) + b"\x03\x00" + struct.pack(">I", adler)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return b"".join([b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", header), chunk(b"IDAT", stream),
                     chunk(b"IEND", b"")])  # fmt: skip


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(bomb_png(30000, 30000))
    assert path.stat().st_size < 1_000_000  # ~875 KB on disk, 900 MB decoded
    return path


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A 640×480 photo with one synthetic face the Haar cascade finds."""
    ds = ferengine.load_dataset("synthetic", n_subjects=4, per_expression=1, size=48)
    haar = ferengine.registry.create("detector", "haar")
    faces = [cv2.resize(im, (160, 160), interpolation=cv2.INTER_CUBIC) for im in ds.images]
    face = next(f for f in faces if len(haar.detect(f)) == 1)
    scene = np.full((480, 640), 100, np.uint8)
    scene[120:280, 200:360] = face
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    cv2.imwrite(str(path), scene)
    return path


# -- 5. decompression bombs -------------------------------------------------------------

MEMORY_SCRIPT = textwrap.dedent(
    """
    import functools, json, sys
    import ferengine
    from ferengine.prediction import run

    def peak_kb():  # VmHWM, this process's own peak: ru_maxrss may keep the forking parent's
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))

    # dlib's landmarks take seconds to load and play no part in reading the inputs
    run.FacePredictor = functools.partial(run.FacePredictor, landmarks=False)
    folder, classes, model, out = sys.argv[1:]
    rows = ferengine.predict([folder], model=model, out=out, annotate_images=False)
    after_predict = peak_kb()
    ds = ferengine.load_dataset("image-folder", path=classes, strict=False)
    after_load = peak_kb()
    print(json.dumps({"rows": rows, "skipped": ds.meta["skipped"], "n": len(ds),
                      "peak_kb": [after_predict, after_load]}))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads VmHWM from /proc")
def test_a_decompression_bomb_gets_a_row_and_a_skip_without_being_decoded(
    bomb, photo, model_file, tmp_path
):
    """The issue's folder: one good photo and a 30000×30000 PNG of 875 KB.

    Before: ``predict`` died with ``PIL.Image.DecompressionBombError`` (no row, no
    summary) and ``image-folder`` decoded it in full (1.9 GB peak).
    """
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "photo.png").write_bytes(photo.read_bytes())
    (folder / "bomb.png").symlink_to(bomb)
    classes = tmp_path / "classes"
    for name, src in (("happy", photo), ("angry", bomb)):
        (classes / name).mkdir(parents=True)
        (classes / name / src.name).symlink_to(src)
    (classes / "happy" / "copy.png").write_bytes(
        cv2.imencode(".png", np.zeros((480, 640), np.uint8))[1]
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(folder), str(classes), str(model_file), str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.splitlines()[-1])
    rows = {r["input"].rsplit("/", 1)[-1]: r for r in result["rows"]}
    assert rows["bomb.png"]["error"].startswith(LIMIT_REASON) and rows["bomb.png"]["faces"] == []
    assert rows["photo.png"]["error"] is None and len(rows["photo.png"]["faces"]) == 1
    assert len(read_jsonl(out / "predictions.jsonl")) == 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"] == 2 and summary["errors"] == 1 and summary["faces"] == 1
    (skip,) = result["skipped"]
    assert skip["where"] == "angry/bomb.png" and skip["reason"].startswith(LIMIT_REASON)
    assert result["n"] == 2
    # the decoded image alone would take 900 MB; everything else here takes ~200 MB
    assert max(result["peak_kb"]) < 700_000, result["peak_kb"]


def test_the_bomb_fails_in_one_line_from_every_reader(bomb, tmp_path):
    with pytest.raises(InputError, match="^" + LIMIT_REASON):
        predict_image(bomb)
    with pytest.raises(DatasetError, match=f"bomb.png: {LIMIT_REASON}"):
        load_image(bomb)
    with pytest.raises(DatasetError, match=LIMIT_REASON):
        load_image(bomb, data=bomb.read_bytes())
    # no limit of ferengine's own: Pillow's (2 × PIL.Image.MAX_IMAGE_PIXELS) still holds
    with pytest.raises(InputError, match=r"900000000 pixels, above Pillow's own limit of \d+"):
        predict_image(bomb, max_pixels=None)
    with pytest.raises(DatasetError, match="Pillow's own limit"):
        load_image(bomb, max_pixels=None)
    (tmp_path / "angry").mkdir()
    (tmp_path / "angry" / "bomb.png").symlink_to(bomb)
    with pytest.raises(DatasetError, match=f"angry/bomb.png: {LIMIT_REASON}.*strict=False"):
        ferengine.load_dataset("image-folder", path=tmp_path)


def test_max_pixels_is_a_parameter_of_predict_and_of_every_image_loader(model_file, tmp_path):
    big = np.full((60, 80), 120, np.uint8)  # 4800 pixels
    cv2.imwrite(str(tmp_path / "big.png"), big)
    refused = "image too large: 4800 pixels (80×60), above max_pixels=4000"
    kwargs = {"model": str(model_file), "detector": "none"}
    (row,) = ferengine.predict(tmp_path / "big.png", max_pixels=4000, **kwargs)
    assert row["error"].startswith(refused)
    (row,) = ferengine.predict(tmp_path / "big.png", max_pixels=4800, **kwargs)
    assert row["error"] is None and len(row["faces"]) == 1
    with pytest.raises(ValueError, match="max_pixels must be a positive int or None, got 0"):
        ferengine.predict(tmp_path / "big.png", max_pixels=0, **kwargs)
    out = tmp_path / "out"
    args = ["predict", str(tmp_path / "big.png"), "--model", str(model_file), "--detector",
            "none", "--out", str(out), "--no-annotate", "--max-pixels", "4000"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert read_jsonl(out / "predictions.jsonl")[0]["error"].startswith(refused)
    result = CliRunner().invoke(main, [*args[:-1], "0"])
    assert result.exit_code == 2 and "--max-pixels" in result.output


def _small(path, shape=(12, 12), value=50):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full(shape, value, np.uint8))


def _image_folder(root):
    _small(root / "happy" / "a.png")
    _small(root / "happy" / "big.png", (40, 40))
    return {"path": root, "size": 12}, "happy/big.png"


def _jaffe(root):
    _small(root / "KA.HA1.1.tiff")
    _small(root / "KA.SA1.2.tiff", (40, 40))
    return {"path": root, "size": 12}, "KA.SA1.2.tiff"


def _ckplus(root):
    for i, shape in enumerate([(12, 12), (12, 12), (40, 40)]):
        _small(root / "cohn-kanade-images" / "S005" / "001" / f"S005_001_{i:08d}.png", shape, i)
    emotion = root / "Emotion" / "S005" / "001" / "S005_001_00000002_emotion.txt"
    emotion.parent.mkdir(parents=True)
    emotion.write_text("   5.0000000e+00\n")
    return {
        "path": root,
        "last_n": 2,
        "size": 12,
    }, "cohn-kanade-images/S005/001/S005_001_00000002.png"


def _affectnet(root):
    _small(root / "1" / "a.png", (20, 20))
    _small(root / "1" / "big.png", (40, 40), 60)
    with (root / "training.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["subDirectory_filePath", "face_x", "face_y", "face_width",
                         "face_height", "expression"])  # fmt: skip
        writer.writerow(["1/a.png", 0, 0, 20, 20, 1])
        writer.writerow(["1/big.png", 0, 0, 40, 40, 2])
    return {"path": root / "training.csv", "size": 12}, "line 3"


@pytest.mark.parametrize("make", [_image_folder, _jaffe, _ckplus, _affectnet],
                         ids=["image-folder", "jaffe", "ckplus", "affectnet"])  # fmt: skip
def test_image_loaders_skip_images_above_max_pixels_with_the_reason(make, tmp_path):
    name = make.__name__[1:].replace("_", "-")
    params, where = make(tmp_path)
    ds = ferengine.load_dataset(name, **params, strict=False, max_pixels=1000)
    assert len(ds) == 1
    (skip,) = ds.meta["skipped"]
    assert skip["where"] == where and "1600 pixels (40×40), above max_pixels=1000" in skip["reason"]
    assert len(ferengine.load_dataset(name, **params, max_pixels=1600)) == 2
    with pytest.raises(ValueError, match="max_pixels must be a positive int or None"):
        ferengine.load_dataset(name, **params, max_pixels=-1)


# -- 6. every input named or found gets a row -------------------------------------------


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail instead of hanging (a pipe opened for reading blocks until a writer comes)."""

    def fail(*_):
        raise TimeoutError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX links and pipes")
def test_every_input_named_or_found_gets_a_row(photo, model_file, tmp_path, monkeypatch):
    folder = tmp_path / "in"
    (folder / "sub" / "empty").mkdir(parents=True)
    (folder / "good.png").write_bytes(photo.read_bytes())
    (folder / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (folder / "loop.jpg").symlink_to("loop.jpg")
    (folder / "dangling.mp4").symlink_to(tmp_path / "nowhere.mp4")
    (folder / "sub" / "notes.png").write_text("not an image, despite its name")
    (folder / "locked.png").write_bytes(photo.read_bytes())
    (folder / "locked.png").chmod(0)
    os.mkfifo(folder / "pipe.jpg")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "face.png").write_bytes(photo.read_bytes())
    (folder / "linked").symlink_to(elsewhere)
    (folder / ".hidden.png").write_bytes(b"left out, as before")
    (tmp_path / "x.jpg").mkdir()  # an empty folder named like an image
    if os.geteuid() == 0:  # root reads anything: refuse the locked file the way the OS would
        real_open = os.open

        def refusing_open(path, flags, *args, **kwargs):
            if os.fspath(path).endswith("locked.png"):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refusing_open)
    out = tmp_path / "out"
    inputs = [str(folder), str(tmp_path / "x.jpg"), str(tmp_path / "missing.png")]
    with deadline(120):
        rows = ferengine.predict(inputs, model=str(model_file), out=out, annotate_images=False)
    reasons = {os.path.relpath(r["input"], tmp_path): r["error"] for r in rows}
    assert reasons == {
        "in/dangling.jpg": "broken symbolic link: its target does not exist",
        "in/dangling.mp4": "broken symbolic link: its target does not exist",
        "in/good.png": None,
        "in/linked": "symbolic link to a folder: not followed inside a folder "
        "(name it as an input)",
        "in/locked.png": "cannot read file: Permission denied",
        "in/loop.jpg": "symbolic link loop: the link leads back to itself",
        "in/pipe.jpg": "not a regular file: a named pipe",
        "in/sub/notes.png": "not an image file (no decoder recognises it)",
        "x.jpg": "folder holds no files",
        "missing.png": "no such file",
    }
    assert len(rows) == len(read_jsonl(out / "predictions.jsonl")) == 10
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"] == 10 and summary["errors"] == 9 and summary["faces"] == 1
    # a link named as an input is followed; only links met inside a folder are not
    assert [p.name for p in expand([folder / "linked"])] == ["face.png"]


def test_a_folder_holding_only_hidden_files_says_so(tmp_path):
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / ".DS_Store").write_bytes(b"")
    (path,) = expand([tmp_path / "shots"])
    with pytest.raises(InputError, match="only hidden files"):
        predict_image(path)


# -- 7. truncated and corrupt videos ----------------------------------------------------


def _avi(path, frames=40):
    """An MJPG AVI written by OpenCV: frame t is a flat grey of 6·t with its number on it."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for t in range(frames):
        frame = np.full((120, 160, 3), 6 * t, np.uint8)
        cv2.putText(frame, str(t), (20, 60), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    data = _avi(folder / "full.avi").read_bytes()
    (folder / "cut.avi").write_bytes(data[: int(len(data) * 0.6)])
    starts = [i for i in range(len(data) - 2) if data[i : i + 3] == b"\xff\xd8\xff"]  # JPEG SOI
    assert len(starts) == 40
    damaged = bytearray(data)
    damaged[starts[20] : starts[21] - 16] = bytes(starts[21] - 16 - starts[20])  # frame 20 zeroed
    (folder / "corrupt.avi").write_bytes(bytes(damaged))
    return folder


def _predict_video(path, model_file, out, **kw):
    return ferengine.predict(path, model=str(model_file), detector="none", out=out,
                             annotate_images=False, **kw)  # fmt: skip


def test_a_complete_video_gets_no_video_row_and_its_counts_in_the_summary(
    videos, model_file, tmp_path
):
    rows = _predict_video(videos / "full.avi", model_file, tmp_path, stride=4)
    assert [r["frame"] for r in rows] == list(range(0, 40, 4))
    assert all(r["error"] is None and "video" not in r for r in rows)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["errors"] == 0
    counts = {"frames_expected": 40, "frames_read": 40, "frames_skipped": 0, "frames_missing": 0}
    assert summary["videos"] == [{"input": str(videos / "full.avi"), **counts}]


def test_a_truncated_video_says_it_ended_early(videos, model_file, tmp_path):
    """An AVI cut at 60 % of its bytes: before, its rows all had ``error: null``."""
    rows = _predict_video(videos / "cut.avi", model_file, tmp_path)
    *frames, last = rows
    read = len(frames)
    assert 18 <= read <= 26 and [r["frame"] for r in frames] == list(range(read))
    assert last["frame"] is None and last["faces"] == []
    assert last["video"] == {"frames_expected": 40, "frames_read": read, "frames_skipped": 0,
                             "frames_missing": 40 - read}  # fmt: skip
    assert last["error"] == f"video ended early: read {read} of 40 frames"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["errors"] == 1 and summary["videos"][0]["frames_missing"] == 40 - read
    assert read_jsonl(tmp_path / "predictions.jsonl")[-1] == last


def test_a_corrupt_frame_is_skipped_counted_and_the_rest_is_read(videos, model_file, tmp_path):
    """Frame 20 zeroed: before, reading stopped there and frames 21-39 were lost silently."""
    rows = _predict_video(videos / "corrupt.avi", model_file, tmp_path, stride=5)
    *frames, last = rows
    assert [r["frame"] for r in frames] == [0, 5, 10, 15, 25, 30, 35]  # 20 did not decode
    assert last["video"] == {"frames_expected": 40, "frames_read": 39, "frames_skipped": 1,
                             "frames_missing": 0}  # fmt: skip
    assert last["error"] == "corrupt video: 1 of 40 frames could not be decoded and was skipped"


def test_video_frames_above_max_pixels_are_not_decoded(videos, model_file, tmp_path):
    (row,) = _predict_video(videos / "full.avi", model_file, tmp_path, max_pixels=10_000)
    assert row["error"].startswith("video frames too large: 19200 pixels (160×120), above")
    assert json.loads((tmp_path / "summary.json").read_text())["videos"] == []
