"""Kernel SHAP's standard errors and its adaptive budget, judged against exact Shapley values."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest

from explainops.core.component import validate_model
from explainops.core.explainer_settings import KernelExplainerSettings
from explainops.errors import ConfigError, ExplainerError
from explainops.explainers import KernelExplainer
from explainops.explainers.coalition_design import AdaptiveDesigns, KernelSolver, kernel_design
from explainops.explainers.strata import AdaptiveStrata
from explainops.reports.sampling import explanation_columns

from .conftest import interacting_problem

N_FEATURES = 10


@pytest.mark.parametrize(
    ("estimator", "budget"),
    [("kernel", 64), ("kernel", 200), ("kernel", 512), ("stratified", 40), ("stratified", 200)],
)
def test_95_percent_intervals_cover_the_exact_values_95_percent_of_the_time(
    estimator: str, budget: int
) -> None:
    # given exact values and 40 seeds of a sampled budget (4,000 values: a binomial 95% band of
    # +-0.7%, well inside 0.93-0.97; measured: kernel 0.947, 0.953, 0.946; stratified 0.958,
    # 0.960)
    predict, baseline, samples, exact = interacting_problem()
    covered = []
    for seed in range(40):
        explanation = KernelExplainer(
            baseline,
            num_samples=budget,
            seed=seed,
            estimator=estimator,  # type: ignore[arg-type]
        ).explain(predict, samples)
        assert explanation.standard_errors is not None
        covered.append(np.abs(explanation.values - exact) <= 1.96 * explanation.standard_errors)
    # then value +- 1.96 standard errors holds the exact value as often as it claims
    coverage = float(np.mean(covered))
    assert 0.93 <= coverage <= 0.97, f"coverage {coverage:.3f} at {budget} coalitions"


def test_interpolated_pairs_get_an_exact_jackknife_not_unknown_errors() -> None:
    # given a budget of 2d + 2 with a pair that the regression fits exactly (leverage 1), where
    # the leave-one-out identity divides by zero
    predict, baseline, samples, exact = interacting_problem()
    design = kernel_design(N_FEATURES, 2 * N_FEATURES + 2, seed=1)
    solver = KernelSolver.for_design(design)
    assert solver.jackknife_operators is not None, "the premise: an interpolated pair"
    # when explained
    explanation = KernelExplainer(
        baseline, num_samples=2 * N_FEATURES + 2, seed=1, estimator="kernel"
    ).explain(predict, samples)
    # then every standard error is finite and positive, of the size of the actual errors
    errors = explanation.standard_errors
    assert errors is not None and np.isfinite(errors).all() and (errors > 0).all()
    ratio = np.sqrt(np.mean(errors**2)) / np.sqrt(np.mean((explanation.values - exact) ** 2))
    assert 0.5 < ratio < 3.0, f"reported vs actual error: {ratio:.2f}"


@pytest.mark.parametrize("order", [1, 3])
def test_the_jackknife_is_the_spread_of_each_draws_leave_one_out_move(order: int) -> None:
    # given a design whose fit interpolates no pair, its solver (of order 1, or with the pairs
    # and triples of order 3) and rows of a game the fit leaves residuals of
    n_features = 8
    design = kernel_design(n_features, 120, seed=4)
    solver = KernelSolver.for_design(design, order=order)
    assert solver.jackknife_operators is None, "the premise: the closed form applies"
    rng = np.random.default_rng(5)
    masks = design.masks.astype(float)
    rows = rng.normal(size=(6, 2, n_features))
    centred = np.tanh(np.einsum("nkd,cd->nkc", rows, masks)) + 0.3 * rng.normal(size=(6, 2, 1))
    delta = np.tanh(rows.sum(axis=-1)) + 0.3 * rng.normal(size=(6, 2))
    values = solver.solve(centred, delta)
    # when its standard errors are taken
    errors = solver.standard_errors(centred, values, design)
    # then they are sqrt(N var(t_p)) of the moves t_p = A_p (I - H_p)^-1 r_p, written out draw by
    # draw from the coefficients' operator (the values' for order 1) and the basis functions
    if order == 1:
        columns, operator = masks, solver.operator
        fitted = values @ masks.T
    else:
        assert solver.basis is not None and solver.coefficients is not None
        assert solver.coefficient_offset is not None
        columns, operator = solver.basis.columns(design.masks), solver.coefficients
        beta = centred @ operator.T + delta[..., None] * solver.coefficient_offset
        fitted = beta @ columns.T
    residuals = centred - fitted
    counts = np.maximum(design.counts, 1.0)
    moves = []
    for pair in design.draws:
        a = solver.operator[:, pair] / counts[pair]  # (d, 2)
        hat = columns[pair] @ (operator[:, pair] / counts[pair])  # (2, 2)
        kept = np.linalg.solve(np.eye(2) - hat, residuals[..., pair][..., None])[..., 0]
        moves.append(kept @ a.T)
    n_draws = design.draws.shape[0]
    expected = np.sqrt(n_draws * np.var(np.stack(moves), axis=0, ddof=1))
    # (to rounding: the moves' sums are formed as matrix products of other shapes)
    np.testing.assert_allclose(errors, expected, rtol=1e-9)


def auto_explainer(
    baseline: np.ndarray, estimator: str, target: float, **options: Any
) -> KernelExplainer:
    """A ``num_samples="auto"`` explainer of ``estimator`` down to ``target`` (seed 0 unless
    ``options`` say otherwise)."""
    settings: dict[str, Any] = {"seed": 0, **options}
    return KernelExplainer(
        baseline,
        num_samples="auto",
        target_stderr=target,
        estimator=estimator,  # type: ignore[arg-type]
        **settings,
    )


def round_evaluations(explainer: KernelExplainer, baseline: np.ndarray) -> list[int]:
    """The model evaluations of a sample that stops at each round of ``explainer``'s auto."""
    if explainer.estimator == "kernel":
        designs = explainer.adaptive_designs_for(baseline.shape[1])
        return [round_.columns.shape[0] * baseline.shape[0] for round_ in designs.rounds]
    weights = np.full(baseline.shape[0], 1.0 / baseline.shape[0])
    strata = explainer.adaptive_strata_for(baseline.shape[1], weights, use_logit=False)
    return [
        sum(s.designs.round(index).design.masks.shape[0] * s.rows.shape[0] for s in strata)
        for index in range(strata[0].n_rounds)
    ]


@pytest.mark.parametrize("estimator", ["stratified", "kernel"])
def test_auto_stops_each_row_when_its_standard_errors_reach_the_target(estimator: str) -> None:
    # given a target standard error and a model whose rows differ in how hard they are
    predict, baseline, samples, exact = interacting_problem()
    target = 0.01
    explainer = auto_explainer(baseline, estimator, target)
    # when explained with an adaptive budget
    explanation = explainer.explain(predict, samples)
    # then every row converged, below the target, each at its own cost in whole rounds
    assert explanation.evaluations is not None and explanation.converged is not None
    assert explanation.standard_errors is not None
    assert explanation.converged.all(), f"converged: {explanation.converged}"
    assert (explanation.standard_errors < target).all()
    rounds = round_evaluations(explainer, baseline)
    assert set(explanation.evaluations) <= set(rounds), "a row stops at the end of a round"
    assert explanation.evaluations.min() < explanation.evaluations.max(), "easy rows stop early"
    # and the values are as close to the exact ones as the target says (5 standard errors)
    assert np.max(np.abs(explanation.values - exact)) < 5 * target
    np.testing.assert_allclose(
        explanation.base_values + explanation.values.sum(axis=2),
        explanation.predictions,
        atol=1e-9,
        err_msg="additivity",
    )


@pytest.mark.parametrize("estimator", ["stratified", "stratified_plain", "kernel"])
def test_auto_reports_rows_that_hit_the_cap_as_not_converged(estimator: str) -> None:
    # given a target no budget under the cap can reach
    predict, baseline, samples, _ = interacting_problem()
    explainer = auto_explainer(baseline, estimator, 1e-6, max_samples=300)
    # when explained
    explanation = explainer.explain(predict, samples)
    # then every row spent the cap and says it did not converge
    assert explanation.converged is not None and not explanation.converged.any()
    assert explanation.evaluations is not None
    assert set(explanation.evaluations) == {300 * 5}, "300 coalitions x 5 baseline rows"
    table = explanation.to_frame()
    assert list(table.columns[-2:]) == ["n_evaluations", "converged"]
    assert len(explanation_columns(table)) == N_FEATURES, "the budget columns are not features"


@pytest.mark.parametrize("estimator", ["stratified", "kernel"])
def test_auto_with_a_cap_covering_every_coalition_ends_exact(estimator: str) -> None:
    # given a cap above 2^d - 2 and a target only the exact values meet
    predict, baseline, samples, exact = interacting_problem()
    explainer = auto_explainer(baseline, estimator, 1e-12, max_samples=5000)
    explanation = explainer.explain(predict, samples)
    # then the last round enumerates all coalitions: exact values, zero errors, converged
    np.testing.assert_allclose(explanation.values, exact, atol=1e-10)
    assert explanation.converged is not None and explanation.converged.all()
    assert explanation.evaluations is not None
    assert set(explanation.evaluations) == {(2**N_FEATURES - 2) * 5}


@pytest.mark.parametrize("estimator", ["stratified", "kernel"])
def test_auto_depends_on_the_seed_only_not_on_batching_or_splitting(estimator: str) -> None:
    # given one seed, several model batch sizes and sample splits
    predict, baseline, samples, _ = interacting_problem()
    frame = pd.DataFrame(samples, columns=[f"x{index}" for index in range(N_FEATURES)])

    def explain(rows: pd.DataFrame, batch_size: int = 20_000, seed: int = 4) -> object:
        explainer = auto_explainer(baseline, estimator, 0.01, seed=seed, batch_size=batch_size)
        return explainer.explain(lambda data: predict(np.asarray(data, dtype=np.float64)), rows)

    whole = explain(frame)
    parts = [explain(frame.iloc[:3]), explain(frame.iloc[3:])]
    tiny = explain(frame, batch_size=7)
    # then values agree to 1e-12 (other batch shapes may round BLAS products otherwise) and the
    # rows' budgets are the same
    for other, name in ((tiny, "batch size"),):
        np.testing.assert_allclose(other.values, whole.values, atol=1e-12, err_msg=name)
        np.testing.assert_array_equal(other.evaluations, whole.evaluations)
    np.testing.assert_allclose(
        np.concatenate([part.values for part in parts]), whole.values, atol=1e-12
    )
    np.testing.assert_array_equal(
        np.concatenate([part.evaluations for part in parts]), whole.evaluations
    )
    assert not np.allclose(explain(frame, seed=5).values, whole.values), "the seed matters"


def test_adaptive_designs_are_nested_and_keep_to_their_budgets() -> None:
    # when designs for 30 features grow from 128 to 3000 coalitions
    designs = AdaptiveDesigns(30, 128, 3000, seed=0)
    # then each round holds the previous round's coalitions and keeps to its budget
    sizes = [round_.columns.shape[0] for round_ in designs.rounds]
    assert sizes == [128, 256, 512, 1024, 2048, 3000], sizes
    for index, round_ in enumerate(designs.rounds):
        assert sorted(round_.columns) == list(range(sizes[index])), f"round {index} is nested"
        np.testing.assert_array_equal(designs.masks[round_.columns], round_.design.masks)
    assert np.unique(np.packbits(designs.masks, axis=1), axis=0).shape[0] == 3000, "distinct"


def test_adaptive_rounds_are_the_same_whenever_they_are_drawn_and_after_pickling() -> None:
    # given designs drawn all at once, and others drawn one round at a time and pickled halfway
    # (as an explainer that has explained a batch is sent to a Dask worker)
    weights = np.full(3, 1.0 / 3.0)
    whole = AdaptiveStrata(20, 128, 4000, seed=2).strata(weights, n_strata=3)[1].designs
    everything = whole.rounds
    lazy = AdaptiveStrata(20, 128, 4000, seed=2).strata(weights, n_strata=3)[1].designs
    lazy.round(1)
    copied = pickle.loads(pickle.dumps(lazy))
    # then every round is the same coalitions in the same columns, however it was drawn
    for source in (lazy, copied):
        assert source.n_rounds == len(everything) == 6
        for index in reversed(range(source.n_rounds)):
            np.testing.assert_array_equal(source.round(index).columns, everything[index].columns)
            np.testing.assert_array_equal(
                source.round(index).design.masks, everything[index].design.masks
            )
            np.testing.assert_array_equal(
                source.new_masks(index), whole.masks[whole.new_columns(index)]
            )
    assert whole.capacity == 4000 >= whole.masks.shape[0]


def test_a_stratums_adaptive_designs_are_nested_and_hold_every_size_1_and_d_minus_1() -> None:
    # when a stratum's designs for 30 features grow from 128 to 3000 coalitions, singletons forced
    designs = AdaptiveDesigns(30, 128, 3000, seed=(0, 3), enumerate_singletons=True)
    # then each round holds the previous round's coalitions and all 60 of sizes 1 and 29
    sizes = [round_.columns.shape[0] for round_ in designs.rounds]
    assert sizes == [128, 256, 512, 1024, 2048, 3000], sizes
    for index, round_ in enumerate(designs.rounds):
        assert sorted(round_.columns) == list(range(sizes[index])), f"round {index} is nested"
        counts = round_.design.masks.sum(axis=1)
        assert (counts == 1).sum() == 30 and (counts == 29).sum() == 30, f"round {index}"
    # and another stratum's seed draws other coalitions
    other = AdaptiveDesigns(30, 128, 3000, seed=(0, 4), enumerate_singletons=True)
    assert not np.array_equal(other.masks, designs.masks)


def test_stratified_auto_with_use_logit_adds_up_in_log_odds_and_converges() -> None:
    # given a probability model explained in log-odds (one stratum: the logit of the mean)
    predict, baseline, samples, _ = interacting_problem()

    def probability(rows: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-predict(rows)))

    explainer = KernelExplainer(
        baseline, num_samples="auto", target_stderr=0.02, seed=0, use_logit=True
    )
    # when explained with an adaptive budget
    explanation = explainer.explain(probability, samples)
    # then the values add up to the log-odds of each prediction, and every row converged
    logit = np.log(probability(samples) / (1.0 - probability(samples)))
    np.testing.assert_allclose(explanation.predictions[:, 0], logit, atol=1e-9)
    np.testing.assert_allclose(
        explanation.base_values + explanation.values.sum(axis=2), explanation.predictions, atol=1e-9
    )
    assert explanation.converged is not None and explanation.converged.all()
    assert explanation.standard_errors is not None
    assert (explanation.standard_errors < 0.02).all()


def test_auto_settings_are_checked() -> None:
    with pytest.raises(ExplainerError, match="num_samples: auto needs target_stderr"):
        KernelExplainer(np.zeros((1, 2)), num_samples="auto")
    with pytest.raises(ExplainerError, match="target_stderr is used only with num_samples: auto"):
        KernelExplainer(np.zeros((1, 2)), num_samples=100, target_stderr=0.1)
    with pytest.raises(ExplainerError, match="num_samples must be a number of coalitions"):
        KernelExplainer(np.zeros((1, 2)), num_samples="many")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="num_samples: auto needs target_stderr"):
        validate_model(KernelExplainerSettings, {"KIND": "KernelExplainer", "num_samples": "auto"})
    settings = validate_model(
        KernelExplainerSettings,
        {"KIND": "KernelExplainer", "num_samples": "auto", "target_stderr": 0.01},
    )
    assert settings.budget() == {
        "num_samples": "auto",
        "target_stderr": 0.01,
        "max_samples": None,
        "estimator": None,
    }
    # the explainer resolves None: the default estimator, with auto too
    assert KernelExplainer(np.zeros((1, 2)), **settings.budget()).estimator == "stratified"
    with pytest.raises(ConfigError, match="not 'adjusted'"):
        validate_model(
            KernelExplainerSettings,
            {
                "KIND": "KernelExplainer",
                "num_samples": "auto",
                "target_stderr": 0.01,
                "estimator": "adjusted",
            },
        )
