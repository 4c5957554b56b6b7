from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from explainops.explainers import Explanation, aggregate_attributions


def test_aggregations_match_hand_computed_values() -> None:
    # given values for 3 samples, 1 output, 2 features
    values = np.array([[[1.0, -2.0]], [[-3.0, 2.0]], [[2.0, 5.0]]])
    # then mean_abs, median and mean_sq are as computed by hand
    np.testing.assert_allclose(
        aggregate_attributions(values, "mean_abs"), [[2.0, 3.0]], err_msg="mean_abs"
    )
    np.testing.assert_allclose(
        aggregate_attributions(values, "median"), [[1.0, 2.0]], err_msg="median"
    )
    np.testing.assert_allclose(
        aggregate_attributions(values, "mean_sq"), [[14 / 3, 11.0]], err_msg="mean_sq"
    )
    with pytest.raises(ValueError, match="agg_method must be one of"):
        aggregate_attributions(values, "max")  # type: ignore[arg-type]


def test_explanation_checks_shapes_and_reports_additivity() -> None:
    values = np.array([[[1.0, 2.0]]])
    explanation = Explanation(values, np.array([0.5]), np.array([[3.5]]), ("a", "b"), ("label0",))
    # Halves and integers add up exactly in binary floating point.
    assert explanation.additivity_error() == 0.0, "0.5 + 1 + 2 == 3.5"
    assert explanation.global_importance("mean_abs").shape == (1, 2), "(k, d) global values"
    with pytest.raises(ValueError, match="predictions must have shape"):
        Explanation(values, np.array([0.5]), np.array([3.5]), ("a", "b"), ("label0",))


def two_output_explanation(with_errors: bool = False) -> Explanation:
    """2 samples x 2 outputs x 2 features whose rows add up exactly."""
    values = np.array([[[1.0, 2.0], [-1.0, 0.5]], [[0.25, -0.5], [3.0, 1.0]]])
    base_values = np.array([0.5, -1.0])
    return Explanation(
        values=values,
        base_values=base_values,
        predictions=base_values + values.sum(axis=2),
        feature_names=("age", "income"),
        output_names=("low", "high"),
        standard_errors=np.full(values.shape, 0.125) if with_errors else None,
        data=np.array([[30.0, 1000.0], [40.0, 2000.0]]),
    )


def test_to_frame_has_one_row_per_sample_and_output() -> None:
    # given an explanation of 2 samples and 2 outputs
    explanation = two_output_explanation()
    # when it becomes the sample-explanations table with the default ids
    frame = explanation.to_frame()
    # then the rows are sample-major, with the fixed columns first and one column a feature
    expected = pd.DataFrame(
        {
            "sample_id": [0, 0, 1, 1],
            "label": ["low", "high", "low", "high"],
            "prediction": [3.5, -1.5, 0.25, 3.0],
            "base_value": [0.5, -1.0, 0.5, -1.0],
            "age": [1.0, -1.0, 0.25, 3.0],
            "income": [2.0, 0.5, -0.5, 1.0],
        }
    )
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False, obj="sample table")
    assert frame["sample_id"].to_numpy().dtype.kind == "i", "positions are integer ids"


def test_to_frame_takes_ids_and_appends_standard_errors() -> None:
    explanation = two_output_explanation(with_errors=True)
    frame = explanation.to_frame(sample_ids=["a", "b"])
    assert frame["sample_id"].tolist() == ["a", "a", "b", "b"], "each id repeated per output"
    assert list(frame.columns[-2:]) == ["age_stderr", "income_stderr"], "stderr columns last"
    np.testing.assert_array_equal(frame["age_stderr"], 0.125, err_msg="the standard errors")
    with pytest.raises(ValueError, match="expected 2 sample ids"):
        explanation.to_frame(sample_ids=["a"])


def test_repr_is_a_short_summary() -> None:
    # given an explanation of 20 samples, 13 features and 4 outputs
    rng = np.random.default_rng(0)
    values = rng.normal(size=(20, 4, 13))
    base_values = np.array([0.1, 0.2, 0.3, 0.4])
    explanation = Explanation(
        values,
        base_values,
        base_values + values.sum(axis=2),
        tuple(f"f{index}" for index in range(13)),
        ("class_0", "class_1", "class_2", "class_3"),
    )
    # when it is printed
    text = repr(explanation)
    # then it names the sizes and elides the long parts
    assert len(text) < 200, f"a one-line summary, got {len(text)} characters: {text}"
    assert text.startswith(
        "Explanation(n_samples=20, outputs=('class_0', 'class_1', 'class_2', ...), features=13, "
        "base_values=[0.1, ..., 0.4], max_additivity_error="
    ), text


def test_data_must_have_one_row_per_sample_and_one_column_per_feature() -> None:
    explanation = two_output_explanation()
    with pytest.raises(ValueError, match=r"data must have shape \(2, 2\)"):
        Explanation(
            explanation.values,
            explanation.base_values,
            explanation.predictions,
            explanation.feature_names,
            explanation.output_names,
            data=np.zeros((2, 3)),
        )


def test_to_shap_puts_the_output_axis_last() -> None:
    # given an explanation of 2 outputs with standard errors
    explanation = two_output_explanation(with_errors=True)
    # when it is converted to shap's layout
    converted = explanation.to_shap()
    # then the values are the same numbers, transposed to (n, d, k), and the rest follows
    np.testing.assert_array_equal(
        converted.values, explanation.values.transpose(0, 2, 1), err_msg="(n, d, k) values"
    )
    np.testing.assert_array_equal(
        converted.base_values, [[0.5, -1.0], [0.5, -1.0]], err_msg="(n, k) base values"
    )
    np.testing.assert_array_equal(converted.data, explanation.data, err_msg="(n, d) data")
    np.testing.assert_array_equal(converted.error_std, 0.125, err_msg="standard errors")
    assert list(converted.feature_names) == ["age", "income"], "feature names"
    assert list(converted.output_names) == ["low", "high"], "output names"


def test_to_shap_of_a_single_output_is_two_dimensional() -> None:
    explanation = Explanation(
        np.array([[[1.0, 2.0]], [[-0.5, 0.25]]]),
        np.array([0.5]),
        np.array([[3.5], [0.25]]),
        ("a", "b"),
        ("score",),
    )
    converted = explanation.to_shap()
    np.testing.assert_array_equal(converted.values, [[1.0, 2.0], [-0.5, 0.25]], err_msg="(n, d)")
    np.testing.assert_array_equal(converted.base_values, [0.5, 0.5], err_msg="(n,) base values")
    assert converted.data is None, "no data when the explanation has none"
    assert converted.output_names == "score", "a single output's name"


def test_to_shap_without_shap_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # given shap cannot be imported
    monkeypatch.setitem(sys.modules, "shap", None)
    # then the conversion says what is missing
    with pytest.raises(ImportError, match=r"needs the shap package.*pip install shap"):
        two_output_explanation().to_shap()
