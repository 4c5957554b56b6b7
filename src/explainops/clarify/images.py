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
from explainops.clarify.detection import Detections, detector, explain_objects
from explainops.clarify.layout import SEGMENTS_FILE, image_explanation_path
from explainops.core.images import (
    SegmentedImage,
    baseline_image,
    decode_image,
    image_frame,
    slic_segments,
)
from explainops.core.model import LoadedModel
from explainops.errors import ConfigError, InputError
from explainops.explainers.units import UnitExplanation, UnitsExplainer
from explainops.io.datasets import ParquetWriter, atomic_file
from explainops.io.images import ImageSource, read_bytes
from explainops.version import __version__

logger = logging.getLogger(__name__)

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
    objects: Detections | None = None  # OBJECT_DETECTION: the explained objects (the labels)

    def table(self) -> pd.DataFrame:
        """Its lines of the long table of segment values."""
        n_labels, n_segments = self.explanation.values.shape
        pixels = np.bincount(self.segments.ravel(), minlength=n_segments)
        # string columns typed as such: a detector's image with no object has no rows, and
        # its table must have the schema of the others' (the long table is one Parquet file)
        return pd.DataFrame(
            {
                "image": pd.array([self.source.name] * (n_labels * n_segments), dtype="string"),
                "label": pd.array(np.repeat(list(self.labels), n_segments), dtype="string"),
                "segment": np.tile(np.arange(n_segments), n_labels),
                "pixels": np.tile(pixels, n_labels),
                "value": self.explanation.values.ravel(),
            }
        )

    def npz_bytes(self) -> bytes:
        """The compact file of this image: segment map, values, end points, labels, source.

        A detector's image adds its objects' ``boxes`` (objects, 4), ``classes`` and ``scores``.
        """
        arrays: dict[str, np.ndarray] = {
            "segments": self.segments.astype(np.int32),
            "values": self.explanation.values,
            "base_values": self.explanation.base_value,
            "predictions": self.explanation.prediction,
            "labels": np.array(self.labels, dtype=str),
            "source": np.array(self.source.uri),
            **self._object_arrays(),
        }
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    def _object_arrays(self) -> dict[str, np.ndarray]:
        if self.objects is None:
            return {}
        return {
            "boxes": self.objects.boxes,
            "classes": self.objects.classes,
            "scores": self.objects.scores,
        }

    def object_summary(self) -> dict[str, dict[str, Any]]:
        """Each explained object: its class, detected score, box and the explanation's ends."""
        assert self.objects is not None
        explanation = self.explanation
        return {
            label: {
                "class": float(self.objects.classes[i]),
                "score": float(self.objects.scores[i]),
                "box": [float(corner) for corner in self.objects.boxes[i]],
                "expected_value": float(explanation.base_value[i]),
                "prediction": float(explanation.prediction[i]),
            }
            for i, label in enumerate(self.labels)
        }


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
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # by image

    def add(self, explained: ImageExplanation) -> None:
        """One image."""
        explanation = explained.explanation
        self.n_images += 1
        self.evaluations += explanation.evaluations
        self.exact_images += explanation.exact
        self.max_additivity_error = max(self.max_additivity_error, explanation.additivity_error)
        self.names.append(explained.source.name)
        if explained.objects is not None:  # each image has objects of its own
            self.objects[explained.source.name] = explained.object_summary()
            return
        self.labels = explained.labels
        base = explanation.base_value
        self.base_total = base.copy() if self.base_total is None else self.base_total + base


def _evaluator(model: LoadedModel, encoding: str) -> Callable[[Sequence[Any]], np.ndarray]:
    def evaluate(batches: Sequence[Any]) -> np.ndarray:
        images = (image for batch in batches for image in batch)
        return np.asarray(model.predict(image_frame(images, encoding)))

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
    try:
        data = read_bytes(baseline)
    except InputError as error:
        raise InputError(f"methods.shap.baseline: {error}") from error
    return decode_image(data, f"{baseline} (methods.shap.baseline)")


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
    detecting = image_config.model_type == "OBJECT_DETECTION"
    accept = config.predictor_or_default.accept_type
    if detecting and accept not in (None, "application/json"):
        raise ConfigError(
            f"predictor.accept_type: {accept!r} with OBJECT_DETECTION; a detector answers its "
            "boxes as application/json"
        )
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
            if not detecting:
                [explanation] = explainer.explain(evaluate, [segmented])
                labels = _labels(model, explanation, config)
                explained = ImageExplanation(source, image, segments, explanation, labels)
            else:
                detected = explain_objects(
                    explainer,
                    detector(model, encoding, source.uri),
                    segmented,
                    max_objects=image_config.max_objects,
                    iou_threshold=image_config.iou_threshold,
                    context=image_config.context,
                    class_names=config.predictor_or_default.label_headers,
                )
                explained = ImageExplanation(
                    source, image, segments, detected.explanation, detected.names, detected.objects
                )
            with atomic_file(image_explanation_path(folder, source.name), "wb") as handle:
                handle.write(explained.npz_bytes())
            sink.write(explained.table())
            attributions.add(explained)
            logger.info(
                "image %s: %d segments, %s%d model evaluations%s",
                source.name,
                segmented.n_units,
                f"{len(explained.labels)} object(s), " if detecting else "",
                explained.explanation.evaluations,
                " (exact)" if explained.explanation.exact else "",
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
    if shap.image_config.model_type == "OBJECT_DETECTION":  # objects differ image by image
        explained: dict[str, Any] = attributions.objects
    else:
        explained = {
            label: {"expected_value": float(value)}
            for label, value in zip(attributions.labels, expected, strict=True)
        }
    return {
        "version": config.version or "1.0",
        "explanations": {"kernel_shap": explained},
        "explainops": {
            "version": __version__,
            "model": model,
            "explainer": "KernelExplainer (per-image segments)",
            "model_type": shap.image_config.model_type,
            **_detection_settings(shap.image_config),
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


def _detection_settings(image_config: ImageConfig) -> dict[str, Any]:
    if image_config.model_type != "OBJECT_DETECTION":
        return {}
    return {
        "max_objects": image_config.max_objects,
        "iou_threshold": image_config.iou_threshold,
        "context": image_config.context,
    }
