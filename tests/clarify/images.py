"""Image analyses for the Clarify tests: their config documents and the brute force's images."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from explainops.core.images import encode_image
from explainops.testing.image_models import LABELS


def image_analysis(
    model_type: str, image_config: dict[str, Any], report_title: str | None = None, **shap: Any
) -> dict[str, Any]:
    """A Clarify analysis config of PNG images, labelled as the digit models are.

    ``image_config`` joins ``model_type``; ``shap`` holds the shap method's other fields; with
    ``report_title``, methods.report asks for a report of that title.
    """
    methods: dict[str, Any] = {
        "shap": {"image_config": {"model_type": model_type, **image_config}, **shap}
    }
    if report_title is not None:
        methods["report"] = {"name": "report", "title": report_title}
    return {
        "dataset_type": "application/x-image",
        "predictor": {"content_type": "image/png", "label_headers": list(LABELS)},
        "methods": methods,
    }


def write_analysis(folder: Path, document: dict[str, Any]) -> Path:
    """``document`` written as folder/analysis_config.json: its path."""
    path = folder / "analysis_config.json"
    path.write_text(json.dumps(document))
    return path


def masked_images(
    image: np.ndarray, segments: np.ndarray, mask: np.ndarray
) -> tuple[list[tuple[int, ...]], pd.DataFrame]:
    """Every coalition of the segments, and the image with the others masked, as PNG bytes."""
    n = int(segments.max()) + 1
    coalitions = [c for size in range(n + 1) for c in itertools.combinations(range(n), size)]
    masked = [np.where(np.isin(segments, c)[..., None], image, mask) for c in coalitions]
    frame = pd.DataFrame({"image": [encode_image(m.astype(np.uint8), "png") for m in masked]})
    return coalitions, frame
