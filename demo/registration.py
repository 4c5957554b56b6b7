"""Register scikit-learn classifiers in the demos' embedded registry, ./mlruns/mlflow.db."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow
import mlflow.sklearn
import pandas as pd
import skops.io
from mlflow.models import infer_signature

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = ROOT / "mlruns" / "mlflow.db"
EXPERIMENT = "explainops-demo"


def use_demo_registry() -> str:
    """Point MLflow at the demos' registry and experiment (created when missing); its id."""
    REGISTRY.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(f"sqlite:///{REGISTRY}")
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    experiment_id = (
        experiment.experiment_id
        if experiment
        else mlflow.create_experiment(
            EXPERIMENT, artifact_location=(ROOT / "mlruns" / "artifacts").as_uri()
        )
    )
    mlflow.set_experiment(experiment_id=experiment_id)
    return str(experiment_id)


def register_classifier(model: Any, features: pd.DataFrame, name: str, alias: str) -> str:
    """Log ``model`` as a new version of ``name``, point ``alias`` at it, return the version.

    The model is saved with skops (trusting its own types), a signature, and ``predict_proba`` as
    its pyfunc output.
    """
    experiment_id = use_demo_registry()
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="skops",
            skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model)),
            signature=infer_signature(features, model.predict_proba(features)),
            pyfunc_predict_fn="predict_proba",
            pip_requirements=["scikit-learn"],
            registered_model_name=name,
        )
    version = str(info.registered_model_version)
    mlflow.MlflowClient().set_registered_model_alias(name, alias, version)
    print(f"registered {name} version {version} as {alias} in {REGISTRY}")
    return version
