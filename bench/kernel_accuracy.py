"""Benchmark the accuracy of Kernel SHAP at equal budget: ours vs shap, against ground truth.

Both estimators explain one output of a model (a positive-class probability or a regression
prediction) for a few rows against 10 equally weighted background rows (``baseline`` for ours,
``data`` for ``shap.KernelExplainer``, which runs with ``l1_reg=False``), at the same number of
coalitions per row. Their errors are measured against values that neither sampler produced:

* ``gbm12``, ``logit13``, ``mlp16``: exact Shapley values from all 2^d coalitions, by
  :class:`explainops.explainers.ExactExplainer` (tested against brute force in the repo);
* ``linear30``: the closed form of a linear model, phi_j = w_j (x_j - mean of the background's
  column j);
* ``logit30``, ``gbm30`` (the 30-feature models of ``bench/explainers.py``): a long run of the
  antithetic permutation estimator below, a method of its own (no regression, no coalition
  design), whose standard error is printed next to the RMSEs it judges. The same estimator is
  first checked against the exact values of ``gbm12``.

For every problem and budget it prints the RMSE of each estimator over rows x features x seeds
(seeds 0, 1, 2; shap draws from numpy's global generator, seeded before each call), their ratio
shap / ours, the best time of one call of each over the seeds and their ratio, and the coverage
of our 95% intervals: the share of (row, feature, seed) with |ours - truth| <= 1.96 x ours'
standard error (against the permutation reference, whose own error is independent of ours,
1.96 x sqrt(ours^2 + the reference's^2); n/a where the explainer reports them unknown, NaN),
with a 95% interval of that share in the details (over the seeds x rows: a row's features share
their coalitions, so their hits are not independent). A budget at or above
2^d - 2 is skipped (both estimators then enumerate every coalition and are exact).

Run it with ``.venv/bin/python bench/kernel_accuracy.py`` (about 6 minutes on 2 cores: the
order-3 fits of the largest budgets take most of it); ``--quick`` for a smoke run,
``--ours key=value,...`` to pass options to our KernelExplainer (``estimator=kernel`` for the
shared-design estimator that shap also implements); ``--seeds N`` for seeds 0 .. N-1 instead of
0, 1, 2 (a coverage figure from 3 seeds x 20 rows is only sure to about a point either way).
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shap
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from explainops.errors import ExplainOpsError
from explainops.explainers import ExactExplainer, KernelExplainer

FloatArray = npt.NDArray[np.float64]
PredictFn = Callable[[FloatArray], FloatArray]

SPLIT_SEED = 0
SEEDS = (0, 1, 2)
N_BACKGROUND = 10
N_ROWS = 20
SMALLEST_BUDGET = "2d+2"
BUDGETS: tuple[str, ...] = (SMALLEST_BUDGET, "64", "200", "512", "2048", "4096")
Z_95 = 1.96
# Permutations (each also run reversed) of the long-run reference, and of its check on gbm12.
REFERENCE_PERMUTATIONS = 5000
CHECK_PERMUTATIONS = 1000
# Model rows per call of the permutation estimator: bounds its memory (rows x d floats).
ROWS_PER_CALL = 200_000
# Below this RMSE an estimator is exact to rounding: ratios and coverage mean nothing there.
ROUNDING_RMSE = 1e-10
# shap's values "diverge" when their RMSE exceeds this multiple of the truth's RMS.
DIVERGED = 10.0

TARGET_RATIO = 2.0
COVERAGE_BAND = (0.93, 0.97)

QUICK_PROBLEMS = ("gbm12", "logit30")
QUICK_BUDGETS = ("64", "512")
QUICK_SEEDS = (0,)
QUICK_PERMUTATIONS = 500


@contextmanager
def quiet() -> Iterator[None]:
    """Silence the warnings shap and scikit-learn print while they run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def rmse(values: FloatArray, reference: FloatArray) -> float:
    """Root mean squared difference over all entries."""
    return float(np.sqrt(np.mean((values - reference) ** 2)))


# -------------------------------------------------------------------------------- Ground truth


@dataclass(frozen=True)
class Truth:
    """Values to judge the estimators against, and how they were obtained."""

    values: FloatArray  # (n, d)
    method: str
    seconds: float
    standard_errors: FloatArray | None = None  # (n, d), only for a sampled reference

    @property
    def is_sampled(self) -> bool:
        """True for a reference with its own sampling error (coverage is then against it)."""
        return self.standard_errors is not None


TruthFn = Callable[[PredictFn, FloatArray, FloatArray], Truth]


def exact_truth(predict: PredictFn, background: FloatArray, rows: FloatArray) -> Truth:
    """Exact Shapley values from all 2^d coalitions."""
    start = time.perf_counter()
    values = ExactExplainer(background).explain(predict, rows).values[:, 0, :]
    seconds = time.perf_counter() - start
    return Truth(values, f"exact, ExactExplainer over 2^{rows.shape[1]} coalitions", seconds)


def linear_truth(weights: FloatArray) -> TruthFn:
    """The closed form of f(x) = w . x + c: phi_j = w_j (x_j - mean over the background)."""

    def truth(predict: PredictFn, background: FloatArray, rows: FloatArray) -> Truth:
        values = weights * (rows - background.mean(axis=0))
        return Truth(values, "closed form w_j (x_j - mean_b b_j)", 0.0)

    return truth


def permutation_shapley(
    predict: PredictFn,
    background: FloatArray,
    rows: FloatArray,
    n_permutations: int,
    seed: int,
) -> tuple[FloatArray, FloatArray]:
    """Antithetic permutation-sampling Shapley values and their standard errors, both (n, d).

    Each of ``n_permutations`` random feature orders and its reverse is a chain of coalitions
    from empty to full; a feature's marginal contribution is v(before + it) - v(before), with
    v(S) the background mean of f on rows taking S from the sample and the rest from the
    background. An order and its reverse are averaged into one draw (antithetic pairs), and the
    standard error is the spread of the draws over sqrt(n_permutations).
    """
    n_rows, n_features = rows.shape
    n_background = background.shape[0]
    rng = np.random.default_rng(seed)
    orders = rng.random((n_permutations, n_features)).argsort(axis=1)
    chains = np.concatenate([orders, orders[:, ::-1]])
    positions = chains.argsort(axis=1)  # positions[c, j]: step at which feature j joins chain c
    empty_value = float(predict(background).mean())
    full_values = predict(rows)
    # The d - 1 coalitions strictly between empty and full along each chain.
    inner_steps = np.arange(1, n_features)
    rows_per_chain = n_rows * (n_features - 1) * n_background
    chains_per_call = max(1, ROWS_PER_CALL // rows_per_chain)
    contributions = np.empty((chains.shape[0], n_rows, n_features))
    for first in range(0, chains.shape[0], chains_per_call):
        block = positions[first : first + chains_per_call]
        masks = block[:, None, :] < inner_steps[None, :, None]  # (C, d-1, d)
        masked = np.where(
            masks[None, :, :, None, :], rows[:, None, None, None, :], background[None, None, None]
        )  # (n, C, d-1, m, d)
        inner = predict(masked.reshape(-1, n_features)).reshape(masked.shape[:4]).mean(axis=3)
        chain_values = np.concatenate(
            [
                np.full((n_rows, block.shape[0], 1), empty_value),
                inner,
                np.broadcast_to(full_values[:, None, None], (n_rows, block.shape[0], 1)),
            ],
            axis=2,
        )  # (n, C, d+1): v along the chain
        steps = np.diff(chain_values, axis=2)  # steps[i, c, t]: gain of the t-th feature to join
        by_feature = np.take_along_axis(steps, np.broadcast_to(block, steps.shape), axis=2)
        contributions[first : first + block.shape[0]] = np.moveaxis(by_feature, 0, 1)
    draws = (contributions[:n_permutations] + contributions[n_permutations:]) / 2
    values = draws.mean(axis=0)
    errors = draws.std(axis=0, ddof=1) / np.sqrt(n_permutations)
    return values, errors


def permutation_truth(n_permutations: int) -> TruthFn:
    """A long run of the antithetic permutation estimator (not the sampler being judged)."""

    def truth(predict: PredictFn, background: FloatArray, rows: FloatArray) -> Truth:
        start = time.perf_counter()
        values, errors = permutation_shapley(predict, background, rows, n_permutations, seed=2024)
        seconds = time.perf_counter() - start
        method = f"antithetic permutation reference, {n_permutations:,} orders + reverses"
        return Truth(values, method, seconds, errors)

    return truth


# ------------------------------------------------------------------------------------ Problems


@dataclass(frozen=True)
class Problem:
    """A model, the rows it explains against a background, and the truth to judge by."""

    name: str
    description: str
    predict: PredictFn
    background: FloatArray
    rows: FloatArray
    truth: Truth

    @property
    def n_features(self) -> int:
        """Number of features d."""
        return int(self.rows.shape[1])


@dataclass(frozen=True)
class ProblemSpec:
    """How to build a problem: the data and fitted model, and the kind of truth."""

    description: str
    build: Callable[[int], tuple[FloatArray, PredictFn, TruthFn]]  # (n_permutations) -> ...


def positive_probability(model: Any) -> PredictFn:
    """The model's probability of class 1, (n,)."""
    return lambda rows: model.predict_proba(rows)[:, 1]


def breast_cancer(n_features: int) -> tuple[FloatArray, npt.NDArray[Any]]:
    """The first ``n_features`` columns of sklearn's breast-cancer data, and its labels."""
    data, target = load_breast_cancer(return_X_y=True)
    return np.asarray(data[:, :n_features], dtype=np.float64), target


def logistic_pipeline(data: FloatArray, target: npt.NDArray[Any]) -> Any:
    """StandardScaler + LogisticRegression, fitted."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(data, target)


def boosting(data: FloatArray, target: npt.NDArray[Any]) -> Any:
    """A 100-tree GradientBoostingClassifier, fitted."""
    return GradientBoostingClassifier(n_estimators=100, random_state=0).fit(data, target)


def build_gbm12(_: int) -> tuple[FloatArray, PredictFn, TruthFn]:
    data, target = breast_cancer(12)
    return data, positive_probability(boosting(data, target)), exact_truth


def build_logit13(_: int) -> tuple[FloatArray, PredictFn, TruthFn]:
    data, classes = load_wine(return_X_y=True)
    target = (classes == 0).astype(int)
    return data, positive_probability(logistic_pipeline(data, target)), exact_truth


def build_mlp16(_: int) -> tuple[FloatArray, PredictFn, TruthFn]:
    data, target = breast_cancer(16)
    mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=2000, random_state=0)
    with quiet():
        model = make_pipeline(StandardScaler(), mlp).fit(data, target)
    return data, positive_probability(model), exact_truth


def build_linear30(_: int) -> tuple[FloatArray, PredictFn, TruthFn]:
    data, target = breast_cancer(30)
    model = LinearRegression().fit(data, target)
    return data, model.predict, linear_truth(np.asarray(model.coef_, dtype=np.float64))


def build_logit30(n_permutations: int) -> tuple[FloatArray, PredictFn, TruthFn]:
    data, target = breast_cancer(30)
    predict = positive_probability(logistic_pipeline(data, target))
    return data, predict, permutation_truth(n_permutations)


def build_gbm30(n_permutations: int) -> tuple[FloatArray, PredictFn, TruthFn]:
    data, target = breast_cancer(30)
    predict = positive_probability(boosting(data, target))
    return data, predict, permutation_truth(n_permutations)


PROBLEMS: dict[str, ProblemSpec] = {
    "gbm12": ProblemSpec("GradientBoostingClassifier, breast cancer features 0-11", build_gbm12),
    "logit13": ProblemSpec("scaler + LogisticRegression, wine, class 0 vs rest", build_logit13),
    "mlp16": ProblemSpec("scaler + MLPClassifier(32), breast cancer features 0-15", build_mlp16),
    "linear30": ProblemSpec(
        "LinearRegression of the 0/1 label, breast cancer, predict()", build_linear30
    ),
    "logit30": ProblemSpec("scaler + LogisticRegression, breast cancer", build_logit30),
    "gbm30": ProblemSpec("GradientBoostingClassifier, breast cancer", build_gbm30),
}


def split(data: FloatArray, n_rows: int) -> tuple[FloatArray, FloatArray]:
    """N_BACKGROUND background rows and ``n_rows`` other rows to explain, at random."""
    order = np.random.default_rng(SPLIT_SEED).permutation(data.shape[0])
    return data[order[:N_BACKGROUND]], data[order[N_BACKGROUND : N_BACKGROUND + n_rows]]


def make_problem(name: str, n_rows: int, n_permutations: int) -> Problem:
    """Fit the model of ``name``, pick its rows and compute its truth."""
    spec = PROBLEMS[name]
    data, predict, truth_fn = spec.build(n_permutations)
    background, rows = split(data, n_rows)
    truth = truth_fn(predict, background, rows)
    return Problem(name, spec.description, predict, background, rows, truth)


def check_permutation_estimator(n_rows: int, n_permutations: int) -> str:
    """The permutation estimator against exact values on gbm12: is its standard error honest?"""
    data, predict, _ = build_gbm12(0)
    background, rows = split(data, n_rows)
    exact = exact_truth(predict, background, rows).values
    values, errors = permutation_shapley(predict, background, rows, n_permutations, seed=7)
    covered = float(np.mean(np.abs(values - exact) <= Z_95 * errors))
    return (
        f"permutation estimator check on gbm12 ({n_permutations:,} orders + reverses) vs exact: "
        f"RMSE {rmse(values, exact):.2e}, its rms standard error "
        f"{float(np.sqrt(np.mean(errors**2))):.2e}, 95% coverage {covered:.3f}"
    )


# ---------------------------------------------------------------------------------- Estimators


@dataclass(frozen=True)
class Run:
    """One estimator's values on a problem at a budget and seed, with its time."""

    values: FloatArray  # (n, d)
    seconds: float
    standard_errors: FloatArray | None = None


def run_ours(
    problem: Problem, budget: int, seed: int, options: dict[str, Any], rows: FloatArray
) -> Run:
    """Our KernelExplainer, timed from construction to values."""
    start = time.perf_counter()
    explainer = KernelExplainer(problem.background, num_samples=budget, seed=seed, **options)
    explanation = explainer.explain(problem.predict, rows)
    seconds = time.perf_counter() - start
    errors = explanation.standard_errors
    assert errors is not None, "KernelExplainer returned no standard errors"
    return Run(explanation.values[:, 0, :], seconds, errors[:, 0, :])


def run_shap(problem: Problem, budget: int, seed: int, rows: FloatArray) -> Run:
    """shap.KernelExplainer with l1_reg=False, its global numpy generator seeded first."""
    np.random.seed(seed)
    start = time.perf_counter()
    with quiet():
        explainer = shap.KernelExplainer(problem.predict, problem.background)
        values = explainer.shap_values(rows, nsamples=budget, l1_reg=False, silent=True)
    seconds = time.perf_counter() - start
    if isinstance(values, list):
        values = values[-1]
    return Run(np.asarray(values, dtype=np.float64).reshape(rows.shape), seconds)


@dataclass(frozen=True)
class Result:
    """Both estimators on one problem and budget, over every seed."""

    problem: str
    n_features: int
    budget: int
    ours_rmse: float
    shap_rmse: float
    ours_seed_rmse: tuple[float, ...]
    shap_seed_rmse: tuple[float, ...]
    ours_s: float  # best seconds of the seeds' calls (the same work each)
    shap_s: float
    coverage_share: float  # NaN when our standard errors are unknown (NaN) everywhere
    coverage_interval: tuple[float, float] | None  # its 95% interval over (seed, row) clusters
    against_reference: bool
    shap_diverged: bool

    @property
    def is_exact(self) -> bool:
        """Both errors at rounding level: nothing to compare."""
        return max(self.ours_rmse, self.shap_rmse) < ROUNDING_RMSE

    @property
    def coverage(self) -> float | None:
        """Coverage of our intervals; None when ours is exact to rounding (nothing to cover) or
        its standard errors are unknown."""
        if self.ours_rmse < ROUNDING_RMSE or self.errors_unknown:
            return None
        return self.coverage_share

    @property
    def errors_unknown(self) -> bool:
        """Our standard errors are NaN: the explainer says it cannot estimate them."""
        return bool(np.isnan(self.coverage_share))

    @property
    def ratio(self) -> float | None:
        """shap's RMSE over ours; None when both are exact to rounding."""
        return None if self.is_exact else self.shap_rmse / max(self.ours_rmse, 1e-300)

    @property
    def time_ratio(self) -> float:
        """shap's time over ours."""
        return self.shap_s / self.ours_s


def resolve_budget(budget: str, n_features: int) -> int:
    """A budget token as a number of coalitions ('2d+2' depends on the problem)."""
    return 2 * n_features + 2 if budget == SMALLEST_BUDGET else int(budget)


def measure(problem: Problem, budget: int, seeds: Sequence[int], options: dict[str, Any]) -> Result:
    """RMSE, time and coverage of both estimators at one budget, over ``seeds``."""
    truth = problem.truth.values
    ours = [run_ours(problem, budget, seed, options, problem.rows) for seed in seeds]
    theirs = [run_shap(problem, budget, seed, problem.rows) for seed in seeds]
    ours_values = np.stack([run.values for run in ours])
    ours_errors = np.stack([run.standard_errors for run in ours if run.standard_errors is not None])
    shap_values = np.stack([run.values for run in theirs])
    return Result(
        problem=problem.name,
        n_features=problem.n_features,
        budget=budget,
        ours_rmse=rmse(ours_values, truth),
        shap_rmse=rmse(shap_values, truth),
        ours_seed_rmse=tuple(rmse(run.values, truth) for run in ours),
        shap_seed_rmse=tuple(rmse(run.values, truth) for run in theirs),
        ours_s=min(run.seconds for run in ours),
        shap_s=min(run.seconds for run in theirs),
        coverage_share=coverage_share(
            ours_values, ours_errors, truth, problem.truth.standard_errors
        ),
        coverage_interval=coverage_interval(
            ours_values, ours_errors, truth, problem.truth.standard_errors
        ),
        against_reference=problem.truth.is_sampled,
        shap_diverged=rmse(shap_values, truth) > DIVERGED * float(np.sqrt(np.mean(truth**2))),
    )


def covered_values(
    values: FloatArray,
    errors: FloatArray,
    truth: FloatArray,
    truth_errors: FloatArray | None = None,
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Whether |value - truth| <= 1.96 standard errors (seeds, n, d), and where those are known.

    Against a sampled reference (``truth_errors``, its standard errors) the difference also
    holds the reference's own error, independent of ours: the interval is then
    1.96 sqrt(ours^2 + reference's^2), whose coverage is 95% when ours are right.
    """
    known = np.isfinite(errors)
    spread = errors if truth_errors is None else np.sqrt(errors**2 + truth_errors[None] ** 2)
    # a value from enumerated coalitions only has a zero standard error and is exact to rounding
    covered = np.abs(values - truth) <= Z_95 * spread + ROUNDING_RMSE
    return covered.astype(np.float64), known


def coverage_share(
    values: FloatArray,
    errors: FloatArray,
    truth: FloatArray,
    truth_errors: FloatArray | None = None,
) -> float:
    """Share of the values whose 95% interval holds the truth, where their errors are known.

    NaN if none is known (:func:`covered_values` gives the intervals).
    """
    covered, known = covered_values(values, errors, truth, truth_errors)
    return float(np.mean(covered[known])) if known.any() else float("nan")


def coverage_interval(
    values: FloatArray,
    errors: FloatArray,
    truth: FloatArray,
    truth_errors: FloatArray | None = None,
) -> tuple[float, float] | None:
    """A 95% interval of the coverage share, over (seed, row) clusters; None if too few.

    The features of one explained row (and seed) share their coalitions, so whether their
    intervals hold the truth is correlated: the share's variance is taken over those clusters
    (a ratio estimator's, each cluster weighted by its known values), not over the values as if
    independent, which would make the interval too narrow.
    """
    covered, known = covered_values(values, errors, truth, truth_errors)
    counts = known.sum(axis=-1).reshape(-1)
    hits = np.where(known, covered, 0.0).sum(axis=-1).reshape(-1)
    used = counts > 0
    n_clusters = int(used.sum())
    if n_clusters < 2:
        return None
    counts, hits = counts[used], hits[used]
    share = hits.sum() / counts.sum()
    spread = float(np.sum((hits - share * counts) ** 2)) * n_clusters / (n_clusters - 1)
    half_width = Z_95 * np.sqrt(spread) / counts.sum()
    return float(max(0.0, share - half_width)), float(min(1.0, share + half_width))


def warm_up(problem: Problem, options: dict[str, Any]) -> None:
    """One call of each estimator on 2 rows (numba loads its cached functions on first use)."""
    budget = resolve_budget(SMALLEST_BUDGET, problem.n_features)
    run_ours(problem, budget, 0, options, problem.rows[:2])
    run_shap(problem, budget, 0, problem.rows[:2])


# -------------------------------------------------------------------------------------- Output

COLUMNS = (
    ("problem", 8, "s"), ("d", 3, "d"), ("budget", 6, "d"), ("ours_rmse", 9, ".2e"),
    ("shap_rmse", 9, ".2e"), ("shap/ours", 9, ".3g"), ("ours_s", 7, ".3f"), ("shap_s", 7, ".3f"),
    ("time_ratio", 10, ".1f"), ("coverage", 8, ".3f"),
)  # fmt: skip


def format_cells(cells: Sequence[Any]) -> str:
    """One aligned line of the table; None prints as '-'."""
    parts = []
    for (_, width, spec), cell in zip(COLUMNS, cells, strict=True):
        text = "-" if cell is None else format(cell, spec)
        parts.append(text.ljust(width) if spec == "s" else text.rjust(width))
    return "  ".join(parts)


def print_table(results: Sequence[Result]) -> None:
    """The results table; coverage marked '*' where it is against a sampled reference."""
    header = [name.ljust(w) if spec == "s" else name.rjust(w) for name, w, spec in COLUMNS]
    print("  ".join(header))
    print("  ".join("-" * width for _, width, _ in COLUMNS))
    for r in results:
        cells = (
            r.problem, r.n_features, r.budget, r.ours_rmse, r.shap_rmse, r.ratio, r.ours_s,
            r.shap_s, r.time_ratio, r.coverage,
        )  # fmt: skip
        print(format_cells(cells) + ("*" if r.against_reference else ""))


def seed_spread(result: Result) -> str:
    """The per-seed RMSEs of both estimators, and what makes a figure meaningless."""
    ours = ", ".join(f"{value:.2e}" for value in result.ours_seed_rmse)
    theirs = ", ".join(f"{value:.2e}" for value in result.shap_seed_rmse)
    line = f"{result.problem}, {result.budget}: per-seed RMSE ours [{ours}], shap [{theirs}]"
    if result.shap_diverged:
        line += f"; shap's values diverge (RMSE > {DIVERGED:g} x the truth's RMS)"
    if result.is_exact:
        line += f"; both exact to rounding (RMSE < {ROUNDING_RMSE:g}): ratio n/a"
    elif result.ours_rmse < ROUNDING_RMSE:
        line += f"; ours exact to rounding (RMSE < {ROUNDING_RMSE:g}), shap not"
    if result.errors_unknown and result.ours_rmse >= ROUNDING_RMSE:
        line += "; our standard errors are unknown (NaN: too few sampled pairs): coverage n/a"
    elif result.coverage is None:
        line += "; ours exact to rounding: coverage n/a"
    elif result.coverage_interval is not None:
        low, high = result.coverage_interval
        line += f"; coverage {result.coverage:.3f}, 95% interval {low:.3f}-{high:.3f}"
    return line


def verdict(ok: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"


def summary_line(problem: Problem, results: Sequence[Result]) -> str:
    """Min and max ratio over budgets, and the two PASS/FAIL targets, for one problem."""
    if not results:
        return f"{problem.name}: no budget measured"
    ratios = [r.ratio for r in results if r.ratio is not None]
    exact_note = (
        f" not both exact ({len(ratios)} of {len(results)})" if len(ratios) < len(results) else ""
    )
    ratio_text = (
        f"ratio min {min(ratios):.3g}, max {max(ratios):.3g}; "
        f"{verdict(min(ratios) >= TARGET_RATIO)} ratio >= {TARGET_RATIO:g} at every budget"
        f"{exact_note}"
        if ratios
        else "ratio n/a (both exact to rounding)"
    )
    coverages = [r.coverage for r in results if r.coverage is not None]
    unknown = sum(r.errors_unknown and r.ours_rmse >= ROUNDING_RMSE for r in results)
    low, high = COVERAGE_BAND
    against = " against the reference" if problem.truth.is_sampled else ""
    coverage_text = (
        f"{verdict(all(low <= value <= high for value in coverages))} coverage{against} in "
        f"[{low}, {high}] at every budget (min {min(coverages):.3f}, max {max(coverages):.3f})"
        if coverages
        else "coverage n/a (ours exact to rounding)"
    )
    if unknown:
        coverage_text += f", standard errors unknown (NaN) at {unknown} budget(s)"
    line = f"{problem.name}: {ratio_text}; {coverage_text}"
    errors = problem.truth.standard_errors
    if errors is not None:
        smallest = min(min(r.ours_rmse, r.shap_rmse) for r in results)
        reference_error = float(np.sqrt(np.mean(errors**2)))
        line += f"; reference rms SE = {reference_error / smallest:.0%} of the smallest RMSE"
    return line


def truth_line(problem: Problem) -> str:
    """How the problem's truth was obtained, and its own error for a sampled reference."""
    line = (
        f"{problem.name} (d={problem.n_features}): {problem.description}; truth = "
        f"{problem.truth.method} ({problem.truth.seconds:.1f} s)"
    )
    errors = problem.truth.standard_errors
    if errors is not None:
        line += (
            f"; its standard error: rms {float(np.sqrt(np.mean(errors**2))):.2e}, "
            f"max {float(errors.max()):.2e}"
        )
    return line


# ----------------------------------------------------------------------------------------- CLI


def parse_value(text: str) -> Any:
    """An option value: int, float, true/false/none, else the string itself."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def parse_options(text: str) -> dict[str, Any]:
    """``key=value,key=value`` as keyword arguments."""
    options = {}
    for item in filter(None, text.split(",")):
        key, separator, value = item.partition("=")
        if not separator:
            raise argparse.ArgumentTypeError(f"--ours expects key=value items, got {item!r}")
        options[key.strip()] = parse_value(value.strip())
    return options


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: {', '.join(QUICK_PROBLEMS)}, budgets {', '.join(QUICK_BUDGETS)}, "
        f"1 seed, {QUICK_PERMUTATIONS} reference permutations",
    )
    parser.add_argument("--problems", help=f"comma-separated, among {', '.join(PROBLEMS)}")
    parser.add_argument("--budgets", help=f"comma-separated, default {','.join(BUDGETS)}")
    parser.add_argument(
        "--ours", type=parse_options, default={}, help="key=value,... for our KernelExplainer"
    )
    parser.add_argument("--rows", type=int, default=N_ROWS, help="explained rows per problem")
    parser.add_argument(
        "--seeds",
        type=int,
        default=len(SEEDS),
        help=f"seeds 0 .. N-1 per problem and budget (default {len(SEEDS)}); more seeds narrow "
        "each coverage figure's interval",
    )
    arguments = parser.parse_args()
    problems = arguments.problems.split(",") if arguments.problems else None
    budgets = arguments.budgets.split(",") if arguments.budgets else None
    arguments.problems = problems or list(QUICK_PROBLEMS if arguments.quick else PROBLEMS)
    arguments.budgets = budgets or list(QUICK_BUDGETS if arguments.quick else BUDGETS)
    unknown = sorted(set(arguments.problems) - set(PROBLEMS))
    if unknown:
        parser.error(f"unknown problems {unknown}; expected among {list(PROBLEMS)}")
    if arguments.seeds < 1:
        parser.error(f"--seeds takes a positive number of seeds, got {arguments.seeds}")
    for budget in arguments.budgets:
        if budget != SMALLEST_BUDGET and not budget.isdigit():
            parser.error(f"budgets are integers or {SMALLEST_BUDGET!r}, got {budget!r}")
    try:
        KernelExplainer(np.zeros((1, 2)), num_samples=1, seed=0, **arguments.ours)
    except (TypeError, ValueError, ExplainOpsError) as error:
        parser.error(f"--ours {arguments.ours} is not accepted by KernelExplainer: {error}")
    return arguments


def main() -> None:
    """Build each problem, measure both estimators at every budget, print table and summary."""
    logging.getLogger("shap").setLevel(logging.ERROR)
    arguments = parse_arguments()
    seeds = QUICK_SEEDS if arguments.quick else tuple(range(arguments.seeds))
    n_permutations = QUICK_PERMUTATIONS if arguments.quick else REFERENCE_PERMUTATIONS
    start = time.perf_counter()
    details = [
        check_permutation_estimator(
            arguments.rows, QUICK_PERMUTATIONS if arguments.quick else CHECK_PERMUTATIONS
        )
    ]
    print(details[0], flush=True)
    results: dict[str, list[Result]] = {}
    problems: list[Problem] = []
    for name in arguments.problems:
        problem = make_problem(name, arguments.rows, n_permutations)
        problems.append(problem)
        details.append(truth_line(problem))
        print(details[-1], flush=True)
        warm_up(problem, arguments.ours)
        results[name] = []
        for token in arguments.budgets:
            budget = resolve_budget(token, problem.n_features)
            if budget >= 2**problem.n_features - 2:
                details.append(
                    f"{name}, {budget}: skipped, >= 2^{problem.n_features} - 2 coalitions "
                    "(both estimators enumerate every coalition and are exact)"
                )
                print(details[-1], flush=True)
                continue
            result = measure(problem, budget, seeds, arguments.ours)
            results[name].append(result)
            details.append(seed_spread(result))
            print(details[-1], flush=True)
    print(
        f"\n{N_BACKGROUND} background rows (equal weights), {arguments.rows} explained rows, "
        f"seeds {', '.join(map(str, seeds))}; our options {arguments.ours or 'default'}; "
        "RMSE over rows x features x seeds; shap/ours = RMSE ratio; times are the best of the "
        "seeds' calls (each explains every row); time_ratio = shap_s / ours_s; coverage = "
        "share of |ours - truth| <= "
        f"{Z_95} x ours' standard error (* = against the permutation reference, with "
        "its own standard error added in quadrature)\n"
    )
    print_table([result for problem_results in results.values() for result in problem_results])
    print("\nDetails:")
    for line in details:
        print(f"  {line}")
    print("\nSummary:")
    for problem in problems:
        print(f"  {summary_line(problem, results[problem.name])}")
    print(f"\ntotal wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
