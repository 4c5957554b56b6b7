"""Train the image classifier of the Clarify image walk-through, register clarify_digits@Champion.

A logistic regression on scikit-learn's bundled 8 x 8 digits (0, 1 and 7), drawn as 48 x 48 RGB
images (see explainops.testing.image_models); its pyfunc takes raw image bytes in an ``image``
column. Also writes the walk-through's data set: six of those images as PNG files in
outputs/clarify/images/data/. Run from the repository root.
"""

from __future__ import annotations

from pathlib import Path

from registration import use_demo_registry

from explainops.core.images import encode_image
from explainops.testing.image_models import DIGITS, digit_dataset, log_digit_classifier

ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = "clarify_digits"


def main() -> None:
    """Train, register, and write the images the walk-through explains."""
    import mlflow

    use_demo_registry()
    version = log_digit_classifier(MODEL_NAME)
    mlflow.MlflowClient().set_registered_model_alias(MODEL_NAME, "Champion", version)
    print(f"registered {MODEL_NAME} version {version} as Champion")
    images, classes = digit_dataset(DIGITS)
    folder = ROOT / "outputs" / "clarify" / "images" / "data"
    folder.mkdir(parents=True, exist_ok=True)
    for position in (0, 1, 2, 10, 11, 12):
        digit = DIGITS[classes[position]]
        (folder / f"digit_{position:03d}_{digit}.png").write_bytes(
            encode_image(images[position], "png")
        )
    print(f"wrote 6 images to {folder}")


if __name__ == "__main__":
    main()
