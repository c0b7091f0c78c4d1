"""Face detectors and landmark alignment: synthetic faces, real crops upsampled, no-face images."""

import warnings

import cv2
import numpy as np
import pytest

import ferengine
from ferengine import registry
from ferengine.faces import eye_line_matrix, plausible
from ferengine.imageops import as_grey, as_uint8

from .conftest import shared_data_dir

pytest.importorskip("dlib", reason="detectors and alignment need the landmarks extra")
from ferengine_faces.align import (
    TEMPLATE,
    AlignFallbackWarning,
    spatial_matrix,
    template_anchors,
    template_matrix,
)

DLIB68 = registry.create("landmarker", "dlib-68")


@pytest.fixture(scope="module")
def faces192():
    """Synthetic faces drawn at 48×48, upsampled to 192×192 (detectors miss 48-px faces)."""
    ds = ferengine.load_dataset("synthetic", n_subjects=3, per_expression=1, size=48)
    return np.stack([cv2.resize(im, (192, 192), interpolation=cv2.INTER_CUBIC) for im in ds.images])


def detector(name, **params):
    return registry.create("detector", name, **params)


def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


@pytest.mark.slow
def test_haar_finds_synthetic_faces_and_nothing_in_blank_or_noise(faces192):
    haar = detector("haar")
    assert np.mean([len(haar.detect(im)) == 1 for im in faces192]) >= 0.7
    rng = np.random.default_rng(0)
    for empty in (np.full((240, 320), 128, np.uint8), rng.integers(0, 256, (240, 320), np.uint8)):
        assert haar.detect(empty) == []
        assert detector("dlib-hog").detect(empty) == []


def test_large_images_are_shrunk_for_detection_and_boxes_map_back(faces192):
    face = next(im for im in faces192 if len(detector("haar").detect(im)) == 1)
    big = np.full((2400, 3200), int(np.median(face[:8])), np.uint8)
    big[900:1284, 1700:2084] = cv2.resize(face, (384, 384), interpolation=cv2.INTER_CUBIC)
    (found,) = detector("haar", max_side=800).detect(big)
    assert iou(found.box, (1700, 900, 384, 384)) > 0.5


def test_grey_rgb_rgba_16_bit_and_float_images_give_the_same_faces(faces192):
    haar = detector("haar")
    grey = faces192[0]
    rgb = np.repeat(grey[..., None], 3, axis=2)
    variants = [rgb, np.dstack([rgb, np.full_like(grey, 255)]), grey.astype(np.uint16) * 257,
                grey.astype(np.float32) / 255]  # fmt: skip
    expected = [f.box for f in haar.detect(grey)]
    for image in variants:
        np.testing.assert_array_equal(as_grey(image), grey)
        assert [f.box for f in haar.detect(image)] == expected
    assert as_uint8(rgb).shape == rgb.shape


def test_largest_mode_keeps_the_biggest_of_several_faces(faces192):
    face = next(im for im in faces192 if len(detector("haar").detect(im)) == 1)
    scene = np.full((400, 700), int(np.median(face[:8])), np.uint8)
    scene[20:212, 20:212] = face
    scene[40:340, 330:630] = cv2.resize(face, (300, 300), interpolation=cv2.INTER_CUBIC)
    boxes = [f.box for f in detector("haar").detect(scene)]
    assert len(boxes) == 2 and boxes[0][2] > boxes[1][2]  # largest first
    (largest,) = detector("haar", mode="largest").detect(scene)
    assert largest.box == boxes[0]


def test_none_detector_returns_the_whole_image():
    (face,) = detector("none").detect(np.zeros((30, 40, 3), np.uint8))
    assert face.box == (0, 0, 40, 30)


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [("haar", {"cascade": "nope"}, "cascade"), ("haar", {"scale_factor": 1.0}, "scale_factor"),
     ("none", {"mode": "some"}, "mode")],
)  # fmt: skip
def test_bad_detector_parameters_are_named(name, params, match):
    with pytest.raises(ValueError, match=match):
        detector(name, **params).detect(np.zeros((50, 50), np.uint8))


def shape_with_eyes(left, right):
    """A 68-point shape whose eye points surround the given centres."""
    points = np.zeros((68, 2))
    ring = np.array([[-3, 0], [-1, -1], [1, -1], [3, 0], [1, 1], [-1, 1]], dtype=float)
    points[36:42] = np.asarray(left, dtype=float) + ring
    points[42:48] = np.asarray(right, dtype=float) + ring
    return points


def apply(m, p):
    return p @ m[:, :2].T + m[:, 2]


def test_eye_line_rotation_levels_the_eyes_about_their_midpoint():
    eyes = DLIB68.eye_centres(shape_with_eyes((30, 50), (70, 62)))
    left, right = (apply(eye_line_matrix(*eyes), p) for p in eyes)
    assert left[1] == pytest.approx(right[1])
    np.testing.assert_allclose((left + right) / 2, [50, 56])
    assert right[0] - left[0] == pytest.approx(np.hypot(40, 12))


def test_spatial_normalisation_box_fills_the_output():
    points = shape_with_eyes((40, 50), (60, 50))  # d = 20, midpoint (50, 50)
    m = spatial_matrix(*DLIB68.eye_centres(points), (90, 68))
    corners = np.array(
        [[50 - 34, 50 - 26], [50 + 34, 50 + 64]]
    )  # 1.7 d sides, 1.3 d up, 3.2 d down
    np.testing.assert_allclose(apply(m, corners), [[0, 0], [68, 90]], atol=1e-9)


def test_template_similarity_recovers_a_scaled_rotated_template():
    points = np.zeros((68, 2))
    angle, scale, shift = np.radians(20), 3.0, np.array([100.0, 40.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    canonical = TEMPLATE * 48
    placed = canonical @ rot.T + shift
    points[36:42], points[42:48] = placed[0], placed[1]
    points[[30, 48, 54]] = placed[2:]
    np.testing.assert_allclose(
        apply(template_matrix(template_anchors(DLIB68, points), (48, 48)), placed),
        canonical,
        atol=1e-3,
    )


def test_implausible_shapes_are_rejected():
    def ok(left, right):
        points = shape_with_eyes(left, right)
        return plausible(*DLIB68.eye_centres(points), points, 100, 100)

    assert ok((30, 50), (70, 55))
    assert not ok((70, 50), (30, 50))  # crossed
    assert not ok((30, 20), (50, 80))  # tilted over 45°
    assert not ok((49, 50), (51, 50))  # eyes 2 px apart


def aligned(align, images, fit=False):
    """Return the aligned images and the indices reported as fallbacks."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = align.fit_transform(images) if fit else align.transform(images)
    reported = [w.message for w in caught if isinstance(w.message, AlignFallbackWarning)]
    return out, [i for m in reported for i in m.indices]


@pytest.mark.slow
def test_align_crops_faces_and_falls_back_on_images_without_one(faces192):
    align = registry.create("preprocessor", "align", size=32, box="haar")
    out, failed = aligned(align, faces192, fit=True)
    assert out.shape == (len(faces192), 32, 32) and len(failed) <= len(faces192) // 4
    noise = np.random.default_rng(1).integers(0, 256, (2, 192, 192), np.uint8)
    blank = np.full((1, 192, 192), 90, np.uint8)
    with pytest.warns(AlignFallbackWarning, match="no plausible landmarks"):
        align.transform(blank)
    out, failed = aligned(align, np.concatenate([faces192[:1], blank, noise]))
    assert out.shape == (4, 32, 32) and 1 in failed
    with pytest.raises(ValueError, match="image 0 has no plausible landmarks"):
        registry.create("preprocessor", "align", fallback="error").fit_transform(blank)


def test_rotate_keeps_the_size_and_levels_a_tilted_face(faces192):
    centre = (96.0, 96.0)
    tilted = cv2.warpAffine(faces192[0], cv2.getRotationMatrix2D(centre, 15, 1.0), (192, 192),
                            borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    rotate = registry.create("preprocessor", "align", method="rotate", box="image")
    levelled = rotate.fit_transform(tilted[None])
    assert levelled.shape == (1, 192, 192)

    def tilt(image):
        (points,) = DLIB68.locate(image, [(0, 0, *image.shape[::-1])])
        left, right = DLIB68.eye_centres(points)
        return np.degrees(np.arctan2(*(right - left)[::-1]))

    assert abs(tilt(tilted)) > 8 and abs(tilt(levelled[0])) < 4


DATA = shared_data_dir()


@pytest.mark.slow
@pytest.mark.skipif(DATA is None, reason="real data absent: set FERENGINE_DATA")
def test_real_ck_faces_upsampled_are_found_and_aligned():
    files = sorted((DATA / "ckplus48").glob("*/*.png"))[::40]
    images = np.stack([cv2.resize(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE), (192, 192),
                                  interpolation=cv2.INTER_CUBIC) for f in files])  # fmt: skip
    for name in ("haar", "dlib-hog"):
        found = [detector(name).detect(im) for im in images]
        assert np.mean([len(f) >= 1 for f in found]) >= 0.9, name
    assert len(detector("dlib-mmod").detect(images[0])) == 1
    out, failed = aligned(registry.create("preprocessor", "align"), images, fit=True)
    assert out.shape == (len(images), 48, 48) and len(failed) <= 0.1 * len(images)
