"""Jobs with their data, baselines, models and outputs on ``s3://``, against a local S3 server.

Each job runs twice, on S3 and on local files, and must give the same results: the computation is
the same, deterministic, and the bytes read are the same, so they are equal to the last bit
(checked with rtol 1e-12, a tolerance that only a change in the arithmetic would exceed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import explainops
from explainops.cli import EXIT_OK, main
from explainops.drift.history import read_history
from explainops.errors import ExplainOpsError
from explainops.io.datasets import read_json, read_table
from explainops.testing.model_server import ModelServer

from ..conftest import RegistryFixture
from ..s3_server import S3Bucket
from ..walkthroughs import run_walkthrough

pytestmark = pytest.mark.slow


def register_on_s3(folder: Path, bucket: S3Bucket, model: Any, features: pd.DataFrame) -> str:
    """A SQLite registry whose model ``cancer`` (Champion, version 1) is stored on S3.

    The model is saved as an MLflow model folder, uploaded, and registered with its ``s3://``
    source, as a registry whose artifact root is on S3 holds it: MLflow downloads it with boto3,
    which finds the server from ``AWS_ENDPOINT_URL``.
    """
    import mlflow
    import mlflow.sklearn
    import skops.io
    from mlflow.models import infer_signature

    local = folder / "cancer_model"
    mlflow.sklearn.save_model(
        model,
        local,
        serialization_format="skops",
        skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model)),
        signature=infer_signature(features, model.predict_proba(features)),
        pyfunc_predict_fn="predict_proba",
        pip_requirements=["scikit-learn"],
    )
    source = bucket.upload(local, "mlflow/cancer")
    tracking_uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri, registry_uri=tracking_uri)
    client.create_registered_model("cancer")
    version = client.create_model_version("cancer", source=source)
    client.set_registered_model_alias("cancer", "Champion", version.version)
    return tracking_uri


def yaml_job(path: Path, kind: str, **fields: str) -> Path:
    body = "".join(f"  {key}: {value}\n" for key, value in fields.items())
    path.write_text(f"job:\n  KIND: {kind}\n{body}")
    return path


def assert_same_table(on_s3: pd.DataFrame, local: pd.DataFrame, what: str) -> None:
    assert list(on_s3.columns) == list(local.columns), f"{what}: the same columns"
    numeric = list(local.select_dtypes("number").columns)
    pd.testing.assert_frame_equal(
        on_s3.drop(columns=numeric), local.drop(columns=numeric), obj=f"{what} (labels, ids)"
    )
    np.testing.assert_allclose(
        on_s3[numeric].to_numpy(float), local[numeric].to_numpy(float), rtol=1e-12,
        err_msg=f"{what}: the run on S3 gives the local run's numbers",
    )  # fmt: skip


def test_explanations_job_reads_and_writes_s3_as_local_files(
    tmp_path: Path, s3_bucket: S3Bucket, test_registry: RegistryFixture
) -> None:
    # given a registry whose model is on S3, and the same samples on S3 and on disk
    tracking_uri = register_on_s3(
        tmp_path, s3_bucket, test_registry.models["cancer"], test_registry.cancer
    )
    local = tmp_path / "samples.csv"
    test_registry.cancer.iloc[:60].to_csv(local, index=False)
    places = {
        "s3": (s3_bucket.upload(local, "data/samples.csv"), s3_bucket.uri("out")),
        "local": (str(local), str(tmp_path / "out")),
    }
    # when the job runs on each
    for name, (samples, out) in places.items():
        config = yaml_job(
            tmp_path / f"{name}.yaml",
            "ExplanationsJob",
            inputs_samples=f"{{KIND: CsvReader, path: '{samples}', batch_size: 25}}",
            registry=f"{{name: cancer, tracking_uri: '{tracking_uri}', registry_uri: '{tracking_uri}'}}",
            models_explanations=f"{{KIND: ParquetWriter, path: '{out}/models.parquet'}}",
            samples_explanations=f"{{KIND: JsonLinesWriter, path: '{out}/samples.jsonl'}}",
        )
        assert main(["run", str(config)]) == EXIT_OK, f"the job on {name} files succeeds"
    # then the objects hold what the local files hold, and only they were added
    for table in ("models.parquet", "samples.jsonl"):
        assert_same_table(
            read_table(s3_bucket.uri(f"out/{table}")), read_table(str(tmp_path / "out" / table)),
            table,
        )  # fmt: skip
    assert s3_bucket.object_keys("out/") == [
        "out/models.parquet",
        "out/samples.jsonl",
    ], "the two outputs, no temporary object"


def failing_on(
    sentinel: float, predict: Callable[[Any], Any], scored: set[float]
) -> Callable[[Any], Any]:
    """``predict``, failing on any request holding a row whose first feature is ``sentinel``.

    The first features of the rows it scores are added to ``scored``.
    """

    def guarded(frame: Any) -> Any:
        first = np.asarray(frame, dtype=float)[:, 0]
        if np.any(first == sentinel):
            raise RuntimeError("the model cannot score this row")
        scored.update(first.tolist())
        return predict(frame)

    return guarded


def test_a_run_failing_midway_leaves_no_object_and_keeps_the_previous_outputs(
    tmp_path: Path, s3_bucket: S3Bucket, test_registry: RegistryFixture
) -> None:
    # given an endpoint that fails on one row, a data set holding it in its third batch of ten,
    # and the outputs of a good run on S3
    cancer = test_registry.cancer.iloc[:30].reset_index(drop=True)
    sentinel = 1234.5
    poisoned = cancer.copy()
    poisoned.iloc[25, 0] = sentinel
    good = s3_bucket.upload(_csv(tmp_path / "good.csv", cancer), "data/good.csv")
    bad = s3_bucket.upload(_csv(tmp_path / "bad.csv", poisoned), "data/bad.csv")
    scored: set[float] = set()
    model = failing_on(sentinel, test_registry.models["cancer"].predict_proba, scored)
    background = cancer.mean().to_numpy().tolist()

    def job(samples: str, out: str, url: str) -> dict[str, Any]:
        return {
            "job": {
                "KIND": "ExplanationsJob",
                "inputs_samples": {"KIND": "CsvReader", "path": samples, "batch_size": 10},
                "loader": {
                    "KIND": "EndpointLoader", "url": url, "probability_attribute": 1,
                    "max_retries": 0,
                },
                "explainer": {"KIND": "ExactExplainer", "baseline": [background]},
                "models_explanations": {"KIND": "CsvWriter", "path": f"{out}/models.csv"},
                "samples_explanations": {"KIND": "ParquetWriter", "path": f"{out}/samples.parquet"},
            }
        }  # fmt: skip

    with ModelServer(model, list(cancer.columns), csv_layout="scores") as server:
        explainops.run(job(good, s3_bucket.uri("out"), server.url))
        before = {key: s3_bucket.body(key) for key in s3_bucket.object_keys("out/")}
        scored.clear()
        # when runs over the poisoned data fail on its third batch, after writing two
        for out in (s3_bucket.uri("out"), s3_bucket.uri("fresh")):
            with pytest.raises(ExplainOpsError):
                explainops.run(job(bad, out, server.url))
    # then the good outputs are byte-identical, nothing was added, no upload is left open
    assert float(cancer.iloc[15, 0]) in scored, "the failing runs explained batch 2 first"
    assert sorted(before) == ["out/models.csv", "out/samples.parquet"], "the good run's outputs"
    after = {key: s3_bucket.body(key) for key in s3_bucket.object_keys("out/")}
    assert after == before, "the previous outputs are byte-identical"
    assert s3_bucket.object_keys("fresh/") == [], "no partial object"
    assert s3_bucket.multipart_uploads() == [], "no upload left open"


def _csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_baseline_and_drift_jobs_keep_their_files_and_history_on_s3(
    tmp_path: Path, s3_bucket: S3Bucket, test_registry: RegistryFixture
) -> None:
    # given a registry whose model is on S3, and reference and window data on S3 and on disk
    tracking_uri = register_on_s3(
        tmp_path, s3_bucket, test_registry.models["cancer"], test_registry.cancer
    )
    cancer = test_registry.cancer
    row = json.dumps(cancer.iloc[:100].mean().to_numpy().tolist())
    model = f"{{name: cancer, tracking_uri: '{tracking_uri}', registry_uri: '{tracking_uri}'}}"
    reference = _csv(tmp_path / "reference.csv", cancer.iloc[:100])
    window = _csv(tmp_path / "window.csv", cancer.iloc[100:160])
    places = {
        "s3": (
            s3_bucket.upload(reference, "data/reference.csv"),
            s3_bucket.upload(window, "data/window.csv"),
            s3_bucket.uri("monitor"),
        ),
        "local": (str(reference), str(window), str(tmp_path / "monitor")),
    }
    # when the baseline is recorded and a window monitored, on each
    for name, (reference_data, window_data, monitor) in places.items():
        baseline = yaml_job(
            tmp_path / f"{name}_baseline.yaml",
            "AttributionBaselineJob",
            inputs_samples=f"{{KIND: CsvReader, path: '{reference_data}'}}",
            registry=model,
            explainer=f"{{KIND: ExactExplainer, baseline: [{row}]}}",
            baseline_path=f"'{monitor}/baseline.json'",
        )
        drift = yaml_job(
            tmp_path / f"{name}_drift.yaml",
            "AttributionDriftJob",
            inputs_samples=f"{{KIND: CsvReader, path: '{window_data}'}}",
            registry=model,
            baseline_path=f"'{monitor}/baseline.json'",
            violations_path=f"'{monitor}/constraint_violations.json'",
            history_path=f"'{monitor}/history/'",
            window_id="w1",
        )
        assert main(["run", str(baseline)]) == EXIT_OK, f"the baseline job on {name} succeeds"
        assert main(["run", str(drift)]) == EXIT_OK, f"the drift job on {name} succeeds"
    # then the baseline, the violations and the history on S3 are the local ones
    on_s3, on_disk = (
        read_json(f"{monitor}/baseline.json", "baseline") for _, _, monitor in places.values()
    )
    for name in ("label0", "label1"):
        np.testing.assert_allclose(
            list(on_s3["explanations"]["kernel_shap"][name]["global_shap_values"].values()),
            list(on_disk["explanations"]["kernel_shap"][name]["global_shap_values"].values()),
            rtol=1e-12, err_msg=f"{name}: the baseline's attributions are the local run's",
        )  # fmt: skip
    assert read_json(s3_bucket.uri("monitor/constraint_violations.json"), "violations") == (
        read_json(str(tmp_path / "monitor" / "constraint_violations.json"), "violations")
    ), "the same verdict"
    history = read_history(s3_bucket.uri("monitor/history/"))
    assert len(history) == 2, "one history row per label, in an object of the run's own"
    # window_time is when each run explained its window: the one column that must differ
    assert_same_table(
        history.drop(columns="window_time"),
        read_history(str(tmp_path / "monitor" / "history")).drop(columns="window_time"),
        "the history",
    )


def test_clarify_reads_config_data_baseline_and_model_from_s3_and_writes_there(
    tmp_path: Path, s3_bucket: S3Bucket
) -> None:
    # given a Clarify analysis config with a baseline file, a data set and an MLflow model
    # folder, on S3 and on disk
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    features = ["feature_1", "feature_2", "feature_3"]
    generator = np.random.default_rng(0)
    x = pd.DataFrame(generator.random((200, 3)), columns=features)
    y = (x.to_numpy() @ np.array([1.5, -2.0, 1.0]) > 0.2).astype(int)
    mlflow.sklearn.save_model(
        LogisticRegression().fit(x, y),
        tmp_path / "model",
        serialization_format="skops",
        pyfunc_predict_fn="predict_proba",
        pip_requirements=["scikit-learn"],
    )
    x.iloc[:30].to_csv(tmp_path / "dataset.csv", header=False, index=False)
    x.iloc[:50].mean().to_frame().T.to_csv(tmp_path / "baseline.csv", index=False)
    s3_baseline = s3_bucket.upload(tmp_path / "baseline.csv", "clarify/baseline.csv")
    places = {}
    for name, baseline in (("s3", s3_baseline), ("local", str(tmp_path / "baseline.csv"))):
        config = {
            "headers": features,
            "methods": {
                "shap": {
                    "baseline": baseline, "num_samples": 100, "agg_method": "mean_abs",
                    "save_local_shap_values": True,
                }
            },
            "predictor": {"model_name": "my_model"},
        }  # fmt: skip
        (tmp_path / f"{name}_config.json").write_text(json.dumps(config))
    places["s3"] = (
        s3_bucket.upload(tmp_path / "s3_config.json", "clarify/analysis_config.json"),
        s3_bucket.upload(tmp_path / "dataset.csv", "clarify/dataset.csv"),
        s3_bucket.upload(tmp_path / "model", "clarify/model"),
        s3_bucket.uri("clarify/out"),
    )
    places["local"] = (
        str(tmp_path / "local_config.json"),
        str(tmp_path / "dataset.csv"),
        str(tmp_path / "model"),
        str(tmp_path / "out"),
    )
    # when explainops clarify runs on each
    for name, (config_path, dataset, model, out) in places.items():
        code = main([
            "clarify", "--config", config_path, "--dataset", dataset, "--model", model,
            "--output", out, "--probability-attribute", "1",
        ])  # fmt: skip
        assert code == EXIT_OK, f"clarify on {name} files succeeds"
    # then analysis.json and the local values on S3 are the local ones
    on_s3, on_disk = (
        read_json(f"{out}/analysis.json", "analysis")["explanations"]
        for _, _, _, out in places.values()
    )
    assert on_s3.keys() == on_disk.keys(), "the same methods"
    s3_label = on_s3["kernel_shap"]["label0"]
    disk_label = on_disk["kernel_shap"]["label0"]
    np.testing.assert_allclose(
        list(s3_label["global_shap_values"].values()),
        list(disk_label["global_shap_values"].values()),
        rtol=1e-12, err_msg="the global values are the local run's",
    )  # fmt: skip
    assert_same_table(
        read_table(s3_bucket.uri("clarify/out/explanations_shap/out.csv")),
        read_table(str(tmp_path / "out" / "explanations_shap" / "out.csv")),
        "the local SHAP values",
    )


def test_the_committed_s3_walkthrough_runs_against_a_local_server(tmp_path: Path) -> None:
    # given a copy of the walk-through's files, a free port for its S3 server, and its own
    # registry (./mlruns) and AWS settings, never this session's
    # when examples/clarify/s3_walkthrough.sh runs
    done = run_walkthrough(
        "s3_walkthrough.sh",
        tmp_path,
        port_variable="S3_PORT",
        isolated=("AWS_", "MLFLOW_TRACKING", "MLFLOW_REGISTRY"),
        timeout=300,
    )
    # then it lists both outputs on S3 and prints the analysis
    assert done.returncode == 0, f"the walk-through succeeds: {done.stderr[-2000:]}"
    bucket = "s3://explainops-walkthrough/clarify/out"
    assert f"{bucket}/analysis.json\n{bucket}/explanations_shap/out.csv\n" in done.stdout, (
        "analysis.json and the local SHAP values are on S3"
    )
    assert '"kernel_shap"' in done.stdout, "the analysis is printed"
