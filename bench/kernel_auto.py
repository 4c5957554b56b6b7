"""Benchmark ``num_samples="auto"``: the evaluations it spends per row against a fixed budget.

For each problem of ``bench/kernel_accuracy.py`` with a nonlinear model (the same models, rows,
background and ground truth: exact values for ``gbm12``, ``logit13``, ``mlp16``, the long
permutation reference for ``logit30``, ``gbm30``) and each target standard error, our
KernelExplainer runs with ``num_samples="auto"`` under seeds 0, 1, 2. It prints, over the seeds:

* the coalitions spent per row (mean, min, max; model evaluations are 10 times that, one per
  background row) and the share of rows that converged;
* the worst-case error, the largest |value - truth| over rows and features (mean over seeds),
  and the coverage of the 95% intervals;
* the fixed budget that reaches the same worst-case error: fixed budgets 128 ... 8192 are run
  under the same seeds, and the budget where their worst-case error crosses auto's is found by
  log-log interpolation between the two budgets around it; ``saving`` is that budget over
  auto's mean coalitions per row.

Both run the explainer's default estimator (``stratified``); ``--estimator kernel`` runs both
with the shared design instead (shap's estimator). Against the permutation reference the
coverage allows for the reference's own error, as in ``bench/kernel_accuracy.py``.

Run it with ``.venv/bin/python bench/kernel_auto.py`` (about 3 minutes on 2 cores; 1 minute with
``--estimator kernel``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from explainops.explainers import KernelExplainer
from kernel_accuracy import (
    N_BACKGROUND,
    N_ROWS,
    REFERENCE_PERMUTATIONS,
    SEEDS,
    Z_95,
    FloatArray,
    Problem,
    covered_values,
    make_problem,
    quiet,
)

PROBLEMS = ("gbm12", "logit13", "mlp16", "logit30", "gbm30")
TARGETS = (0.01, 0.004, 0.0015)
FIXED_BUDGETS = (128, 256, 512, 1024, 2048, 4096, 8192)


@dataclass(frozen=True)
class AutoRun:
    """``num_samples="auto"`` on a problem at one target, over the seeds."""

    coalitions: FloatArray  # (seeds, rows)
    converged: float
    worst_error: float  # mean over seeds of max |value - truth|
    coverage: float
    seconds: float


def worst_error(values: FloatArray, truth: FloatArray) -> float:
    """The largest |value - truth| over rows and features."""
    return float(np.max(np.abs(values - truth)))


def run_auto(
    problem: Problem, target: float, seeds: Sequence[int], options: dict[str, Any]
) -> AutoRun:
    """``num_samples="auto"`` at ``target`` under each seed."""
    truth = problem.truth.values
    coalitions, converged, worst, covered, seconds = [], [], [], [], []
    for seed in seeds:
        start = time.perf_counter()
        explanation = KernelExplainer(
            problem.background, num_samples="auto", target_stderr=target, seed=seed, **options
        ).explain(problem.predict, problem.rows)
        seconds.append(time.perf_counter() - start)
        assert explanation.evaluations is not None and explanation.converged is not None
        assert explanation.standard_errors is not None
        values = explanation.values[:, 0, :]
        coalitions.append(explanation.evaluations / N_BACKGROUND)
        converged.append(explanation.converged.mean())
        worst.append(worst_error(values, truth))
        covered.append(
            covered_values(
                values, explanation.standard_errors[:, 0, :], truth, problem.truth.standard_errors
            )[0]
        )
    return AutoRun(
        coalitions=np.array(coalitions),
        converged=float(np.mean(converged)),
        worst_error=float(np.mean(worst)),
        coverage=float(np.mean(covered)),
        seconds=min(seconds),
    )


def fixed_worst_errors(
    problem: Problem, seeds: Sequence[int], options: dict[str, Any]
) -> dict[int, float]:
    """Mean over seeds of the worst-case error of each fixed budget below 2^d - 2."""
    truth = problem.truth.values
    found = {}
    for budget in FIXED_BUDGETS:
        if budget >= 2**problem.n_features - 2:
            break
        worst = [
            worst_error(
                KernelExplainer(problem.background, num_samples=budget, seed=seed, **options)
                .explain(problem.predict, problem.rows)
                .values[:, 0, :],
                truth,
            )
            for seed in seeds
        ]
        found[budget] = float(np.mean(worst))
    return found


def budget_for(error: float, fixed: dict[int, float]) -> str:
    """The fixed budget whose worst-case error is ``error`` (log-log between the two around)."""
    budgets = sorted(fixed)
    if error >= fixed[budgets[0]]:
        return f"<= {budgets[0]}"
    for low, high in pairwise(budgets):
        if fixed[low] >= error >= fixed[high]:
            slope = np.log(fixed[high] / fixed[low]) / np.log(high / low)
            if slope >= 0:
                return f"{high}"
            return f"{low * (error / fixed[low]) ** (1 / slope):.0f}"
    return f"> {budgets[-1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--targets", default=",".join(map(str, TARGETS)))
    parser.add_argument(
        "--estimator",
        choices=("stratified", "stratified_plain", "kernel"),
        default=None,
        help="KernelExplainer's estimator for both auto and the fixed budgets (default: its own)",
    )
    arguments = parser.parse_args()
    targets = [float(target) for target in arguments.targets.split(",")]
    options = {} if arguments.estimator is None else {"estimator": arguments.estimator}
    estimator = KernelExplainer(np.zeros((1, 2)), **options).estimator
    print(f"estimator: {estimator}", flush=True)
    start = time.perf_counter()
    lines = []
    header = (
        f"{'problem':8}  {'d':>3}  {'target':>6}  {'auto coalitions/row mean [min-max]':>34}  "
        f"{'converged':>9}  {'worst err':>9}  {'coverage':>8}  {'auto_s':>6}  "
        f"{'fixed budget, same worst err':>28}  {'saving':>6}"
    )
    for name in arguments.problems.split(","):
        with quiet():
            problem = make_problem(name, N_ROWS, REFERENCE_PERMUTATIONS)
        fixed = fixed_worst_errors(problem, SEEDS, options)
        print(
            f"{name}: fixed budgets' worst-case errors "
            + ", ".join(f"{budget}: {error:.2e}" for budget, error in fixed.items()),
            flush=True,
        )
        for target in targets:
            auto = run_auto(problem, target, SEEDS, options)
            needed = budget_for(auto.worst_error, fixed)
            mean = float(auto.coalitions.mean())
            saving = f"{float(needed) / mean:.2f}" if needed.isdigit() else "-"
            spent = f"{mean:.0f} [{auto.coalitions.min():.0f}-{auto.coalitions.max():.0f}]"
            lines.append(
                f"{name:8}  {problem.n_features:>3}  {target:>6}  {spent:>34}  "
                f"{auto.converged:>9.3f}  {auto.worst_error:>9.2e}  {auto.coverage:>8.3f}  "
                f"{auto.seconds:>6.2f}  {needed:>28}  {saving:>6}"
            )
            print(lines[-1], flush=True)
    print(
        f"\n{N_BACKGROUND} background rows, {N_ROWS} rows, seeds {', '.join(map(str, SEEDS))}; "
        "worst err = mean over seeds of max |value - truth|; coverage of value +- "
        f"{Z_95} standard errors; auto_s = best seconds of a call (every row)\n"
    )
    print(header)
    print("\n".join(lines))
    print(f"\ntotal wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
