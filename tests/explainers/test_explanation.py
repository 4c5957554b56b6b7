from __future__ import annotations

import numpy as np
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
