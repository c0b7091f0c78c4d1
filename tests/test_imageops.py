"""The one pixel convention (ferengine.imageops) and size parsing."""

import cv2
import numpy as np
import pytest

from ferengine.imageops import as_grey, as_uint8, from_opencv, size_pair, to_grey, to_uint8


def test_batches_are_on_the_0_255_scale_and_only_out_of_range_images_are_rescaled():
    inside = np.array([[[0.4, 0.6], [200.0, 255.0]]], np.float32)  # [0, 1] values not guessed
    standardised = np.array([[[-2.0, 0.0], [1.0, 2.0]]], np.float32)
    out = to_uint8(np.concatenate([inside, standardised]))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], [[0, 1], [200, 255]])
    np.testing.assert_array_equal(out[1], [[0, 128], [191, 255]])  # min-max on its own
    batch = np.arange(12, dtype=np.uint8).reshape(3, 2, 2)
    assert to_uint8(batch) is batch


def test_grey_is_bt601_luma_rounded_for_8_bit_input():
    rgb = np.array([[[[255, 0, 0], [0, 255, 0], [0, 0, 255]]]], np.uint8)
    np.testing.assert_array_equal(to_grey(rgb), [[[76, 150, 29]]])
    assert to_grey(rgb.astype(np.float32))[0, 0, 0] == pytest.approx(76.245)
    with pytest.raises(ValueError, match="1, 3 or 4 channels"):
        to_grey(np.zeros((1, 2, 2, 2)))


@pytest.mark.parametrize(
    "image,expected",
    [
        (np.array([[0, 65535]], np.uint16), [[0, 255]]),  # 16-bit: × 255/65535
        (np.array([[0.0, 0.5, 1.0]], np.float32), [[0, 128, 255]]),  # [0, 1] floats: × 255
        (np.array([[0.0, 2.0, 255.0]], np.float64), [[0, 2, 255]]),  # 0–255 floats
        (np.array([[np.nan, 1.0]], np.float32), [[0, 255]]),  # NaN counts as 0
        (np.array([[-100, 0, 300]], np.int32), [[0, 64, 255]]),  # out of range: min-max
    ],
)
def test_images_entering_ferengine_map_other_scales_then_follow_the_batch_rule(image, expected):
    np.testing.assert_array_equal(as_uint8(image), expected)


def test_alpha_is_dropped_and_opencv_images_become_rgb_or_grey():
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[..., 0] = 255  # blue
    assert as_uint8(bgra).shape == (2, 2, 3)
    assert as_uint8(np.zeros((2, 2, 2), np.uint8)).shape == (2, 2)
    np.testing.assert_array_equal(from_opencv(bgra, color=True)[0, 0], [0, 0, 255])
    grey = from_opencv(bgra)
    assert (
        grey.shape == (2, 2) and grey[0, 0] == cv2.cvtColor(bgra[..., :3], cv2.COLOR_BGR2GRAY)[0, 0]
    )
    assert as_grey(np.dstack([bgra[..., 2], bgra[..., 1], bgra[..., 0]]))[0, 0] == grey[0, 0]
    with pytest.raises(ValueError, match="one H×W or H×W×C image"):
        as_uint8(np.zeros((2, 2, 2, 2)))


@pytest.mark.parametrize("value,expected", [(48, (48, 48)), ((32, 40), (32, 40)),
                                            (np.int64(8), (8, 8))])  # fmt: skip
def test_sizes_are_an_int_or_a_height_width_pair(value, expected):
    assert size_pair(value, "x: size") == expected


@pytest.mark.parametrize("value", [0, -3, (4,), (4, 4, 4), (4, 0), 2.5, True, "48", None])
def test_bad_sizes_name_the_parameter(value):
    with pytest.raises(ValueError, match=r"resize: size must be a positive int or a \(height"):
        size_pair(value, "resize: size")
