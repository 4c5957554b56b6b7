"""ClarifyJob through `explainops clarify`: the seed's Clarify configs, unchanged, end to end."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from explainops.cli import EXIT_FAILED, EXIT_INVALID_CONFIG, EXIT_OK, main
from explainops.testing.model_server import ModelServer

from ..conftest import RegistryFixture
from ..explainers.brute_force import shapley_table

SEED_ROWS = [
    [0.5814568701544718, 0.6651538910132964, 0.3138080342665499],
    [0.6711642728531724, 0.7466687034026017, 0.1215477472819713],
    [0.0453256543003371, 0.6377430803264152, 0.3558625219713576],
    [0.4785191813363956, 0.0265841045263860, 0.0376935084990697],
]
SEED_BASELINE = [0.4441164946610942, 0.5190374448171748, 0.20722795300473712]
FEATURES = ["feature_1", "feature_2", "feature_3"]

# The two example configs of the seed (Clarify's model-explainability monitor docs), verbatim.
SEED_CSV_CONFIG = """{ "headers": [ "feature_1", "feature_2", "feature_3" ], "methods": { "shap": {
"baseline": [ [0.4441164946610942, 0.5190374448171748, 0.20722795300473712] ], "num_samples": 100,
"agg_method": "mean_abs" } }, "predictor": { "model_name": "my_model", "instance_type":
"ml.m5.xlarge", "initial_instance_count": 1 } }"""
SEED_JSONL_CONFIG = """{ "headers": [ "feature_1", "feature_2", "feature_3" ], "methods": {
"shap": { "baseline": [ {"features":[0.4441164946610942, 0.5190374448171748,
0.20722795300473712]} ], "num_samples": 100, "agg_method": "mean_abs" } }, "predictor": {
"model_name": "my_model", "instance_type": "ml.m5.xlarge", "initial_instance_count": 1,
"content_template":"{\\"features\\":$features}" } }"""


@pytest.fixture(scope="module")
def seed_model() -> LogisticRegression:
    """A binary classifier on the seed's three features."""
    rng = np.random.default_rng(0)
    x = rng.random((400, 3))
    y = (x @ np.array([1.5, -2.0, 1.0]) + rng.normal(0, 0.2, 400) > 0.0).astype(int)
    return LogisticRegression().fit(pd.DataFrame(x, columns=FEATURES), y)


@pytest.fixture(scope="module")
def seed_rows() -> list[list[float]]:
    """The seed's four rows and 26 more like them."""
    extra = np.random.default_rng(5).random((26, 3)).tolist()
    return SEED_ROWS + extra


@pytest.fixture
def csv_server(seed_model: LogisticRegression) -> Iterator[ModelServer]:
    """The seed's CSV endpoint: answers ``1,0.5385257417814224`` (label, probability)."""
    with ModelServer(seed_model.predict_proba, FEATURES, labels=seed_model.classes_) as server:
        yield server


def expected_global_values(
    model: Any, rows: list[list[float]], baseline: list[list[float]]
) -> tuple[np.ndarray, float, np.ndarray]:
    """(mean |SHAP| per feature, expected value, local values) by brute force, in process.

    The seed's budget of 100 coalitions covers all 2^3 - 2 of three features, so Clarify's Kernel
    SHAP is exact: it must give the textbook Shapley values of the positive-class probability.
    """

    def positive(data: np.ndarray) -> np.ndarray:
        return model.predict_proba(pd.DataFrame(data, columns=FEATURES))[:, 1]

    background = np.asarray(baseline)
    local = shapley_table(positive, np.asarray(rows), background)[:, 0, :]
    return np.abs(local).mean(axis=0), float(positive(background).mean()), local


def clarify(*arguments: str) -> int:
    """Run ``explainops clarify`` in process."""
    return main(["clarify", *arguments])


def test_seed_csv_config_runs_unchanged(
    tmp_path: Path,
    csv_server: ModelServer,
    seed_model: LogisticRegression,
    seed_rows: list[list[float]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given the seed's CSV config and a header-less CSV data set
    config = tmp_path / "analysis_config.json"
    config.write_text(SEED_CSV_CONFIG)
    dataset = tmp_path / "dataset.csv"
    dataset.write_text("\n".join(", ".join(repr(value) for value in row) for row in seed_rows))

    # when clarify explains the endpoint, probability in column 1 of the answer
    with caplog.at_level(logging.INFO, logger="explainops"):
        code = clarify(
            "--config",
            str(config),
            "--dataset",
            str(dataset),
            "--output",
            str(tmp_path / "out"),
            "--endpoint",
            csv_server.url,
            "--probability-attribute",
            "1",
        )

    # then analysis.json has Clarify's layout with the in-process values
    assert code == EXIT_OK, "the seed config must run unchanged"
    analysis = json.loads((tmp_path / "out" / "analysis.json").read_text())
    label = analysis["explanations"]["kernel_shap"]["label0"]
    assert list(label["global_shap_values"]) == FEATURES, "features named by headers, in order"
    values, expected_value, _ = expected_global_values(seed_model, seed_rows, [SEED_BASELINE])
    np.testing.assert_allclose(
        list(label["global_shap_values"].values()), values, atol=1e-9, rtol=0
    )
    # The endpoint sends probabilities as 17-digit text, which reads back as the same float.
    assert label["expected_value"] == pytest.approx(expected_value, abs=1e-12), "expected value"
    assert not (tmp_path / "out" / "explanations_shap").exists(), "local values are opt-in"
    logged = caplog.text
    assert "predictor.instance_type: AWS-only setting, ignored" in logged, "AWS fields logged"
    assert "predictor.model_name: AWS-only setting, ignored" in logged, "model_name logged"


def test_seed_json_lines_config_runs_unchanged(
    tmp_path: Path, seed_model: LogisticRegression, seed_rows: list[list[float]]
) -> None:
    # given the seed's JSON Lines config, data set and endpoint
    config = tmp_path / "analysis_config.json"
    config.write_text(SEED_JSONL_CONFIG)
    dataset = tmp_path / "dataset.jsonl"
    dataset.write_text(
        "\n".join(
            json.dumps({"features": row, "label": index % 2}) for index, row in enumerate(seed_rows)
        )
    )
    with ModelServer(
        seed_model.predict_proba, FEATURES, default_accept="application/jsonlines"
    ) as server:
        # when clarify explains it with the seed's FeaturesAttribute and ProbabilityAttribute
        code = clarify(
            "--config",
            str(config),
            "--dataset",
            str(dataset),
            "--output",
            str(tmp_path / "out"),
            "--endpoint",
            server.url,
            "--features-attribute",
            "features",
            "--probability-attribute",
            "probability",
        )
        sent = server.received[0]

    # then the requests used the template and analysis.json matches the in-process values
    assert code == EXIT_OK, "the seed JSON Lines config must run unchanged"
    assert sent.content_type.startswith("application/jsonlines"), "JSON Lines requests"
    assert sent.body.startswith(b'{"features":['), "content_template applied"
    label = json.loads((tmp_path / "out" / "analysis.json").read_text())["explanations"][
        "kernel_shap"
    ]["label0"]
    values, _, _ = expected_global_values(seed_model, seed_rows, [SEED_BASELINE])
    assert list(label["global_shap_values"]) == FEATURES, "features named by headers"
    np.testing.assert_allclose(list(label["global_shap_values"].values()), values, atol=1e-9)


def cancer_config(tmp_path: Path, registry: RegistryFixture, **shap: Any) -> Path:
    """A Clarify config for the registry's cancer model, with local values saved."""
    features = list(registry.cancer.columns)
    config = {
        "version": "1.0",
        "dataset_type": "text/csv",
        "headers": features,
        "methods": {
            "shap": {
                "baseline": registry.cancer.iloc[:3].to_numpy().tolist(),
                "num_samples": 300,
                "agg_method": "mean_sq",
                "save_local_shap_values": True,
                "seed": 7,
            }
            | shap,
            "report": {"name": "report"},
        },
        "predictor": {"model_name": "cancer", "label_headers": ["benign_or_not"]},
    }
    path = tmp_path / "analysis_config.json"
    path.write_text(json.dumps(config))
    return path


def test_endpoint_and_in_process_model_give_the_same_analysis(
    tmp_path: Path, test_registry: RegistryFixture
) -> None:
    # given the registry's cancer pipeline, in process and behind an endpoint, and a CSV with header
    config = cancer_config(tmp_path, test_registry)
    dataset = tmp_path / "cancer.csv"
    test_registry.cancer.iloc[10:60].to_csv(dataset, index=False)
    model = test_registry.models["cancer"]
    common = ["--config", str(config), "--dataset", str(dataset), "--probability-attribute", "1"]

    # when clarify runs both ways
    with ModelServer(model.predict_proba, list(test_registry.cancer.columns)) as server:
        remote = clarify(*common, "--output", str(tmp_path / "remote"), "--endpoint", server.url)
    local = clarify(
        *common,
        "--output",
        str(tmp_path / "local"),
        "--model",
        "models:/cancer/1",
        "--tracking-uri",
        test_registry.tracking_uri,
    )

    # then both analyses and local values agree to 1e-9
    assert (remote, local) == (EXIT_OK, EXIT_OK), "both runs must succeed"
    analyses = [
        json.loads((tmp_path / run / "analysis.json").read_text())["explanations"]["kernel_shap"]
        for run in ("remote", "local")
    ]
    assert list(analyses[0]) == ["benign_or_not"], "the single score is the positive label's"
    for name, value in analyses[0]["benign_or_not"]["global_shap_values"].items():
        other = analyses[1]["benign_or_not"]["global_shap_values"][name]
        assert value == pytest.approx(other, abs=1e-9), f"global value of {name}"
    local_values = [
        pd.read_csv(tmp_path / run / "explanations_shap" / "out.csv") for run in ("remote", "local")
    ]
    assert list(local_values[0].columns) == [
        f"{feature}_benign_or_not" for feature in test_registry.cancer.columns
    ], "local value columns are <feature>_<label>"
    assert len(local_values[0]) == 50, "one row per input row"
    np.testing.assert_allclose(local_values[0], local_values[1], atol=1e-9, rtol=0)
    squares = (local_values[0].to_numpy() ** 2).mean(axis=0)
    np.testing.assert_allclose(
        list(analyses[0]["benign_or_not"]["global_shap_values"].values()), squares, rtol=1e-9
    )


def test_permanent_endpoint_failure_leaves_no_output(
    tmp_path: Path, csv_server: ModelServer, seed_rows: list[list[float]]
) -> None:
    # given a previous good analysis and an endpoint that now fails
    config = tmp_path / "analysis_config.json"
    config.write_text(SEED_CSV_CONFIG)
    dataset = tmp_path / "dataset.csv"
    pd.DataFrame(seed_rows).to_csv(dataset, header=False, index=False)
    output = tmp_path / "out"
    output.mkdir()
    (output / "analysis.json").write_text('{"good": true}')
    csv_server.fail_always(500)

    # when clarify runs
    code = clarify(
        "--config", str(config), "--dataset", str(dataset), "--output", str(output),
        "--endpoint", csv_server.url, "--probability-attribute", "1",
    )  # fmt: skip

    # then it fails and the good output is untouched, with no temporary files left
    assert code == EXIT_FAILED, "a permanently failing endpoint fails the job"
    assert (output / "analysis.json").read_text() == '{"good": true}', "good output untouched"
    assert sorted(path.name for path in output.iterdir()) == ["analysis.json"], "no leftovers"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"methods": {"shap": {"num_samples": 100, "agg_methd": "mean_abs"}}}, "agg_methd"),
        ({"methods": {"shap": {"agg_method": "mean"}}}, "methods.shap.agg_method"),
        ({"methods": {"pdp": {}}}, "methods.pdp.features: missing"),
        ({"methods": {}}, "give shap or pdp"),
        ({"methods": {"pdp": {"features": [], "grid_resolution": 5}}}, "methods.pdp.features"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid_analysis_configs_exit_2_naming_the_field(
    tmp_path: Path,
    csv_server: ModelServer,
    change: dict[str, Any],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = json.loads(SEED_CSV_CONFIG) | change
    path = tmp_path / "analysis_config.json"
    path.write_text(json.dumps(config))
    dataset = tmp_path / "dataset.csv"
    pd.DataFrame(SEED_ROWS).to_csv(dataset, header=False, index=False)
    code = clarify(
        "--config", str(path), "--dataset", str(dataset), "--output", str(tmp_path / "out"),
        "--endpoint", csv_server.url,
    )  # fmt: skip
    assert code == EXIT_INVALID_CONFIG, "an invalid analysis config is a configuration error"
    assert message in capsys.readouterr().err, f"the error must name {message}"
    assert not (tmp_path / "out").exists(), "nothing written"


def test_header_row_differing_from_headers_is_an_input_error(
    tmp_path: Path, csv_server: ModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "analysis_config.json"
    config.write_text(SEED_CSV_CONFIG)
    dataset = tmp_path / "dataset.csv"
    pd.DataFrame(SEED_ROWS, columns=["a", "b", "c"]).to_csv(dataset, index=False)
    code = clarify(
        "--config", str(config), "--dataset", str(dataset), "--output", str(tmp_path / "out"),
        "--endpoint", csv_server.url, "--probability-attribute", "1",
    )  # fmt: skip
    assert code == EXIT_FAILED, "a mismatching header row fails the job"
    assert "differs from the analysis config's headers" in capsys.readouterr().err, "named"


def test_parquet_data_set_with_a_baseline_file(
    tmp_path: Path,
    csv_server: ModelServer,
    seed_model: LogisticRegression,
    seed_rows: list[list[float]],
) -> None:
    # given a Parquet data set, and the baseline as a file in the data set's format
    config = json.loads(SEED_CSV_CONFIG)
    config["methods"]["shap"]["baseline"] = str(tmp_path / "baseline.parquet")
    config["methods"]["shap"]["save_local_shap_values"] = True
    (tmp_path / "analysis_config.json").write_text(json.dumps(config))
    pd.DataFrame(seed_rows, columns=FEATURES).to_parquet(tmp_path / "dataset.parquet")
    pd.DataFrame([SEED_BASELINE], columns=FEATURES).to_parquet(tmp_path / "baseline.parquet")

    # when clarify explains the endpoint with Parquet requests
    code = clarify(
        "--config", str(tmp_path / "analysis_config.json"),
        "--dataset", str(tmp_path / "dataset.parquet"),
        "--output", str(tmp_path / "out"),
        "--endpoint", csv_server.url, "--probability-attribute", "1",
    )  # fmt: skip

    # then the values equal the in-process ones, locally and globally
    assert code == EXIT_OK, "a Parquet data set runs"
    assert csv_server.received[0].content_type.startswith("application/x-parquet"), "Parquet sent"
    values, _, local = expected_global_values(seed_model, seed_rows, [SEED_BASELINE])
    label = json.loads((tmp_path / "out" / "analysis.json").read_text())["explanations"][
        "kernel_shap"
    ]["label0"]
    np.testing.assert_allclose(list(label["global_shap_values"].values()), values, atol=1e-9)
    out = pd.read_csv(tmp_path / "out" / "explanations_shap" / "out.csv")
    assert list(out.columns) == [f"{feature}_label0" for feature in FEATURES], "columns"
    np.testing.assert_allclose(out.to_numpy(), local, atol=1e-9, err_msg="local values")


def test_a_realistic_config_keeps_the_label_and_excluded_columns_out_of_the_features(
    tmp_path: Path,
    csv_server: ModelServer,
    seed_model: LogisticRegression,
    seed_rows: list[list[float]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a data set with a header, a label column and an id column, as the SDK configures it
    frame = pd.DataFrame(seed_rows, columns=FEATURES)
    frame.insert(0, "Label", (frame["feature_1"] > 0.5).astype(int))
    frame.insert(1, "row_id", range(len(frame)))
    frame.to_csv(tmp_path / "dataset.csv", index=False)
    config = tmp_path / "analysis_config.json"
    config.write_text(
        json.dumps(
            {
                "dataset_type": "text/csv",
                "headers": ["Label", "row_id", *FEATURES],
                "label": "Label",
                "excluded_columns": ["row_id"],
                "methods": {"shap": {"baseline": [SEED_BASELINE], "num_samples": 100}},
                "predictor": {"model_name": "m", "instance_type": "ml.m5.xlarge"},
            }
        )
    )
    # when explained through the endpoint (which refuses rows of the wrong width)
    with caplog.at_level(logging.INFO, logger="explainops"):
        code = clarify(
            "--config",
            str(config),
            "--dataset",
            str(tmp_path / "dataset.csv"),
            "--output",
            str(tmp_path / "out"),
            "--endpoint",
            csv_server.url,
            "--probability-attribute",
            "1",
        )
    # then only the three features are explained, with the values of the features alone
    assert code == EXIT_OK, caplog.text
    label = json.loads((tmp_path / "out" / "analysis.json").read_text())["explanations"][
        "kernel_shap"
    ]["label0"]
    assert list(label["global_shap_values"]) == FEATURES, "label and id are not features"
    values, _, _ = expected_global_values(seed_model, seed_rows, [SEED_BASELINE])
    np.testing.assert_allclose(list(label["global_shap_values"].values()), values, atol=1e-9)
    assert "label: column 'Label' is not a feature, removed" in caplog.text, "logged"
    assert "excluded_columns: column 'row_id' is not a feature, removed" in caplog.text


def test_a_label_index_out_of_range_is_a_configuration_error(
    tmp_path: Path, csv_server: ModelServer, seed_rows: list[list[float]]
) -> None:
    dataset = tmp_path / "dataset.csv"
    dataset.write_text("\n".join(",".join(map(repr, row)) for row in seed_rows))
    config = tmp_path / "analysis_config.json"
    config.write_text(json.dumps({"label": 9, "methods": {"shap": {"baseline": [SEED_BASELINE]}}}))
    code = clarify(
        "--config",
        str(config),
        "--dataset",
        str(dataset),
        "--output",
        str(tmp_path / "out"),
        "--endpoint",
        csv_server.url,
    )
    assert code == EXIT_INVALID_CONFIG, "label 9 on a 3-column data set is refused"
    assert not (tmp_path / "out").exists(), "nothing written"
