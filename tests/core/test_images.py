"""Images as features: decoding, SLIC segments, baseline images and masking."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.segmentation import slic

from explainops.core.images import (
    SegmentedImage,
    as_rgb,
    baseline_image,
    decode_image,
    encode_image,
    slic_segments,
)
from explainops.errors import InputError


def picture(height: int = 12, width: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("image_format", ["png", "npy"])
def test_lossless_formats_round_trip(image_format: str) -> None:
    # given an RGB image
    image = picture()
    # when it is encoded and decoded
    decoded = decode_image(encode_image(image, image_format), "memory")
    # then every pixel is back
    np.testing.assert_array_equal(decoded, image, err_msg=f"{image_format} is lossless")


def test_jpeg_round_trips_to_a_close_image() -> None:
    image = np.full((16, 16, 3), 90, np.uint8)
    decoded = decode_image(encode_image(image, "jpeg"), "memory")
    assert decoded.shape == image.shape, "JPEG keeps the shape"
    assert np.abs(decoded.astype(int) - 90).max() <= 2, "a flat image survives JPEG"


def test_grey_alpha_and_unit_float_images_become_rgb_uint8() -> None:
    grey = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert as_rgb(grey, "grey").shape == (2, 3, 3), "grey repeated in 3 channels"
    rgba = np.zeros((2, 3, 4), np.uint8)
    assert as_rgb(rgba, "rgba").shape == (2, 3, 3), "alpha dropped"
    unit = np.full((2, 2, 3), 0.5)
    assert (as_rgb(unit, "unit") == 128).all(), "floats in [0, 1] scaled to 0..255"


def test_bytes_that_are_not_an_image_name_their_source() -> None:
    with pytest.raises(InputError, match=r"s3://bucket/x\.png: not a JPEG, PNG or \.npy image"):
        decode_image(b"not an image", "s3://bucket/x.png")
    with pytest.raises(InputError, match=r"a\.npy: expected an image of shape"):
        as_rgb(np.zeros((2, 2, 2, 2)), "a.npy")


def test_slic_segments_are_scikit_images_numbered_densely() -> None:
    image = picture(40, 40, seed=3)
    ours = slic_segments(image, 12, 5.0)
    theirs = slic(image, n_segments=12, compactness=5.0, start_label=0)
    # the same partition: each of our labels is exactly one of theirs
    pairs = set(zip(ours.ravel().tolist(), theirs.ravel().tolist(), strict=True))
    assert len(pairs) == len(np.unique(theirs)) == len(np.unique(ours)), "same partition"
    assert np.unique(ours).tolist() == list(range(int(ours.max()) + 1)), "labels 0..n-1, all used"


def test_baseline_is_seeded_white_noise_or_the_resized_mask() -> None:
    noise = baseline_image(None, (5, 7, 3), seed=4)
    assert noise.shape == (5, 7, 3) and noise.dtype == np.uint8, "noise of the image's shape"
    np.testing.assert_array_equal(
        noise, baseline_image(None, (5, 7, 3), seed=4), err_msg="same seed, same noise"
    )
    assert noise.std() > 50, "white noise spans the pixel range"
    mask = np.full((3, 3, 3), 200, np.uint8)
    resized = baseline_image(mask, (8, 10, 3), seed=None)
    assert resized.shape == (8, 10, 3), "the mask is resized to the image"
    assert (resized == 200).all(), "a flat mask stays flat when resized"


def test_masked_images_take_kept_segments_from_the_image_and_the_rest_from_the_baseline() -> None:
    image = np.full((2, 3, 3), 10, np.uint8)
    baseline = np.full((2, 3, 3), 250, np.uint8)
    segments = np.array([[0, 0, 1], [2, 2, 1]])
    segmented = SegmentedImage(image, segments, baseline)
    keep = np.array([[True, False, False], [False, True, True]])
    masked = segmented.masked(keep)
    assert segmented.n_units == 3, "three segments"
    assert masked.shape == (2, 2, 3, 3), "one image per coalition"
    in_first = (segments == 0)[..., None]
    np.testing.assert_array_equal(
        masked[0], np.where(in_first, image, baseline), err_msg="only segment 0 kept"
    )
    np.testing.assert_array_equal(
        masked[1], np.where(in_first, baseline, image), err_msg="only segment 0 masked"
    )
