"""Write the analysis configs the SageMaker Python SDK (v2) generates, for test_sdk_configs.py.

Run offline, in a virtual environment of its own (the SDK is not a dependency of explainops):

    python3.11 -m venv /tmp/sm-venv && /tmp/sm-venv/bin/pip install 'sagemaker==2.257.*'
    /tmp/sm-venv/bin/python tests/clarify/sdk_configs/generate.py

The configs are built exactly as ``SageMakerClarifyProcessor.run_explainability`` builds them
before uploading them (``_AnalysisConfigGenerator.explainability``), and as
``ModelExplainabilityMonitor`` builds a monitoring schedule's (``ExplainabilityAnalysisConfig``).
Neither needs an AWS session: the S3 URIs are placeholders and are not part of the config.

The model they describe is the test registry's ``cancer`` classifier (the first eight features of
scikit-learn's breast cancer data, ``predict_proba``); the endpoint is explainops' reference
``ModelServer``, which answers ``label,probability`` (CSV) or
``{"predicted_label": ..., "probability": ...}`` (JSON Lines) or
``{"predictions": [{"label": ..., "score": ...}, ...]}`` (JSON).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

from sagemaker import __version__ as sdk_version
from sagemaker.clarify import (
    DataConfig,
    ModelConfig,
    ModelPredictedLabelConfig,
    PDPConfig,
    SHAPConfig,
    _AnalysisConfigGenerator,
)
from sagemaker.model_monitor.clarify_model_monitoring import (
    ExplainabilityAnalysisConfig,
)

FOLDER = Path(__file__).resolve().parent
FEATURES = [
    "mean_radius",
    "mean_texture",
    "mean_perimeter",
    "mean_area",
    "mean_smoothness",
    "mean_compactness",
    "mean_concavity",
    "mean_concave_points",
]
LABEL = "diagnosis"
ROW_ID = "patient_id"
# Two rows in the features' ranges (the data's means, and a smaller tumour): Clarify's baseline
# rows hold the features only, never the label or excluded columns.
BASELINE = [
    [14.13, 19.29, 91.97, 654.9, 0.0964, 0.1043, 0.0888, 0.0489],
    [12.0, 17.0, 78.0, 450.0, 0.09, 0.08, 0.05, 0.03],
]
INPUT = "s3://example-bucket/clarify/input/"
OUTPUT = "s3://example-bucket/clarify/output/"
CSV_MODEL = {"model_name": "cancer-model", "instance_count": 1, "instance_type": "ml.m5.xlarge"}
JSON_LINES_TEMPLATE = '{"features":$features}'


def csv_scores() -> ModelPredictedLabelConfig:
    """The reference server's CSV answer: ``label,probability``."""
    return ModelPredictedLabelConfig(label=0, probability=1)


def json_lines_scores() -> ModelPredictedLabelConfig:
    """The reference server's JSON Lines answer: ``predicted_label`` and ``probability``."""
    return ModelPredictedLabelConfig(label="predicted_label", probability="probability")


def shap(**settings: Any) -> SHAPConfig:
    """Kernel SHAP with a budget covering all 2^8 - 2 coalitions: exact Shapley values."""
    return SHAPConfig(**({"baseline": BASELINE, "num_samples": 300, "seed": 7} | settings))


def csv_label_excluded() -> dict[str, Any]:
    """CSV with a header row, the label first and a row id excluded from the features."""
    return _AnalysisConfigGenerator.explainability(
        DataConfig(
            s3_data_input_path=INPUT,
            s3_output_path=OUTPUT,
            label=LABEL,
            headers=[LABEL, ROW_ID, *FEATURES],
            excluded_columns=[ROW_ID],
            dataset_type="text/csv",
        ),
        ModelConfig(**CSV_MODEL, content_type="text/csv", accept_type="text/csv"),
        ModelPredictedLabelConfig(
            label=0, probability=1, probability_threshold=0.5, label_headers=["malignant", "benign"]
        ),
        shap(agg_method="mean_abs"),
    )


def csv_headerless_label_index() -> dict[str, Any]:
    """Header-less CSV, the label by its index; no baseline: a k-means summary of the data."""
    return _AnalysisConfigGenerator.explainability(
        DataConfig(
            s3_data_input_path=INPUT,
            s3_output_path=OUTPUT,
            label=0,
            headers=[LABEL, *FEATURES],
            dataset_type="text/csv",
        ),
        ModelConfig(**CSV_MODEL, content_type="text/csv", accept_type="text/csv"),
        csv_scores(),
        SHAPConfig(num_clusters=3, num_samples=300, agg_method="median", seed=3),
    )


def json_lines() -> dict[str, Any]:
    """JSON Lines records ``{"features": [...], "diagnosis": 0}``, a JSON Lines endpoint.

    ``headers`` follow Clarify's convention for JSON data sets: the features, then the label.
    """
    return _AnalysisConfigGenerator.explainability(
        DataConfig(
            s3_data_input_path=INPUT,
            s3_output_path=OUTPUT,
            features="features",
            label=LABEL,
            headers=[*FEATURES, LABEL],
            dataset_type="application/jsonlines",
        ),
        ModelConfig(
            **CSV_MODEL,
            content_type="application/jsonlines",
            accept_type="application/jsonlines",
            content_template=JSON_LINES_TEMPLATE,
        ),
        json_lines_scores(),
        shap(baseline=[{"features": row} for row in BASELINE], agg_method="mean_sq"),
    )


def json_dataset() -> dict[str, Any]:
    """A JSON document ``{"instances": [{"features": [...], "diagnosis": 0}, ...]}``.

    ``instances[*].features`` gives the 2-D matrix of features; the model gets JSON Lines.
    """
    return _AnalysisConfigGenerator.explainability(
        DataConfig(
            s3_data_input_path=INPUT,
            s3_output_path=OUTPUT,
            features="instances[*].features",
            label=f"instances[*].{LABEL}",
            headers=FEATURES,
            dataset_type="application/json",
        ),
        ModelConfig(
            **CSV_MODEL,
            content_type="application/jsonlines",
            accept_type="application/jsonlines",
            content_template=JSON_LINES_TEMPLATE,
        ),
        json_lines_scores(),
        shap(),
    )


def json_predictor() -> dict[str, Any]:
    """The JSON document of ``json_dataset``, sent to a JSON endpoint.

    Requests are ``{"instances": [[...], ...]}``; answers, as in Clarify's documentation,
    ``{"predictions": [{"label": 1, "score": 0.9}, ...]}``.
    """
    return _AnalysisConfigGenerator.explainability(
        DataConfig(
            s3_data_input_path=INPUT,
            s3_output_path=OUTPUT,
            features="instances[*].features",
            label=f"instances[*].{LABEL}",
            headers=FEATURES,
            dataset_type="application/json",
        ),
        ModelConfig(
            **CSV_MODEL,
            content_type="application/json",
            accept_type="application/json",
            content_template='{"instances":$records}',
            record_template="$features",
        ),
        ModelPredictedLabelConfig(label="predictions[*].label", probability="predictions[*].score"),
        shap(),
    )


def parquet() -> dict[str, Any]:
    """Parquet with the label column; the SDK has no Parquet content type: CSV requests."""
    return _AnalysisConfigGenerator.explainability(
        DataConfig(
            s3_data_input_path=INPUT,
            s3_output_path=OUTPUT,
            label=LABEL,
            dataset_type="application/x-parquet",
        ),
        ModelConfig(**CSV_MODEL, content_type="text/csv", accept_type="text/csv"),
        csv_scores(),
        shap(use_logit=True),
    )


def pdp_and_shap() -> dict[str, Any]:
    """CSV with a header and the label; SHAP and partial dependence of two features."""
    return _AnalysisConfigGenerator.explainability(
        DataConfig(
            s3_data_input_path=INPUT,
            s3_output_path=OUTPUT,
            label=LABEL,
            headers=[LABEL, *FEATURES],
            dataset_type="text/csv",
        ),
        ModelConfig(**CSV_MODEL, content_type="text/csv", accept_type="text/csv"),
        csv_scores(),
        [shap(), PDPConfig(features=["mean_radius", "mean_concave_points"], grid_resolution=5)],
    )


def monitor_csv() -> dict[str, Any]:
    """A model explainability monitoring schedule's config: header-less captured feature rows."""
    return ExplainabilityAnalysisConfig(
        explainability_config=shap(),
        model_config=ModelConfig(endpoint_name="cancer-endpoint", content_type="text/csv"),
        headers=FEATURES,
        label_headers=["malignant", "benign"],
    )._to_dict()


CONFIGS = {
    "csv_label_excluded": csv_label_excluded,
    "csv_headerless_label_index": csv_headerless_label_index,
    "json_lines": json_lines,
    "json_dataset": json_dataset,
    "json_predictor": json_predictor,
    "parquet": parquet,
    "pdp_and_shap": pdp_and_shap,
    "monitor_csv": monitor_csv,
}


def main() -> int:
    """Write every config to ``<name>.json`` next to this script."""
    for name, build in CONFIGS.items():
        path = FOLDER / f"{name}.json"
        path.write_text(json.dumps(build(), indent=2) + "\n")
        print(f"wrote {path.name} (sagemaker {sdk_version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
