"""A finished job logged as an MLflow run, read back through MlflowClient from a real SQLite
registry: the run, its metrics, params, tags and artifacts (byte for byte), the model version's
tag naming it, and its metrics on the version's MLflow 3 LoggedModel."""

from __future__ import annotations

import doctest
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from explainops.errors import ModelLoadError, WriteError
from explainops.io import tracking
from explainops.io.tracking import log_job_run, version_tag_key

from ..conftest import log_sklearn_model

MLFLOW_SETTINGS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
# What a job writes: a file per output, and a folder of plots with a subfolder.
CSV = "sample_id,alcohol,proline\n0,0.125,-0.5\n1,0.25,0.75\n"
HTML = "<!doctype html><html><body><h1>tiny v1</h1><p>mean |SHAP|</p></body></html>\n"
PLOTS = {"summary.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>", "per_class/0.txt": "class 0"}


@dataclass(frozen=True)
class TrackingRegistry:
    """A SQLite registry holding ``tiny`` version 1 (logged as MLflow 3 logs models: a
    LoggedModel) and ``legacy`` version 1 (registered from a plain folder: no LoggedModel)."""

    folder: Path

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.folder / 'mlflow.db'}"

    def client(self) -> Any:
        import mlflow

        return mlflow.MlflowClient(self.uri, self.uri)


@pytest.fixture(autouse=True)
def mlflow_state() -> Iterator[None]:
    """Leave MLflow's current registry, and the variables its setters export, as they were."""
    import mlflow

    saved = {name: os.environ.get(name) for name in MLFLOW_SETTINGS}
    current = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    yield
    mlflow.set_tracking_uri(current[0])
    mlflow.set_registry_uri(current[1])
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> TrackingRegistry:
    import mlflow
    import mlflow.sklearn

    folder = tmp_path_factory.mktemp("tracking_registry")
    registry = TrackingRegistry(folder)
    rng = np.random.default_rng(0)
    samples = pd.DataFrame(rng.random((40, 3)), columns=["f1", "f2", "f3"])
    target = (samples.to_numpy() @ np.array([2.0, -1.0, 0.5]) > 0.7).astype(int)
    model = LogisticRegression().fit(samples, target)
    saved = {name: os.environ.get(name) for name in MLFLOW_SETTINGS}
    current = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    mlflow.set_tracking_uri(registry.uri)
    mlflow.set_registry_uri(registry.uri)
    try:
        training = mlflow.create_experiment(
            "training", artifact_location=(folder / "training").as_uri()
        )
        log_sklearn_model("tiny", model, samples, "predict_proba", training)
        client = registry.client()
        client.create_registered_model("legacy")
        (folder / "legacy_model").mkdir()
        client.create_model_version("legacy", source=(folder / "legacy_model").as_uri())
    finally:
        mlflow.set_tracking_uri(current[0])
        mlflow.set_registry_uri(current[1])
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return registry


@pytest.fixture
def outputs(tmp_path: Path) -> dict[str, Path]:
    """A CSV file, an HTML file and a folder of plots, as a job leaves them."""
    (tmp_path / "explanations.csv").write_text(CSV)
    (tmp_path / "report.html").write_text(HTML)
    for name, text in PLOTS.items():
        (tmp_path / "plots" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "plots" / name).write_text(text)
    return {
        "explanations": tmp_path / "explanations.csv",
        "report": tmp_path / "report.html",
        "plots": tmp_path / "plots",
    }


def artifact_files(client: Any, run_id: str, folder: str | None = None) -> list[str]:
    """Every artifact file of the run, listed recursively through the client."""
    files: list[str] = []
    for entry in client.list_artifacts(run_id, folder):
        files.extend(artifact_files(client, run_id, entry.path) if entry.is_dir else [entry.path])
    return sorted(files)


def runs_of(client: Any, experiment: str) -> list[Any]:
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else list(client.search_runs([found.experiment_id]))


# --- a run beside the model ----------------------------------------------------------------------


def test_a_job_run_holds_the_outputs_figures_and_settings_and_links_the_model_version(
    registry: TrackingRegistry, outputs: dict[str, Path], tmp_path: Path
) -> None:
    # given a registered MLflow 3 model, a job's outputs and figures (one not finite, one with
    # characters MLflow refuses in a name)
    client = registry.client()
    version = client.get_model_version("tiny", "1")
    figures = {"mean_abs_shap/f1": 0.375, "mean |SHAP| f2": 0.125, "rows": 2.0, "r2": float("nan")}
    assert client.get_experiment_by_name("explanations") is None, "the experiment is new"

    # when the job's run is logged
    logged = log_job_run(
        registry.uri,
        None,
        experiment="explanations",
        run_name="ExplanationsJob tiny v1",
        job="ExplanationsJob",
        model_name="tiny",
        model_version=1,
        artifacts={name: str(path) for name, path in outputs.items()},
        metrics=figures,
        params={"explainer": "KernelExplainer", "background rows": "50"},
        artifact_location=(tmp_path / "mlartifacts").as_uri(),
    )

    # then the run is FINISHED in the new experiment, with the figures and settings
    experiment = client.get_experiment_by_name("explanations")
    assert experiment is not None, "the experiment is created"
    assert logged.experiment_id == experiment.experiment_id, "the run's experiment is returned"
    run = client.get_run(logged.run_id)
    assert run.info.experiment_id == experiment.experiment_id, "the run is in the experiment"
    assert run.info.status == "FINISHED", "a logged run is FINISHED"
    assert run.info.run_name == "ExplanationsJob tiny v1", "the run has its name"
    assert logged.artifact_uri == run.info.artifact_uri, "the run's artifact URI is returned"
    assert run.data.metrics == {"mean_abs_shap/f1": 0.375, "mean _SHAP_ f2": 0.125, "rows": 2.0}, (
        "finite figures are logged, names made MLflow keys; NaN is dropped"
    )
    assert run.data.params == {"explainer": "KernelExplainer", "background rows": "50"}, (
        "the settings are params"
    )
    tags = {key: value for key, value in run.data.tags.items() if key.startswith("explainops.")}
    assert tags == {
        "explainops.job": "ExplanationsJob",
        "explainops.model_name": "tiny",
        "explainops.model_version": "1",
    }, "the run is tagged with the job and the model version"

    # and each output is an artifact folder of its name, byte for byte the job's files
    assert artifact_files(client, logged.run_id) == [
        "explanations/explanations.csv",
        "plots/per_class/0.txt",
        "plots/summary.svg",
        "report/report.html",
    ], "a file is logged in its output's folder, a folder's tree as it is"
    downloaded = Path(client.download_artifacts(logged.run_id, "", str(tmp_path / "download")))
    expected = {
        "explanations/explanations.csv": CSV,
        "report/report.html": HTML,
        **{f"plots/{name}": text for name, text in PLOTS.items()},
    }
    for path, text in expected.items():
        assert (downloaded / path).read_bytes() == text.encode(), f"{path} downloads unchanged"

    # and the model version names the run, and the LoggedModel holds the run's figures
    tagged = client.get_model_version("tiny", "1").tags
    assert tagged.get("explainops.explanations_run_id") == logged.run_id, (
        "the model version's tag names the job's run"
    )
    model_id = version.source.removeprefix("models:/")
    assert logged.model_id == model_id, "the version's LoggedModel is found from its source"
    linked = {
        metric.key: (metric.value, metric.run_id)
        for metric in client.get_logged_model(model_id).metrics
    }
    assert linked == {
        "mean_abs_shap/f1": (0.375, logged.run_id),
        "mean _SHAP_ f2": (0.125, logged.run_id),
        "rows": (2.0, logged.run_id),
    }, "the figures show on the model's page, each naming the run"
    assert [model.model_id for model in run.inputs.model_inputs] == [model_id], (
        "the run takes the model as its input, as an evaluation run does"
    )


def test_a_second_run_joins_the_experiment_and_the_version_tag_follows_it(
    registry: TrackingRegistry, tmp_path: Path
) -> None:
    # given a first run of a job in an experiment
    (tmp_path / "drift.csv").write_text("feature,score\nf1,0.5\n")
    common: dict[str, Any] = {
        "experiment": "drift",
        "job": "AttributionDriftJob",
        "model_name": "tiny",
        "model_version": 1,
        "artifacts": {"drift": str(tmp_path / "drift.csv")},
        "artifact_location": (tmp_path / "mlartifacts").as_uri(),
    }
    first = log_job_run(registry.uri, registry.uri, run_name="first", metrics={"ks": 0.1}, **common)

    # when the job runs again
    second = log_job_run(
        registry.uri, registry.uri, run_name="second", metrics={"ks": 0.2}, **common
    )

    # then both runs are in the one experiment, and the version's tag names the latest
    assert second.experiment_id == first.experiment_id, "the existing experiment is reused"
    client = registry.client()
    assert sorted(run.info.run_name for run in runs_of(client, "drift")) == ["first", "second"], (
        "the experiment holds both runs"
    )
    tag = client.get_model_version("tiny", "1").tags.get("explainops.attribution_drift_run_id")
    assert tag == second.run_id, "the version's tag for this job names its latest run"


def test_a_version_without_a_logged_model_still_gets_its_run_and_tag(
    registry: TrackingRegistry, tmp_path: Path
) -> None:
    # given a version registered from a plain folder (as before MLflow 3): no LoggedModel
    (tmp_path / "report.html").write_text(HTML)

    # when a job's run is logged for it
    logged = log_job_run(
        registry.uri,
        None,
        experiment="legacy",
        run_name="ExplanationsJob legacy v1",
        job="ExplanationsJob",
        model_name="legacy",
        model_version=1,
        artifacts={"report": str(tmp_path / "report.html")},
        metrics={"rows": 3.0},
        artifact_location=(tmp_path / "mlartifacts").as_uri(),
    )

    # then the run and the version tag are there, and no model is linked
    client = registry.client()
    run = client.get_run(logged.run_id)
    assert (run.info.status, run.data.metrics) == ("FINISHED", {"rows": 3.0}), (
        "the run holds its figures"
    )
    assert logged.model_id is None, "there is no LoggedModel to link"
    assert list(run.inputs.model_inputs or []) == [], "nor a model input"
    assert client.get_model_version("legacy", "1").tags == {
        "explainops.explanations_run_id": logged.run_id
    }, "the version's tag names the run"


def test_a_job_without_a_registered_model_logs_a_run_tagged_with_the_job_only(
    registry: TrackingRegistry, tmp_path: Path
) -> None:
    # given a job that explained an endpoint, with a file:// output
    (tmp_path / "explanations.csv").write_text(CSV)

    # when its run is logged
    logged = log_job_run(
        registry.uri,
        None,
        experiment="endpoints",
        run_name="ExplanationsJob endpoint",
        job="ExplanationsJob",
        model_name=None,
        model_version=None,
        artifacts={"explanations": (tmp_path / "explanations.csv").as_uri()},
        metrics={},
        artifact_location=(tmp_path / "mlartifacts").as_uri(),
    )

    # then the run is tagged with the job alone, and holds the output
    client = registry.client()
    run = client.get_run(logged.run_id)
    assert {k: v for k, v in run.data.tags.items() if k.startswith("explainops.")} == {
        "explainops.job": "ExplanationsJob"
    }, "no model tags without a model"
    assert (run.info.status, logged.model_id) == ("FINISHED", None), "a FINISHED, unlinked run"
    assert artifact_files(client, logged.run_id) == ["explanations/explanations.csv"], (
        "a file:// output is a local file"
    )


def test_an_output_in_object_storage_is_skipped_with_a_warning_and_tagged(
    registry: TrackingRegistry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # given one local output and one in S3
    (tmp_path / "report.html").write_text(HTML)
    s3 = "s3://bucket/outputs/explanations.parquet"

    # when the run is logged
    with caplog.at_level(logging.WARNING, logger="explainops.io.tracking"):
        logged = log_job_run(
            registry.uri,
            None,
            experiment="object-storage",
            run_name="ExplanationsJob tiny v1",
            job="ExplanationsJob",
            model_name="tiny",
            model_version=1,
            artifacts={"report": str(tmp_path / "report.html"), "explanations": s3},
            metrics={"rows": 2.0},
            artifact_location=(tmp_path / "mlartifacts").as_uri(),
        )

    # then the local output is logged, the S3 one is named by a tag, and a warning says so
    client = registry.client()
    run = client.get_run(logged.run_id)
    assert artifact_files(client, logged.run_id) == ["report/report.html"], "S3 is not copied"
    assert run.data.tags.get("explainops.output.explanations") == s3, "its location is a tag"
    assert "'explanations' is at s3://bucket/outputs/explanations.parquet" in caplog.text, (
        "a warning says the output was not copied"
    )
    assert run.info.status == "FINISHED", "skipping a remote output does not fail the run"


# --- failures ------------------------------------------------------------------------------------


def test_a_missing_output_fails_the_run_with_one_line(
    registry: TrackingRegistry, outputs: dict[str, Path], tmp_path: Path
) -> None:
    # given an output whose file is not there
    missing = tmp_path / "gone" / "explanations.csv"

    # when the run is logged
    with pytest.raises(WriteError) as raised:
        log_job_run(
            registry.uri,
            None,
            experiment="failures",
            run_name="ExplanationsJob tiny v1",
            job="ExplanationsJob",
            model_name="tiny",
            model_version=1,
            artifacts={"report": str(outputs["report"]), "explanations": str(missing)},
            metrics={"rows": 2.0},
            artifact_location=(tmp_path / "mlartifacts").as_uri(),
        )

    # then one line says which output, where, and that the run is FAILED
    message = str(raised.value)
    runs = runs_of(registry.client(), "failures")
    assert len(runs) == 1, "the run was created before the failure"
    run_id = runs[0].info.run_id
    assert message == (
        f"cannot log the ExplanationsJob run 'ExplanationsJob tiny v1' ({run_id}) at "
        f"{registry.uri}: output 'explanations': {missing} does not exist; the run is marked FAILED"
    ), "the message names the run, the tracking URI, the output and the run's fate"
    assert runs[0].info.status == "FAILED", "the run is marked FAILED"
    tags = registry.client().get_model_version("tiny", "1").tags
    assert tags.get("explainops.explanations_run_id") != run_id, "the version does not name it"


def test_a_failed_run_does_not_move_the_version_tag(
    registry: TrackingRegistry, tmp_path: Path
) -> None:
    # given the version's tag for a job naming a finished run
    (tmp_path / "ok.csv").write_text(CSV)
    common: dict[str, Any] = {
        "experiment": "tag-stays",
        "run_name": "ClarifyJob tiny v1",
        "job": "ClarifyJob",
        "model_name": "tiny",
        "model_version": 1,
        "metrics": {},
        "artifact_location": (tmp_path / "mlartifacts").as_uri(),
    }
    finished = log_job_run(registry.uri, None, artifacts={"ok": str(tmp_path / "ok.csv")}, **common)

    # when a later run of the job fails
    with pytest.raises(WriteError, match="does not exist; the run is marked FAILED"):
        log_job_run(registry.uri, None, artifacts={"ok": str(tmp_path / "nope.csv")}, **common)

    # then the tag still names the finished run
    tags = registry.client().get_model_version("tiny", "1").tags
    assert tags.get(version_tag_key("ClarifyJob")) == finished.run_id, (
        "the version's tag is set only once the run has logged everything"
    )


def test_a_missing_version_is_a_model_load_error_and_no_run(
    registry: TrackingRegistry, tmp_path: Path
) -> None:
    # when a run is logged for a version the registry does not have
    with pytest.raises(ModelLoadError) as raised:
        log_job_run(
            registry.uri,
            None,
            experiment="no-version",
            run_name="ExplanationsJob tiny v9",
            job="ExplanationsJob",
            model_name="tiny",
            model_version=9,
            artifacts={},
            metrics={},
        )

    # then the error names the version and the registry, and nothing is logged
    assert str(raised.value) == (
        f"model 'tiny' has no version 9 in {registry.uri}: no run is logged"
    ), "one line naming the version and the registry"
    assert registry.client().get_experiment_by_name("no-version") is None, "no experiment made"


@pytest.mark.parametrize(
    ("artifacts", "metrics", "expected"),
    [
        ({}, {"a:b": 1.0, "a_b": 2.0}, "the metrics 'a:b' and 'a_b' would both be logged as 'a_b'"),
        ({"../escape": "x.csv"}, {}, "output name '../escape' cannot name an artifact folder"),
        ({"": "x.csv"}, {}, "output name '' cannot name an artifact folder"),
    ],
    ids=["colliding-metric-names", "output-name-leaving-the-run", "empty-output-name"],
)
def test_unusable_names_are_refused_before_any_run(
    registry: TrackingRegistry,
    artifacts: dict[str, str],
    metrics: dict[str, float],
    expected: str,
) -> None:
    # when a run is logged with names MLflow could not keep apart or that leave the run's folder
    with pytest.raises(WriteError, match="^" + expected.replace("(", r"\(")):
        log_job_run(
            registry.uri,
            None,
            experiment="refused",
            run_name="refused",
            job="ExplanationsJob",
            model_name="tiny",
            model_version=1,
            artifacts=artifacts,
            metrics=metrics,
        )

    # then no run is created
    assert runs_of(registry.client(), "refused") == [], "the names are checked first"


def test_a_missing_registry_is_refused_and_not_created(tmp_path: Path) -> None:
    # given a tracking URI naming no database
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"

    # when a run is logged there
    with pytest.raises(ModelLoadError, match="does not exist"):
        log_job_run(
            uri,
            None,
            experiment="anywhere",
            run_name="r",
            job="ExplanationsJob",
            model_name=None,
            model_version=None,
            artifacts={},
            metrics={},
        )

    # then nothing is created
    assert list(tmp_path.iterdir()) == [], "logging a run never creates a registry"


def test_an_unreachable_tracking_server_is_one_line_with_credentials_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a tracking server with credentials in its URI, on a port nothing listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    uri = f"http://bob:s3cret-token@127.0.0.1:{port}"

    # when a run is logged there
    with pytest.raises(WriteError) as raised:
        log_job_run(
            uri,
            None,
            experiment="remote",
            run_name="ExplanationsJob endpoint",
            job="ExplanationsJob",
            model_name=None,
            model_version=None,
            artifacts={},
            metrics={"rows": 1.0},
        )

    # then one line names the masked server and says why
    message = str(raised.value)
    assert message.startswith(
        f"cannot log the ExplanationsJob run 'ExplanationsJob endpoint' to MLflow at "
        f"http://***@127.0.0.1:{port}: "
    ), f"the message names the server, masked: {message}"
    assert "s3cret-token" not in message and "bob" not in message, "no credentials in the message"
    assert "\n" not in message, "one line"


# --- names ---------------------------------------------------------------------------------------


def test_the_examples_of_the_docstrings_run() -> None:
    # when the module's doctests run
    results = doctest.testmod(tracking, optionflags=doctest.ELLIPSIS)

    # then they pass, and there are some
    assert results.attempted > 0, "the module has examples"
    assert results.failed == 0, "every example prints what it says"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("mean_abs_shap/alcohol", "mean_abs_shap/alcohol"),
        ("Größe (cm)", "Größe _cm_"),
        ("a" * 300, "a" * 250),
        ("", "_"),
    ],
    ids=["kept", "letters-kept-brackets-replaced", "cut-at-250", "empty"],
)
def test_a_name_becomes_a_key_mlflow_accepts(name: str, key: str) -> None:
    from mlflow.utils.validation import _validate_metric_name

    # when a name is made a key
    made = tracking.mlflow_key(name)

    # then it is the expected key, and MLflow's own check accepts it
    assert made == key, f"{name!r} -> {key!r}"
    _validate_metric_name(made)  # raises MlflowException on a key MLflow refuses
