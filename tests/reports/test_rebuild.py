"""``explainops report``: a report drawn again from output files, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explainops.cli import EXIT_FAILED, EXIT_INVALID_CONFIG, EXIT_OK, main


def write_outputs(folder: Path, n_samples: int = 30) -> list[str]:
    """A sample-explanations table of a linear model (closed-form SHAP) and its inputs."""
    rng = np.random.default_rng(0)
    features = ["a", "b", "c"]
    weights = np.array([2.0, -1.0, 0.5])
    inputs = pd.DataFrame(rng.normal(size=(n_samples, 3)), columns=features)
    inputs.insert(0, "row_id", [f"r{index}" for index in range(n_samples)])
    values = (inputs[features] - inputs[features].mean()).to_numpy() * weights
    base = float(inputs[features].mean().to_numpy() @ weights)
    table = pd.DataFrame(values, columns=features)
    table.insert(0, "base_value", base)
    table.insert(0, "prediction", base + values.sum(axis=1))
    table.insert(0, "label", "score")
    table.insert(0, "sample_id", inputs["row_id"])
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "samples.csv", index=False)
    inputs.to_csv(folder / "inputs.csv", index=False)
    return [str(folder / "samples.csv")]


def test_a_sample_explanations_table_alone_is_enough(tmp_path: Path) -> None:
    # given only a sample-explanations table (no model-explanations table)
    paths = write_outputs(tmp_path / "run")
    # when the report is drawn with the inputs
    code = main(
        [
            "report",
            *paths,
            "-o",
            str(tmp_path / "r" / "report.html"),
            "--samples",
            str(tmp_path / "run" / "inputs.csv"),
            "--id-column",
            "row_id",
            "--formats",
            "html",
        ]
    )
    # then the importance is the mean |SHAP value| and the largest prediction has a waterfall
    assert code == EXIT_OK, "the report is written"
    page = (tmp_path / "r" / "report.html").read_text()
    table = pd.read_csv(paths[0])
    mean_abs = table[["a", "b", "c"]].abs().mean()
    assert f"<td>1</td><td>a</td><td>{mean_abs['a']:.6g}</td>" in page, (
        "rank 1 is a, by mean |value|"
    )
    largest = table.nlargest(1, "prediction").iloc[0]
    assert f"Sample {largest['sample_id']} (largest prediction" in page, "its waterfall"
    assert "Colour: the feature&#39;s value" in page, "the inputs colour the beeswarm"


def test_without_inputs_the_dots_are_grey_and_the_page_says_why(tmp_path: Path) -> None:
    paths = write_outputs(tmp_path / "run")
    assert (
        main(["report", *paths, "-o", str(tmp_path / "report.html"), "--formats", "html"])
        == EXIT_OK
    )
    page = (tmp_path / "report.html").read_text()
    assert "input values were not available" in page, "the page says why the dots are grey"


def test_a_clarify_analysis_is_found_with_its_local_values(tmp_path: Path) -> None:
    # given an analysis.json and explanations_shap/out.csv beside it, as Clarify lays them out
    folder = tmp_path / "clarify"
    (folder / "explanations_shap").mkdir(parents=True)
    values = np.random.default_rng(1).normal(size=(12, 2))
    pd.DataFrame(values, columns=["x_label0", "y_label0"]).to_csv(
        folder / "explanations_shap" / "out.csv", index=False
    )
    analysis = {
        "version": "1.0",
        "explanations": {
            "kernel_shap": {
                "label0": {
                    "global_shap_values": dict(
                        zip(["x", "y"], np.abs(values).mean(axis=0).tolist(), strict=True)
                    ),
                    "expected_value": 0.25,
                }
            }
        },
    }
    (folder / "analysis.json").write_text(json.dumps(analysis))
    # when only the analysis is named
    code = main(
        [
            "report",
            str(folder / "analysis.json"),
            "-o",
            str(tmp_path / "r.html"),
            "--formats",
            "html",
        ]
    )
    # then the per-sample sections come from out.csv, predictions rebuilt by additivity
    assert code == EXIT_OK, "the report is written"
    page = (tmp_path / "r.html").read_text()
    assert 'id="beeswarm-label0"' in page and 'id="waterfalls-label0"' in page, "local sections"
    predictions = 0.25 + values.sum(axis=1)
    assert f"largest prediction: {predictions.max():.4g})" in page, (
        "the prediction is the base value plus the sum of the local values"
    )


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["missing.csv"], EXIT_FAILED, "missing.csv"),
        (["notes.txt"], EXIT_FAILED, "not an output explainops reports on"),
        (["image.png"], EXIT_FAILED, "unknown file type"),
        (["history.csv"], EXIT_FAILED, "needs its attribution baseline file"),
        (["samples.csv", "samples.csv"], EXIT_FAILED, "a second samples explanations"),
        (["listed/analysis.json"], EXIT_FAILED, "not a Clarify analysis; expected a JSON object"),
        (["numbered/analysis.json"], EXIT_FAILED, "run details, an object, under 'explainops'"),
        (["stale/analysis.json"], EXIT_FAILED, "this out.csv is not the analysis's own"),
    ],
)
def test_bad_outputs_are_one_line_errors(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    code: int,
    message: str,
) -> None:
    # given a run's folder with a history table, stray files and analyses that are not
    write_outputs(tmp_path)
    pd.DataFrame({"window_id": ["w"], "label": ["l"], "ndcg": [1.0]}).to_csv(
        tmp_path / "history.csv"
    )
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "image.png").write_bytes(b"PNG")
    for folder, document in (("listed", "[1, 2]"), ("numbered", '{"explainops": 3}')):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "analysis.json").write_text(document)
    # an analysis of label 'yes' beside an earlier run's out.csv, of label0
    (tmp_path / "stale" / "explanations_shap").mkdir(parents=True)
    shap = {"yes": {"global_shap_values": {"x": 0.5}, "expected_value": 0.1}}
    (tmp_path / "stale" / "analysis.json").write_text(
        json.dumps({"explanations": {"kernel_shap": shap}, "explainops": {}})
    )
    pd.DataFrame({"x_label0": [0.5, -0.5]}).to_csv(
        tmp_path / "stale" / "explanations_shap" / "out.csv", index=False
    )
    # when the report is asked of them, then it fails with one line naming the problem
    result = main(
        ["report", *[str(tmp_path / name) for name in arguments], "-o", str(tmp_path / "r.html")]
    )
    error = capsys.readouterr().err.strip()
    assert result == code, f"exit {code}: {error}"
    assert message in error and len(error.splitlines()) == 1, f"one line naming it: {error!r}"
    assert not (tmp_path / "r.html").exists(), "nothing is written"


def test_an_id_column_the_samples_do_not_have_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a run's outputs and inputs, and an id column the inputs do not have
    samples = write_outputs(tmp_path)
    arguments = ["--samples", str(tmp_path / "inputs.csv"), "--id-column", "nope"]
    # when the report is asked for
    code = main(["report", *samples, *arguments, "-o", str(tmp_path / "r.html")])
    # then one line names the file, the column and the columns it has; nothing is written
    error = capsys.readouterr().err.strip()
    assert code == EXIT_FAILED, error
    assert (
        error
        == f"error: {tmp_path / 'inputs.csv'}: no id column 'nope'; its columns: row_id, a, b, c"
    )
    assert not (tmp_path / "r.html").exists(), "nothing is written"


def test_an_output_path_that_is_not_html_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write_outputs(tmp_path)
    assert main(["report", *paths, "-o", str(tmp_path / "r.pdf")]) == EXIT_INVALID_CONFIG, "exit 2"
    assert "end it in .html" in capsys.readouterr().err, "the error says what is expected"
