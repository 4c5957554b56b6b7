"""An independent, deliberately naive Shapley implementation the explainers are tested against.

Plain Python loops over every subset of features (d <= 8), one model call per coalition: slow and
obviously correct, sharing no code with explainops.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]
Game = Callable[[tuple[int, ...]], np.ndarray]


def coalition_value(
    predict: Predict,
    x: np.ndarray,
    baseline: np.ndarray,
    weights: np.ndarray,
    coalition: tuple[int, ...],
    logit: bool,
) -> np.ndarray:
    """link(weighted mean over baseline rows b of f(x on the coalition, b elsewhere))."""
    rows = baseline.copy()
    rows[:, list(coalition)] = x[list(coalition)]
    outputs = np.asarray(predict(rows), dtype=float).reshape(len(rows), -1)
    expected = (weights / weights.sum()) @ outputs
    return np.log(expected / (1 - expected)) if logit else expected


def shapley_values_of_game(game: Game, n_features: int) -> np.ndarray:
    """(k, d) Shapley values of the game v(S) -> (k,) by the textbook formula.

    ``game`` is called once per coalition S, a sorted tuple of feature indices.
    """
    values = {
        coalition: np.asarray(game(coalition), dtype=float)
        for size in range(n_features + 1)
        for coalition in itertools.combinations(range(n_features), size)
    }
    n_outputs = values[()].shape[0]
    phi = np.zeros((n_outputs, n_features))
    for feature in range(n_features):
        others = [other for other in range(n_features) if other != feature]
        for size in range(n_features):
            weight = (
                math.factorial(size)
                * math.factorial(n_features - size - 1)
                / math.factorial(n_features)
            )
            for coalition in itertools.combinations(others, size):
                with_feature = tuple(sorted((*coalition, feature)))
                phi[:, feature] += weight * (values[with_feature] - values[coalition])
    return phi


def shapley_values(
    predict: Predict,
    x: np.ndarray,
    baseline: np.ndarray,
    weights: np.ndarray | None = None,
    logit: bool = False,
) -> np.ndarray:
    """(k, d) interventional Shapley values of one sample against a (weighted) baseline."""
    weights = np.ones(len(baseline)) if weights is None else np.asarray(weights, dtype=float)
    return shapley_values_of_game(
        lambda coalition: coalition_value(predict, x, baseline, weights, coalition, logit),
        x.shape[0],
    )


def shapley_table(
    predict: Predict,
    samples: np.ndarray,
    baseline: np.ndarray,
    weights: np.ndarray | None = None,
    logit: bool = False,
) -> np.ndarray:
    """(n, k, d) Shapley values of every sample."""
    return np.stack([shapley_values(predict, x, baseline, weights, logit) for x in samples])


# --- path-dependent (tree cover) values of LightGBM models ---------------------------------------


def lightgbm_goes_left(node: dict[str, Any], value: float) -> bool:
    """LightGBM's numerical split decision (``Tree::NumericalDecision``), missing values included.

    A NaN is 0.0 unless the split's missing type is "NaN"; a missing value ("NaN": NaN, "Zero":
    zero) goes to the default child; anything else goes left when ``value <= threshold``.
    """
    missing_type = node.get("missing_type", "None")
    if math.isnan(value) and missing_type != "NaN":
        value = 0.0
    if (missing_type == "Zero" and abs(value) <= 1e-35) or (
        missing_type == "NaN" and math.isnan(value)
    ):
        return bool(node["default_left"])
    return value <= node["threshold"]


def _training_rows(node: dict[str, Any]) -> float:
    return float(node["internal_count"] if "split_feature" in node else node["leaf_count"])


def lightgbm_conditional_expectation(
    node: dict[str, Any], x: np.ndarray, coalition: frozenset[int]
) -> float:
    """The tree's output given the features in ``coalition`` only, by the training data's paths.

    A split on a known feature follows x's branch; a split on an unknown one averages its two
    children weighted by their shares of the node's training rows (its cover), as Tree SHAP's
    "tree_path_dependent" value function defines E[f(X) | X_S = x_S].
    """
    if "split_feature" not in node:
        return float(node.get("leaf_value", 0.0))
    if node.get("decision_type", "<=") != "<=":
        raise NotImplementedError(f"decision type {node['decision_type']!r}")
    left, right = node["left_child"], node["right_child"]
    feature = node["split_feature"]
    if feature in coalition:
        child = left if lightgbm_goes_left(node, float(x[feature])) else right
        return lightgbm_conditional_expectation(child, x, coalition)
    return (
        _training_rows(left) * lightgbm_conditional_expectation(left, x, coalition)
        + _training_rows(right) * lightgbm_conditional_expectation(right, x, coalition)
    ) / _training_rows(node)


def lightgbm_path_dependent_values(
    dump: dict[str, Any], x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(k, d) path-dependent Shapley values of one sample, (k,) E[f(X)], (k,) raw score f(x).

    ``dump`` is ``booster.dump_model()``; tree i adds to output i % num_tree_per_iteration.
    """
    n_outputs = int(dump["num_tree_per_iteration"])
    n_features = int(dump["max_feature_idx"]) + 1

    def game(coalition: tuple[int, ...]) -> np.ndarray:
        known = frozenset(coalition)
        outputs = np.zeros(n_outputs)
        for index, tree in enumerate(dump["tree_info"]):
            outputs[index % n_outputs] += lightgbm_conditional_expectation(
                tree["tree_structure"], x, known
            )
        return outputs

    phi = shapley_values_of_game(game, n_features)
    return phi, game(()), game(tuple(range(n_features)))
