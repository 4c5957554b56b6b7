"""Train the model of the Clarify walk-through and register it as ``clarify_seed@Champion``.

A logistic regression on three features named like the seed configs' headers (feature_1 ..
feature_3), trained on synthetic data, registered in the embedded SQLite registry
(./mlruns/mlflow.db) with ``predict_proba`` as its pyfunc output. Run from the repository root;
running it again registers a new version and moves the alias.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import skops.io
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "mlruns" / "mlflow.db"
MODEL_NAME = "clarify_seed"
FEATURES = ["feature_1", "feature_2", "feature_3"]


def main() -> None:
    """Train, register, and point the Champion alias at the new version."""
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.random((500, 3)), columns=FEATURES)
    target = (features.to_numpy() @ [1.5, -2.0, 1.0] + rng.normal(0, 0.2, 500) > 0).astype(int)
    model = LogisticRegression().fit(features, target)
    REGISTRY.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(f"sqlite:///{REGISTRY}")
    experiment = mlflow.get_experiment_by_name("explainops-demo")
    experiment_id = (
        experiment.experiment_id
        if experiment
        else mlflow.create_experiment(
            "explainops-demo", artifact_location=(ROOT / "mlruns" / "artifacts").as_uri()
        )
    )
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="skops",
            skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model)),
            signature=infer_signature(features, model.predict_proba(features)),
            pyfunc_predict_fn="predict_proba",
            pip_requirements=["scikit-learn"],
            registered_model_name=MODEL_NAME,
        )
    version = str(info.registered_model_version)
    mlflow.MlflowClient().set_registered_model_alias(MODEL_NAME, "Champion", version)
    print(f"registered {MODEL_NAME} version {version} as Champion in {REGISTRY}")


if __name__ == "__main__":
    main()
