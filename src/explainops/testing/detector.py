"""A small real object detector for tests, benchmarks and the demo, from scikit-learn's digits.

:func:`digit_scene` draws a few of scikit-learn's bundled 8 x 8 digits (0, 1 and 7, as
:mod:`explainops.testing.image_models` draws them: dark ink on paper) at places on a larger
sheet of paper. :class:`DigitDetector` finds them: a sliding window (24 x 24 pixels, stride 4) is
shrunk to 8 x 8 grey levels and scored by a small neural network (one hidden layer of 48) of
background and the three digits, trained here on windows of random scenes (labelled by their
overlap with the digits drawn); windows whose best digit scores 0.5 or more are kept, then
non-maximum suppression over all classes. It answers in the SageMaker object detection format::

    {"prediction": [[class_index, score, xmin, ymin, xmax, ymax], ...]}

with the corners relative to the image's width and height, best score first. As an MLflow pyfunc
it takes raw image bytes (JPEG, PNG or ``.npy``) in an ``image`` column and returns one such
document per row. Nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from explainops.clarify.detection import box_overlaps
from explainops.core.images import IMAGE_COLUMN, decode_image, image_frame
from explainops.testing.image_models import DIGITS, LABELS, digit_image

WINDOW = 24
STRIDE = 4
SCENE = 64
MIN_SCORE = 0.5
NMS_IOU = 0.2
_PAPER = np.array([245, 240, 225], dtype=np.uint8)
_GREY = np.array([0.299, 0.587, 0.114])


def digit_scene(
    pixels: Sequence[np.ndarray], corners: Sequence[tuple[int, int]], size: int = SCENE
) -> np.ndarray:
    """A (size, size, 3) uint8 sheet with each 8 x 8 digit of ``pixels`` drawn at (row, column)."""
    scene = np.empty((size, size, 3), dtype=np.uint8)
    scene[...] = _PAPER
    for digit, (row, column) in zip(pixels, corners, strict=True):
        scene[row : row + WINDOW, column : column + WINDOW] = digit_image(digit, WINDOW)
    return scene


def _windows(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, w, 64) features of every window of (n, h, w, 3) images, and their (w, 4) boxes."""
    grey = images.astype(np.float64) @ _GREY  # (n, h, w)
    height, width = grey.shape[1:]
    views = np.lib.stride_tricks.sliding_window_view(grey, (WINDOW, WINDOW), axis=(1, 2))
    views = views[:, ::STRIDE, ::STRIDE]  # (n, rows, columns, 24, 24)
    n, rows, columns = views.shape[:3]
    cell = WINDOW // 8
    shrunk = views.reshape(n, rows, columns, 8, cell, 8, cell).mean(axis=(4, 6))
    ink = (float(_PAPER @ _GREY) - shrunk) / 255.0 * 16.0
    top = np.repeat(np.arange(rows) * STRIDE, columns)
    left = np.tile(np.arange(columns) * STRIDE, rows)
    boxes = np.stack([left / width, top / height, (left + WINDOW) / width, (top + WINDOW) / height])
    return ink.reshape(n, rows * columns, 64), boxes.T


def _random_scenes(count: int, seed: int) -> tuple[np.ndarray, list[np.ndarray], list[list[int]]]:
    """``count`` scenes of two digits each: images, boxes (relative) and classes."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    chosen = np.flatnonzero(np.isin(bunch.target, DIGITS))
    rng = np.random.default_rng(seed)
    images, boxes, classes = [], [], []
    slots = [(4, 4), (4, 36), (36, 4), (36, 36)]
    for _ in range(count):
        picks = rng.choice(chosen, size=2, replace=False)
        places = [slots[i] for i in rng.choice(4, size=2, replace=False)]
        places = [(r + int(rng.integers(-4, 5)), c + int(rng.integers(-4, 5))) for r, c in places]
        images.append(digit_scene([bunch.images[i] for i in picks], places))
        boxes.append(
            np.array([[c, r, c + WINDOW, r + WINDOW] for r, c in places], dtype=np.float64) / SCENE
        )
        classes.append([DIGITS.index(int(bunch.target[i])) for i in picks])
    return np.stack(images), boxes, classes


def train_digit_detector(scenes: int = 300, seed: int = 0) -> Any:
    """The window classifier (0: background, 1..3: the digits) trained on random scenes."""
    from sklearn.neural_network import MLPClassifier

    images, boxes, classes = _random_scenes(scenes, seed)
    features, window_boxes = _windows(images)
    rows, labels = [], []
    for scene in range(len(images)):
        overlap = box_overlaps(boxes[scene], window_boxes)  # (2, w)
        best = overlap.argmax(axis=0)
        best_overlap = overlap.max(axis=0)
        digit = best_overlap >= 0.65
        kept = np.flatnonzero(digit | (best_overlap < 0.45))  # clearly a digit or background
        rows.append(features[scene, kept])
        labels.append(np.where(digit[kept], 1 + np.asarray(classes[scene])[best[kept]], 0))
    network = MLPClassifier(hidden_layer_sizes=(48,), alpha=1e-3, max_iter=300, random_state=seed)
    return network.fit(np.concatenate(rows) / 16.0, np.concatenate(labels))


def detect(classifier: Any, images: Sequence[np.ndarray]) -> list[dict[str, list[list[float]]]]:
    """Each image's detections, in the SageMaker object detection format (see the module)."""
    answers = []
    for image in images:
        features, boxes = _windows(image[None])
        probabilities = classifier.predict_proba(features[0] / 16.0)[:, 1:]  # (w, digits)
        digits, scores = probabilities.argmax(axis=1), probabilities.max(axis=1)
        candidates = np.flatnonzero(scores >= MIN_SCORE)
        candidates = candidates[np.argsort(-scores[candidates], kind="stable")]
        overlaps = box_overlaps(boxes[candidates], boxes[candidates])
        kept: list[int] = []  # non-maximum suppression over all classes
        for index in range(len(candidates)):
            if not kept or np.all(overlaps[index, kept] < NMS_IOU):
                kept.append(index)
        found = [
            [float(digits[w]), float(scores[w]), *map(float, boxes[w])] for w in candidates[kept]
        ]
        answers.append({"prediction": found})
    return answers


def detect_bytes(classifier: Any, frame: pd.DataFrame) -> list[dict[str, list[list[float]]]]:
    """What the registered pyfunc answers for a frame of image bytes (the ``image`` column)."""
    return detect(classifier, [decode_image(bytes(data), "image") for data in frame[IMAGE_COLUMN]])


def _mlflow_python_model() -> type:
    import mlflow.pyfunc

    class DigitDetector(mlflow.pyfunc.PythonModel):  # type: ignore[misc, name-defined]
        """Detections of the digits in raw image bytes (the ``image`` column)."""

        def __init__(self, classifier: Any) -> None:
            self.classifier = classifier

        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
            return detect_bytes(self.classifier, model_input)

    return DigitDetector


def log_digit_detector(name: str, classifier: Any = None) -> str:
    """Log as an MLflow pyfunc of raw image bytes, register as ``name``; the version.

    ``classifier``: the network of :func:`train_digit_detector`, trained here when not given.
    """
    import mlflow
    from mlflow.models import infer_signature

    if classifier is None:
        classifier = train_digit_detector()
    images, _, _ = _random_scenes(2, seed=1)
    example = image_frame(images, "png")
    with mlflow.start_run():  # the inputs' signature only: its answers are documents
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=_mlflow_python_model()(classifier),
            signature=infer_signature(example),
            pip_requirements=["scikit-learn", "pillow"],
            registered_model_name=name,
        )
    return str(info.registered_model_version)


__all__ = [
    "LABELS",
    "detect",
    "detect_bytes",
    "digit_scene",
    "log_digit_detector",
    "train_digit_detector",
]
