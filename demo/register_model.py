"""Set up the demo: samples, a trained model, and its registration as ``wine@Champion``.

Writes samples from scikit-learn's bundled wine data, trains a random forest, and registers it
as model ``wine`` with alias ``Champion`` in the embedded SQLite registry.

Run from the repository root (``make demo`` does): each run registers a new version and moves the
alias to it, so running it twice works.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow
import mlflow.sklearn
import skops.io
from mlflow.models import infer_signature
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = ROOT / "mlruns" / "mlflow.db"
SAMPLES = ROOT / "data" / "demo" / "wine_samples.csv"
MODEL_NAME = "wine"


def main() -> None:
    """Write the samples, train, register, and point the Champion alias at the new version."""
    features, target = load_wine(return_X_y=True, as_frame=True)
    features.columns = [column.replace("/", "_") for column in features.columns]
    SAMPLES.parent.mkdir(parents=True, exist_ok=True)
    samples = features.sample(n=60, random_state=1)
    samples.insert(0, "wine_id", [f"wine-{index:03d}" for index in samples.index])
    samples.to_csv(SAMPLES, index=False)

    model = RandomForestClassifier(n_estimators=50, max_depth=5, random_state=0).fit(
        features, target
    )
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
    version = info.registered_model_version
    mlflow.MlflowClient().set_registered_model_alias(MODEL_NAME, "Champion", str(version))
    print(f"registered {MODEL_NAME} version {version} as Champion in {REGISTRY}")
    print(f"wrote {len(samples)} samples to {SAMPLES.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
