from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shap
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from explainops.errors import ExplainerError
from explainops.explainers import ExactExplainer, KernelExplainer
from explainops.explainers.kernel import default_num_samples, kernel_design

from .brute_force import shapley_table
from .conftest import baselines, interacting_problem

FULL_BUDGET = 2**6 - 2


@pytest.mark.parametrize("baseline_name", ["one row", "ten weighted rows"])
@pytest.mark.parametrize("model_name", ["linear", "logistic", "boosted trees"])
def test_kernel_at_full_enumeration_equals_brute_force(
    model_name,
    baseline_name,
    linear_model,
    logistic_model,
    boosted_model,
    regression_data,
    classification_data,
) -> None:
    # given a model of each family and a baseline
    predict, features = {
        "linear": (linear_model.predict, regression_data[0]),
        "logistic": (logistic_model.predict_proba, classification_data[0]),
        "boosted trees": (boosted_model.predict_proba, classification_data[0]),
    }[model_name]
    baseline, weights = baselines(features)[baseline_name]
    samples = features[150:155]
    # when Kernel SHAP's budget covers all 2^d - 2 coalitions
    explanation = KernelExplainer(baseline, weights, num_samples=FULL_BUDGET).explain(
        predict, samples
    )
    # then it is exact: equal to brute force to 1e-9, with no sampling error
    expected = shapley_table(predict, samples, baseline, weights)
    np.testing.assert_allclose(
        explanation.values, expected, atol=1e-9, err_msg="kernel vs brute force"
    )
    assert explanation.additivity_error() < 1e-9, "efficiency must hold on every row"
    # Exactly zero: a design without sampled pairs has its errors set to zero, not estimated.
    assert np.all(explanation.standard_errors == 0), "an enumerated design has no sampling error"


def test_kernel_with_logit_equals_shap_at_full_enumeration(
    logistic_model, classification_data
) -> None:
    # given a classifier's positive-class probability explained in log-odds
    features, _ = classification_data
    baseline, samples = features[10:20], features[150:156]

    def predict(rows: np.ndarray) -> np.ndarray:
        return logistic_model.predict_proba(rows)[:, 1]

    # when explained by us and by shap (logit link, no L1 selection), both enumerating everything
    ours = KernelExplainer(baseline, num_samples=FULL_BUDGET, use_logit=True).explain(
        predict, samples
    )
    reference = shap.KernelExplainer(predict, baseline, link="logit")
    theirs = np.asarray(
        reference.shap_values(samples, nsamples=FULL_BUDGET, l1_reg=False, silent=True)
    )
    # then values and the base value agree
    np.testing.assert_allclose(ours.values[:, 0, :], theirs, atol=1e-9, err_msg="values vs shap")
    np.testing.assert_allclose(
        ours.base_values[0], reference.expected_value, atol=1e-9, err_msg="base vs shap"
    )


def _rmse_against_exact(predict, baseline, samples, exact, num_samples, seeds) -> float:
    errors = [
        KernelExplainer(baseline, num_samples=num_samples, seed=seed)
        .explain(predict, samples)
        .values
        - exact
        for seed in seeds
    ]
    return float(np.sqrt(np.mean(np.square(errors))))


def test_sampled_kernel_error_shrinks_as_budget_grows() -> None:
    # given a 10-feature model with interactions and its exact values
    predict, baseline, samples, exact = interacting_problem()
    # when estimated with growing budgets
    errors = [
        _rmse_against_exact(predict, baseline, samples, exact, budget, range(4))
        for budget in (60, 250, 800)
    ]
    # then the error falls at each step, and the largest budget is close
    assert errors[0] > errors[1] > errors[2], f"error must shrink with num_samples, got {errors}"
    assert errors[2] < 0.25 * errors[0], f"800 coalitions should be far better than 60: {errors}"


def test_standard_errors_match_the_observed_error_across_seeds() -> None:
    # given a 9-feature nonlinear model with known exact values
    rng = np.random.default_rng(11)
    coefficients = rng.normal(size=9)

    def predict(rows: np.ndarray) -> np.ndarray:
        return np.sin(rows @ coefficients) + rows[:, 0] * rows[:, 5]

    baseline, samples = rng.normal(size=(4, 9)), rng.normal(size=(8, 9))
    exact = ExactExplainer(baseline).explain(predict, samples).values
    # when explained with a sampled budget under many seeds
    runs = [
        KernelExplainer(baseline, num_samples=120, seed=seed).explain(predict, samples)
        for seed in range(30)
    ]
    observed = np.sqrt(np.mean([np.square(run.values - exact) for run in runs]))
    reported = np.sqrt(np.mean([np.square(run.standard_errors) for run in runs]))
    # then the reported standard errors are of the size of the actual errors
    assert 0.6 < reported / observed < 1.6, (
        f"standard errors {reported:.4g} vs observed error {observed:.4g}"
    )


def test_results_depend_on_seed_only_not_on_batching(boosted_model, classification_data) -> None:
    # given one seed and very different model batch sizes and sample splits
    features, _ = classification_data
    baseline, samples = features[:10], features[100:120]
    explainer = KernelExplainer(baseline, num_samples=30, seed=5)
    whole = explainer.explain(boosted_model.predict_proba, samples)
    tiny_batches = KernelExplainer(baseline, num_samples=30, seed=5, batch_size=3).explain(
        boosted_model.predict_proba, samples
    )
    halves = [
        explainer.explain(boosted_model.predict_proba, part).values
        for part in (samples[:7], samples[7:])
    ]
    other_seed = KernelExplainer(baseline, num_samples=30, seed=6).explain(
        boosted_model.predict_proba, samples
    )
    # then batching and partitioning change nothing (to 1e-12: the solves are matrix products of
    # other shapes, which BLAS may round otherwise), and another seed changes the estimate
    np.testing.assert_allclose(tiny_batches.values, whole.values, atol=1e-12, err_msg="batch size")
    np.testing.assert_allclose(
        np.concatenate(halves), whole.values, atol=1e-12, err_msg="partitioning"
    )
    assert not np.allclose(other_seed.values, whole.values), (
        "a different seed must draw a different design"
    )


def test_design_respects_budget_without_duplicates_or_trivial_coalitions() -> None:
    # given 30 features and Clarify's default budget
    budget = default_num_samples(30)
    # when the design is drawn
    design = kernel_design(30, budget, seed=0)
    # then it has at most budget distinct, proper coalitions and weights summing to one
    assert budget == 2 * 30 + 2048, "default budget is 2d + 2048"
    assert design.masks.shape[0] <= budget, "never more evaluations than the budget"
    assert design.masks.shape[0] >= budget - 2, "the budget is used up to the last pair"
    assert np.unique(design.masks, axis=0).shape[0] == design.masks.shape[0], (
        "no duplicate coalitions"
    )
    sizes = design.masks.sum(axis=1)
    assert sizes.min() >= 1 and sizes.max() <= 29, "no empty or full coalition"
    assert np.isclose(design.weights.sum(), 1.0), "kernel weights are normalised"
    assert np.all(design.masks[:60].sum(axis=1) % 29 <= 1), "sizes 1 and 29 are enumerated first"
    assert design.draws.shape[0] > 0 and not design.is_exact, "the rest is sampled in pairs"
    first, second = design.masks[design.draws[:, 0]], design.masks[design.draws[:, 1]]
    assert np.all(first ^ second), "each draw is a coalition and its complement"


def test_single_feature_gets_the_whole_difference() -> None:
    # given a one-feature model
    explanation = KernelExplainer(np.array([[1.0]])).explain(
        lambda rows: 3 * rows[:, 0], np.array([[2.0], [5.0]])
    )
    # then the only feature gets prediction - base
    np.testing.assert_allclose(
        explanation.values[:, 0, 0], [3.0, 12.0], err_msg="phi = f(x) - f(b)"
    )


def test_attributions_are_for_input_columns_of_a_one_hot_pipeline() -> None:
    # given a pipeline that one-hot encodes a string column, fed a DataFrame
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "colour": rng.choice(["red", "green", "blue"], size=200),
            "size": rng.normal(size=200),
            "weight": rng.normal(size=200),
        }
    )
    target = ((frame["colour"] == "red") ^ (frame["size"] > 0)).astype(int)
    pipeline = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["colour"]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(frame, target)
    # when explained on the raw input columns
    explanation = KernelExplainer(frame.iloc[:5], num_samples=100).explain(
        pipeline.predict_proba, frame.iloc[50:60]
    )
    expected = ExactExplainer(frame.iloc[:5]).explain(pipeline.predict_proba, frame.iloc[50:60])
    # then there is one value per input column, exact at full enumeration
    assert explanation.feature_names == ("colour", "size", "weight"), (
        "attributions on input columns"
    )
    np.testing.assert_allclose(
        explanation.values, expected.values, atol=1e-9, err_msg="kernel vs exact"
    )


def test_invalid_settings_are_refused_with_clear_messages() -> None:
    with pytest.raises(ExplainerError, match="num_samples must be >= 1"):
        KernelExplainer(np.zeros((1, 2)), num_samples=0)
    with pytest.raises(ExplainerError, match=r"2 output names .* 1 outputs"):
        KernelExplainer(np.zeros((1, 2)), output_names=["a", "b"]).explain(
            lambda rows: rows.sum(axis=1), np.ones((2, 2))
        )
    with pytest.raises(ExplainerError, match="model returned shape"):
        KernelExplainer(np.zeros((1, 2))).explain(lambda rows: np.ones(3), np.ones((2, 2)))


@pytest.mark.parametrize("explainer", [KernelExplainer, ExactExplainer])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_model_output_that_is_not_finite_is_an_error_naming_whose_row(
    explainer: type[KernelExplainer] | type[ExactExplainer], bad: float
) -> None:
    # given samples labelled 5..8 and a model answering `bad` on one masked row of sample 7 only
    # (its first feature, the baseline's second), and one answering it on baseline row 1 only
    baseline = pd.DataFrame({"a": [0.0, 10.0, 20.0], "b": [0.0, 10.0, 20.0]})
    samples = pd.DataFrame(
        {"a": [1.0, 2.0, 3.0, 4.0], "b": [5.0, 6.0, 7.0, 8.0]}, index=[5, 6, 7, 8]
    )

    def masked_row_of_7(rows: pd.DataFrame) -> np.ndarray:
        out = rows["a"].to_numpy() + rows["b"].to_numpy()
        out[((rows["a"] == 3.0) & (rows["b"] == 10.0)).to_numpy()] = bad
        return out

    def baseline_row_1(rows: pd.DataFrame) -> np.ndarray:
        out = rows["a"].to_numpy() + rows["b"].to_numpy()
        out[((rows["a"] == 10.0) & (rows["b"] == 10.0)).to_numpy()] = bad
        return out

    # when they are explained
    with pytest.raises(ExplainerError) as masked:
        explainer(baseline).explain(masked_row_of_7, samples)
    with pytest.raises(ExplainerError) as of_baseline:
        explainer(baseline).explain(baseline_row_1, samples)
    # then the error names the value and whose row it was, rather than giving NaN attributions
    message = str(masked.value)
    assert message.startswith(
        f"the model returned {bad} for output 0 of a masked row of sample 7 "
    ), message
    assert str(of_baseline.value) == (
        f"the model returned {bad} for output 0 of baseline row 1; "
        "explanations need a finite output for every row"
    )


def test_a_model_that_raises_is_one_line_naming_whose_rows_and_its_words() -> None:
    # given samples labelled 5..8, and models failing as scikit-learn and MLflow do: on the
    # baseline rows, and on masked rows with a message of many lines ending in its cause
    baseline = pd.DataFrame({"a": [0.0, 10.0, 20.0], "b": [0.0, 10.0, 20.0]})
    samples = pd.DataFrame(
        {"a": [1.0, 2.0, 3.0, 4.0], "b": [5.0, 6.0, 7.0, 8.0]}, index=[5, 6, 7, 8]
    )

    def on_baseline(rows: pd.DataFrame) -> np.ndarray:
        raise ValueError("Input X contains NaN.\nLogisticRegression does not accept missing values")

    def on_masked_rows(rows: pd.DataFrame) -> np.ndarray:
        if len(rows) > 4:  # not the baseline's or the samples' own predictions
            raise RuntimeError(
                "Failed to enforce schema of data '   a  b\n0  1.0  x' with schema "
                "'[a: double]'. Error: Can not safely convert str to float64."
            )
        return rows["a"].to_numpy()

    # when they are explained
    with pytest.raises(ExplainerError) as baseline_failed:
        KernelExplainer(baseline).explain(on_baseline, samples)
    with pytest.raises(ExplainerError) as masked_failed:
        KernelExplainer(baseline).explain(on_masked_rows, samples)
    # then each is one line: whose rows, the exception's type, its first line (and MLflow's cause)
    assert str(baseline_failed.value) == (
        "the model failed on baseline rows 0-2: ValueError: Input X contains NaN."
    )
    message = str(masked_failed.value)
    assert message.startswith("the model failed on masked rows of samples 5-8 "), message
    assert message.endswith(
        "RuntimeError: Failed to enforce schema of data '   a  b ... "
        "Error: Can not safely convert str to float64."
    ), message
    assert "\n" not in message


def test_a_single_sampled_pair_gives_unknown_not_zero_standard_errors() -> None:
    # given 4 features and 11 of the 14 coalitions: sizes 1 and 3 enumerated, one pair of size 2
    rng = np.random.default_rng(0)
    baseline, samples = rng.normal(size=(4, 4)), rng.normal(size=(3, 4))
    explainer = KernelExplainer(baseline, num_samples=11, seed=0, estimator="kernel")
    assert explainer.design_for(4).draws.shape[0] == 1, "one sampled pair (the test's premise)"
    # when a nonlinear model is explained
    explanation = explainer.explain(lambda rows: np.tanh(rows).prod(axis=1), samples)
    # then the values are finite and their standard errors are NaN: one pair shows no spread
    assert np.isfinite(explanation.values).all(), "the estimate itself is defined"
    assert explanation.standard_errors is not None
    assert np.isnan(explanation.standard_errors).all(), "unknown, never a confident zero"
