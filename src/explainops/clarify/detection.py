"""``image_config.model_type: OBJECT_DETECTION``: each detected object's score, explained.

The detector answers each image with its boxes in the SageMaker object detection format,
``{"prediction": [[class_index, score, xmin, ymin, xmax, ymax], ...]}`` (corners relative to the
image's width and height; a bare list of such rows is read too). The objects explained are the
``max_objects`` best-scored detections of the image as it is. The game of an object is its score
on a masked image: the best score among the masked image's detections of the same class whose
box overlaps the object's by at least ``iou_threshold`` (intersection over union), else 0. Every
object of an image is an output of the same explanation, so each masked image is scored once for
all of them.

``context`` (0 to 1) is the weight of the image outside the object's box: below 1, the pixels
outside the box are blended towards the baseline image by ``1 - context`` (0: the box alone on
the baseline) before the segments are masked, so each object is explained on its own image, and
its prediction is its score there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from explainops.core.images import SegmentedImage, image_frame
from explainops.core.model import LoadedModel
from explainops.errors import ConfigError, ExplainerError
from explainops.explainers.units import UnitExplanation, UnitsExplainer

FloatArray = npt.NDArray[np.float64]
# Corners this far outside [0, 1] are rounding (clipped); farther, the box is refused.
_SLACK = 1e-6


@dataclass(frozen=True)
class Detections:
    """An image's boxes: classes (m,), scores (m,), boxes (m, 4) as [xmin, ymin, xmax, ymax]."""

    classes: FloatArray
    scores: FloatArray
    boxes: FloatArray

    @classmethod
    def parse(cls, answer: Any, where: str) -> Detections:
        """An answer's detections, best score first.

        Raises:
            ExplainerError: not a ``prediction`` list of [class, score, xmin, ymin, xmax, ymax].

        """
        document = answer
        if isinstance(document, bytes | str):
            try:
                document = json.loads(document)
            except json.JSONDecodeError:
                raise ExplainerError(f"{where}: the detector's answer is not JSON") from None
        if isinstance(document, dict):
            if "prediction" not in document:
                raise ExplainerError(
                    f"{where}: the detector's answer has no 'prediction' (keys: "
                    f"{', '.join(map(str, document)) or 'none'}); expected "
                    '{"prediction": [[class, score, xmin, ymin, xmax, ymax], ...]}'
                )
            document = document["prediction"]
        try:
            rows = np.asarray(document, dtype=np.float64)
        except (TypeError, ValueError):
            rows = None
        if rows is not None and rows.size == 0:
            rows = rows.reshape(0, 6)
        if rows is None or rows.ndim != 2 or rows.shape[1] != 6 or not np.isfinite(rows).all():
            raise ExplainerError(
                f"{where}: the detector's prediction is not a list of "
                "[class, score, xmin, ymin, xmax, ymax] numbers"
            )
        boxes = np.clip(rows[:, 2:6], 0.0, 1.0)
        out_of_image = np.abs(boxes - rows[:, 2:6]).max(axis=1, initial=0.0) > _SLACK
        empty = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
        bad = np.flatnonzero(out_of_image | empty)
        if bad.size:
            box = ", ".join(f"{corner:.6g}" for corner in rows[bad[0], 2:6])
            raise ExplainerError(
                f"{where}: the detector's box [{box}] is not [xmin, ymin, xmax, ymax] relative to "
                "the image (0 <= xmin < xmax <= 1, 0 <= ymin < ymax <= 1); pixel coordinates?"
            )
        order = np.argsort(-rows[:, 1], kind="stable")
        return cls(rows[order, 0], rows[order, 1], boxes[order])

    def top(self, count: int) -> Detections:
        """The ``count`` best-scored detections."""
        return Detections(self.classes[:count], self.scores[:count], self.boxes[:count])

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def box_overlaps(first: FloatArray, second: FloatArray) -> FloatArray:
    """(n, m) intersection over union of each of (n, 4) boxes with each of (m, 4) boxes.

    0 where both boxes are empty. Exactly symmetric: ``box_overlaps(b, a)`` is the transpose.
    """
    a, b = first[:, None, :], second[None, :, :]
    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = width * height
    union = _areas(first)[:, None] + _areas(second)[None, :] - inter
    return np.asarray(np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0))


def box_overlap(box: FloatArray, boxes: FloatArray) -> FloatArray:
    """Intersection over union of a (4,) box with each of (m, 4) boxes (0 where both are empty)."""
    overlaps: FloatArray = box_overlaps(box[None], boxes)[0]
    return overlaps


def _areas(boxes: FloatArray) -> FloatArray:
    """(n,) areas of (n, 4) boxes, 0 for an empty one."""
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def object_scores(found: Detections, objects: Detections, iou_threshold: float) -> FloatArray:
    """(objects,) each object's score in ``found``: its class's best box overlapping it enough.

    Enough: an intersection over union of at least ``iou_threshold``, and some overlap.
    """
    scores = np.zeros(len(objects))
    for index in range(len(objects)):
        same = found.classes == objects.classes[index]
        if not same.any():
            continue
        overlap = box_overlap(objects.boxes[index], found.boxes[same])
        # boxes that do not touch the object never match it, even at iou_threshold 0
        matched = found.scores[same][(overlap >= iou_threshold) & (overlap > 0)]
        scores[index] = matched.max() if matched.size else 0.0
    return scores


def with_context(
    image: np.ndarray, baseline: np.ndarray, box: FloatArray, context: float
) -> np.ndarray:
    """``image`` with the pixels outside ``box`` blended towards ``baseline`` by 1 - context."""
    if context >= 1.0:
        return image
    height, width = image.shape[:2]
    inside = np.zeros((height, width), dtype=np.bool_)
    top, bottom = int(np.floor(box[1] * height)), int(np.ceil(box[3] * height))
    left, right = int(np.floor(box[0] * width)), int(np.ceil(box[2] * width))
    inside[max(top, 0) : max(bottom, 0), max(left, 0) : max(right, 0)] = True
    blended = context * image.astype(np.float64) + (1.0 - context) * baseline.astype(np.float64)
    outside = np.asarray(np.rint(blended), dtype=np.uint8)
    return np.where(inside[..., None], image, outside)


@dataclass(frozen=True)
class _ObjectImage:
    """A segmented image whose masked copies are scored for ``objects`` (None: every object)."""

    segmented: SegmentedImage
    scored: int | None

    @property
    def n_units(self) -> int:
        return self.segmented.n_units

    def masked(self, keep: npt.NDArray[np.bool_]) -> tuple[int | None, np.ndarray]:
        return self.scored, self.segmented.masked(keep)


def detector(
    model: LoadedModel, encoding: str, where: str
) -> Callable[[list[np.ndarray]], list[Detections]]:
    """Images (copies of the image ``where``) -> their detections, from the model's answers."""
    answers = model.answers
    if answers is None:
        raise ConfigError(
            f"{where}: OBJECT_DETECTION needs the model's whole answers (its boxes), which this "
            "model does not give"
        )

    def detect(images: list[np.ndarray]) -> list[Detections]:
        frame = image_frame(images, encoding)
        return [
            Detections.parse(answer, f"{where} (the detector's answer {position + 1})")
            for position, answer in enumerate(answers(frame))
        ]

    return detect


@dataclass(frozen=True)
class DetectedObjects:
    """An image's explained objects and their explanation (objects as outputs)."""

    objects: Detections
    explanation: UnitExplanation
    names: tuple[str, ...]


def explain_objects(
    explainer: UnitsExplainer,
    detect: Callable[[list[np.ndarray]], list[Detections]],
    segmented: SegmentedImage,
    *,
    max_objects: int,
    iou_threshold: float,
    context: float,
    class_names: Sequence[str] | None,
) -> DetectedObjects:
    """The SHAP values of the segments for each of the image's best ``max_objects`` objects."""
    [found] = detect([segmented.image])
    objects = found.top(max_objects)
    names = tuple(_object_name(objects.classes[i], i, class_names) for i in range(len(objects)))
    if len(objects) == 0:
        empty = np.zeros((0, segmented.n_units))
        explanation = UnitExplanation(empty, np.zeros(0), np.zeros(0), empty, 1, True)
        return DetectedObjects(objects, explanation, names)

    def evaluate(batches: Sequence[tuple[int | None, np.ndarray]]) -> FloatArray:
        rows = []
        for scored, images in batches:
            for detections in detect(list(images)):
                scores = object_scores(detections, objects, iou_threshold)
                rows.append(scores if scored is None else scores[scored : scored + 1])
        return np.asarray(rows, dtype=np.float64)

    if context >= 1.0:  # one image for every object: each masked image scored once
        [explanation] = explainer.explain(evaluate, [_ObjectImage(segmented, None)])
        return DetectedObjects(objects, explanation, names)
    instances = [
        _ObjectImage(
            SegmentedImage(
                with_context(segmented.image, segmented.baseline, objects.boxes[i], context),
                segmented.segments,
                segmented.baseline,
            ),
            i,
        )
        for i in range(len(objects))
    ]
    each = explainer.explain(evaluate, instances)
    explanation = UnitExplanation(
        np.concatenate([part.values for part in each]),
        np.concatenate([part.base_value for part in each]),
        np.concatenate([part.prediction for part in each]),
        np.concatenate([part.standard_errors for part in each]),
        sum(part.evaluations for part in each),
        all(part.exact for part in each),
    )
    return DetectedObjects(objects, explanation, names)


def _object_name(class_index: float, position: int, class_names: Sequence[str] | None) -> str:
    """``<class>_<n>``: the class's name (from label_headers) or index, and the object's rank."""
    index = int(class_index)
    if class_names is not None and index == class_index and 0 <= index < len(class_names):
        label = class_names[index]
    else:
        label = f"{class_index:g}"
    return f"{label}_{position}"
