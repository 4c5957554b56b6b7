"""Exact interventional Shapley values by enumerating all 2^d coalitions."""

from __future__ import annotations

from math import comb
from typing import Any

import numpy as np
import numpy.typing as npt

from explainops.errors import ExplainerError
from explainops.explainers._agnostic import ModelAgnosticExplainer
from explainops.explainers.explanation import Explanation
from explainops.explainers.inputs import PredictFunction

FloatArray = npt.NDArray[np.float64]

DEFAULT_MAX_FEATURES = 16
# Bound on the (samples x coalitions x outputs) block of values held at once.
_MAX_VALUES_IN_MEMORY = 4_000_000


def all_coalitions(n_features: int) -> npt.NDArray[np.bool_]:
    """All 2^d coalition masks, row s holding the bits of s (row 0 empty, last row full)."""
    codes = np.arange(2**n_features, dtype=np.int64)
    return np.asarray((codes[:, None] >> np.arange(n_features)) & 1, dtype=np.bool_)


def shapley_coefficients(masks: npt.NDArray[np.bool_]) -> FloatArray:
    """(c, d) matrix C such that phi = v @ C for v(S) over the complete list of coalitions.

    phi_i = sum over S without i of |S|!(d-|S|-1)!/d! * (v(S + i) - v(S)): coalition S enters with
    +w(|S|-1) for its members and -w(|S|) for the others, w(s) = 1 / (d * binom(d-1, s)).
    """
    n_features = masks.shape[1]
    sizes = masks.sum(axis=1)
    weight = np.array(
        [1.0 / (n_features * comb(n_features - 1, size)) for size in range(n_features)] + [0.0]
    )
    member_weight = weight[np.maximum(sizes - 1, 0)][:, None]
    outsider_weight = weight[sizes][:, None]
    return np.asarray(np.where(masks, member_weight, -outsider_weight), dtype=np.float64)


class ExactExplainer(ModelAgnosticExplainer):
    """Interventional Shapley values computed exactly, from all 2^d coalitions.

    Every sample costs 2^d x (baseline rows) model evaluations, so the number of features is capped
    by ``max_features`` (default 16); use KernelExplainer above it.

    Args:
        baseline: (m, d) background rows (array or DataFrame); None for a k-means summary.
        baseline_weights: optional (m,) non-negative weights of the baseline rows.
        use_logit: explain log-odds: link applied to the expected prediction, as shap does.
        max_features: refuse more features than this.
        num_clusters: clusters of the k-means summary when no baseline is given (None: automatic).
        seed: seed of the k-means summary.
        batch_size: rows per model call.
        feature_names, output_names: names to report (default column_i, label_j).

    """

    def __init__(self, *args: Any, max_features: int = DEFAULT_MAX_FEATURES, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_features = max_features

    def explain(self, model: PredictFunction, samples: Any) -> Explanation:
        """Explain ``model`` (a predict callable (n, d) -> (n,) or (n, k)) on ``samples``."""
        # The explained features, not the input's width: feature_names may pick a few columns.
        n_features = (
            len(self.feature_names)
            if self.feature_names is not None
            else np.asarray(samples).shape[-1]
            if not hasattr(samples, "columns")
            else len(samples.columns)
        )
        if n_features > self.max_features:
            raise ExplainerError(
                f"ExactExplainer enumerates 2^d coalitions and is limited to {self.max_features} "
                f"features, got {n_features}; use KernelExplainer or raise max_features"
            )
        problem = self.problem(model, samples)
        masks = all_coalitions(problem.n_features)
        coefficients = shapley_coefficients(masks)
        values = problem.samples.values
        n_outputs = problem.base_values.shape[0]
        chunk = max(1, _MAX_VALUES_IN_MEMORY // (masks.shape[0] * n_outputs))
        shap_values = np.empty((values.shape[0], n_outputs, problem.n_features))
        for start in range(0, values.shape[0], chunk):
            linked = problem.linked_expected_outputs(values[start : start + chunk], masks, start)
            shap_values[start : start + chunk] = np.einsum("nck,cd->nkd", linked, coefficients)
        return problem.explanation(shap_values)
