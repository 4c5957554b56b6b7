"""explainops.run: a job from Python, with a typed result."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import explainops
from explainops.errors import ConfigError, InputError

from .conftest import RegistryFixture


def _job(tmp_path: Path, registry: RegistryFixture) -> dict:
    registry.diabetes.iloc[:6].to_csv(tmp_path / "samples.csv", index=False)
    return {
        "job": {
            "KIND": "ExplanationsJob",
            "inputs_samples": {"KIND": "CsvReader", "path": str(tmp_path / "samples.csv")},
            "models_explanations": {"KIND": "CsvWriter", "path": str(tmp_path / "models.csv")},
            "samples_explanations": {
                "KIND": "CsvWriter",
                "path": str(tmp_path / "samples_out.csv"),
            },
            "registry": {"name": "diabetes", "tracking_uri": registry.tracking_uri},
            "loader": {"KIND": "BuiltinLoader"},
        }
    }


def test_run_a_mapping_returns_the_outputs_and_the_notified_figures(
    tmp_path: Path, test_registry: RegistryFixture
) -> None:
    # when a job given as a mapping runs, with an override
    result = explainops.run(_job(tmp_path, test_registry), ["job.inputs_samples.limit=4"])
    # then the result names the outputs and carries the notification's figures
    assert result.job == "ExplanationsJob", result
    assert result.outputs == {
        "models_explanations": str(tmp_path / "models.csv"),
        "samples_explanations": str(tmp_path / "samples_out.csv"),
    }, result.outputs
    assert result.metrics["n_samples"] == 4, "the override limited the samples"
    models = pd.read_csv(result.outputs["models_explanations"])
    top = models.sort_values("importance", ascending=False).iloc[0]
    label, feature, importance = result.metrics["top_features"][0]
    assert (label, feature) == (str(top["label"]), top["feature"]), "top feature as written"
    assert importance == pytest.approx(top["importance"], rel=1e-12), "CSV keeps 17 digits"
    assert result.metrics["max_additivity_error"] < 1e-9, "efficiency holds"


def test_run_a_file_and_its_errors(tmp_path: Path, test_registry: RegistryFixture) -> None:
    import yaml

    config = tmp_path / "job.yaml"
    config.write_text(yaml.safe_dump(_job(tmp_path, test_registry)))
    assert explainops.run(config).metrics["n_samples"] == 6, "a file runs like the CLI runs it"
    with pytest.raises(ConfigError, match=r"job\.alias_or_version"):
        explainops.run(config, ["job.alias_or_version=[1]"])
    with pytest.raises(InputError, match=r"missing\.csv: file not found"):
        explainops.run(config, [f"job.inputs_samples.path={tmp_path / 'missing.csv'}"])
