from __future__ import annotations

import numpy as np
import pytest

from explainops.errors import ExplainerError
from explainops.explainers import ExactExplainer
from explainops.explainers.exact import all_coalitions, shapley_coefficients

from .brute_force import shapley_table
from .conftest import baselines


def test_shapley_coefficients_reproduce_the_textbook_formula_for_an_additive_game() -> None:
    # given a game v(S) = sum of the members' worths, whose Shapley values are the worths
    worths = np.array([1.0, -2.0, 0.5, 4.0])
    masks = all_coalitions(4)
    game = masks @ worths
    # when the coefficient matrix is applied
    values = game @ shapley_coefficients(masks)
    # then each player gets exactly its worth
    np.testing.assert_allclose(values, worths, atol=1e-12, err_msg="additive game must give worths")


@pytest.mark.parametrize("baseline_name", ["one row", "ten weighted rows"])
def test_exact_equals_brute_force_on_a_linear_model(
    linear_model, regression_data, baseline_name
) -> None:
    # given a linear model and a baseline
    features, _ = regression_data
    baseline, weights = baselines(features)[baseline_name]
    samples = features[100:106]
    # when explained exactly
    explanation = ExactExplainer(baseline, weights).explain(linear_model.predict, samples)
    # then values equal brute force, and for a linear model coef * (x - weighted mean of baseline)
    expected = shapley_table(linear_model.predict, samples, baseline, weights)
    np.testing.assert_allclose(
        explanation.values, expected, atol=1e-9, err_msg="exact vs brute force"
    )
    w = np.ones(len(baseline)) if weights is None else weights
    closed_form = linear_model.coef_ * (samples - (w / w.sum()) @ baseline)
    np.testing.assert_allclose(
        explanation.values[:, 0, :], closed_form, atol=1e-9, err_msg="closed form"
    )
    assert explanation.additivity_error() < 1e-9, "base + sum(values) must equal the prediction"


@pytest.mark.parametrize("use_logit", [False, True])
def test_exact_equals_brute_force_on_logistic_probabilities(
    logistic_model, classification_data, use_logit
) -> None:
    # given a classifier whose two class probabilities are explained, in probability or log-odds
    features, _ = classification_data
    baseline, weights = baselines(features)["ten weighted rows"]
    samples = features[200:205]
    # when explained exactly
    explanation = ExactExplainer(baseline, weights, use_logit=use_logit).explain(
        logistic_model.predict_proba, samples
    )
    # then both outputs equal brute force and add up to the prediction in the explained space
    expected = shapley_table(
        logistic_model.predict_proba, samples, baseline, weights, logit=use_logit
    )
    np.testing.assert_allclose(
        explanation.values, expected, atol=1e-9, err_msg="exact vs brute force"
    )
    assert explanation.values.shape == (5, 2, 6), "one set of values per class"
    assert explanation.additivity_error() < 1e-9, "efficiency must hold for every row and output"
    if use_logit:
        probabilities = logistic_model.predict_proba(samples)
        np.testing.assert_allclose(
            explanation.predictions,
            np.log(probabilities / (1 - probabilities)),
            atol=1e-9,
            err_msg="predictions are reported in log-odds with use_logit",
        )


def test_exact_refuses_more_features_than_its_limit() -> None:
    # given 17 features and the default limit of 16
    samples = np.zeros((2, 17))
    # when explained, then a clear error names the limit and the alternative
    with pytest.raises(ExplainerError, match=r"limited to 16 features, got 17.*KernelExplainer"):
        ExactExplainer(np.zeros((1, 17))).explain(lambda rows: rows.sum(axis=1), samples)


def test_exact_results_do_not_depend_on_batch_size(boosted_model, classification_data) -> None:
    # given the same problem explained with tiny and large model batches
    features, _ = classification_data
    baseline, weights = baselines(features)["ten weighted rows"]
    small = ExactExplainer(baseline, weights, batch_size=7).explain(
        boosted_model.predict_proba, features[:4]
    )
    large = ExactExplainer(baseline, weights).explain(boosted_model.predict_proba, features[:4])
    # then the values are equal to 1e-12: the coalition values are the same, but summed by
    # matrix products of other shapes, which BLAS may round otherwise
    np.testing.assert_allclose(
        small.values, large.values, atol=1e-12, err_msg="batching must not matter"
    )


def test_the_feature_limit_counts_the_explained_features_not_the_input_width() -> None:
    # given 4 explained features picked from a 20-column frame
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(5, 20)), columns=[f"x{i}" for i in range(20)])
    picked = ["x0", "x3", "x7", "x19"]
    weights = np.array([1.0, -2.0, 0.5, 3.0])

    def model(rows: pd.DataFrame) -> np.ndarray:
        return rows[picked].to_numpy() @ weights

    explainer = ExactExplainer(
        baseline=frame[picked].iloc[:1], feature_names=picked, max_features=4
    )
    # when explained, then it is not refused, and a linear model's values are w_j (x_j - b_j)
    explanation = explainer.explain(model, frame)
    expected = (frame[picked].to_numpy() - frame[picked].iloc[:1].to_numpy()) * weights
    np.testing.assert_allclose(explanation.values[:, 0, :], expected, rtol=1e-12, atol=1e-12)
