"""Clarify's data config: the label and the other non-feature columns are removed as Clarify does.

A CSV data set's first row is a header row or data by the rule of docs/clarify.md (``headers``);
a relative ``methods.shap.baseline`` file is read beside the analysis config. End to end, the
independent answer is a linear model's Shapley values against one baseline row, w_i (x_i - b_i).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from explainops.clarify.analysis_config import AnalysisConfig, with_baseline_beside
from explainops.clarify.data import clarify_samples, csv_column_names, non_feature_columns
from explainops.cli import EXIT_FAILED, EXIT_OK
from explainops.errors import ConfigError, InputError
from explainops.testing.model_server import ModelServer

from .cli import clarify_args, run

COLUMNS = ["Label", "id", "f1", "f2", "f3", "source"]


def _config(**fields: object) -> AnalysisConfig:
    return AnalysisConfig.model_validate({"methods": {"shap": {}}, **fields})


def test_label_excluded_join_and_predicted_columns_are_named_with_their_field() -> None:
    config = _config(
        label="Label", excluded_columns=["id"], joinsource_name_or_index=5, predicted_label="f3"
    )
    assert non_feature_columns(config, COLUMNS) == {
        "Label": "label",
        "id": "excluded_columns",
        "source": "joinsource_name_or_index",
        "f3": "predicted_label",
    }


def test_a_label_index_names_the_column_of_a_header_less_data_set() -> None:
    names = ["column_0", "column_1", "column_2"]
    assert non_feature_columns(_config(label=0), names) == {"column_0": "label"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"label": 9}, r"label: index 9 is out of range: the data set has 6 columns \(0 to 5\)"),
        ({"label": "Target"}, r"label: no column 'Target' in the data set"),
        ({"excluded_columns": ["nope"]}, r"excluded_columns: no column 'nope'"),
    ],
)
def test_a_column_that_does_not_exist_is_a_configuration_error(fields, message) -> None:
    with pytest.raises(ConfigError, match=message):
        non_feature_columns(_config(**fields), COLUMNS)


def test_the_sdk_spelling_of_the_join_column_is_accepted() -> None:
    assert _config(joinsource_name_or_index="id").joinsource_name_or_index == "id"


# A header-less data set as Clarify documents them: a string row id, two features, the label,
# a third feature.
ID_ROWS = [
    ["r1", 0.5814568701544718, 0.6651538910132964, 1, 0.3138080342665499],
    ["r2", 0.6711642728531724, 0.7466687034026017, 0, 0.1215477472819713],
    ["r3", 0.0453256543003371, 0.6377430803264152, 1, 0.3558625219713576],
    ["r4", 0.9213, 0.1107, 0, 0.7702],
]
ID_HEADERS = ["id", "feature_1", "feature_2", "target", "feature_3"]
WEIGHTS = np.array([2.0, -3.0, 1.0])
BASELINE_ROW = [0.4441164946610942, 0.5190374448171748, 0.20722795300473712]


def linear(frame: pd.DataFrame) -> np.ndarray:
    """A model whose Shapley values against one baseline row b are w_i (x_i - b_i)."""
    return 0.5 + frame.to_numpy(dtype=float) @ WEIGHTS


def write_rows(path: Path, rows: list[list[Any]], header: list[str] | None = None) -> Path:
    pd.DataFrame(rows, columns=header).to_csv(path, index=False, header=header is not None)
    return path


def read_features(config: AnalysisConfig, path: Path) -> pd.DataFrame:
    """The data set's features, read as a run reads them."""
    source = clarify_samples(config, "text/csv", str(path), features_attribute=None, batch_size=2)
    return pd.concat(list(source.batches()))


@pytest.mark.parametrize(
    ("fields", "features"),
    [
        ({"label": 3, "excluded_columns": [0]}, ["column_1", "column_2", "column_4"]),
        (
            {"headers": ID_HEADERS, "label": "target", "excluded_columns": ["id"]},
            ["feature_1", "feature_2", "feature_3"],
        ),
    ],
    ids=["without-headers", "with-headers"],
)
def test_a_header_less_first_row_with_a_string_field_is_data_and_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fields: dict[str, Any], features: list[str]
) -> None:
    # given a header-less CSV whose first field is a string row id, and a config that removes the
    # id and the label (by index without headers, by name with them)
    dataset = write_rows(tmp_path / "data.csv", ID_ROWS)
    config = tmp_path / "analysis_config.json"
    shap = {"baseline": [BASELINE_ROW], "save_local_shap_values": True}
    config.write_text(json.dumps({"methods": {"shap": shap}, **fields}))

    # when clarify explains it through an endpoint
    with ModelServer(linear, features, csv_layout="scores") as server:
        code, err = run(
            capsys, clarify_args(config, dataset, tmp_path / "out", "--endpoint", server.url)
        )

    # then every row is explained, the first included, with the linear model's Shapley values
    assert code == EXIT_OK, err
    analysis = json.loads((tmp_path / "out" / "analysis.json").read_text())
    assert analysis["explainops"]["n_samples"] == len(ID_ROWS), "no data row taken as names"
    local = pd.read_csv(tmp_path / "out" / "explanations_shap" / "out.csv")
    assert list(local.columns) == [f"{name}_label0" for name in features], "features named"
    values = np.array([[row[1], row[2], row[4]] for row in ID_ROWS])
    np.testing.assert_allclose(
        local.to_numpy(), WEIGHTS * (values - BASELINE_ROW), rtol=1e-9, atol=1e-12,
        err_msg="w_i (x_i - b_i), row by row from the first",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "fields", "first", "n_rows"),
    [
        # a categorical feature, with and without headers
        ("70,48.9,c,y\n57,41.9,b,y\n", {"headers": ["age", "income", "segment", "city"]},
         [70, 48.9, "c", "y"], 2),
        ("70,48.9,c,y\n57,41.9,b,y\n", {}, [70, 48.9, "c", "y"], 2),
        # a missing value in the first row, empty or pandas' NA, with and without headers
        ("0.67,,0.12\n0.5,0.7,0.1\n", {"headers": ["a", "b", "c"]}, [0.67, None, 0.12], 2),
        ("0.67,NA,0.12\n0.5,0.7,0.1\n", {}, [0.67, None, 0.12], 2),
        # names above numbers: a header row, also with an unnamed index column
        ("a,b,c\n1,2,3\n", {}, [1, 2, 3], 1),
        (",b,c\n1,2,3\n", {"excluded_columns": [0]}, [2, 3], 1),
        # a header row of string columns, told by the label's name in it
        ("colour,size,label\nred,L,yes\nblue,M,no\n", {"label": "label"}, ["red", "L"], 2),
        # the first row equal to the headers
        ("a,b\n1,2\n", {"headers": ["a", "b"]}, [1, 2], 1),
    ],
    ids=[
        "categorical-headers", "categorical", "missing-headers", "NA", "header-row",
        "index-column", "named-label", "equal-headers",
    ],
)  # fmt: skip
def test_the_first_row_is_a_header_row_or_data_as_documented(
    tmp_path: Path, text: str, fields: dict[str, Any], first: list[Any], n_rows: int
) -> None:
    # given a CSV data set and an analysis config
    path = tmp_path / "data.csv"
    path.write_text(text)

    # when its features are read
    features = read_features(_config(**fields), path)

    # then the first row read is the first data row (not the header row, nor the second row)
    got = [None if pd.isna(value) else value for value in features.iloc[0]]
    assert got == first, f"first row read: {got}"
    assert len(features) == n_rows, "every data row read, and no header row"


@pytest.mark.parametrize(
    ("text", "fields", "message"),
    [
        # text over text only: all-string data or a header row over it
        ("colour,size\nred,L\n", {}, r"cannot tell whether the first row \['colour', 'size'\] is "
         r"a header row or data; give the columns' names in the analysis config's headers"),
        # a number beside a text over a number: a numeric name, or a mixed column
        ("id,2019\n1,5\n", {"label": 0}, r"cannot tell whether the first row \['id', '2019'\]"),
        # names above numbers that are not the headers: never read as a data row
        ("a,b\n1,2\n", {"headers": ["x", "y"]}, r"the first row \['a', 'b'\] looks like a "
         r"header row \(names above numbers\) but differs from the analysis config's headers"),
        ("1,2,3\n4,5,6\n", {"headers": ["x", "y"]}, r"rows have 3 columns, the analysis "
         r"config's headers name 2 \(x, y\)"),
    ],
    ids=["strings", "numeric-name", "other-headers", "column-count"],
)  # fmt: skip
def test_a_first_row_that_cannot_be_placed_is_a_one_line_error(
    tmp_path: Path, text: str, fields: dict[str, Any], message: str
) -> None:
    # given a CSV data set whose first row is neither clearly data nor clearly the header row
    path = tmp_path / "data.csv"
    path.write_text(text)

    # when its column names are taken
    with pytest.raises(InputError) as raised:
        csv_column_names(str(path), _config(**fields))

    # then the error names the file and the row, and says what was expected, on one line
    error = str(raised.value)
    assert error.startswith(f"{path}: ") and "\n" not in error, error
    assert re.search(message, error), error


def test_a_relative_baseline_file_is_read_beside_the_analysis_config(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a config naming baseline.csv, the file beside it, and another baseline.csv in the
    # working directory
    folder, elsewhere = tmp_path / "confs", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    write_rows(folder / "baseline.csv", [BASELINE_ROW])
    write_rows(elsewhere / "baseline.csv", [[0.0, 0.0, 0.0]])
    headers = ["feature_1", "feature_2", "feature_3"]
    shap = {"baseline": "baseline.csv", "save_local_shap_values": True}
    (folder / "analysis_config.json").write_text(
        json.dumps({"headers": headers, "methods": {"shap": shap}})
    )
    values = np.array([[row[1], row[2], row[4]] for row in ID_ROWS])
    dataset = write_rows(tmp_path / "data.csv", values.tolist())
    monkeypatch.chdir(elsewhere)

    # when clarify runs with the config given relative to the working directory
    config = Path(os.path.relpath(folder / "analysis_config.json"))
    with ModelServer(linear, headers, csv_layout="scores") as server:
        code, err = run(
            capsys, clarify_args(config, dataset, tmp_path / "out", "--endpoint", server.url)
        )

    # then the baseline is the file beside the config
    assert code == EXIT_OK, err
    local = pd.read_csv(tmp_path / "out" / "explanations_shap" / "out.csv")
    np.testing.assert_allclose(
        local.to_numpy(), WEIGHTS * (values - BASELINE_ROW), rtol=1e-9, atol=1e-12,
        err_msg="against the baseline beside the config, not the working directory's",
    )  # fmt: skip
    assert f"methods.shap.baseline: {folder / 'baseline.csv'}" in caplog.text, "logged"


def test_a_missing_baseline_file_names_the_field_and_the_path_searched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a config naming a baseline file that is not beside it
    folder = tmp_path / "confs"
    folder.mkdir()
    config = folder / "analysis_config.json"
    shap = {"baseline": "missing.csv"}
    config.write_text(json.dumps({"headers": ["a", "b", "c"], "methods": {"shap": shap}}))
    dataset = write_rows(tmp_path / "data.csv", [BASELINE_ROW])

    # when clarify runs
    with ModelServer(linear, ["a", "b", "c"], csv_layout="scores") as server:
        code, err = run(
            capsys, clarify_args(config, dataset, tmp_path / "out", "--endpoint", server.url)
        )

    # then one error line names the field and the file where it was looked for
    errors = [line for line in err.splitlines() if line.startswith("error")]
    assert code == EXIT_FAILED, err
    expected = f"error: methods.shap.baseline: {folder / 'missing.csv'}: file not found"
    assert errors == [expected], f"one line naming the field and the path: {errors}"
    assert not (tmp_path / "out").exists(), "nothing written"


@pytest.mark.parametrize(
    ("config_path", "baseline", "resolved"),
    [
        ("s3://bucket/confs/analysis_config.json", "../baselines/b.csv",
         "s3://bucket/baselines/b.csv"),
        ("s3://bucket/confs/analysis_config.json", "s3://other/b.csv", "s3://other/b.csv"),
        ("/srv/confs/analysis_config.json", "/data/b.csv", "/data/b.csv"),
        ("/srv/confs/analysis_config.json", "sub/b.csv", "/srv/confs/sub/b.csv"),
    ],
)  # fmt: skip
def test_relative_baseline_paths_and_uris_are_taken_in_the_config_s_folder(
    config_path: str, baseline: str, resolved: str
) -> None:
    config = _config(methods={"shap": {"baseline": baseline}})
    assert with_baseline_beside(config, config_path).shap.baseline == resolved, (
        "relative: in the config's folder; absolute or another URI: as given"
    )
