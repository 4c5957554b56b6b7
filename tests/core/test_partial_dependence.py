"""Partial dependence against scikit-learn's brute-force ``partial_dependence`` on the same grid."""

from __future__ import annotations

import doctest
import math
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.inspection import partial_dependence as sklearn_partial_dependence

import explainops.core.partial_dependence as module
from explainops.core.partial_dependence import partial_dependence, select_features
from explainops.errors import ConfigError, InputError

FEATURES = ["x0", "x1", "x2", "x3"]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    """250 rows of four numeric features on different scales."""
    rng = np.random.default_rng(3)
    return pd.DataFrame(rng.normal(size=(250, 4)) * [1.0, 3.0, 0.5, 10.0], columns=FEATURES)


@pytest.fixture(scope="module")
def regressor(data: pd.DataFrame) -> GradientBoostingRegressor:
    target = data["x0"] ** 2 + np.sin(data["x1"]) + 0.1 * data["x3"]
    return GradientBoostingRegressor(n_estimators=30, random_state=0).fit(data, target)


@pytest.fixture(scope="module")
def classifier(data: pd.DataFrame) -> RandomForestClassifier:
    """Three classes: predict_proba has three outputs."""
    labels = np.digitize(data["x0"] + 0.3 * data["x1"], [-0.5, 0.5])
    return RandomForestClassifier(n_estimators=15, max_depth=4, random_state=0).fit(data, labels)


def in_batches(frame: pd.DataFrame, rows: int) -> Callable[[], Iterator[pd.DataFrame]]:
    """The frame as a reader yields it: batches of ``rows`` rows, indexed by row position."""
    return lambda: (frame.iloc[start : start + rows] for start in range(0, len(frame), rows))


def sklearn_average(
    model: object, data: pd.DataFrame, feature: str, grid: np.ndarray
) -> np.ndarray:
    """scikit-learn's brute-force partial dependence (k, g) on exactly ``grid``."""
    result = sklearn_partial_dependence(
        model,
        data,
        [feature],
        custom_values={feature: grid},
        method="brute",
        kind="average",
        response_method="predict_proba" if hasattr(model, "predict_proba") else "auto",
    )
    assert np.array_equal(result["grid_values"][0], grid), "sklearn used the grid it was given"
    return np.asarray(result["average"])


def test_regressor_matches_sklearn_brute_force_on_the_same_grid(
    data: pd.DataFrame, regressor: GradientBoostingRegressor
) -> None:
    # given a regressor, the data in batches of 64 rows, and a model call budget that splits
    # batches across grid points and features
    calls: list[int] = []

    def predict(rows: pd.DataFrame) -> np.ndarray:
        calls.append(len(rows))
        return np.asarray(regressor.predict(rows[FEATURES]))

    # when the partial dependence of three features is computed
    results = partial_dependence(
        in_batches(data, 64),
        predict,
        ["x0", "x1", "x3"],
        grid_resolution=7,
        rows_per_model_call=500,
    )

    # then each equals sklearn's over the whole data set, at the centres of 7 equal buckets
    for result in results:
        column = data[result.feature_name]
        width = (column.max() - column.min()) / 7
        centres = column.min() + width * (np.arange(7) + 0.5)
        np.testing.assert_allclose(
            result.grid_values, centres, rtol=0, atol=1e-12, err_msg="bucket centres"
        )
        expected = sklearn_average(regressor, data, result.feature_name, result.grid_values)
        np.testing.assert_allclose(
            result.average, expected, rtol=1e-12, atol=1e-12, err_msg=result.feature_name
        )
        assert result.data_type == "numerical", "a float column is numerical"
        assert result.error is None, "computed"
    # and every row of every batch was predicted at every grid point, in calls within the budget
    assert max(calls) <= 500, "no model call exceeds rows_per_model_call"
    assert sum(calls) == len(data) * 3 * 7, "rows x features x grid points predicted, once each"
    expected_calls = sum(
        math.ceil(size * 21 / 500) for size in [64, 64, 64, 58]
    )  # per batch: its pairs in runs of 500
    assert len(calls) == expected_calls, "as few calls as the budget allows, batch by batch"


def test_classifier_matches_sklearn_for_every_class(
    data: pd.DataFrame, classifier: RandomForestClassifier
) -> None:
    # given a three-class classifier whose predict_proba is explained, data in two batches
    def predict(rows: pd.DataFrame) -> np.ndarray:
        return np.asarray(classifier.predict_proba(rows[FEATURES]))

    # when the partial dependence of two features is computed
    results = partial_dependence(in_batches(data, 125), predict, ["x0", "x2"], grid_resolution=5)

    # then the (3, 5) averages equal sklearn's for each class
    for result in results:
        assert result.average.shape == (3, 5), "one row of averages per class"
        expected = sklearn_average(classifier, data, result.feature_name, result.grid_values)
        np.testing.assert_allclose(
            result.average, expected, rtol=1e-12, atol=1e-12, err_msg=result.feature_name
        )
        np.testing.assert_allclose(
            result.average.sum(axis=0), 1.0, atol=1e-12, err_msg="class averages sum to 1"
        )


def test_grid_and_data_distribution_by_hand() -> None:
    # given the values 0 .. 9, one of them missing, and 5 buckets over [0, 9] (width 1.8)
    frame = pd.DataFrame({"a": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "b": [1.0] * 10})
    frame["a"] = frame["a"].astype("float64")
    frame.loc[4, "a"] = np.nan

    # when the partial dependence of a linear model is computed in batches of 3 rows
    [result] = partial_dependence(
        in_batches(frame, 3),
        lambda rows: (3 * rows["a"] - rows["b"]).to_numpy(),
        ["a"],
        grid_resolution=5,
    )

    # then the grid is the bucket centres, the average the line through them, and the
    # distribution the share of all ten rows per bucket: [0, 1.8) holds 0 and 1; [1.8, 3.6) 2
    # and 3; [3.6, 5.4) only 5 (4 is missing); [5.4, 7.2) 6 and 7; [7.2, 9] 8 and 9
    centres = [0.9, 2.7, 4.5, 6.3, 8.1]
    np.testing.assert_allclose(result.grid_values, centres, atol=1e-12, err_msg="centres")
    np.testing.assert_allclose(
        result.average[0], [3 * c - 1 for c in centres], atol=1e-12, err_msg="3a - b averaged"
    )
    np.testing.assert_allclose(
        result.data_distribution, [0.2, 0.2, 0.1, 0.2, 0.2], err_msg="missing row in no bucket"
    )


def test_integer_column_is_swept_through_fractional_centres() -> None:
    # given an integer feature with values 0 .. 3 and 2 buckets
    frame = pd.DataFrame({"n": [0, 1, 2, 3]})
    seen: list[str] = []

    def predict(rows: pd.DataFrame) -> np.ndarray:
        seen.append(str(rows["n"].dtype))
        return rows["n"].to_numpy(dtype=float)

    # when its partial dependence is computed
    [result] = partial_dependence(frame, predict, ["n"], grid_resolution=2)

    # then the model is given the centres 0.75 and 2.25, not truncated to integers
    assert result.average.tolist() == [[0.75, 2.25]], "identity model: the average is the centre"
    assert seen == ["float64"], "the swept column reaches the model as float64"


def test_categorical_feature_takes_its_categories() -> None:
    # given a string feature and a model adding a value per colour to a numeric feature
    frame = pd.DataFrame(
        {
            "colour": ["red", "blue", "red", "green", None, "blue", "red", "blue"],
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        }
    )
    offset = {"red": 10.0, "green": 20.0, "blue": 30.0}

    def predict(rows: pd.DataFrame) -> np.ndarray:
        return rows["colour"].map(offset).fillna(0.0).to_numpy() + rows["x"].to_numpy()

    # when its partial dependence is computed in batches of 3
    [result] = partial_dependence(in_batches(frame, 3), predict, ["colour"])

    # then the grid is the sorted categories, the average offset + mean(x) = offset + 4.5, and the
    # distribution the share of rows of each category (the missing one in none)
    assert result.data_type == "categorical", "a string column is categorical"
    assert result.grid_values.tolist() == ["blue", "green", "red"], "sorted categories"
    np.testing.assert_allclose(
        result.average[0], [34.5, 24.5, 14.5], atol=1e-12, err_msg="offset + mean(x)"
    )
    np.testing.assert_allclose(
        result.data_distribution, [3 / 8, 1 / 8, 3 / 8], err_msg="rows of each category"
    )
    record = result.as_record()
    assert record["feature_values"] == ["blue", "green", "red"], "categories written as they are"


def test_boolean_feature_keeps_its_dtype() -> None:
    # given a boolean feature
    frame = pd.DataFrame({"flag": [True, False, True, True]})

    # when its partial dependence is computed with a model that needs booleans
    [result] = partial_dependence(
        frame, lambda rows: np.where(rows["flag"].to_numpy(dtype=bool), 2.0, 1.0), ["flag"]
    )

    # then both values are swept as booleans
    assert result.grid_values.tolist() == [False, True], "the two values, sorted"
    assert result.average.tolist() == [[1.0, 2.0]], "f(False) = 1, f(True) = 2"
    assert result.data_distribution.tolist() == [0.25, 0.75], "one False, three True"


def test_features_that_cannot_be_computed_get_an_error_and_the_others_a_result() -> None:
    # given a constant column, an all-missing one, one of too many categories and a good one
    frame = pd.DataFrame(
        {
            "constant": [2.0] * 6,
            "missing": [np.nan] * 6,
            "ids": [f"id{i}" for i in range(6)],
            "good": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )

    # when all four are computed, at most 5 categories allowed
    results = partial_dependence(
        frame,
        lambda rows: rows["good"].to_numpy(),
        ["constant", "missing", "ids", "good"],
        grid_resolution=3,
        max_categories=5,
    )

    # then the first three have errors saying why, and the good one its values
    errors = {result.feature_name: result.error for result in results}
    assert "single value (2.0)" in str(errors["constant"]), "a constant has no range"
    assert "every value is missing" in str(errors["missing"]), "no values"
    assert "more than 5 categories" in str(errors["ids"]), "too many categories"
    assert errors["good"] is None, "the good feature is computed"
    assert results[0].as_record() == {
        "feature_name": "constant",
        "data_type": "numerical",
        "error": "a single value (2.0): no range to divide",
    }, "Clarify's error entry: name, type and error, no values"
    np.testing.assert_allclose(results[3].average[0], [5 / 6, 15 / 6, 25 / 6], err_msg="identity")


def test_model_outputs_of_the_wrong_length_are_refused() -> None:
    # given a model answering one row short
    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0]})

    # when the partial dependence is computed, then an InputError names the shapes
    with pytest.raises(InputError, match=r"answered 6 rows with outputs of shape \(5, 1\)"):
        partial_dependence(
            frame, lambda rows: np.zeros((len(rows) - 1, 1)), ["a"], grid_resolution=2
        )


def test_a_feature_that_is_not_a_column_is_an_input_error() -> None:
    frame = pd.DataFrame({"a": [0.0, 1.0]})
    with pytest.raises(InputError, match=r"\['b'\] are not columns"):
        partial_dependence(frame, lambda rows: rows["a"].to_numpy(), ["b"])


def test_select_features_by_name_index_and_ranking() -> None:
    names = ["a", "b", "c", "d"]
    assert select_features(["c", 0, "a"], names, None, 10, "f") == ["c", "a"], (
        "names and indices, in order, each once"
    )
    assert select_features(None, names, [0.1, -0.5, 0.3, 0.3], 3, "f") == ["b", "c", "d"], (
        "largest |value| first, ties in feature order, top 3"
    )
    with pytest.raises(ConfigError, match=r"methods.pdp.features: 'e' is not a feature"):
        select_features(["e"], names, None, 10, "methods.pdp.features")
    with pytest.raises(ConfigError, match=r"methods.pdp.features: index 4 is out of range"):
        select_features([4], names, None, 10, "methods.pdp.features")
    with pytest.raises(ConfigError, match=r"f: missing; without SHAP values"):
        select_features(None, names, None, 10, "f")


def test_docstring_examples_run() -> None:
    assert doctest.testmod(module).failed == 0, "the Examples section runs as written"
