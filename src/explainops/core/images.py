"""Images as features: SLIC superpixels that can be masked by a baseline image.

Clarify's ``image_config`` with ``feature_extraction_method: segmentation``: an image is split
into about ``num_segments`` superpixels by SLIC (scikit-image's :func:`skimage.segmentation.slic`
with ``n_segments`` and ``compactness`` as given, labels from 0); each segment is a feature. A
masked segment takes the baseline image's pixels there: the mask image of ``baseline`` (resized
to the image), or white noise when none is given, as Clarify does. Images are ``uint8`` arrays of
shape (height, width, 3).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from explainops.errors import InputError

ImageArray = npt.NDArray[np.uint8]
SegmentMap = npt.NDArray[np.int64]

DEFAULT_NUM_SEGMENTS = 20
DEFAULT_COMPACTNESS = 5.0
# The one column of the frame an image model takes: each image's encoded bytes.
IMAGE_COLUMN = "image"


def decode_image(data: bytes, source: str) -> ImageArray:
    """An RGB ``uint8`` array from JPEG or PNG bytes (or a ``.npy`` array's bytes).

    Raises:
        InputError: not an image, naming ``source``.

    """
    if data[:6] == b"\x93NUMPY":
        array = np.load(io.BytesIO(data), allow_pickle=False)
        return as_rgb(array, source)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as error:
        raise InputError(f"{source}: not a JPEG, PNG or .npy image ({error})") from error


def as_rgb(array: npt.NDArray[np.generic], source: str) -> ImageArray:
    """``array`` as an (h, w, 3) uint8 image: grey images repeated, alpha dropped."""
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise InputError(
            f"{source}: expected an image of shape (height, width[, 3]), got {array.shape}"
        )
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    array = array[:, :, :3]
    if np.issubdtype(array.dtype, np.floating) and float(np.nanmax(array, initial=0)) <= 1.0:
        array = np.asarray(array, dtype=np.float64) * 255.0
    return np.asarray(np.clip(np.rint(array), 0, 255), dtype=np.uint8)


def encode_image(image: ImageArray, image_format: str) -> bytes:
    """``image`` as ``png`` or ``jpeg`` bytes, or as ``npy`` (numpy's format)."""
    buffer = io.BytesIO()
    if image_format == "npy":
        np.save(buffer, image, allow_pickle=False)
        return buffer.getvalue()
    from PIL import Image

    Image.fromarray(image).save(buffer, format="JPEG" if image_format == "jpeg" else "PNG")
    return buffer.getvalue()


def image_frame(images: Iterable[ImageArray], image_format: str) -> pd.DataFrame:
    """The frame an image model takes: one column ``image`` of each image's encoded bytes."""
    return pd.DataFrame({IMAGE_COLUMN: [encode_image(image, image_format) for image in images]})


def slic_segments(
    image: ImageArray,
    num_segments: int = DEFAULT_NUM_SEGMENTS,
    compactness: float = DEFAULT_COMPACTNESS,
) -> SegmentMap:
    """SLIC superpixels of ``image``: an (h, w) map of labels 0..n-1, each label used."""
    from skimage.segmentation import slic

    labels = slic(image, n_segments=num_segments, compactness=compactness, start_label=0)
    # SLIC may leave a label unused; renumber so that 0..n-1 are all present
    _, dense = np.unique(labels, return_inverse=True)
    return np.asarray(dense.reshape(labels.shape), dtype=np.int64)


def baseline_image(mask: ImageArray | None, shape: tuple[int, ...], seed: int | None) -> ImageArray:
    """The image masked segments take: ``mask`` resized to ``shape``, else seeded white noise."""
    if mask is None:
        rng = np.random.default_rng(seed)
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    if mask.shape == shape:
        return mask
    from PIL import Image

    resized = Image.fromarray(mask).resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


@dataclass(frozen=True)
class SegmentedImage:
    """An image, its segment map and the baseline image masked segments take."""

    image: ImageArray
    segments: SegmentMap
    baseline: ImageArray

    @property
    def n_units(self) -> int:
        """Number of segments."""
        return int(self.segments.max()) + 1 if self.segments.size else 0

    def masked(self, keep: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
        """(c, h, w, 3): for each coalition, kept segments from the image, others the baseline."""
        kept_pixels = keep[:, self.segments]  # (c, h, w)
        return np.where(kept_pixels[..., None], self.image[None], self.baseline[None])
