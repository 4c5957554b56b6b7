"""Benchmark the image heat maps: the time to draw one, ours beside scikit-image's boundaries.

A heat map (``explainops.reports.images.heatmap_png``: the image, and the image under its
segments' SHAP values with the segments' boundaries drawn) is drawn for every image and label of
an image explanation, and again for the report. Its segment boundaries are the subpixel grid of
scikit-image's ``find_boundaries(segments, mode="subpixel")``, which loops in Python over every
position of that grid; ours (``subpixel_boundaries``) compares shifted arrays. For RGB images of
64, 224 and 448 pixels a side (smooth random colours with noise), the SLIC segments image
explanations make of them (``slic_segments``, 50 asked), random values, this prints:

- the boundaries alone, scikit-image's and ours, and whether they are the same;
- the whole heat map as PNG bytes with each, and whether the two PNGs are the same bytes.

Each time is the best of 3 after a warm-up. Run: ``.venv/bin/python bench/heatmaps.py`` (about
a minute: scikit-image's boundaries of the largest image take seconds each).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from unittest import mock

import numpy as np
from PIL import Image
from skimage.segmentation import find_boundaries

from explainops.core.images import slic_segments
from explainops.reports import images

SIZES = (64, 224, 448)
SEGMENTS = 50
REPEATS = 3


def best_time(fn: Callable[[], object]) -> tuple[float, object]:
    """Best wall time of REPEATS calls after a warm-up, and the last result."""
    result = fn()
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def smooth_image(size: int, rng: np.random.Generator) -> np.ndarray:
    """A size x size RGB image: 6 x 6 random colours blended bilinearly, plus pixel noise."""
    small = Image.fromarray((rng.random((6, 6, 3)) * 255).astype(np.uint8))
    image = np.asarray(small.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float64)
    return np.clip(image + rng.normal(0.0, 8.0, image.shape), 0, 255).astype(np.uint8)


def scikit_image_boundaries(segments: np.ndarray) -> np.ndarray:
    return np.asarray(find_boundaries(segments, mode="subpixel"))  # type: ignore[no-untyped-call]


def measure(size: int, rng: np.random.Generator) -> str:
    """One line of the table: the boundaries and the heat map of one image, both ways."""
    image = smooth_image(size, rng)
    segments = slic_segments(image, SEGMENTS)
    values = rng.normal(size=int(segments.max()) + 1)
    theirs_s, theirs = best_time(lambda: scikit_image_boundaries(segments))
    ours_s, ours = best_time(lambda: images.subpixel_boundaries(segments))
    same = bool(np.array_equal(theirs, ours))  # type: ignore[arg-type]
    png_ours_s, png_ours = best_time(
        lambda: images.heatmap_png(image, segments, values, "SHAP values")
    )
    with mock.patch.object(images, "subpixel_boundaries", scikit_image_boundaries):
        png_theirs_s, png_theirs = best_time(
            lambda: images.heatmap_png(image, segments, values, "SHAP values")
        )
    same_png = png_ours == png_theirs
    return (
        f"{size:>4} x {size:<3} {int(segments.max()) + 1:>8} {theirs_s:>16.4f} "
        f"{ours_s:>13.6f} {same!s:>5} {png_theirs_s:>13.3f} {png_ours_s:>10.3f} "
        f"{same_png!s:>5} {png_theirs_s / png_ours_s:>7.1f}x"
    )


def main() -> None:
    rng = np.random.default_rng(0)
    print(
        f"{'pixels':>9} {'segments':>8} {'bounds skimage_s':>16} {'bounds ours_s':>13} "
        f"{'same':>5} {'png skimage_s':>13} {'png ours_s':>10} {'same':>5} {'speed-up':>8}"
    )
    for size in SIZES:
        print(measure(size, rng))


if __name__ == "__main__":
    main()
