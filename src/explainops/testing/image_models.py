"""A small real image classifier for tests, benchmarks and the demo, from scikit-learn's digits.

scikit-learn ships 1,797 handwritten digits of 8 x 8 pixels; :func:`digit_image` draws one as an
RGB image (dark ink on paper, upscaled, 48 x 48 by default), and :class:`DigitClassifier` is an
MLflow pyfunc model that takes raw image bytes (JPEG, PNG or ``.npy``) in an ``image`` column,
shrinks each image back to 8 x 8 grey levels and returns a logistic regression's probabilities
of the digits it was trained on (0, 1 and 7 by default). Nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from explainops.core.images import IMAGE_COLUMN, decode_image, image_frame

DIGITS = (0, 1, 7)
LABELS = ("zero", "one", "seven")
_INK = np.array([20, 40, 110], dtype=np.float64)
_PAPER = np.array([245, 240, 225], dtype=np.float64)


def digit_image(pixels: np.ndarray, size: int = 48) -> np.ndarray:
    """An (size, size, 3) uint8 image of an 8 x 8 digit (values 0..16): ink on paper."""
    from PIL import Image

    grey = Image.fromarray(np.asarray(pixels / 16.0 * 255.0, dtype=np.uint8))
    ink = np.asarray(grey.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float64) / 255
    image = _PAPER + (_INK - _PAPER) * ink[:, :, None]
    return np.asarray(np.rint(image), dtype=np.uint8)


def image_features(images: Sequence[np.ndarray]) -> np.ndarray:
    """(n, 64) features: each image in grey, shrunk to 8 x 8, as ink on a 0..16 scale."""
    from PIL import Image

    rows = []
    for image in images:
        grey = Image.fromarray(image).convert("L").resize((8, 8), Image.Resampling.BOX)
        level = np.asarray(grey, dtype=np.float64)
        rows.append((_PAPER.mean() - level) / (_PAPER.mean() - _INK.mean()) * 16.0)
    return np.asarray(np.clip(np.asarray(rows).reshape(len(rows), 64), -4.0, 20.0))


def digit_dataset(
    digits: Sequence[int] = DIGITS, size: int = 48
) -> tuple[list[np.ndarray], np.ndarray]:
    """The bundled digits of ``digits`` as images, and their class indexes (0..len-1)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    chosen = np.isin(bunch.target, digits)
    images = [digit_image(pixels, size) for pixels in bunch.images[chosen]]
    classes = np.searchsorted(np.array(sorted(digits)), bunch.target[chosen])
    return images, classes


def _mlflow_python_model() -> type:
    import mlflow.pyfunc

    class DigitClassifier(mlflow.pyfunc.PythonModel):  # type: ignore[misc, name-defined]
        """Probabilities of the digits from raw image bytes (the ``image`` column)."""

        def __init__(self, model: Any) -> None:
            self.model = model

        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
            images = [decode_image(bytes(data), "image") for data in model_input[IMAGE_COLUMN]]
            return self.model.predict_proba(image_features(images))

    return DigitClassifier


def train_digit_classifier(size: int = 48) -> Any:
    """The logistic regression on :func:`image_features` of the bundled digits 0, 1 and 7."""
    from sklearn.linear_model import LogisticRegression

    images, classes = digit_dataset(DIGITS, size)
    return LogisticRegression(C=0.1, max_iter=2000).fit(image_features(images), classes)


def log_digit_classifier(name: str, size: int = 48) -> str:
    """Train, log as an MLflow pyfunc of raw image bytes, register as ``name``; the version."""
    import mlflow
    from mlflow.models import infer_signature

    model = train_digit_classifier(size)
    images, _ = digit_dataset(DIGITS, size)
    example = image_frame(images[:3], "png")
    python_model = _mlflow_python_model()(model)
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=python_model,
            signature=infer_signature(example, model.predict_proba(image_features(images[:3]))),
            pip_requirements=["scikit-learn", "pillow"],
            registered_model_name=name,
        )
    return str(info.registered_model_version)


def predict_bytes(model: Any, frame: pd.DataFrame) -> np.ndarray:
    """What the registered pyfunc computes, for a fitted :func:`train_digit_classifier` model."""
    images = [decode_image(bytes(data), "image") for data in frame[IMAGE_COLUMN]]
    return np.asarray(model.predict_proba(image_features(images)))
