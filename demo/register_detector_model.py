"""Train the object detector of the Clarify detection walk-through, register it as Champion.

A small neural network over sliding windows that finds scikit-learn's bundled 8 x 8 digits (0, 1
and 7) drawn on 64 x 64 sheets (see explainops.testing.detector); its pyfunc takes raw image
bytes in an ``image`` column and answers each image's boxes in the SageMaker object detection
format. Registered as clarify_digit_detector@Champion. Also writes the walk-through's data set:
four sheets of one or two digits as PNG files in outputs/clarify/detection/data/. Run from the
repository root.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from registration import use_demo_registry
from sklearn.datasets import load_digits

from explainops.core.images import encode_image
from explainops.testing.detector import digit_scene, log_digit_detector

ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = "clarify_digit_detector"
# Each sheet: (digit, which of its drawings, top row, left column) for each digit on it.
SHEETS = {
    "sheet_1": [(7, 3, 6, 8), (0, 3, 34, 36)],
    "sheet_2": [(1, 4, 8, 34), (7, 8, 36, 6)],
    "sheet_3": [(0, 9, 20, 20)],
    "sheet_4": [(1, 12, 4, 4), (0, 12, 36, 36)],
}


def main() -> None:
    """Train, register, and write the sheets the walk-through explains."""
    import mlflow

    use_demo_registry()
    version = log_digit_detector(MODEL_NAME)
    mlflow.MlflowClient().set_registered_model_alias(MODEL_NAME, "Champion", version)
    print(f"registered {MODEL_NAME} version {version} as Champion")
    bunch = load_digits()
    folder = ROOT / "outputs" / "clarify" / "detection" / "data"
    folder.mkdir(parents=True, exist_ok=True)
    for name, digits in SHEETS.items():
        pixels = [bunch.images[np.flatnonzero(bunch.target == d)[k]] for d, k, _, _ in digits]
        sheet = digit_scene(pixels, [(row, column) for _, _, row, column in digits])
        (folder / f"{name}.png").write_bytes(encode_image(sheet, "png"))
    print(f"wrote {len(SHEETS)} sheets to {folder}")


if __name__ == "__main__":
    main()
