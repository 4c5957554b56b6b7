"""Clarify's JSON data sets and JSON model I/O, end to end through `explainops clarify`.

Each JSON analysis runs against the reference server with application/json requests and answers;
the independent answer is the same rows written as CSV and explained in process (the registry's
MLflow model), whose values must agree to 1e-9.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from explainops.clarify.analysis_config import AnalysisConfig
from explainops.clarify.data import clarify_samples
from explainops.cli import EXIT_FAILED, EXIT_INVALID_CONFIG, EXIT_OK, main
from explainops.errors import ConfigError
from explainops.testing.model_server import ModelServer

from ..conftest import RegistryFixture

SHAP = {"num_samples": 200, "seed": 5, "save_local_shap_values": True}
LABEL = "benign_or_not"
JSON_PREDICTOR = {
    "model_name": "cancer",
    "content_type": "application/json",
    "accept_type": "application/json",
    "content_template": '{"instances": $records, "feature_names": $feature_names}',
    "record_template": "$features_kvp",
    "probability": "predictions[*].score",
    "label_headers": [LABEL],
}


def clarify(*arguments: str) -> int:
    """Run ``explainops clarify`` in process."""
    return main(["clarify", *arguments])


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(json.dumps(config))
    return path


def in_process_csv_analysis(
    tmp_path: Path, registry: RegistryFixture, rows: pd.DataFrame, baseline: pd.DataFrame
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The independent answer: the rows as a CSV with header, explained in process."""
    (tmp_path / "csv").mkdir()
    rows.to_csv(tmp_path / "csv" / "data.csv", index=False)
    config = {
        "dataset_type": "text/csv",
        "headers": list(rows.columns),
        "methods": {"shap": {"baseline": baseline.to_numpy().tolist(), **SHAP}},
        "predictor": {"model_name": "cancer", "label_headers": [LABEL]},
    }
    code = clarify(
        "--config",
        str(write_config(tmp_path / "csv" / "config.json", config)),
        "--dataset",
        str(tmp_path / "csv" / "data.csv"),
        "--output",
        str(tmp_path / "csv" / "out"),
        "--model",
        "models:/cancer/1",
        "--tracking-uri",
        registry.tracking_uri,
        "--probability-attribute",
        "1",
    )
    assert code == EXIT_OK, "the in-process CSV analysis must succeed"
    return read_analysis(tmp_path / "csv" / "out")


def read_analysis(folder: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    analysis = json.loads((folder / "analysis.json").read_text())
    return analysis["explanations"]["kernel_shap"][LABEL], pd.read_csv(
        folder / "explanations_shap" / "out.csv"
    )


def assert_same_analysis(
    got: tuple[dict[str, Any], pd.DataFrame], expected: tuple[dict[str, Any], pd.DataFrame]
) -> None:
    (label, local), (expected_label, expected_local) = got, expected
    assert list(label["global_shap_values"]) == list(expected_label["global_shap_values"]), (
        "features named by the headers, in order"
    )
    np.testing.assert_allclose(
        list(label["global_shap_values"].values()),
        list(expected_label["global_shap_values"].values()),
        rtol=1e-9,
        atol=1e-12,
        err_msg="global SHAP values: endpoint JSON vs in-process CSV",
    )
    assert label["expected_value"] == pytest.approx(expected_label["expected_value"], rel=1e-9), (
        "expected value"
    )
    assert list(local.columns) == list(expected_local.columns), "local value columns"
    np.testing.assert_allclose(
        local.to_numpy(), expected_local.to_numpy(), rtol=1e-9, atol=1e-12, err_msg="local values"
    )


def test_json_data_set_with_label_through_a_json_endpoint_equals_csv_in_process(
    tmp_path: Path, test_registry: RegistryFixture
) -> None:
    # given cancer rows as one JSON document with a label per record, headers ending with the
    # label's name (Clarify's convention), and a baseline document of the same structure
    rows = test_registry.cancer.iloc[20:45].reset_index(drop=True)
    baseline = test_registry.cancer.iloc[:3]
    features = list(rows.columns)
    document = {
        "data": [
            {"features": values, "target": index % 2}
            for index, values in enumerate(rows.to_numpy().tolist())
        ]
    }
    (tmp_path / "data.json").write_text(json.dumps(document))
    config = {
        "dataset_type": "application/json",
        "headers": [*features, "target"],
        "features": "data[*].features",
        "label": "data[*].target",
        "methods": {
            "shap": {
                "baseline": {"data": [{"features": row} for row in baseline.to_numpy().tolist()]},
                **SHAP,
            }
        },
        "predictor": JSON_PREDICTOR,
    }
    model = test_registry.models["cancer"]
    with ModelServer(model.predict_proba, features) as server:
        # when clarify explains it through the endpoint with JSON requests and answers
        code = clarify(
            "--config",
            str(write_config(tmp_path / "config.json", config)),
            "--dataset",
            str(tmp_path / "data.json"),
            "--output",
            str(tmp_path / "out"),
            "--endpoint",
            server.url,
        )
        first = server.received[0]

    # then the requests are the templates' documents and the analysis is the in-process one
    assert code == EXIT_OK, "the JSON analysis must succeed"
    assert first.content_type == "application/json", "application/json requests"
    sent = json.loads(first.body)
    assert sent["feature_names"] == features, "$feature_names is the features' names"
    # The first call names the outputs from the first data rows.
    assert sent["instances"][0] == dict(zip(features, rows.iloc[0].tolist(), strict=True)), (
        "the first record is the first data row as {name: value}"
    )
    expected = in_process_csv_analysis(tmp_path, test_registry, rows, baseline)
    assert_same_analysis(read_analysis(tmp_path / "out"), expected)


def test_json_lines_data_set_with_label_through_a_json_endpoint_equals_csv_in_process(
    tmp_path: Path, test_registry: RegistryFixture, caplog: pytest.LogCaptureFixture
) -> None:
    # given cancer rows as JSON Lines records {"features": [...], "label": 0 or 1}
    rows = test_registry.cancer.iloc[60:80].reset_index(drop=True)
    baseline = test_registry.cancer.iloc[5:8]
    features = list(rows.columns)
    (tmp_path / "data.jsonl").write_text(
        "".join(
            json.dumps({"features": values, "label": index % 2}) + "\n"
            for index, values in enumerate(rows.to_numpy().tolist())
        )
    )
    config = {
        "dataset_type": "application/jsonlines",
        "headers": features,
        "features": "features",
        "label": "label",
        "methods": {
            "shap": {
                "baseline": [{"features": row} for row in baseline.to_numpy().tolist()],
                **SHAP,
            }
        },
        "predictor": JSON_PREDICTOR
        | {"content_template": "$records", "record_template": "$features"},
    }
    model = test_registry.models["cancer"]
    with ModelServer(model.predict_proba, features) as server:
        # when clarify explains it through the JSON endpoint
        code = clarify(
            "--config",
            str(write_config(tmp_path / "config.json", config)),
            "--dataset",
            str(tmp_path / "data.jsonl"),
            "--output",
            str(tmp_path / "out"),
            "--endpoint",
            server.url,
        )
        sent = json.loads(server.received[0].body)

    # then the label was found, not explained, and the analysis is the in-process one
    assert code == EXIT_OK, "the JSON Lines analysis must succeed"
    assert sent[0] == rows.iloc[0].tolist(), "records are the rows' value lists"
    assert "label: 'label' found in the first record, not a feature" in caplog.text, caplog.text
    expected = in_process_csv_analysis(tmp_path, test_registry, rows, baseline)
    assert_same_analysis(read_analysis(tmp_path / "out"), expected)


@pytest.mark.parametrize(
    ("dataset_type", "file", "content", "features", "label", "message"),
    [
        (
            "application/json",
            "data.json",
            json.dumps({"data": [{"features": [1.0, 2.0]}]}),
            "data[*].features",
            "data[*].target",
            "label: 'data[*].target' finds nothing in the document of",
        ),
        (
            "application/jsonlines",
            "data.jsonl",
            json.dumps({"features": [1.0, 2.0], "y": 1}) + "\n",
            "features",
            "target",
            "label: 'target' finds nothing in the first record of",
        ),
        (
            "application/jsonlines",
            "data.jsonl",
            json.dumps({"features": [1.0, 2.0], "y": 1}) + "\n",
            "features",
            0,
            "label: 0 is an index; in JSON Lines and JSON data sets it is a JMESPath",
        ),
    ],
)
def test_a_label_path_that_finds_nothing_is_a_config_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    dataset_type: str,
    file: str,
    content: str,
    features: str,
    label: str | int,
    message: str,
) -> None:
    # given a JSON data set and a label JMESPath that is not in it
    (tmp_path / file).write_text(content)
    config = {
        "dataset_type": dataset_type,
        "features": features,
        "label": label,
        "methods": {"shap": {"baseline": [[0.0, 0.0]]}},
    }
    # when clarify runs
    code = clarify(
        "--config",
        str(write_config(tmp_path / "config.json", config)),
        "--dataset",
        str(tmp_path / file),
        "--output",
        str(tmp_path / "out"),
        "--endpoint",
        "http://127.0.0.1:9/invocations",
    )
    # then it stops with exit 2 and one line naming the field, before any model call
    error = capsys.readouterr().err
    assert code == EXIT_INVALID_CONFIG, f"a config error, exit 2: {error}"
    assert message in error, error
    assert not (tmp_path / "out").exists(), "nothing written"


def clarify_json_document(tmp_path: Path, document: Any, config: dict[str, Any]) -> int:
    """Clarify on ``document`` (written as data.json) against an endpoint that is never reached."""
    (tmp_path / "data.json").write_text(json.dumps(document))
    return clarify(
        "--config",
        str(write_config(tmp_path / "config.json", config)),
        "--dataset",
        str(tmp_path / "data.json"),
        "--output",
        str(tmp_path / "out"),
        "--endpoint",
        "http://127.0.0.1:9/invocations",
    )


def test_a_json_label_with_a_value_missing_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a JSON document whose label path finds fewer values than there are records
    document = {"rows": [[1.0, 2.0], [3.0, 4.0]], "labels": [1]}
    config = {
        "dataset_type": "application/json",
        "features": "rows",
        "label": "labels",
        "methods": {"shap": {"baseline": [[0.0, 0.0]]}},
    }
    # when clarify runs, then the data set is named with the count expected
    code = clarify_json_document(tmp_path, document, config)
    error = capsys.readouterr().err
    assert code == EXIT_FAILED, error
    assert "data.json: label 'labels' finds 1 value(s), expected one per record (2)" in error, error


def test_a_json_record_without_features_is_named_even_with_a_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a JSON document of 3 records with a label each, the second without its features
    document = {
        "data": [
            {"features": [1.0, 2.0], "target": 1},
            {"target": 0},
            {"features": [5.0, 6.0], "target": 1},
        ]
    }
    config = {
        "dataset_type": "application/json",
        "features": "data[*].features",
        "label": "data[*].target",
        "methods": {"shap": {"baseline": [[0.0, 0.0]]}},
    }
    # when clarify runs
    code = clarify_json_document(tmp_path, document, config)
    # then the record is named (every record has its label: the labels are not miscounted)
    error = capsys.readouterr().err
    assert code == EXIT_FAILED, error
    assert error.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'data.json'}: record 2: no feature list or object at "
        "'data[*].features'"
    ), error
    assert not (tmp_path / "out").exists(), "nothing written"


def _config(**fields: object) -> AnalysisConfig:
    return AnalysisConfig.model_validate({"methods": {"shap": {}}, **fields})


def test_json_data_sets_keep_every_feature_but_excluded_ones(tmp_path: Path) -> None:
    # given JSON Lines and JSON data sets with a label, a predicted label and an excluded feature
    records = [{"x": [1.0, 2.0, 3.0], "y": 0, "p": 1}, {"x": [4.0, 5.0, 6.0], "y": 1, "p": 1}]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "data.json").write_text(json.dumps({"records": records}))
    headers = ["a", "b", "c", "y", "p"]  # features, then the label's and predicted label's names
    common = {"headers": headers, "excluded_columns": ["b"]}
    lines = _config(features="x", label="y", predicted_label="p", **common)
    document = _config(features="records[*].x", label="records[*].y", **common)

    # when their samples are read
    from_lines = clarify_samples(
        lines,
        "application/jsonlines",
        str(tmp_path / "data.jsonl"),
        features_attribute=None,
        batch_size=10,
    )
    headers_without_predicted = ["a", "b", "c", "y"]
    from_document = clarify_samples(
        document.model_copy(update={"headers": headers_without_predicted}),
        "application/json",
        str(tmp_path / "data.json"),
        features_attribute=None,
        batch_size=1,
    )

    # then the features are named by the headers' first names, without the excluded one
    for source in (from_lines, from_document):
        frame = pd.concat(list(source.batches()))
        assert list(frame.columns) == ["a", "c"], f"features without b: {list(frame.columns)}"
        assert frame.to_numpy().tolist() == [[1.0, 3.0], [4.0, 6.0]], "values in record order"


def test_an_excluded_column_that_is_not_a_feature_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "data.jsonl").write_text(json.dumps({"x": [1.0, 2.0]}) + "\n")
    config = _config(features="x", headers=["a", "b"], excluded_columns=["z"])
    with pytest.raises(ConfigError, match=r"excluded_columns: no column 'z' in the data set"):
        clarify_samples(
            config,
            "application/jsonlines",
            str(tmp_path / "data.jsonl"),
            features_attribute=None,
            batch_size=10,
        )
