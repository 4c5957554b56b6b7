"""Regression-adjusted Kernel SHAP: a tree surrogate of v(S) with exact Shapley values.

For each sample and output, a small gradient-boosted regression g(z) is fitted, as a function of
the coalition indicators z, to what Kernel SHAP's additive fit leaves of the sampled coalition
values v(S) - v(empty) (zero at the empty and full coalitions). Its Shapley values are exact and
cost no model call: a leaf whose path needs the features P present and N absent is the game
L * 1[P in S, N not in S], whose Shapley value is L (|P| - 1)! |N|! / (|P| + |N|)! for each
feature of P and -L |P|! (|N| - 1)! / (|P| + |N|)! for each feature of N. Kernel SHAP then
estimates only the residual game v - g from the same coalitions, so its sampling error is that
of the part of v the surrogate missed (Witter, Liu & Musco, "Regression-adjusted Monte Carlo
estimators for Shapley values and probabilistic values", 2025). The values add up exactly (both
parts do), and are exact when every coalition was enumerated (the surrogate is then not fitted)
or when the game is additive (a linear model: the surrogate then has nothing to learn).
"""

from __future__ import annotations

from math import factorial

import numpy as np
import numpy.typing as npt

from explainops.explainers.coalition_design import KernelDesign, KernelSolver

FloatArray = npt.NDArray[np.float64]

# The surrogate: depth-3 trees capture interactions of up to 3 features per tree.
SURROGATE_TREES = 100
SURROGATE_DEPTH = 3
SURROGATE_LEARNING_RATE = 0.1


def tree_game_shapley(tree: object, n_features: int) -> FloatArray:
    """Exact Shapley values (d,) of the game z -> tree(z) - tree(0) of a fitted sklearn tree."""
    structure = tree.tree_  # type: ignore[attr-defined]
    left, right = structure.children_left, structure.children_right
    feature, value = structure.feature, structure.value[:, 0, 0]
    shapley = np.zeros(n_features)
    stack: list[tuple[int, tuple[int, ...], tuple[int, ...]]] = [(0, (), ())]
    while stack:
        node, present, absent = stack.pop()
        if left[node] == -1:
            p, n = len(present), len(absent)
            if p + n:
                total = factorial(p + n)
                if p:
                    shapley[list(present)] += value[node] * factorial(p - 1) * factorial(n) / total
                if n:
                    shapley[list(absent)] -= value[node] * factorial(p) * factorial(n - 1) / total
            continue
        split = int(feature[node])  # z <= 0.5 goes left: the feature is absent there
        stack.append((int(left[node]), present, (*absent, split)))
        stack.append((int(right[node]), (*present, split), absent))
    return shapley


def adjusted_estimate(
    centred_values: FloatArray,
    delta: FloatArray,
    design: KernelDesign,
    solver: KernelSolver,
    seed: int | None,
) -> tuple[FloatArray, FloatArray]:
    """Values and standard errors (n, k, d) from centred coalition values (n, k, c), delta (n, k).

    The standard errors are the jackknife's of the residual game's Kernel estimate, the
    surrogate held fixed.
    """
    n_samples, n_outputs, _ = centred_values.shape
    n_features = design.masks.shape[1]
    if design.is_exact:
        values = solver.solve(centred_values, delta)
        return values, np.zeros(values.shape)
    z = np.concatenate(
        [design.masks, np.zeros((1, n_features), bool), np.ones((1, n_features), bool)]
    ).astype(np.float64)
    # The surrogate learns what the additive fit misses: on an additive game it learns nothing
    # and the estimate stays Kernel SHAP's, exact.
    from sklearn.ensemble import GradientBoostingRegressor  # loads with the first surrogate

    additive = solver.solve(centred_values, delta) @ z[:-2].T
    surrogate_values = np.empty(centred_values.shape)
    surrogate_delta = np.empty(delta.shape)
    surrogate_shapley = np.empty((n_samples, n_outputs, n_features))
    for sample in range(n_samples):
        for output in range(n_outputs):
            missed = centred_values[sample, output] - additive[sample, output]
            target = np.concatenate([missed, [0.0, 0.0]])
            model = GradientBoostingRegressor(
                n_estimators=SURROGATE_TREES,
                max_depth=SURROGATE_DEPTH,
                learning_rate=SURROGATE_LEARNING_RATE,
                random_state=0 if seed is None else seed,
            ).fit(z, target)
            fitted = model.predict(z)
            surrogate_values[sample, output] = fitted[:-2] - fitted[-2]
            surrogate_delta[sample, output] = fitted[-1] - fitted[-2]
            surrogate_shapley[sample, output] = model.learning_rate * sum(
                tree_game_shapley(stage[0], n_features) for stage in model.estimators_
            )
    residual = centred_values - surrogate_values
    residual_delta = delta - surrogate_delta
    residual_values = solver.solve(residual, residual_delta)
    errors = solver.standard_errors(residual, residual_values, design)
    return surrogate_shapley + residual_values, errors
