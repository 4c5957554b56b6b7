"""Heat maps of image explanations: the segment boundaries drawn on them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage.segmentation import find_boundaries, slic

from explainops.reports.images import subpixel_boundaries


def segment_maps() -> list[np.ndarray]:
    """SLIC segments of noisy images, random labels, and the thin and one-segment edge cases."""
    rng = np.random.default_rng(0)
    maps = []
    for height, width, segments in ((64, 64, 20), (48, 80, 12), (33, 17, 8)):
        # smooth colours (SLIC makes one segment of pure noise), plus some noise
        small = Image.fromarray((rng.random((5, 5, 3)) * 255).astype(np.uint8))
        image = np.asarray(small.resize((width, height), Image.Resampling.BILINEAR)) / 255.0
        image = np.clip(image + rng.normal(0.0, 0.03, image.shape), 0.0, 1.0)
        maps.append(slic(image, n_segments=segments, start_label=0))
    maps.append(rng.integers(0, 3, size=(20, 30)))  # a boundary nearly everywhere
    maps.append(np.repeat(np.repeat(rng.integers(0, 4, size=(5, 6)), 7, 0), 5, 1))  # blocks
    maps.append(rng.integers(0, 2, size=(1, 15)))  # one row
    maps.append(rng.integers(0, 2, size=(15, 1)))  # one column
    maps.append(np.zeros((1, 1), dtype=np.int64))  # one pixel
    maps.append(np.full((9, 11), 5))  # one segment: no boundary
    return maps


@pytest.mark.parametrize("segments", segment_maps(), ids=lambda s: "x".join(map(str, s.shape)))
def test_subpixel_boundaries_are_scikit_images(segments: np.ndarray) -> None:
    # given a segment map; when its boundaries are found as the heat maps find them
    ours = subpixel_boundaries(segments)
    # then they are scikit-image's subpixel boundaries, position for position
    assert len(np.unique(segments)) > 1 or not ours.any(), "one segment: no boundary"
    theirs = find_boundaries(segments, mode="subpixel")
    assert ours.shape == theirs.shape == (2 * segments.shape[0] - 1, 2 * segments.shape[1] - 1)
    assert ours.dtype == np.bool_
    np.testing.assert_array_equal(ours, theirs)
