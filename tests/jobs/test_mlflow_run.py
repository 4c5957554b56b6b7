"""``mlflow_run``: a job's outputs, report and figures logged as an MLflow run beside the model.

Read back through MLflow's own client from the real SQLite registry the job explained from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from explainops.api import run

from ..conftest import RegistryFixture


def client_of(registry: RegistryFixture) -> Any:
    import mlflow

    return mlflow.MlflowClient(registry.tracking_uri, registry.tracking_uri)


def download(client: Any, run_id: str, path: str, folder: Path) -> bytes:
    return Path(client.download_artifacts(run_id, path, str(folder))).read_bytes()


@pytest.mark.slow
def test_explanations_job_logs_its_outputs_report_and_figures_as_a_run(
    tmp_path: Path, test_registry: RegistryFixture
) -> None:
    # given the wine Champion explained with a report and mlflow_run naming an experiment
    samples = test_registry.wine.iloc[:25].copy()
    samples.insert(0, "wine_id", [f"w{index}" for index in range(25)])
    samples.to_csv(tmp_path / "samples.csv", index=False)
    out = tmp_path / "out"
    config = {
        "job": {
            "KIND": "ExplanationsJob",
            "inputs_samples": {
                "KIND": "CsvReader",
                "path": str(tmp_path / "samples.csv"),
                "id_column": "wine_id",
            },
            "models_explanations": {"KIND": "CsvWriter", "path": str(out / "models.csv")},
            "samples_explanations": {"KIND": "ParquetWriter", "path": str(out / "samples.parquet")},
            "report": {"path": str(out / "report.html"), "formats": ["html", "ipynb"]},
            "registry": {"name": "wine", "tracking_uri": test_registry.tracking_uri},
            "loader": {"KIND": "BuiltinLoader"},
            "labels": ["class_0", "class_1", "class_2"],
            "mlflow_run": "wine explanations",
        }
    }
    # when it runs
    result = run(config)
    # then one finished run in that experiment holds the outputs, tags and figures
    client = client_of(test_registry)
    experiment = client.get_experiment_by_name("wine explanations")
    assert experiment is not None, "the experiment is created"
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1, "one run per job run"
    logged = runs[0]
    assert logged.info.status == "FINISHED", "the run is finished"
    assert logged.data.tags["explainops.model_name"] == "wine", "tagged with the model"
    assert logged.data.tags["explainops.model_version"] == "2", "and its version (Champion)"
    assert logged.data.tags["explainops.job"] == "ExplanationsJob", "and the job"
    metrics = logged.data.metrics
    assert metrics["n_samples"] == 25, "the samples explained"
    assert metrics["max_additivity_error"] == pytest.approx(
        result.notification.max_additivity_error, abs=1e-15
    ), "the additivity error notified"
    output, feature, value = result.notification.top_features[0]
    assert metrics[f"top.{output}.{feature}"] == pytest.approx(value), "the top attribution"
    for name, local in (
        ("models_explanations/models.csv", out / "models.csv"),
        ("samples_explanations/samples.parquet", out / "samples.parquet"),
        ("report_html/report.html", out / "report.html"),
        ("report_ipynb/report.ipynb", out / "report.ipynb"),
    ):
        assert download(client, logged.info.run_id, name, tmp_path / "dl") == local.read_bytes(), (
            f"artifact {name} is the output, byte for byte"
        )
    version = client.get_model_version("wine", "2")
    assert version.tags["explainops.explanations_run_id"] == logged.info.run_id, (
        "the model version links to the run"
    )


@pytest.mark.slow
def test_drift_job_logs_ndcg_per_label_to_the_models_default_experiment(
    tmp_path: Path, test_registry: RegistryFixture
) -> None:
    # given a baseline of the cancer model and a window checked with mlflow_run: true
    cancer = test_registry.cancer
    cancer.iloc[:120].to_csv(tmp_path / "reference.csv", index=False)
    cancer.iloc[120:200].to_csv(tmp_path / "window.csv", index=False)
    registry = {"name": "cancer", "tracking_uri": test_registry.tracking_uri}
    row = cancer.iloc[:120].mean().to_numpy().tolist()
    run(
        {
            "job": {
                "KIND": "AttributionBaselineJob",
                "inputs_samples": {"KIND": "CsvReader", "path": str(tmp_path / "reference.csv")},
                "registry": registry,
                "explainer": {"KIND": "AutoExplainer", "baseline": [row]},
                "baseline_path": str(tmp_path / "baseline.json"),
            }
        }
    )
    result = run(
        {
            "job": {
                "KIND": "AttributionDriftJob",
                "inputs_samples": {"KIND": "CsvReader", "path": str(tmp_path / "window.csv")},
                "registry": registry,
                "baseline_path": str(tmp_path / "baseline.json"),
                "violations_path": str(tmp_path / "violations.json"),
                "history_path": str(tmp_path / "history.csv"),
                "window_id": "w1",
                "mlflow_run": True,
            }
        }
    )
    # when the model's default experiment is read back
    client = client_of(test_registry)
    experiment = client.get_experiment_by_name("explainops/cancer")
    assert experiment is not None, "mlflow_run: true logs to explainops/<model name>"
    logged = client.search_runs(
        [experiment.experiment_id], "tags.`explainops.job` = 'AttributionDriftJob'"
    )
    assert len(logged) == 1, "the drift run is there"
    # then its NDCG per label is the history's, and the violations file is an artifact
    history = pd.read_csv(tmp_path / "history.csv")
    for label, ndcg in zip(history["label"], history["ndcg"], strict=True):
        assert logged[0].data.metrics[f"ndcg.{label}"] == pytest.approx(ndcg, abs=1e-6), (
            f"NDCG of {label} (notified to 6 decimals)"
        )
    violations = download(
        client, logged[0].info.run_id, "violations/violations.json", tmp_path / "dl"
    )
    assert json.loads(violations) == json.loads((tmp_path / "violations.json").read_text()), (
        "the violations document is logged"
    )
    assert result.metrics["verdict"] == "no drift", "a clean window (the test's premise)"


def test_mlflow_run_without_a_registry_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given an endpoint job asking for an MLflow run but naming no registry
    from explainops.cli import EXIT_INVALID_CONFIG, main

    config = tmp_path / "job.yaml"
    config.write_text(
        "job:\n  KIND: ExplanationsJob\n"
        f"  inputs_samples: {{KIND: CsvReader, path: {tmp_path / 's.csv'}}}\n"
        f"  models_explanations: {{KIND: CsvWriter, path: {tmp_path / 'm.csv'}}}\n"
        f"  samples_explanations: {{KIND: CsvWriter, path: {tmp_path / 'x.csv'}}}\n"
        "  loader: {KIND: EndpointLoader, url: 'http://127.0.0.1:9/invocations'}\n"
        "  mlflow_run: true\n"
    )
    # when it is validated, then it is a configuration error naming the field
    assert main(["validate", str(config)]) == EXIT_INVALID_CONFIG, "exit 2"
    error = capsys.readouterr().err
    assert "mlflow_run needs a registry" in error, f"the error names the field: {error}"
