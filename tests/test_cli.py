"""The installed ``explainops`` command, run as a user runs it: a separate process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests import warm_cli

EXPLAINOPS = str(Path(sys.executable).with_name("explainops"))


def cli_environment() -> dict[str, str]:
    return os.environ | {"MLFLOW_DISABLE_TELEMETRY": "true"}


def run_cli(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXPLAINOPS, *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=cli_environment(),
        timeout=300,
    )


def test_schema_lists_every_component_kind(tmp_path) -> None:
    result = run_cli("schema", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = json.dumps(json.loads(result.stdout))
    for kind in (
        "ExplanationsJob",
        "CsvReader",
        "ParquetWriter",
        "BuiltinLoader",
        "KernelExplainer",
        "WebhookAlerter",
    ):
        assert kind in text, f"the schema describes {kind}"


@pytest.mark.parametrize("level", ["LOUD", "10"])
def test_an_unknown_log_level_is_a_usage_error_naming_the_levels(tmp_path, level: str) -> None:
    # when a level logging does not know is given
    result = run_cli("--log-level", level, "schema", cwd=tmp_path)
    # then it is a usage error (exit 2) naming the levels, with no traceback
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"explainops: error: argument --log-level: '{level}': "
        "expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
    ), result.stderr


def diabetes_job(tmp_path: Path, test_registry) -> Path:
    """A valid ExplanationsJob of five diabetes rows, its relative paths in ``tmp_path``."""
    test_registry.diabetes.iloc[:5].to_csv(tmp_path / "in.csv", index=False)
    config = tmp_path / "job.yaml"
    config.write_text(
        "job:\n  KIND: ExplanationsJob\n  inputs_samples: {KIND: CsvReader, path: in.csv}\n"
        "  models_explanations: {KIND: CsvWriter, path: m.csv}\n  samples_explanations: {KIND: CsvWriter, path: s.csv}\n"
        f"  registry: {{name: diabetes, tracking_uri: '{test_registry.tracking_uri}'}}\n"
    )
    return config


def test_validate_prints_the_resolved_config_and_invalid_exits_2(tmp_path, test_registry) -> None:
    config = diabetes_job(tmp_path, test_registry)
    result = run_cli("validate", str(config), "--set", "job.alias_or_version=1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)["job"]
    assert resolved["alias_or_version"] == 1 and resolved["inputs_samples"]["path"] == str(
        tmp_path / "in.csv"
    ), resolved
    assert resolved["explainer"]["KIND"] == "AutoExplainer", "defaults are shown"
    for checked in ("model: diabetes version 1", "first 5 row(s) valid", "m.csv", "s.csv"):
        assert checked in result.stderr, f"validate says it checked {checked!r}: {result.stderr}"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.csv", "job.yaml"], (
        "validate writes nothing"
    )
    invalid = run_cli("validate", str(config), "--set", "job.loader.KIND=Pickle", cwd=tmp_path)
    assert invalid.returncode == 2, "invalid configuration exits 2"
    assert (
        invalid.stderr.strip()
        .splitlines()[-1]
        .startswith("error: invalid configuration: job.loader")
    ), invalid.stderr


@pytest.mark.parametrize(
    ("override", "code", "message"),
    [
        ("job.alias_or_version=7", 1, "has no version 7"),
        ("job.inputs_samples.path=missing.csv", 1, "missing.csv: file not found"),
        ("job.models_explanations.path=in.csv/m.csv", 1, "in.csv is a file, not a folder"),
    ],
)
def test_validate_fails_as_the_run_would(tmp_path, test_registry, override, code, message) -> None:
    # given a valid job, made wrong by one override
    config = diabetes_job(tmp_path, test_registry)
    # when validated, and when run
    validated = run_cli("validate", str(config), "--set", override, cwd=tmp_path)
    ran = run_cli("run", "--no-progress", str(config), "--set", override, cwd=tmp_path)
    # then both fail with the same code and the same one-line error
    assert validated.returncode == code == ran.returncode, (validated.stderr, ran.stderr)
    errors = [line for line in validated.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], validated.stderr
    assert errors == [line for line in ran.stderr.splitlines() if line.startswith("error:")], (
        "validate says what the run says"
    )
    # and the forked runs of the CLI suites (tests/warm_cli.py) answer as the console script does
    forked = warm_cli.run(
        ["run", "--no-progress", str(config), "--set", override], tmp_path, cli_environment(), 300
    )
    assert forked.returncode == ran.returncode and forked.stdout == ran.stdout, forked.stderr
    assert errors == [line for line in forked.stderr.splitlines() if line.startswith("error:")]


@pytest.mark.slow
def test_run_end_to_end_in_a_subprocess(tmp_path, test_registry) -> None:
    test_registry.diabetes.iloc[:5].to_csv(tmp_path / "samples.csv", index=False)
    config = tmp_path / "job.yaml"
    config.write_text(
        "job:\n  KIND: ExplanationsJob\n  inputs_samples: {KIND: CsvReader, path: samples.csv}\n"
        "  models_explanations: {KIND: CsvWriter, path: out/m.csv}\n  samples_explanations: {KIND: ParquetWriter, path: out/s.parquet}\n"
        f"  registry: {{name: diabetes, tracking_uri: '{test_registry.tracking_uri}'}}\n  loader: {{KIND: BuiltinLoader}}\n"
    )
    result = run_cli("run", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "explain with TreeExplainer" in result.stderr, (
        "a regressor's trees explain its prediction"
    )
    assert (tmp_path / "out" / "s.parquet").exists() and (tmp_path / "out" / "m.csv").exists(), (
        "both outputs"
    )
    # and the outputs hold the model's predictions, split additively over the features
    explained = pd.read_parquet(tmp_path / "out" / "s.parquet")
    features = list(test_registry.diabetes.columns)
    predictions = test_registry.models["diabetes"].predict(test_registry.diabetes.iloc[:5])
    # 1e-12: TreeExplainer sums the leaves itself, in another order than scikit-learn
    np.testing.assert_allclose(
        explained["prediction"], predictions, rtol=1e-12, err_msg="the model's predictions"
    )
    np.testing.assert_allclose(
        explained["base_value"] + explained[features].sum(axis=1),
        explained["prediction"],
        rtol=1e-9,
        err_msg="base value + attributions = prediction",
    )
    assert len(pd.read_csv(tmp_path / "out" / "m.csv")) == len(features), "one row per feature"
