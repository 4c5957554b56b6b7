"""Regression-adjusted Kernel SHAP: the tree surrogate's exact Shapley values and the estimate."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.tree import DecisionTreeRegressor

from explainops.errors import ExplainerError
from explainops.explainers import KernelExplainer
from explainops.explainers.surrogate import tree_game_shapley

from .brute_force import shapley_values_of_game
from .conftest import interacting_problem


def test_a_trees_game_has_the_brute_force_shapley_values() -> None:
    # given a depth-4 regression tree fitted on random 0/1 coalition indicators of 7 features
    rng = np.random.default_rng(0)
    z = (rng.random((300, 7)) < 0.5).astype(float)
    target = z[:, 0] * z[:, 1] - 2 * z[:, 2] + z[:, 3] * (1 - z[:, 4]) + rng.normal(0, 0.1, 300)
    tree = DecisionTreeRegressor(max_depth=4, random_state=0).fit(z, target)

    def game(coalition: tuple[int, ...]) -> np.ndarray:
        point = np.zeros((1, 7))
        point[0, list(coalition)] = 1.0
        empty = tree.predict(np.zeros((1, 7)))
        return np.atleast_1d(tree.predict(point) - empty)

    # when its Shapley values come from the leaves, and by the textbook formula
    ours = tree_game_shapley(tree, 7)
    expected = shapley_values_of_game(game, 7)[0]
    # then they agree to rounding
    np.testing.assert_allclose(ours, expected, atol=1e-12)


def test_adjusted_estimate_is_additive_and_closer_to_the_exact_values() -> None:
    # given a model with interactions, its exact values, and 512 of its 1022 coalitions
    predict, baseline, samples, exact = interacting_problem()
    errors: dict[str, list[float]] = {"kernel": [], "adjusted": []}
    for seed in range(4):
        for estimator, found in errors.items():
            explanation = KernelExplainer(
                baseline, num_samples=512, seed=seed, estimator=estimator
            ).explain(predict, samples)
            found.append(float(np.mean((explanation.values - exact) ** 2)))
            np.testing.assert_allclose(
                explanation.base_values + explanation.values.sum(axis=2),
                explanation.predictions,
                atol=1e-12,
                err_msg=f"{estimator}: additivity",
            )
    # then regression adjustment has the smaller error at the same model calls (measured 1.65x)
    gain = np.sqrt(np.mean(errors["kernel"]) / np.mean(errors["adjusted"]))
    assert gain > 1.3, f"adjusted vs kernel RMSE gain {gain:.2f}"


def test_adjusted_estimate_is_exact_at_full_budget_and_independent_of_batching() -> None:
    predict, baseline, samples, exact = interacting_problem()
    full = KernelExplainer(baseline, num_samples=1022, estimator="adjusted").explain(
        predict, samples
    )
    np.testing.assert_allclose(full.values, exact, atol=1e-10)
    whole = KernelExplainer(baseline, num_samples=200, seed=2, estimator="adjusted")
    tiny = KernelExplainer(baseline, num_samples=200, seed=2, estimator="adjusted", batch_size=7)
    # 1e-12: the solves are matrix products of other shapes, which BLAS may round otherwise
    np.testing.assert_allclose(
        tiny.explain(predict, samples).values, whole.explain(predict, samples).values, atol=1e-12
    )
    parts = [whole.explain(predict, part).values for part in (samples[:4], samples[4:])]
    np.testing.assert_allclose(
        np.concatenate(parts), whole.explain(predict, samples).values, atol=1e-12
    )


def test_adjusted_estimator_settings_are_checked() -> None:
    with pytest.raises(
        ExplainerError,
        match="estimator must be one of 'stratified', 'stratified_plain', 'kernel', 'adjusted'",
    ):
        KernelExplainer(np.zeros((1, 2)), estimator="fancy")  # type: ignore[arg-type]
    with pytest.raises(ExplainerError, match="num_samples: auto works with the estimators"):
        KernelExplainer(
            np.zeros((1, 2)), num_samples="auto", target_stderr=0.1, estimator="adjusted"
        )


def test_adjusted_estimate_is_exact_on_a_linear_model() -> None:
    # given a linear model, whose game is additive, and a small sampled budget
    rng = np.random.default_rng(0)
    weights, baseline, samples = (
        rng.normal(size=30),
        rng.normal(size=(10, 30)),
        rng.normal(size=(5, 30)),
    )
    explanation = KernelExplainer(baseline, num_samples=200, estimator="adjusted").explain(
        lambda rows: rows @ weights + 1.0, samples
    )
    # then the surrogate has nothing to learn and the values are the closed form
    closed_form = weights * (samples - baseline.mean(axis=0))
    np.testing.assert_allclose(explanation.values[:, 0, :], closed_form, atol=1e-10)
