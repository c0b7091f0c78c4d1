"""BlazeFace and the multi-stage ``auto`` detector on images built around real faces.

The faces are real: tight face crops from the shared data (``wild/img`` photos, each one
face filling the frame, CK+48 and FER2013 crops). The scenes are generated around them —
placed on a plain backdrop, turned, mirrored, scaled down to 24 px or up to 1500 px,
several to a canvas, given to the detector as RGBA, 16-bit, float or grey — so where each
face is, is known. Tests that need the data skip when it is absent; the rest (blank images,
parameters, timings of a blank image) always run.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import pickle
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from sklearn.base import clone

from ferengine import registry
from ferengine.imageops import from_opencv

from .conftest import shared_data_dir

DATA = shared_data_dir()
#: Wild photos (file stems) placed alone in scenes, and together in the group scene.
SCENE_FACES = ("Aaron_Peirsol_0001", "Aaron_Peirsol_0002", "Abdulaziz_Kamilov_0001",
               "Abel_Aguilar_0001", "Ahmed_Lopez_0001", "Ahmed_Chalabi_0001")  # fmt: skip
GROUP_FACES = ("Aicha_El_Ouafi_0003", "Aitor_Gonzalez_0001", "Akbar_Al_Baker_0001",
               "Al_Davis_0002", "Al_Sharpton_0006")  # fmt: skip
#: ``auto``'s stages in the order they run (the fallback under its detector's name).
STAGES = ("blazeface", "blazeface-padded", "blazeface-rotated", "dlib-mmod", "whole-image")
MMOD = "dlib-mmod" in registry.get_registry().names("detector", available_only=True)
needs_mmod = pytest.mark.skipif(not MMOD, reason="dlib-mmod needs the landmarks extra")


def detector(name: str, **params):
    return registry.create("detector", name, **params)


def ran(*stages: str) -> set[str]:
    """The stages expected in ``timings``: dlib-mmod only where it is installed."""
    return {s for s in stages if s != "dlib-mmod" or MMOD}


@pytest.fixture(scope="module")
def wild() -> Callable[[str], np.ndarray]:
    """Read a ``wild/img`` photo by stem, as RGB."""
    folder = DATA / "wild" / "img" if DATA else None
    if folder is None or not folder.is_dir():
        pytest.skip("real data absent: set FERENGINE_DATA to the folder holding wild/img")

    def read(stem: str) -> np.ndarray:
        image = cv2.imread(str(folder / f"{stem}.jpg"))
        assert image is not None, f"{folder / stem}.jpg is missing or unreadable"
        return from_opencv(image, color=True)

    return read


@pytest.fixture(scope="module")
def grey_crops() -> list[np.ndarray]:
    """48×48 grey face crops: every 150th CK+48 file and six FER2013 rows."""
    if DATA is None or not (DATA / "ckplus48").is_dir() or not (DATA / "fer2013").is_dir():
        pytest.skip("real data absent: set FERENGINE_DATA (needs ckplus48/ and fer2013/)")
    files = sorted((DATA / "ckplus48").glob("*/*.png"))[::150]
    crops = [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files]
    with gzip.open(DATA / "fer2013" / "fer2013.csv.gz", "rt") as handle:
        rows = itertools.islice(csv.DictReader(handle), 0, 120, 20)
        crops += [np.array(r["pixels"].split(), np.uint8).reshape(48, 48) for r in rows]
    return crops


def backdrop(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A plain wall: a horizontal colour gradient with mild noise.

    Not random blobs: BlazeFace scores some smooth colour blobs as faces (0.5–0.7).
    """
    rng = np.random.default_rng(seed)
    left, right = rng.integers(30, 220, 3), rng.integers(30, 220, 3)
    share = np.linspace(0, 1, width)[None, :, None]
    wall = left * (1 - share) + right * share + rng.normal(0, 12, (height, width, 3))
    return np.clip(wall, 0, 255).astype(np.uint8)


def place(canvas: np.ndarray, face: np.ndarray, x: int, y: int, side: int) -> np.ndarray:
    """Paste ``face`` resized to ``side``×``side`` at (x, y) of ``canvas`` (in place)."""
    shrink = side < face.shape[0]
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    canvas[y : y + side, x : x + side] = cv2.resize(face, (side, side), interpolation=interpolation)
    return canvas


def turn(image: np.ndarray, angle: float, centre: tuple[float, float]) -> np.ndarray:
    """``image`` turned counter-clockwise by ``angle`` degrees about ``centre``, same size."""
    matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
    size = image.shape[1], image.shape[0]
    return cv2.warpAffine(image, matrix, size, borderMode=cv2.BORDER_REFLECT)


def tight(face: np.ndarray, zoom: float, side: int, angle: float = 0.0) -> np.ndarray:
    """A tighter crop: the middle ``zoom`` share of ``face`` (turned first), ``side`` px."""
    h, w = face.shape[:2]
    if angle:
        face = turn(face, angle, (w / 2, h / 2))
    m = int(h * (1 - zoom) / 2)
    return cv2.resize(face[m : h - m, m : w - m], (side, side), interpolation=cv2.INTER_AREA)


def scene(face: np.ndarray, side: int, x: int, y: int, shape=(360, 480), seed=0) -> np.ndarray:
    return place(backdrop(*shape, seed=seed), face, x, y, side)


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def centre(box) -> np.ndarray:
    x, y, w, h = box
    return np.array([x + w / 2, y + h / 2])


def eye_angle(face) -> float:
    """Angle (degrees, counter-clockwise) of the line from the image's left eye to its right."""
    dx, dy = face.keypoints[1] - face.keypoints[0]
    return float(np.degrees(np.arctan2(-dy, dx)))


def described(faces) -> list:
    return [(f.box, f.found_by, None if f.score is None else round(f.score, 2)) for f in faces]


# -- upright, turned, mirrored --------------------------------------------------------------


def test_upright_faces_are_found_where_they_were_placed_with_keypoints_inside(wild):
    for i, stem in enumerate(SCENE_FACES):
        x, y, side = 40 + 40 * i, 60 + 10 * i, 160
        image = scene(wild(stem), side, x, y, seed=i)
        for name in ("blazeface", "auto"):
            faces = detector(name).detect(image)
            assert len(faces) == 1, (stem, name, described(faces))
            (face,) = faces
            assert face.found_by == "blazeface"
            assert iou(face.box, (x, y, side, side)) >= 0.5, (stem, name, face.box)
            assert face.keypoints.shape == (6, 2)
            fx, fy, fw, fh = face.box
            eyes = face.keypoints[:2]
            assert np.all((eyes >= (fx, fy)) & (eyes <= (fx + fw, fy + fh))), (stem, eyes)
            assert eyes[0, 0] < eyes[1, 0]  # the image's left eye first


@pytest.mark.parametrize("angle", [-30, 30])
def test_faces_turned_30_degrees_are_found_and_their_eye_line_shows_the_turn(wild, angle):
    side, x, y = 160, 160, 100
    middle = (x + side / 2, y + side / 2)
    matrix = cv2.getRotationMatrix2D(middle, angle, 1.0)
    errors = []
    for i, stem in enumerate(SCENE_FACES):
        upright = scene(wild(stem), side, x, y, seed=i)
        (level,) = detector("auto").detect(upright)
        faces = detector("auto").detect(turn(upright, angle, middle))
        assert len(faces) == 1, (stem, described(faces))
        (face,) = faces
        # the box centre turns with the face; the box keeps about its size
        expected = matrix[:, :2] @ centre(level.box) + matrix[:, 2]
        assert np.linalg.norm(centre(face.box) - expected) <= 0.1 * side, (stem, face.box)
        assert 0.7 <= face.box[2] / level.box[2] <= 1.3, (stem, face.box, level.box)
        errors.append(eye_angle(face) - eye_angle(level) - angle)
    assert np.max(np.abs(errors)) <= 8 and np.mean(np.abs(errors)) <= 4, np.round(errors, 1)


def test_a_mirrored_scene_mirrors_the_box_and_swaps_the_eyes(wild):
    width = 480
    for i, stem in enumerate(SCENE_FACES):
        image = scene(wild(stem), 150, 60 + 10 * i, 105, seed=i)
        (face,) = detector("auto").detect(image)
        (mirrored,) = detector("auto").detect(np.ascontiguousarray(image[:, ::-1]))
        x, y, w, h = face.box
        assert iou(mirrored.box, (width - x - w, y, w, h)) >= 0.7, (stem, face.box, mirrored.box)
        # the mirror's left eye is the original's right eye, mirrored
        eyes = face.keypoints[[1, 0]] * (-1, 1) + (width, 0)
        assert np.abs(mirrored.keypoints[:2] - eyes).max() <= 0.12 * w, stem


# -- small and large faces ------------------------------------------------------------------


def test_24_px_face_crops_are_found(wild, grey_crops):
    crops = [wild(stem) for stem in SCENE_FACES] + grey_crops
    for k, crop in enumerate(crops):
        small = cv2.resize(crop, (24, 24), interpolation=cv2.INTER_AREA)
        faces = detector("auto").detect(small)
        assert faces, f"crop {k}: no face in the 24×24 crop"
        assert iou(faces[0].box, (0, 0, 24, 24)) >= 0.4, (k, described(faces))


def test_a_24_px_face_in_a_larger_image_is_found_where_it_was_placed(wild):
    for i, stem in enumerate(SCENE_FACES):
        x, y = 26 + 3 * i, 29 - 2 * i
        image = scene(wild(stem), 24, x, y, shape=(72, 96), seed=i)
        faces = detector("auto").detect(image)
        assert len(faces) == 1, (stem, described(faces))
        assert iou(faces[0].box, (x, y, 24, 24)) >= 0.4, (stem, faces[0].box)
        assert np.linalg.norm(centre(faces[0].box) - (x + 12, y + 12)) <= 6, (stem, faces[0].box)


@pytest.mark.parametrize("shape", [(1600, 1800), (2100, 2700)], ids=["as-is", "shrunk"])
def test_1500_px_faces_are_found_and_boxed_in_the_original_pixels(wild, shape):
    x, y, side = 150, 40, 1500
    for i, stem in enumerate(SCENE_FACES[:3]):
        image = scene(wild(stem), side, x, y, shape=shape, seed=i)
        for name in ("blazeface", "auto"):
            faces = detector(name).detect(image)
            assert len(faces) == 1, (stem, name, described(faces))
            assert iou(faces[0].box, (x, y, side, side)) >= 0.5, (stem, name, faces[0].box)


def test_a_1500_px_face_with_pixel_noise_is_found(wild):
    rng = np.random.default_rng(0)
    x, y, side = 50, 50, 1500
    for i, stem in enumerate(SCENE_FACES[:4]):
        clean = scene(wild(stem), side, x, y, shape=(1600, 1600), seed=i)
        noisy = np.clip(clean + rng.normal(0, 30, clean.shape), 0, 255).astype(np.uint8)
        faces = detector("blazeface").detect(noisy)
        assert any(iou(f.box, (x, y, side, side)) >= 0.5 for f in faces), (stem, described(faces))


# -- several faces, largest -----------------------------------------------------------------

GROUP = ((40, 40, 220), (320, 60, 180), (560, 80, 200), (100, 330, 240), (420, 330, 250))


def group_scene(wild) -> np.ndarray:
    canvas = backdrop(600, 800, seed=3)
    for (x, y, side), stem in zip(GROUP, GROUP_FACES, strict=True):
        place(canvas, wild(stem), x, y, side)
    return canvas


def test_several_faces_are_counted_and_each_box_covers_its_face(wild):
    image = group_scene(wild)
    for name in ("blazeface", "auto"):
        faces = detector(name).detect(image)
        assert len(faces) == len(GROUP), (name, described(faces))
        overlaps = np.array([[iou(f.box, (x, y, s, s)) for f in faces] for x, y, s in GROUP])
        matched = overlaps.argmax(axis=1)
        assert len(set(matched)) == len(GROUP), (name, overlaps.round(2))  # one box per face
        assert overlaps.max(axis=1).min() >= 0.5, (name, overlaps.round(2))
        areas = [f.area for f in faces]
        assert areas == sorted(areas, reverse=True)  # largest first


def test_largest_mode_returns_only_the_largest_face(wild):
    image = group_scene(wild)
    for name in ("blazeface", "auto"):
        every = detector(name).detect(image)
        (largest,) = detector(name, mode="largest").detect(image)
        assert largest.box == every[0].box
        assert iou(largest.box, (420, 330, 250, 250)) >= 0.5  # the 250-px face


# -- input kinds ----------------------------------------------------------------------------


def test_rgba_16_bit_and_float_inputs_give_the_faces_of_the_8_bit_rgb_image(wild):
    image = group_scene(wild)
    h, w = image.shape[:2]
    alpha = np.broadcast_to(np.linspace(0, 255, w, dtype=np.uint8), (h, w))
    variants = {
        "rgba": np.dstack([image, alpha]),
        "rgb-16": image.astype(np.uint16) * 257,
        "rgba-16": np.dstack([image, alpha]).astype(np.uint16) * 257,
        "float-0-1": image.astype(np.float32) / 255,
    }
    for name in ("blazeface", "auto"):
        expected = detector(name).detect(image)
        assert len(expected) == len(GROUP)
        for kind, variant in variants.items():
            faces = detector(name).detect(variant)
            assert [f.box for f in faces] == [f.box for f in expected], (name, kind)
            for got, want in zip(faces, expected, strict=True):
                assert got.score == pytest.approx(want.score, abs=1e-5), (name, kind)
                np.testing.assert_allclose(got.keypoints, want.keypoints, atol=1e-3)


def test_grey_inputs_8_and_16_bit_are_found(wild):
    grey = cv2.cvtColor(group_scene(wild), cv2.COLOR_RGB2GRAY)
    for image in (grey, grey.astype(np.uint16) * 257, np.dstack([grey, grey])):  # grey + alpha
        faces = detector("auto").detect(image)
        assert len(faces) == len(GROUP), described(faces)
        for x, y, s in GROUP:
            assert max(iou(f.box, (x, y, s, s)) for f in faces) >= 0.5


# -- later stages ---------------------------------------------------------------------------


def padded_case(wild):
    """A tighter crop (the middle 60 %) of a face photo: BlazeFace needs a margin."""
    return tight(wild("Aaron_Peirsol_0001"), 0.6, 160), None


def rotated_case(wild):
    """A tight crop of a face lying on its side (a photo whose orientation was lost).

    Returns the crop and the same crop upright.
    """
    face = wild("Alejandro_Toledo_0026")
    return tight(face, 0.7, 160, angle=90), tight(face, 0.7, 160)


def sunglasses_case(wild):
    """A face wearing a dark band over its eyes (sunglasses), 144 px in a 480×360 photo."""
    face = wild("Abel_Aguilar_0001").copy()
    h, w = face.shape[:2]
    face[int(0.33 * h) : int(0.5 * h), int(0.1 * w) : int(0.9 * w)] = 20
    return scene(face, 144, 168, 108, seed=3), None


def whole_case(wild):
    """A 48-px crop of a face's middle 30 % (eyes, nose, mouth) — the crop *is* the face."""
    return tight(wild("Abdulaziz_Kamilov_0001"), 0.3, 48), None


CASES = [
    pytest.param("blazeface-padded", padded_case, id="padded"),
    pytest.param("blazeface-rotated", rotated_case, id="rotated"),
    pytest.param("dlib-mmod", sunglasses_case, id="fallback", marks=needs_mmod),
    pytest.param("whole-image", whole_case, id="whole-image"),
]


@pytest.mark.parametrize(("stage", "case"), CASES)
def test_a_face_blazeface_misses_is_found_by_a_later_stage(wild, stage, case):
    image, upright = case(wild)
    h, w = image.shape[:2]
    missed = detector("blazeface").detect(image)
    assert missed == [], f"the construction no longer exercises {stage}: {described(missed)}"
    timings = {}
    faces = detector("auto").detect(image, timings)
    assert [f.found_by for f in faces] == [stage], described(faces)
    (face,) = faces
    assert set(timings) == ran(*STAGES[: STAGES.index(stage) + 1])
    if stage == "dlib-mmod":  # dlib's box is tight: inside the photo, on its middle
        x, y, side = 168, 108, 144
        fx, fy, fw, fh = face.box
        assert x <= fx and y <= fy and fx + fw <= x + side and fy + fh <= y + side, face.box
        assert np.linalg.norm(centre(face.box) - (x + side / 2, y + side / 2)) <= 0.15 * side
        assert fw >= side / 2, face.box
    elif stage == "whole-image":
        assert face.box == (0, 0, w, h) and face.keypoints is None
    else:  # a face crop: the face fills most of it
        assert iou(face.box, (0, 0, w, h)) >= 0.5, face.box
    if upright is not None:  # keypoints found on the turned copy are mapped back
        (level,) = detector("auto").detect(upright)
        assert eye_angle(face) - eye_angle(level) == pytest.approx(90, abs=5)


# -- no face --------------------------------------------------------------------------------


def blanks() -> dict[str, np.ndarray]:
    images = {}
    for side in (24, 48, 160, 320):
        for value in (0, 128, 255):
            images[f"flat-{value}-{side}"] = np.full((side, side), value, np.uint8)
        images[f"wall-{side}"] = backdrop(side, side, seed=side)
    images["flat-rgb-480x640"] = np.full((480, 640, 3), (90, 140, 200), np.uint8)
    images["wall-480x640"] = backdrop(480, 640)
    images["gradient-16-bit"] = np.tile(np.linspace(0, 65535, 200, dtype=np.uint16), (150, 1))
    return images


def test_blank_flat_and_plain_images_give_no_face():
    # The stages that matter here are BlazeFace's and the whole-image guess; the fallback
    # is left out (dlib-mmod finds nothing in these, and takes ~1 s per image).
    found = {
        name: described(faces)
        for name, image in blanks().items()
        if (faces := detector("auto", fallback=None).detect(image))
    }
    assert found == {}


@needs_mmod
def test_blank_images_give_no_face_with_the_fallback_too():
    for image in (np.full((48, 48), 128, np.uint8), backdrop(240, 320)):
        assert detector("auto").detect(image) == []


def test_noise_images_give_no_face():
    rng = np.random.default_rng(1)
    found = {}
    for side, k in itertools.product((48, 96, 160, 320), range(5)):
        noise = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        if faces := detector("auto", fallback=None).detect(noise):
            found[f"noise-{side}-{k}"] = described(faces)
    assert found == {}


# -- timings --------------------------------------------------------------------------------


def test_timings_get_one_entry_per_stage_that_ran(wild):
    blank, big = np.full((64, 64), 128, np.uint8), np.zeros((400, 500), np.uint8)
    cases = [
        (detector("auto"), blank, ran(*STAGES)),
        (detector("auto", fallback=None), blank, ran(*STAGES) - {"dlib-mmod"}),
        (detector("auto", fallback=None), big, ran(*STAGES) - {"dlib-mmod", "whole-image"}),
        (detector("auto", pad=0, angles=(), fallback=None), blank, {"blazeface", "whole-image"}),
        (detector("auto", pad=0, angles=(), fallback=None, crop_side=0), blank, {"blazeface"}),
        (detector("auto"), scene(wild(SCENE_FACES[0]), 160, 160, 100), {"blazeface"}),
        (detector("blazeface"), blank, {"blazeface"}),
    ]
    for det, image, expected in cases:
        timings = {}
        det.detect(image, timings)
        assert set(timings) == expected, (det, sorted(timings))
        assert all(isinstance(s, float) and s >= 0 for s in timings.values())
        before = dict(timings)
        det.detect(image, timings)  # seconds are added, not replaced
        assert set(timings) == expected
        assert all(timings[s] > before[s] for s in expected)


# -- parameters, threads, pickling ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [("blazeface", {"min_score": 2}, "'min_score' parameter of BlazeFaceDetector"),
     ("blazeface", {"model": "huge"}, "'model' parameter"),
     ("blazeface", {"pad": -0.1}, "'pad' parameter"),
     ("blazeface", {"nms_threshold": 1.5}, "'nms_threshold' parameter"),
     ("blazeface", {"full_range_side": 0}, "'full_range_side' parameter"),
     ("blazeface", {"mode": "some"}, "'mode' parameter"),
     ("blazeface", {"max_side": 0}, "'max_side' parameter"),
     ("auto", {"min_score": 2}, "'min_score' parameter of AutoDetector"),
     ("auto", {"pad": -1}, "'pad' parameter"),
     ("auto", {"angles": "30"}, "'angles' parameter"),
     ("auto", {"fallback": 3}, "'fallback' parameter"),
     ("auto", {"fallback_side": 8}, "'fallback_side' parameter"),
     ("auto", {"crop_side": -1}, "'crop_side' parameter"),
     ("auto", {"crop_min_score": 1.5}, "'crop_min_score' parameter"),
     ("auto", {"fallback": "nope"}, "fallback: .*'nope'.*did you mean")],
)  # fmt: skip
def test_invalid_parameters_are_refused_naming_them(name, params, match):
    with pytest.raises(ValueError, match=match):
        detector(name, **params).detect(np.zeros((64, 64), np.uint8))


def test_non_numeric_angles_are_refused_naming_the_parameter():
    with pytest.raises(ValueError, match="angles"):
        detector("auto", angles=(30, "x")).detect(np.zeros((64, 64), np.uint8))


def test_an_unknown_fallback_is_refused_before_any_stage_runs(wild):
    image = scene(wild(SCENE_FACES[0]), 160, 160, 100)
    with pytest.raises(ValueError, match="fallback"):
        detector("auto", fallback="dlib-mmdo").detect(image)


def thread_images(wild) -> list[np.ndarray]:
    images = [scene(wild(stem), 120 + 20 * i, 30 * i, 20 * i, seed=i)
              for i, stem in enumerate(SCENE_FACES[:3])]  # fmt: skip
    return [*images, group_scene(wild), padded_case(wild)[0], rotated_case(wild)[0]]


def summary(faces) -> list:
    """Everything a face holds, rounded, for comparing runs."""
    rows = []
    for f in faces:
        points = None if f.keypoints is None else f.keypoints.round(3).tolist()
        rows.append((f.box, round(f.score, 6), f.found_by, points))
    return rows


@pytest.mark.parametrize("name", ["blazeface", "auto"])
def test_two_threads_detecting_at_once_give_the_results_of_one(wild, name):
    shared = detector(name)
    images = thread_images(wild)
    alone = [summary(shared.detect(image)) for image in images]
    assert any(alone) and all(alone[3])
    work = images * 3
    with ThreadPoolExecutor(max_workers=2) as pool:
        together = list(pool.map(lambda image: summary(shared.detect(image)), work))
    assert together == alone * 3


@pytest.mark.parametrize(
    ("name", "params"),
    [("blazeface", {"model": "short", "min_score": 0.6}), ("auto", {"angles": (-45, 45)})],
)
def test_detectors_pickle_and_clone_with_their_parameters(wild, name, params):
    original = detector(name, **params)
    image = padded_case(wild)[0] if name == "auto" else group_scene(wild)
    expected = summary(original.detect(image))
    assert expected
    for copy in (pickle.loads(pickle.dumps(original)), clone(original)):
        assert type(copy) is type(original) and copy is not original
        assert copy.get_params() == original.get_params()
        assert summary(copy.detect(image)) == expected
