"""Fixtures shared across the suite: a real SQLite MLflow registry and a real HTTP receiver."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

# The local S3 server (moto) and its per-test bucket (s3_endpoint, s3_bucket); a headless
# Chromium (browser) for the reports.
pytest_plugins = ("tests.s3_server", "tests.browser")


@dataclass(frozen=True)
class RegistryFixture:
    """A SQLite registry holding the models the job tests explain, with their data."""

    tracking_uri: str
    wine: pd.DataFrame
    cancer: pd.DataFrame
    diabetes: pd.DataFrame
    models: dict[str, Any] = field(default_factory=dict)


def log_sklearn_model(
    name: str, model: Any, features: pd.DataFrame, predict_fn: str, experiment_id: str | None = None
) -> str:
    """Log ``model`` with skops in a new run (of ``experiment_id``, else the current experiment)
    and register it as ``name``; return the version."""
    import mlflow
    import mlflow.sklearn
    import skops.io
    from mlflow.models import infer_signature

    # The types skops must be told to trust are the model's own (trees, losses, ...).
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))

    outputs = getattr(model, predict_fn)(features)
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="skops",
            skops_trusted_types=trusted,
            signature=infer_signature(features, outputs),
            pyfunc_predict_fn=predict_fn,
            pip_requirements=["scikit-learn"],
            registered_model_name=name,
        )
    return str(info.registered_model_version)


@pytest.fixture(scope="session")
def test_registry(tmp_path_factory: pytest.TempPathFactory) -> RegistryFixture:
    """Models: wine (forest, 3 classes, versions 1 and 2: Champion -> 2, Challenger -> 1),
    cancer (scaled logistic regression, binary), diabetes (gradient boosting regressor)."""
    import mlflow
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folder = tmp_path_factory.mktemp("registry")
    tracking_uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    experiment = mlflow.create_experiment(
        "tests", artifact_location=(folder / "artifacts").as_uri()
    )
    mlflow.set_experiment(experiment_id=experiment)

    wine_x, wine_y = load_wine(return_X_y=True, as_frame=True)
    wine_x.columns = [column.replace("/", "_") for column in wine_x.columns]
    cancer_x, cancer_y = load_breast_cancer(return_X_y=True, as_frame=True)
    cancer_x = cancer_x.iloc[:, :8]
    cancer_x.columns = [column.replace(" ", "_") for column in cancer_x.columns]
    diabetes_x, diabetes_y = load_diabetes(return_X_y=True, as_frame=True)

    forest_v1 = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=1).fit(
        wine_x, wine_y
    )
    forest_v2 = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(
        wine_x, wine_y
    )
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(
        cancer_x, cancer_y
    )
    boosting = GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0).fit(
        diabetes_x, diabetes_y
    )
    log_sklearn_model("wine", forest_v1, wine_x, "predict_proba")
    log_sklearn_model("wine", forest_v2, wine_x, "predict_proba")
    log_sklearn_model("cancer", logistic, cancer_x, "predict_proba")
    log_sklearn_model("diabetes", boosting, diabetes_x, "predict")
    client = mlflow.MlflowClient()
    client.set_registered_model_alias("wine", "Champion", "2")
    client.set_registered_model_alias("wine", "Challenger", "1")
    client.set_registered_model_alias("cancer", "Champion", "1")
    client.set_registered_model_alias("diabetes", "Champion", "1")
    return RegistryFixture(
        tracking_uri,
        wine_x,
        cancer_x,
        diabetes_x,
        {"wine": forest_v2, "wine_v1": forest_v1, "cancer": logistic, "diabetes": boosting},
    )


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records JSON bodies and answers chosen statuses."""

    url: str
    bodies: list[dict[str, Any]]
    statuses: list[int]


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    bodies: list[dict[str, Any]] = []
    statuses: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            bodies.append(json.loads(self.rfile.read(length)))
            status = statuses.pop(0) if statuses else 200
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook", bodies, statuses)
    server.shutdown()
    server.server_close()


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def dask_scheduler() -> Iterator[str]:
    """The address of a real Dask LocalCluster: 2 worker processes, 1 thread each."""
    import dask
    from distributed import LocalCluster

    from explainops.engines import thread_limits

    with (
        dask.config.set({"distributed.scheduler.active-memory-manager.start": False}),
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            env=thread_limits(1),
        ) as cluster,
    ):
        yield cluster.scheduler_address
