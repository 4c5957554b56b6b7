"""Analysis configs as the SageMaker Python SDK writes them run unchanged, in process and remotely.

The configs under ``sdk_configs/`` are the SDK's own output (``sdk_configs/generate.py``, SDK v2):
``methods.report``, ``save_local_shap_values: true``, ``initial_instance_count``, the predictor's
``label`` and ``probability`` and all. Each is run by ``explainops clarify`` against the test
registry's cancer classifier twice, in process (``--model models:/cancer/1``) and behind the
reference ``ModelServer`` (``--endpoint``), on a data set of the config's format. The two runs
must agree to 1e-9, and the values must be the Shapley values computed by brute force (the
budget of 300 coalitions covers all 2^8 - 2, so Kernel SHAP is exact) and add up to the model's
prediction minus the expected value.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from explainops.cli import EXIT_OK, main
from explainops.testing.model_server import ModelServer

from ..conftest import RegistryFixture
from ..explainers.brute_force import shapley_table

CONFIGS = Path(__file__).parent / "sdk_configs"
SDK_VERSION = "2.257.7"
LABEL = "diagnosis"
ROW_ID = "patient_id"
N_ROWS = 20
TOLERANCE = {"rtol": 1e-9, "atol": 1e-12}  # atol only for values that are zero up to rounding

DatasetWriter = Callable[[Path, pd.DataFrame, np.ndarray], Path]


def write_csv_with_header(folder: Path, features: pd.DataFrame, labels: np.ndarray) -> Path:
    """The label first, a row id, then the features, under a header row."""
    frame = features.copy()
    frame.insert(0, LABEL, labels)
    frame.insert(1, ROW_ID, range(1000, 1000 + len(frame)))
    path = folder / "dataset.csv"
    frame.to_csv(path, index=False)
    return path


def write_csv_label_first(folder: Path, features: pd.DataFrame, labels: np.ndarray) -> Path:
    """The label first, then the features, under a header row."""
    frame = features.copy()
    frame.insert(0, LABEL, labels)
    path = folder / "dataset.csv"
    frame.to_csv(path, index=False)
    return path


def write_csv_without_header(folder: Path, features: pd.DataFrame, labels: np.ndarray) -> Path:
    """The label first, then the features; no header row."""
    frame = features.copy()
    frame.insert(0, LABEL, labels)
    path = folder / "dataset.csv"
    frame.to_csv(path, index=False, header=False)
    return path


def write_features_only_csv(folder: Path, features: pd.DataFrame, labels: np.ndarray) -> Path:
    """What a monitoring schedule reads from captured requests: feature rows, no header."""
    path = folder / "captured.csv"
    features.to_csv(path, index=False, header=False)
    return path


def write_json_lines(folder: Path, features: pd.DataFrame, labels: np.ndarray) -> Path:
    """``{"features": [...], "diagnosis": 0}`` per line."""
    path = folder / "dataset.jsonl"
    records = [
        json.dumps({"features": row, LABEL: int(label)})
        for row, label in zip(features.to_numpy().tolist(), labels, strict=True)
    ]
    path.write_text("\n".join(records) + "\n")
    return path


def write_json(folder: Path, features: pd.DataFrame, labels: np.ndarray) -> Path:
    """One document ``{"instances": [{"features": [...], "diagnosis": 0}, ...]}``."""
    path = folder / "dataset.json"
    instances = [
        {"features": row, LABEL: int(label)}
        for row, label in zip(features.to_numpy().tolist(), labels, strict=True)
    ]
    path.write_text(json.dumps({"instances": instances}))
    return path


def write_parquet(folder: Path, features: pd.DataFrame, labels: np.ndarray) -> Path:
    """The features and the label column, in a Parquet file."""
    frame = features.copy()
    frame[LABEL] = labels
    path = folder / "dataset.parquet"
    frame.to_parquet(path, index=False)
    return path


@dataclass(frozen=True)
class Case:
    """One generated config, its data set, and how the two runs are told where the score is.

    ``probability_attribute`` is passed on the command line when the config's own
    ``predictor.probability`` does not apply: a JMESPath into endpoint answers means nothing to
    an in-process model (column 1 of ``predict_proba`` is the positive class), and a monitoring
    schedule's config leaves it to the schedule's ``ProbabilityAttribute``.
    """

    name: str
    write: DatasetWriter
    label: str = "label0"
    accept: str = "text/csv"
    local_probability: str | None = None
    remote_probability: str | None = None

    @property
    def config(self) -> dict[str, Any]:
        """The generated config."""
        loaded: dict[str, Any] = json.loads((CONFIGS / f"{self.name}.json").read_text())
        return loaded


CASES = [
    Case("csv_label_excluded", write_csv_with_header, label="benign"),
    Case("csv_headerless_label_index", write_csv_without_header),
    Case(
        "json_lines",
        write_json_lines,
        accept="application/jsonlines",
        local_probability="1",
    ),
    Case("json_dataset", write_json, accept="application/jsonlines", local_probability="1"),
    Case("json_predictor", write_json, local_probability="1"),
    Case("parquet", write_parquet),
    Case("pdp_and_shap", write_csv_label_first),
    Case(
        "monitor_csv",
        write_features_only_csv,
        label="benign",
        local_probability="1",
        remote_probability="1",
    ),
]


@dataclass(frozen=True)
class Run:
    """One ``explainops clarify`` run: its exit code, what it wrote, and what it printed."""

    code: int
    output: Path
    stderr: str

    @property
    def analysis(self) -> dict[str, Any]:
        """analysis.json."""
        loaded: dict[str, Any] = json.loads((self.output / "analysis.json").read_text())
        return loaded

    def kernel_shap(self, label: str) -> dict[str, Any]:
        """The label's global values and expected value."""
        values: dict[str, Any] = self.analysis["explanations"]["kernel_shap"][label]
        return values

    @property
    def local_values(self) -> pd.DataFrame:
        """explanations_shap/out.csv."""
        return pd.read_csv(self.output / "explanations_shap" / "out.csv")


def clarify(
    capsys: pytest.CaptureFixture[str], output: Path, common: list[str], *model: str
) -> Run:
    """Run ``explainops clarify`` in process with ``common`` and the model arguments."""
    capsys.readouterr()
    code = main(["clarify", *common, "--output", str(output), *model])
    return Run(code, output, capsys.readouterr().err)


@dataclass(frozen=True)
class Runs:
    """The in-process run, the endpoint run and what they explained."""

    local: Run
    remote: Run
    features: pd.DataFrame
    received: list[Any]


def run_both_ways(
    case: Case, tmp_path: Path, registry: RegistryFixture, capsys: pytest.CaptureFixture[str]
) -> Runs:
    """Write the case's config and data set, and run it in process and against an endpoint."""
    features = registry.cancer.iloc[100 : 100 + N_ROWS].reset_index(drop=True)
    model = registry.models["cancer"]
    config = tmp_path / "analysis_config.json"
    config.write_text((CONFIGS / f"{case.name}.json").read_text())
    dataset = case.write(tmp_path, features, model.predict(features))
    common = ["--config", str(config), "--dataset", str(dataset)]
    local_options = (
        ["--probability-attribute", case.local_probability] if case.local_probability else []
    )
    local = clarify(
        capsys,
        tmp_path / "local",
        common,
        "--model",
        "models:/cancer/1",
        "--tracking-uri",
        registry.tracking_uri,
        *local_options,
    )
    remote_options = (
        ["--probability-attribute", case.remote_probability] if case.remote_probability else []
    )
    with ModelServer(
        model.predict_proba,
        list(features.columns),
        labels=model.classes_,
        default_accept=case.accept,
    ) as server:
        remote = clarify(
            capsys,
            tmp_path / "remote",
            common,
            "--endpoint",
            server.url,
            *remote_options,
        )
        received = server.received
    return Runs(local, remote, features, received)


def positive_score(registry: RegistryFixture, logit: bool) -> Callable[[np.ndarray], np.ndarray]:
    """The probability of the positive class (benign), or its log-odds, straight from sklearn."""
    model = registry.models["cancer"]
    columns = list(registry.cancer.columns)

    def score(rows: np.ndarray) -> np.ndarray:
        probability = model.predict_proba(pd.DataFrame(rows, columns=columns))[:, 1]
        return np.log(probability / (1 - probability)) if logit else probability

    return score


_BRUTE_FORCE: dict[bool, np.ndarray] = {}


def brute_force_values(registry: RegistryFixture, logit: bool) -> np.ndarray:
    """(n, d) textbook Shapley values of the positive-class score against the SDK baseline.

    Every config with baseline rows has the generator's same two rows; computed once per link.
    """
    if logit not in _BRUTE_FORCE:
        shap = json.loads((CONFIGS / "parquet.json").read_text())["methods"]["shap"]
        rows = registry.cancer.iloc[100 : 100 + N_ROWS].to_numpy()
        probability = positive_score(registry, logit=False)
        table = shapley_table(probability, rows, np.asarray(shap["baseline"]), logit=logit)
        _BRUTE_FORCE[logit] = table[:, 0, :]
    return _BRUTE_FORCE[logit]


def aggregate(local: np.ndarray, agg_method: str) -> np.ndarray:
    """Clarify's global values from local ones."""
    if agg_method == "mean_abs":
        return np.abs(local).mean(axis=0)
    if agg_method == "median":
        return np.median(local, axis=0)
    assert agg_method == "mean_sq", f"unknown agg_method {agg_method}"
    return (local**2).mean(axis=0)


def test_the_configs_are_the_sdks_own_output() -> None:
    # given the committed configs
    configs = {case.name: case.config for case in CASES}

    # then they carry what the SDK always writes, which a hand-written config seldom does
    readme = (CONFIGS / "README.md").read_text()
    assert f"sagemaker=={SDK_VERSION}" in readme, "the README names the generating SDK version"
    for name, config in configs.items():
        shap = config["methods"]["shap"]
        assert shap["save_local_shap_values"] is True, f"{name}: the SDK's default is true"
        assert shap["use_logit"] in (True, False), f"{name}: the SDK always writes use_logit"
        if name == "monitor_csv":
            assert config["predictor"]["endpoint_name"], "a schedule names its endpoint"
            assert "report" not in config["methods"], "a schedule's config has no report"
            continue
        assert config["methods"]["report"] == {"name": "report", "title": "Analysis Report"}, (
            f"{name}: the SDK always adds methods.report"
        )
        assert config["predictor"]["initial_instance_count"] == 1, f"{name}: instance count"
        assert "label" in config["predictor"], f"{name}: the predicted label's location"
        assert "probability" in config["predictor"], f"{name}: the score's location"
    pdp = configs["pdp_and_shap"]["methods"]["pdp"]
    assert pdp["top_k_features"] == 10, "the SDK writes PDPConfig's default top_k_features"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_an_sdk_config_runs_unchanged_in_process_and_against_the_endpoint(
    case: Case,
    tmp_path: Path,
    test_registry: RegistryFixture,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a config the SDK generated, a data set in its format and the registry's model
    features = list(test_registry.cancer.columns)
    shap = case.config["methods"]["shap"]

    # when explainops clarify runs it in process and against the reference endpoint
    with caplog.at_level(logging.INFO, logger="explainops"):
        runs = run_both_ways(case, tmp_path, test_registry, capsys)

    # then both runs succeed and write Clarify's layout, with only the features explained
    assert runs.local.code == EXIT_OK, f"in process: exit {runs.local.code}: {runs.local.stderr}"
    assert runs.remote.code == EXIT_OK, f"endpoint: exit {runs.remote.code}: {runs.remote.stderr}"
    for run in (runs.local, runs.remote):
        labels = list(run.analysis["explanations"]["kernel_shap"])
        assert labels == [case.label], f"{run.output.name}: labels {labels}"
        named = list(run.kernel_shap(case.label)["global_shap_values"])
        assert named == features, f"{run.output.name}: features {named}, no label or row id"
        columns = list(run.local_values.columns)
        assert columns == [f"{name}_{case.label}" for name in features], (
            f"{run.output.name}: save_local_shap_values true writes <feature>_<label> columns"
        )
        assert len(run.local_values) == N_ROWS, f"{run.output.name}: one row per input row"
    logged = caplog.text
    if "initial_instance_count" in case.config["predictor"]:
        assert "predictor.initial_instance_count: AWS-only setting, ignored" in logged, "logged"
    if "probability_threshold" in case.config:
        assert "probability_threshold: not an explainability setting, ignored" in logged, "logged"
    if case.config.get("dataset_type") in ("text/csv", "application/x-parquet"):
        for name, column in (("label", LABEL), ("excluded_columns", ROW_ID)):
            if name in case.config:
                removed = f"{name}: column {column!r} is not a feature, removed"
                assert removed in logged, f"the log names the removed {name} column"
    assert runs.received, "the endpoint was called"
    request_type = case.config["predictor"].get("content_type", "text/csv")
    sent = runs.received[0].content_type
    assert sent.startswith(request_type), f"requests sent as {sent}, expected {request_type}"

    # and in-process and endpoint values agree to 1e-9
    local, remote = runs.local.kernel_shap(case.label), runs.remote.kernel_shap(case.label)
    np.testing.assert_allclose(
        list(remote["global_shap_values"].values()),
        list(local["global_shap_values"].values()),
        **TOLERANCE,
        err_msg="global values: endpoint vs in process",
    )
    assert remote["expected_value"] == pytest.approx(local["expected_value"], rel=1e-9), (
        "expected value: endpoint vs in process"
    )
    np.testing.assert_allclose(
        runs.remote.local_values.to_numpy(),
        runs.local.local_values.to_numpy(),
        **TOLERANCE,
        err_msg="local values: endpoint vs in process",
    )

    # and the local values add up to the model's score minus the expected value, and aggregate
    # to the global ones with the config's agg_method
    logit = bool(shap["use_logit"])
    values = runs.local.local_values.to_numpy()
    score = positive_score(test_registry, logit)(runs.features.to_numpy())
    np.testing.assert_allclose(
        values.sum(axis=1), score - local["expected_value"], rtol=1e-9, atol=1e-9,
        err_msg="additivity: sum of local values = prediction - expected value",
    )  # fmt: skip
    np.testing.assert_allclose(
        list(local["global_shap_values"].values()),
        aggregate(values, shap.get("agg_method", "mean_abs")),
        **TOLERANCE,
        err_msg=f"global values are the {shap.get('agg_method', 'mean_abs')} of the local ones",
    )

    # and, against the SDK's baseline rows, they are the textbook Shapley values
    if "baseline" in shap:
        np.testing.assert_allclose(
            values,
            brute_force_values(test_registry, logit),
            rtol=1e-9,
            atol=1e-9,
            err_msg="local values vs brute-force Shapley values",
        )


def test_the_sdks_pdp_config_writes_partial_dependence_equal_both_ways(
    tmp_path: Path, test_registry: RegistryFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the SDK's SHAP + PDP config (two features, grid_resolution 5)
    case = next(case for case in CASES if case.name == "pdp_and_shap")
    pdp = case.config["methods"]["pdp"]

    # when it runs in process and against the endpoint
    runs = run_both_ways(case, tmp_path, test_registry, capsys)

    # then explanations.pdp holds the two features, in Clarify's layout, equal both ways
    assert (runs.local.code, runs.remote.code) == (EXIT_OK, EXIT_OK), (
        f"in process: {runs.local.stderr}; endpoint: {runs.remote.stderr}"
    )
    explanations = [run.analysis["explanations"] for run in (runs.local, runs.remote)]
    assert all("pdp" in found for found in explanations), (
        f"explanations.pdp missing: {[sorted(found) for found in explanations]}"
    )
    local, remote = (found["pdp"] for found in explanations)
    names = [entry["feature_name"] for entry in local]
    assert names == pdp["features"], f"PDP of {names}, expected {pdp['features']}"
    score = positive_score(test_registry, logit=False)
    rows = runs.features.to_numpy()
    columns = list(runs.features.columns)
    for local_entry, remote_entry in zip(local, remote, strict=True):
        name = local_entry["feature_name"]
        grid = np.asarray(local_entry["feature_values"], dtype=float)
        assert 1 < len(grid) <= pdp["grid_resolution"], f"{name}: {len(grid)} grid values"
        np.testing.assert_allclose(
            remote_entry["feature_values"], grid, **TOLERANCE, err_msg=f"{name}: grids differ"
        )
        np.testing.assert_allclose(
            np.asarray(remote_entry["model_predictions"], dtype=float),
            np.asarray(local_entry["model_predictions"], dtype=float),
            **TOLERANCE,
            err_msg=f"{name}: partial dependence, endpoint vs in process",
        )
        # The partial dependence at v: the mean score of the data set's rows with the feature at v.
        index = columns.index(name)
        expected = []
        for value in grid:
            changed = rows.copy()
            changed[:, index] = value
            expected.append(score(changed).mean())
        predictions = np.asarray(local_entry["model_predictions"], dtype=float).reshape(-1)
        np.testing.assert_allclose(
            predictions, expected, **TOLERANCE, err_msg=f"{name}: partial dependence by hand"
        )
