"""``methods.pdp`` end to end through `explainops clarify`: analysis.json's ``explanations.pdp``.

The independent answer is scikit-learn's brute-force ``partial_dependence`` of the same fitted
estimator, on the same grid (``custom_values``: the ``feature_values`` analysis.json reports),
over the data set as read back from its file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.inspection import partial_dependence
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from explainops.cli import EXIT_INVALID_CONFIG, EXIT_OK, main
from explainops.testing.model_server import ModelServer

from ..conftest import RegistryFixture, log_sklearn_model


def clarify(*arguments: str) -> int:
    """Run ``explainops clarify`` in process."""
    return main(["clarify", *arguments])


def write_config(path: Path, methods: dict[str, Any], **fields: Any) -> Path:
    path.write_text(json.dumps({"version": "1.0", "methods": methods, **fields}))
    return path


def sklearn_average(
    model: Any, data: pd.DataFrame, feature: str, grid: list[Any], **options: Any
) -> np.ndarray:
    """scikit-learn's brute-force partial dependence (k, g) of ``model`` on exactly ``grid``."""
    result = partial_dependence(
        model,
        data,
        [feature],
        custom_values={feature: np.asarray(grid)},
        method="brute",
        kind="average",
        **options,
    )
    return np.asarray(result["average"])


def expected_distribution(column: pd.Series, buckets: int) -> np.ndarray:
    """Share of the rows in each of ``buckets`` equal-width buckets over [min, max]."""
    counts, _ = np.histogram(column, bins=buckets, range=(column.min(), column.max()))
    return counts / len(column)


def test_pdp_only_config_in_process_matches_sklearn_for_every_class(
    tmp_path: Path, test_registry: RegistryFixture
) -> None:
    # given the registry's three-class wine forest, a CSV with header, and a PDP-only config
    # naming one feature by name and one by index
    dataset = tmp_path / "wine.csv"
    test_registry.wine.iloc[::2].to_csv(dataset, index=False)
    features = list(test_registry.wine.columns)
    config = write_config(
        tmp_path / "analysis_config.json",
        {"pdp": {"features": ["alcohol", 6], "grid_resolution": 6}},
    )

    # when clarify runs it in process
    code = clarify(
        "--config", str(config), "--dataset", str(dataset), "--output", str(tmp_path / "out"),
        "--model", "models:/wine/2", "--tracking-uri", test_registry.tracking_uri,
    )  # fmt: skip

    # then analysis.json holds explanations.pdp only, and each feature's predictions per class
    # equal sklearn's on the grid analysis.json reports
    assert code == EXIT_OK, "a PDP-only config runs without SHAP"
    analysis = json.loads((tmp_path / "out" / "analysis.json").read_text())
    assert list(analysis["explanations"]) == ["pdp"], "no kernel_shap without methods.shap"
    entries = analysis["explanations"]["pdp"]
    assert [entry["feature_name"] for entry in entries] == ["alcohol", features[6]], (
        "features by name, then by index, in order"
    )
    data = pd.read_csv(dataset)
    for entry in entries:
        column = data[entry["feature_name"]]
        assert entry["data_type"] == "numerical", "a numeric column"
        width = (column.max() - column.min()) / 6
        np.testing.assert_allclose(
            entry["feature_values"], column.min() + width * (np.arange(6) + 0.5), atol=1e-12
        )
        expected = sklearn_average(
            test_registry.models["wine"], data, entry["feature_name"], entry["feature_values"]
        )
        assert np.asarray(entry["model_predictions"]).shape == (3, 6), "one list per class"
        np.testing.assert_allclose(
            entry["model_predictions"], expected, rtol=1e-12, atol=1e-12,
            err_msg=entry["feature_name"],
        )  # fmt: skip
        np.testing.assert_allclose(
            entry["data_distribution"], expected_distribution(column, 6), atol=1e-15
        )
    assert analysis["explainops"]["n_samples"] == len(data), "every row averaged"
    assert analysis["explainops"]["grid_resolution"] == 6, "run details name the grid"


def test_endpoint_and_in_process_regressor_match_sklearn(
    tmp_path: Path, test_registry: RegistryFixture
) -> None:
    # given the registry's diabetes regressor behind an endpoint answering its score as CSV, a
    # header-less CSV data set and a PDP config with headers
    features = list(test_registry.diabetes.columns)
    rows = test_registry.diabetes.iloc[:90]
    dataset = tmp_path / "diabetes.csv"
    rows.to_csv(dataset, index=False, header=False)
    config = write_config(
        tmp_path / "analysis_config.json",
        {"pdp": {"features": ["bmi", 0], "grid_resolution": 10}},
        headers=features,
    )
    model = test_registry.models["diabetes"]
    common = ["--config", str(config), "--dataset", str(dataset)]

    # when clarify runs through the endpoint and in process
    with ModelServer(model.predict, features, csv_layout="scores") as server:
        remote = clarify(*common, "--output", str(tmp_path / "remote"), "--endpoint", server.url)
        requests = server.requests
    local = clarify(
        *common, "--output", str(tmp_path / "local"),
        "--model", "models:/diabetes/1", "--tracking-uri", test_registry.tracking_uri,
    )  # fmt: skip

    # then both equal sklearn's partial dependence of the regressor on the reported grid
    assert (remote, local) == (EXIT_OK, EXIT_OK), "both runs succeed"
    assert requests >= 1, "the endpoint was asked"
    data = pd.read_csv(dataset, header=None, names=features)
    for run in ("remote", "local"):
        entries = json.loads((tmp_path / run / "analysis.json").read_text())["explanations"]["pdp"]
        assert [entry["feature_name"] for entry in entries] == ["bmi", "age"], run
        for entry in entries:
            expected = sklearn_average(model, data, entry["feature_name"], entry["feature_values"])
            np.testing.assert_allclose(
                entry["model_predictions"], expected, rtol=1e-12, atol=1e-12,
                err_msg=f"{run}: {entry['feature_name']}",
            )  # fmt: skip


def test_without_features_the_top_k_of_the_shap_ranking_are_taken(
    tmp_path: Path, test_registry: RegistryFixture
) -> None:
    # given SHAP and PDP without features, top 3, for the cancer model's positive class
    dataset = tmp_path / "cancer.csv"
    test_registry.cancer.iloc[:40].to_csv(dataset, index=False)
    config = write_config(
        tmp_path / "analysis_config.json",
        {
            "shap": {"baseline": test_registry.cancer.iloc[:2].to_numpy().tolist(), "seed": 1},
            "pdp": {"top_k_features": 3, "grid_resolution": 4},
        },
        predictor={"label_headers": ["benign_or_not"]},
    )

    # when clarify runs in process
    code = clarify(
        "--config", str(config), "--dataset", str(dataset), "--output", str(tmp_path / "out"),
        "--model", "models:/cancer/1", "--tracking-uri", test_registry.tracking_uri,
        "--probability-attribute", "1",
    )  # fmt: skip

    # then explanations.pdp holds the three features of largest global SHAP value, largest first
    assert code == EXIT_OK, "SHAP then PDP"
    analysis = json.loads((tmp_path / "out" / "analysis.json").read_text())
    ranking = analysis["explanations"]["kernel_shap"]["benign_or_not"]["global_shap_values"]
    top = sorted(ranking, key=lambda name: -ranking[name])[:3]
    entries = analysis["explanations"]["pdp"]
    assert [entry["feature_name"] for entry in entries] == top, "top 3 of the SHAP ranking"
    data = pd.read_csv(dataset)
    for entry in entries:
        expected = sklearn_average(
            test_registry.models["cancer"], data, entry["feature_name"], entry["feature_values"]
        )
        # sklearn gives a binary classifier's positive class: probability attribute 1
        np.testing.assert_allclose(
            entry["model_predictions"], expected, rtol=1e-12, atol=1e-12,
            err_msg="the positive class only",
        )  # fmt: skip


@pytest.fixture(scope="module")
def colour_model(test_registry: RegistryFixture) -> tuple[Any, pd.DataFrame]:
    """A registered pipeline (one-hot colour + logistic regression) on a string and a number."""
    rng = np.random.default_rng(2)
    data = pd.DataFrame(
        {
            "colour": rng.choice(["red", "green", "blue"], 120, p=[0.5, 0.3, 0.2]),
            "size": rng.normal(size=120),
            "constant": np.full(120, 4.0),
        }
    )
    target = ((data["colour"] == "red") ^ (data["size"] > 0.3)).astype(int)
    pipeline = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["colour"]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(data, target)
    mlflow.set_tracking_uri(test_registry.tracking_uri)
    mlflow.set_registry_uri(test_registry.tracking_uri)
    log_sklearn_model("pdp_colours", pipeline, data, "predict_proba")
    return pipeline, data


def test_categorical_feature_and_an_error_entry(
    tmp_path: Path, test_registry: RegistryFixture, colour_model: tuple[Any, pd.DataFrame]
) -> None:
    # given a data set with a string column and a constant one, and a PDP of all three features
    pipeline, data = colour_model
    dataset = tmp_path / "colours.csv"
    data.to_csv(dataset, index=False)
    config = write_config(
        tmp_path / "analysis_config.json",
        {"pdp": {"features": ["colour", "constant", "size"], "grid_resolution": 5}},
    )

    # when clarify runs in process
    code = clarify(
        "--config", str(config), "--dataset", str(dataset), "--output", str(tmp_path / "out"),
        "--model", "models:/pdp_colours/1", "--tracking-uri", test_registry.tracking_uri,
    )  # fmt: skip

    # then colour is categorical over its sorted categories, with sklearn's averages and the
    # share of each colour; the constant has an error entry; size is computed
    assert code == EXIT_OK, "a feature that cannot be computed does not fail the run"
    colour, constant, size = json.loads((tmp_path / "out" / "analysis.json").read_text())[
        "explanations"
    ]["pdp"]
    assert colour["data_type"] == "categorical", "a string column is categorical"
    assert colour["feature_values"] == ["blue", "green", "red"], "its categories, sorted"
    expected = sklearn_average(
        pipeline, data, "colour", colour["feature_values"], categorical_features=["colour"]
    )
    # both classes are explained; sklearn gives a binary classifier's positive class
    negative, positive = colour["model_predictions"]
    np.testing.assert_allclose(positive, expected[0], rtol=1e-12, atol=1e-12, err_msg="class 1")
    np.testing.assert_allclose(negative, 1 - expected[0], rtol=1e-12, atol=1e-12, err_msg="0")
    shares = data["colour"].value_counts(normalize=True)
    np.testing.assert_allclose(
        colour["data_distribution"], [shares["blue"], shares["green"], shares["red"]]
    )
    assert constant == {
        "feature_name": "constant",
        "data_type": "numerical",
        "error": "a single value (4.0): no range to divide",
    }, "Clarify's error entry in place of the values"
    assert size["data_type"] == "numerical" and len(size["feature_values"]) == 5, "computed"


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (["feature_1", "feature_9"], "methods.pdp.features: 'feature_9' is not a feature"),
        ([3], "methods.pdp.features: index 3 is out of range: there are 3 features"),
    ],
)
def test_unknown_features_exit_2_before_any_model_call(
    tmp_path: Path, features: list[Any], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # given SHAP and a PDP naming a feature the data set does not have
    names = ["feature_1", "feature_2", "feature_3"]
    dataset = tmp_path / "dataset.csv"
    pd.DataFrame(np.random.default_rng(0).random((5, 3))).to_csv(dataset, index=False, header=False)
    config = write_config(
        tmp_path / "analysis_config.json",
        {"shap": {"baseline": [[0.5, 0.5, 0.5]]}, "pdp": {"features": features}},
        headers=names,
    )

    # when clarify runs against an endpoint
    with ModelServer(lambda frame: frame.sum(axis=1).to_numpy(), names) as server:
        code = clarify(
            "--config", str(config), "--dataset", str(dataset), "--output", str(tmp_path / "out"),
            "--endpoint", server.url,
        )  # fmt: skip
        requests = server.requests

    # then it is a configuration error naming the field, before SHAP or any request
    assert code == EXIT_INVALID_CONFIG, "a feature that is not one is a configuration error"
    assert message in capsys.readouterr().err, f"the error says {message!r}"
    assert requests == 0, "refused before any model call"
    assert not (tmp_path / "out").exists(), "nothing written"
