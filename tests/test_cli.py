"""The installed ``explainops`` command, run as a user runs it: a separate process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXPLAINOPS = str(Path(sys.executable).with_name("explainops"))


def run_cli(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = os.environ | {"MLFLOW_DISABLE_TELEMETRY": "true"}
    return subprocess.run(
        [EXPLAINOPS, *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=environment,
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


def test_validate_prints_the_resolved_config_and_invalid_exits_2(tmp_path) -> None:
    config = tmp_path / "job.yaml"
    config.write_text(
        "job:\n  KIND: ExplanationsJob\n  inputs_samples: {KIND: CsvReader, path: in.csv}\n"
        "  models_explanations: {KIND: CsvWriter, path: m.csv}\n  samples_explanations: {KIND: CsvWriter, path: s.csv}\n"
        "  registry: {name: model}\n"
    )
    result = run_cli("validate", str(config), "--set", "job.alias_or_version=2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)["job"]
    assert resolved["alias_or_version"] == 2 and resolved["inputs_samples"]["path"] == str(
        tmp_path / "in.csv"
    ), resolved
    assert resolved["explainer"]["KIND"] == "AutoExplainer", "defaults are shown"
    invalid = run_cli("validate", str(config), "--set", "job.loader.KIND=Pickle", cwd=tmp_path)
    assert invalid.returncode == 2, "invalid configuration exits 2"
    assert (
        invalid.stderr.strip()
        .splitlines()[-1]
        .startswith("error: invalid configuration: job.loader")
    ), invalid.stderr


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
