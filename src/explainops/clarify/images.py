"""``methods.shap.image_config``: SHAP values of each image's SLIC segments, Clarify's CV analysis.

Every image of the data set (``application/x-image``: a folder, an image, a manifest) is split
into SLIC superpixels (``num_segments``, ``segment_compactness``); each segment is a feature, and
a masked segment takes the baseline image's pixels (``methods.shap.baseline``: the path or URI
of a mask image, resized to each image; without one, white noise drawn from the seed, as Clarify
does). The model sees each masked image encoded as the predictor's ``content_type``
(``image/jpeg`` by default, ``image/png`` or ``application/x-npy``): in process, a DataFrame with
one column ``image`` of those bytes; behind an endpoint, the bytes as the request body.

Outputs, per image (named by its file's stem):

- ``explanations_shap/<image>.npz``: ``segments`` (h, w) segment ids, ``values`` (labels,
  segments), ``base_values`` and ``predictions`` (labels,), ``labels`` and ``source``;
- ``explanations_shap/segments.parquet``: every image's values in one long table (``image``,
  ``label``, ``segment``, ``pixels``, ``value``);
- the heat maps (written by the job: ``explanations_shap/heatmaps/<image>_<label>.png``).

``analysis.json`` holds, per label, ``expected_value`` (the mean over images of the output with
every segment masked) and explainops' run details.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from explainops.clarify.analysis_config import AnalysisConfig, ImageConfig
from explainops.clarify.layout import SEGMENTS_FILE
from explainops.core.images import (
    SegmentedImage,
    baseline_image,
    decode_image,
    encode_image,
    slic_segments,
)
from explainops.core.model import LoadedModel
from explainops.errors import ConfigError
from explainops.explainers.units import UnitExplanation, UnitsExplainer
from explainops.io.datasets import ParquetWriter, atomic_file
from explainops.io.images import ImageSource, read_bytes
from explainops.version import __version__

logger = logging.getLogger(__name__)

IMAGE_COLUMN = "image"
HEATMAPS_FOLDER = "explanations_shap/heatmaps"
DEFAULT_IMAGE_CONTENT_TYPE = "image/jpeg"
_FORMATS = {"image/jpeg": "jpeg", "image/png": "png", "application/x-npy": "npy"}
# Masked images held at once per image: about this many bytes of pixels.
_MASKED_BYTES = 64 * 1024 * 1024


def image_format(content_type: str | None) -> str:
    """The encoding (``jpeg``, ``png``, ``npy``) of a predictor ``content_type`` for images."""
    chosen = content_type or DEFAULT_IMAGE_CONTENT_TYPE
    if chosen not in _FORMATS:
        raise ConfigError(
            f"predictor.content_type: {chosen!r} for images; expected one of {', '.join(_FORMATS)}"
        )
    return _FORMATS[chosen]


@dataclass(frozen=True)
class ImageExplanation:
    """One image's segments and their SHAP values."""

    source: ImageSource
    image: np.ndarray
    segments: np.ndarray
    explanation: UnitExplanation
    labels: tuple[str, ...]

    def table(self) -> pd.DataFrame:
        """Its lines of the long table of segment values."""
        n_labels, n_segments = self.explanation.values.shape
        pixels = np.bincount(self.segments.ravel(), minlength=n_segments)
        return pd.DataFrame(
            {
                "image": self.source.name,
                "label": np.repeat(list(self.labels), n_segments),
                "segment": np.tile(np.arange(n_segments), n_labels),
                "pixels": np.tile(pixels, n_labels),
                "value": self.explanation.values.ravel(),
            }
        )

    def npz_bytes(self) -> bytes:
        """The compact file of this image: segment map, values, end points, labels, source."""
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            segments=self.segments.astype(np.int32),
            values=self.explanation.values,
            base_values=self.explanation.base_value,
            predictions=self.explanation.prediction,
            labels=np.array(self.labels),
            source=np.array(self.source.uri),
        )
        return buffer.getvalue()


@dataclass
class ImageAttributions:
    """What the data set's image explanations add up to."""

    labels: tuple[str, ...] = ()
    n_images: int = 0
    evaluations: int = 0
    exact_images: int = 0
    max_additivity_error: float = 0.0
    base_total: np.ndarray | None = None
    names: list[str] = field(default_factory=list)

    def add(self, explained: ImageExplanation) -> None:
        """One image."""
        explanation = explained.explanation
        self.labels = explained.labels
        self.n_images += 1
        self.evaluations += explanation.evaluations
        self.exact_images += explanation.exact
        self.max_additivity_error = max(self.max_additivity_error, explanation.additivity_error)
        base = explanation.base_value
        self.base_total = base.copy() if self.base_total is None else self.base_total + base
        self.names.append(explained.source.name)


def _evaluator(model: LoadedModel, encoding: str) -> Callable[[Sequence[Any]], np.ndarray]:
    def evaluate(batches: Sequence[Any]) -> np.ndarray:
        encoded = [encode_image(image, encoding) for batch in batches for image in batch]
        return np.asarray(model.predict(pd.DataFrame({IMAGE_COLUMN: encoded})))

    return evaluate


def _mask_image(config: AnalysisConfig) -> np.ndarray | None:
    baseline = config.shap.baseline
    if baseline is None:
        return None
    if not isinstance(baseline, str):
        raise ConfigError(
            "methods.shap.baseline: with image_config give the path or URI of a mask image "
            "(or none, for white noise)"
        )
    return decode_image(read_bytes(baseline), f"{baseline} (methods.shap.baseline)")


def explain_images(
    config: AnalysisConfig,
    sources: Sequence[ImageSource],
    model: LoadedModel,
    output_dir: str,
    *,
    on_image: Callable[[ImageExplanation], None] | None = None,
) -> ImageAttributions:
    """Explain every image, writing its ``.npz`` and the long table as it goes."""
    shap = config.shap
    image_config: ImageConfig | None = shap.image_config
    assert image_config is not None
    encoding = image_format(config.predictor_or_default.content_type)
    seed = shap.seed if shap.seed is not None else 0
    mask = _mask_image(config)
    evaluate = _evaluator(model, encoding)
    attributions = ImageAttributions()
    folder = output_dir.rstrip("/")
    with _segments_sink(f"{folder}/{SEGMENTS_FILE}") as sink:
        for source in sources:
            image = source.read()
            segments = slic_segments(
                image, image_config.num_segments, image_config.segment_compactness
            )
            segmented = SegmentedImage(image, segments, baseline_image(mask, image.shape, seed))
            explainer = UnitsExplainer(
                num_samples=shap.num_samples,
                seed=seed,
                use_logit=shap.use_logit,
                batch_size=max(1, min(2048, _MASKED_BYTES // max(1, image.nbytes))),
            )
            [explanation] = explainer.explain(evaluate, [segmented])
            labels = _labels(model, explanation, config)
            explained = ImageExplanation(source, image, segments, explanation, labels)
            with atomic_file(f"{folder}/explanations_shap/{source.name}.npz", "wb") as handle:
                handle.write(explained.npz_bytes())
            sink.write(explained.table())
            attributions.add(explained)
            logger.info(
                "image %s: %d segments, %d model evaluations%s",
                source.name,
                segmented.n_units,
                explanation.evaluations,
                " (exact)" if explanation.exact else "",
            )
            if on_image is not None:
                on_image(explained)
    return attributions


@contextlib.contextmanager
def _segments_sink(path: str) -> Iterator[Any]:
    with ParquetWriter(path=path).open() as sink:
        yield sink


def _labels(
    model: LoadedModel, explanation: UnitExplanation, config: AnalysisConfig
) -> tuple[str, ...]:
    headers = config.predictor_or_default.label_headers
    n_labels = explanation.values.shape[0]
    if headers is not None and len(headers) == n_labels:
        return tuple(headers)
    if headers is not None:
        raise ConfigError(
            f"predictor.label_headers names {len(headers)} labels but the model returns "
            f"{n_labels} scores"
        )
    return tuple(f"label{k}" for k in range(n_labels))


def image_analysis_document(
    config: AnalysisConfig, model: str, attributions: ImageAttributions
) -> dict[str, Any]:
    """Clarify's analysis.json of an image explanation, with explainops' run details."""
    shap = config.shap
    assert shap.image_config is not None
    expected = (
        attributions.base_total / attributions.n_images
        if attributions.base_total is not None
        else np.zeros(0)
    )
    return {
        "version": config.version or "1.0",
        "explanations": {
            "kernel_shap": {
                label: {"expected_value": float(value)}
                for label, value in zip(attributions.labels, expected, strict=True)
            }
        },
        "explainops": {
            "version": __version__,
            "model": model,
            "explainer": "KernelExplainer (per-image segments)",
            "model_type": shap.image_config.model_type,
            "num_segments": shap.image_config.num_segments,
            "segment_compactness": shap.image_config.segment_compactness,
            "num_samples": shap.num_samples,
            "use_logit": shap.use_logit,
            "seed": shap.seed if shap.seed is not None else 0,
            "n_samples": attributions.n_images,
            "images": attributions.names,
            "model_evaluations": attributions.evaluations,
            "images_exact": attributions.exact_images,
            "max_additivity_error": attributions.max_additivity_error,
        },
    }
