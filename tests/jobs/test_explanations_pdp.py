"""ExplanationsJob's ``partial_dependence`` output, from YAML, against scikit-learn's answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import partial_dependence

from explainops.cli import EXIT_INVALID_CONFIG, EXIT_OK, main

from ..conftest import RegistryFixture


def write_job(tmp_path: Path, registry: RegistryFixture, name: str, extra: str) -> Path:
    """A job YAML for model ``name``, CSV in and out, relative output paths, plus ``extra``."""
    path = tmp_path / "job.yaml"
    path.write_text(
        "job:\n"
        "  KIND: ExplanationsJob\n"
        "  inputs_samples: {KIND: CsvReader, path: samples.csv, batch_size: 25}\n"
        "  models_explanations: {KIND: CsvWriter, path: out/models.csv}\n"
        "  samples_explanations: {KIND: CsvWriter, path: out/samples.csv}\n"
        f"  registry: {{name: {name}, tracking_uri: '{registry.tracking_uri}'}}\n"
        f"{extra}"
    )
    return path


def sklearn_average(model: Any, data: pd.DataFrame, feature: str, grid: list[float]) -> np.ndarray:
    """scikit-learn's brute-force partial dependence (k, g) on exactly ``grid``."""
    result = partial_dependence(
        model, data, [feature], custom_values={feature: np.asarray(grid)}, method="brute"
    )
    return np.asarray(result["average"])


def test_regressor_partial_dependence_is_written_next_to_the_explanations(
    tmp_path: Path, test_registry: RegistryFixture
) -> None:
    # given the diabetes regressor, 70 samples read in batches of 25, and a partial dependence
    # output naming one feature by name and one by index, with a relative path
    test_registry.diabetes.iloc[:70].to_csv(tmp_path / "samples.csv", index=False)
    config = write_job(
        tmp_path,
        test_registry,
        "diabetes",
        "  partial_dependence: {path: out/pdp.json, features: [bmi, 2], grid_resolution: 8}\n",
    )

    # when the job runs
    code = main(["run", str(config)])

    # then out/pdp.json (beside the YAML file) holds Clarify's entries, equal to sklearn's
    assert code == EXIT_OK, "the job succeeds"
    document = json.loads((tmp_path / "out" / "pdp.json").read_text())
    assert document["labels"] == ["label0"], "the regressor's one output"
    data = pd.read_csv(tmp_path / "samples.csv")
    names = [entry["feature_name"] for entry in document["pdp"]]
    assert names == ["bmi"], "index 2 is bmi too: each feature once"
    entry = document["pdp"][0]
    assert len(entry["feature_values"]) == 8, "8 bucket centres"
    expected = sklearn_average(
        test_registry.models["diabetes"], data, "bmi", entry["feature_values"]
    )
    np.testing.assert_allclose(entry["model_predictions"], expected, rtol=1e-12, atol=1e-12)
    counts, _ = np.histogram(data["bmi"], bins=8, range=(data["bmi"].min(), data["bmi"].max()))
    np.testing.assert_allclose(entry["data_distribution"], counts / 70, atol=1e-15)
    assert (tmp_path / "out" / "models.csv").exists(), "the explanations are written too"


def test_without_features_the_top_attributions_of_the_first_label_are_taken(
    tmp_path: Path, test_registry: RegistryFixture
) -> None:
    # given the wine forest and a partial dependence output of the top 2 features
    test_registry.wine.iloc[::3].to_csv(tmp_path / "samples.csv", index=False)
    config = write_job(
        tmp_path,
        test_registry,
        "wine",
        "  partial_dependence: {path: out/pdp.json, top_k_features: 2, grid_resolution: 4}\n",
    )

    # when the job runs
    code = main(["run", str(config)])

    # then the two features are the first label's ranks 1 and 2, each equal to sklearn's answer
    # for all three classes
    assert code == EXIT_OK, "the job succeeds"
    models = pd.read_csv(tmp_path / "out" / "models.csv")
    first_label = models[models["label"] == models["label"].iloc[0]]
    top = list(first_label.sort_values("rank")["feature"][:2])
    document = json.loads((tmp_path / "out" / "pdp.json").read_text())
    assert [entry["feature_name"] for entry in document["pdp"]] == top, "ranks 1 and 2"
    data = pd.read_csv(tmp_path / "samples.csv")
    for entry in document["pdp"]:
        expected = sklearn_average(
            test_registry.models["wine"], data, entry["feature_name"], entry["feature_values"]
        )
        np.testing.assert_allclose(
            entry["model_predictions"], expected, rtol=1e-12, atol=1e-12, err_msg="3 classes"
        )


@pytest.mark.parametrize(
    ("features", "message"),
    [("[bmi, weight]", "'weight' is not a feature"), ("[10]", "index 10 is out of range")],
)
def test_an_unknown_feature_exits_2_before_anything_is_written(
    tmp_path: Path,
    test_registry: RegistryFixture,
    features: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    test_registry.diabetes.iloc[:10].to_csv(tmp_path / "samples.csv", index=False)
    config = write_job(
        tmp_path,
        test_registry,
        "diabetes",
        f"  partial_dependence: {{path: out/pdp.json, features: {features}}}\n",
    )
    code = main(["run", str(config)])
    assert code == EXIT_INVALID_CONFIG, "a feature that is not one is a configuration error"
    error = capsys.readouterr().err
    assert f"job.partial_dependence.features: {message}" in error, f"names the field: {error}"
    assert not (tmp_path / "out").exists(), "nothing written"
