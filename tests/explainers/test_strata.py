"""Stratified Kernel SHAP (the default estimator), judged against exact Shapley values."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from explainops.explainers import ExactExplainer, KernelExplainer
from explainops.explainers.coalition_design import InteractionBasis, KernelSolver, kernel_design
from explainops.explainers.kernel import DEFAULT_BATCH_SIZE, Estimator
from explainops.explainers.strata import (
    _order_at,
    assign_strata,
    fitting_order,
)

from .brute_force import shapley_table
from .conftest import interacting_problem


def _rmse(values: np.ndarray, exact: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(values - exact))))


def test_three_way_game_is_fitted_exactly_by_the_order_3_regression() -> None:
    # given a game with interactions of up to three features (no model: v(S) is the game itself)
    n_features = 8
    rng = np.random.default_rng(5)
    main = rng.normal(size=n_features)
    pairs = {pair: rng.normal() for pair in combinations(range(n_features), 2)}
    triples = {triple: rng.normal() for triple in combinations(range(n_features), 3)}

    def game(masks: np.ndarray) -> np.ndarray:
        z = masks.astype(float)
        value = z @ main
        for (i, j), weight in pairs.items():
            value += weight * z[:, i] * z[:, j]
        for (i, j, k), weight in triples.items():
            value += weight * z[:, i] * z[:, j] * z[:, k]
        return value

    # its Shapley values in closed form: each interaction shared equally by its members
    exact = main.copy()
    for members, weight in [*pairs.items(), *triples.items()]:
        exact[list(members)] += weight / len(members)
    # when a sampled design (220 of the 254 coalitions) is solved with the order-3 basis
    design = kernel_design(n_features, 220, seed=0)
    assert design.draws.shape[0] > 0, "the premise: a sampled design"
    solver = KernelSolver.for_design(design, order=3, ridge=0.0)
    assert solver.basis is not None, "the premise: the order-3 fit was kept"
    centred = game(design.masks)[None, None, :]
    delta = np.array([[float(game(np.ones((1, n_features), bool))[0])]])
    values = solver.solve(centred, delta)[0, 0]
    # then the values are exact (the regression reproduces the game), where order 1 is not
    np.testing.assert_allclose(values, exact, atol=1e-9, err_msg="order-3 fit of a 3-way game")
    # and the default light ridge on the interactions moves them little (measured 0.06%)
    ridged = KernelSolver.for_design(design, order=3).solve(centred, delta)[0, 0]
    assert _rmse(ridged, exact) < 0.02 * float(np.sqrt(np.mean(exact**2)))
    additive = KernelSolver.for_design(design).solve(centred, delta)[0, 0]
    assert _rmse(additive, exact) > 1e-3, "the additive fit is not exact on this game"


def test_interaction_basis_shares_each_coefficient_among_its_features() -> None:
    basis = InteractionBasis(4, order=3)
    shares = basis.to_values()
    # 4 features, 6 pairs, 4 triples; each column's shares add up to one
    assert basis.size == 14 and shares.shape == (4, 14)
    np.testing.assert_allclose(shares.sum(axis=0), np.ones(14), err_msg="shares add up to one")
    columns = basis.columns(np.array([[True, True, False, True]]))
    # features 0, 1, 3 present: pairs (0,1), (0,3), (1,3) and triple (0,1,3) are on
    assert columns.sum() == 3 + 3 + 1, f"basis functions at one coalition: {columns}"


@pytest.mark.parametrize("weighted", [False, True])
def test_stratified_at_full_budget_equals_brute_force(weighted: bool) -> None:
    # given a model with interactions, 7 baseline rows (weighted or not) and every coalition
    predict, baseline, samples, _ = interacting_problem()
    rows = np.concatenate([baseline, baseline[:2] + 0.5])
    weights = np.linspace(0.5, 2.0, 7) if weighted else None
    explanation = KernelExplainer(rows, weights, num_samples=2**10 - 2).explain(
        predict, samples[:4]
    )
    # then it is exact (every coalition evaluated: one stratum, the designs would be the same)
    expected = shapley_table(predict, samples[:4], rows, weights)
    np.testing.assert_allclose(explanation.values, expected, atol=1e-9, err_msg="brute force")
    assert explanation.additivity_error() < 1e-9
    assert np.all(explanation.standard_errors == 0), "no coalition was sampled"


def test_each_baseline_row_gets_a_design_of_its_own_up_to_32_strata() -> None:
    explainer = KernelExplainer(np.zeros((1, 10)), num_samples=64, seed=0)
    strata = explainer.strata_for(10, np.full(40, 1 / 40), use_logit=False)
    # 40 rows in 32 strata, rows 32-39 sharing with rows 0-7, each stratum's own design
    assert len(strata) == 32 and list(strata[0].rows) == [0, 32]
    assert not np.array_equal(strata[0].design.masks, strata[1].design.masks), "own designs"
    assert sum(stratum.weight for stratum in strata) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("budget", "estimator"),
    [
        *((budget, "stratified") for budget in (22, 64, 300, 700)),
        *((budget, "stratified_plain") for budget in (300, 700)),
    ],
)
def test_values_add_up_to_the_prediction_at_every_budget(budget: int, estimator: Estimator) -> None:
    # given sampled budgets from 2d + 2 up, fitted at order 1 with the control (the default) and
    # at order 3 (stratified_plain from 263 coalitions on 10 features)
    predict, baseline, samples, _ = interacting_problem()
    explainer = KernelExplainer(baseline, num_samples=budget, seed=3, estimator=estimator)
    explanation = explainer.explain(predict, samples)
    # then every row's values add up to its prediction minus the base value
    assert explanation.additivity_error() < 1e-9, f"additivity at {budget} coalitions"


def test_stratified_has_lower_error_than_one_shared_design_at_equal_budget() -> None:
    # given the same model evaluations per row (coalitions x baseline rows) for both estimators
    predict, baseline, samples, exact = interacting_problem()

    def rmse(estimator: str, budget: int) -> float:
        runs = [
            KernelExplainer(baseline, num_samples=budget, seed=seed, estimator=estimator)  # type: ignore[arg-type]
            .explain(predict, samples)
            .values
            for seed in range(6)
        ]
        return _rmse(np.stack(runs), exact[None])

    # then independent designs per baseline row are more accurate at every budget measured
    # (measured: 0.40x at 22, 0.75x at 64, 0.71x at 200 and 0.21x at 512 coalitions)
    for budget in (22, 64, 200, 512):
        ours, shared = rmse("stratified", budget), rmse("kernel", budget)
        assert ours < 0.85 * shared, f"{budget} coalitions: stratified {ours:.3g} vs {shared:.3g}"


def test_error_shrinks_as_the_budget_grows() -> None:
    predict, baseline, samples, exact = interacting_problem()
    errors = [
        _rmse(
            np.stack(
                [
                    KernelExplainer(baseline, num_samples=budget, seed=seed)
                    .explain(predict, samples)
                    .values
                    for seed in range(4)
                ]
            ),
            exact[None],
        )
        for budget in (40, 200, 800)
    ]
    assert errors[0] > errors[1] > errors[2], f"error must shrink with num_samples: {errors}"
    assert errors[2] < 0.1 * errors[0], f"800 coalitions should be far better than 40: {errors}"


@pytest.mark.parametrize("estimator", ["stratified", "stratified_plain"])
def test_results_depend_on_seed_only_not_on_batching_or_splits(estimator: Estimator) -> None:
    # given one seed and very different model batch sizes and sample splits, at a budget fitted
    # at order 1 with the control (the default) and at order 3 (stratified_plain)
    predict, baseline, samples, _ = interacting_problem()

    def explainer(seed: int = 5, batch_size: int = DEFAULT_BATCH_SIZE) -> KernelExplainer:
        return KernelExplainer(
            baseline, num_samples=300, seed=seed, estimator=estimator, batch_size=batch_size
        )

    weights = np.full(baseline.shape[0], 1 / baseline.shape[0])
    strata = explainer().strata_for(baseline.shape[1], weights, use_logit=False)
    assert all((stratum.solver.basis is None) == (estimator == "stratified") for stratum in strata)
    whole = explainer().explain(predict, samples)
    tiny = explainer(batch_size=7).explain(predict, samples)
    halves = [explainer().explain(predict, part).values for part in (samples[:3], samples[3:])]
    other = explainer(seed=6).explain(predict, samples)
    # then nothing changes (to 1e-12: matrix products of other shapes may round otherwise)
    np.testing.assert_allclose(tiny.values, whole.values, atol=1e-12, err_msg="batch size")
    np.testing.assert_allclose(np.concatenate(halves), whole.values, atol=1e-12, err_msg="split")
    np.testing.assert_allclose(tiny.standard_errors, whole.standard_errors, atol=1e-12)
    assert not np.allclose(other.values, whole.values), "another seed draws other designs"


def test_a_few_sampled_pairs_per_stratum_give_unknown_not_confident_errors() -> None:
    # given 2d + 2 coalitions: sizes 1 and d - 1 enumerated and one sampled pair per stratum,
    # where no estimate of the error from the sampled pairs covers the truth as it claims
    predict, baseline, samples, _ = interacting_problem()
    explainer = KernelExplainer(baseline, num_samples=22, seed=0)
    strata = explainer.strata_for(10, np.full(5, 0.2), use_logit=False)
    assert all(stratum.design.draws.shape[0] == 1 for stratum in strata), "the premise"
    # when explained
    explanation = explainer.explain(predict, samples)
    # then the values are defined and add up, and their standard errors are NaN: unknown
    assert np.isfinite(explanation.values).all() and explanation.additivity_error() < 1e-9
    assert explanation.standard_errors is not None
    assert np.isnan(explanation.standard_errors).all(), "unknown, never a confident guess"
    # and from 4 sampled pairs a stratum they are estimated again
    enough = KernelExplainer(baseline, num_samples=40, seed=0).explain(predict, samples)
    assert enough.standard_errors is not None and np.isfinite(enough.standard_errors).all()


def test_logit_link_keeps_one_stratum_and_is_exact_at_full_budget() -> None:
    # given probabilities explained in log-odds: the logit of a mean is not a mean of logits
    rng = np.random.default_rng(2)
    coefficients = rng.normal(size=5)

    def predict(rows: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(rows @ coefficients)))

    baseline, samples = rng.normal(size=(6, 5)), rng.normal(size=(3, 5))
    explainer = KernelExplainer(baseline, num_samples=30, use_logit=True)
    assert len(explainer.strata_for(5, np.full(6, 1 / 6), use_logit=True)) == 1
    explanation = explainer.explain(predict, samples)
    exact = ExactExplainer(baseline, use_logit=True).explain(predict, samples)
    np.testing.assert_allclose(explanation.values, exact.values, atol=1e-9)


def test_strata_and_fitting_order() -> None:
    # rows are dealt to strata in turn; a weightless stratum is left out
    strata = assign_strata(np.array([1.0, 0.0, 2.0, 0.0, 1.0]), 2)
    assert [(number, list(rows), weight) for number, rows, weight in strata] == [
        (0, [0, 2, 4], 4.0)
    ]
    # order 3 needs 1.5 coalitions per coefficient, and never where every coalition is evaluated
    assert fitting_order(12, 2048, 10) == 3, "298 coefficients, 2048 coalitions"
    assert fitting_order(12, 512, 10) == 3, "1.7 coalitions per coefficient"
    assert fitting_order(12, 400, 10) == 1, "too few coalitions per coefficient"
    assert fitting_order(10, 2**10 - 2, 10) == 1, "exact anyway"
    assert fitting_order(30, 4096, 10) == 1, "4,525 coefficients"
    # and 6 where the order-1 fit would carry the single-index controls
    assert fitting_order(16, 2048, 10, controlled=True) == 1, "696 coefficients: 2.9 a coefficient"
    assert fitting_order(16, 4176, 10, controlled=True) == 3, "6.0 coalitions a coefficient"
    assert fitting_order(12, 2048, 10, controlled=True) == 3, "6.9 coalitions a coefficient"
    # as the rounds of num_samples="auto" decide too, where the controls fit in memory
    assert _order_at(16, 10, True, 2048) == 1 and _order_at(16, 10, False, 2048) == 3
