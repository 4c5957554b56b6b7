"""An independent, deliberately naive Shapley implementation the explainers are tested against.

Plain Python loops over every subset of features (d <= 8), one model call per coalition: slow and
obviously correct, sharing no code with explainops.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]


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


def shapley_values(
    predict: Predict,
    x: np.ndarray,
    baseline: np.ndarray,
    weights: np.ndarray | None = None,
    logit: bool = False,
) -> np.ndarray:
    """(k, d) Shapley values of one sample by the textbook formula."""
    weights = np.ones(len(baseline)) if weights is None else np.asarray(weights, dtype=float)
    n_features = x.shape[0]
    values: dict[tuple[int, ...], np.ndarray] = {}
    for size in range(n_features + 1):
        for coalition in itertools.combinations(range(n_features), size):
            values[coalition] = coalition_value(predict, x, baseline, weights, coalition, logit)
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


def shapley_table(
    predict: Predict,
    samples: np.ndarray,
    baseline: np.ndarray,
    weights: np.ndarray | None = None,
    logit: bool = False,
) -> np.ndarray:
    """(n, k, d) Shapley values of every sample."""
    return np.stack([shapley_values(predict, x, baseline, weights, logit) for x in samples])
