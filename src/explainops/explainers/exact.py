"""Exact interventional Shapley values by enumerating all 2^d coalitions."""

from __future__ import annotations

from collections.abc import Sequence
from math import comb
from typing import Any

import numpy as np
import numpy.typing as npt

from explainops.errors import ExplainerError
from explainops.explainers._agnostic import ModelAgnosticExplainer
from explainops.explainers.coalitions import DEFAULT_BATCH_SIZE
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

    Every sample costs 2^d x m model evaluations (m baseline rows), so the number of features is
    capped by ``max_features``; use :class:`KernelExplainer` above it. The values are those of
    the game described in :class:`Explainer`, to rounding.

    Parameters
    ----------
    baseline : array-like or DataFrame of shape (m, d), default=None
        The background rows B. None: a k-means summary of the samples, weighted by cluster size.
    baseline_weights : array-like of shape (m,), default=None
        Non-negative weights of the baseline rows, normalised to sum to one; None: equal.
    max_features : int, default=16
        Refuse to explain more features than this.
    use_logit : bool, default=False
        Explain log-odds: the logit of the expected output, as shap's ``link="logit"``.
    num_clusters : int, default=None
        Clusters of the k-means summary when no baseline is given; None: chosen between 1 and 12.
    seed : int or None, default=0
        Seed of the k-means summary.
    batch_size : int, default=20_000
        Rows per model call (results do not depend on it).
    feature_names : sequence of str, default=None
        The features to explain (a DataFrame's columns to select, or an array's column names).
    output_names : sequence of str, default=None
        Names of the model's outputs; None: ``label0``, ``label1``, ...

    See Also
    --------
    KernelExplainer : the same values estimated from sampled coalitions, for many features.

    Examples
    --------
    An interaction is shared between the features that take part in it. For f(x) = x0 * x1
    against the baseline row (0, 0), the sample (2, 3) has f = 6 and v({0}) = v({1}) = 0:

    >>> import numpy as np
    >>> from explainops.explainers import ExactExplainer
    >>> def model(rows):
    ...     return rows[:, 0] * rows[:, 1]
    >>> explainer = ExactExplainer(baseline=np.zeros((1, 2)))
    >>> explanation = explainer.explain(model, np.array([[2.0, 3.0]]))
    >>> print(np.round(explanation.values, 6))  # (n, k, d) = (1, 1, 2)
    [[[3. 3.]]]
    >>> print(explanation.base_values, explanation.predictions)
    [0.] [[6.]]

    """

    def __init__(
        self,
        baseline: Any | None = None,
        baseline_weights: Any | None = None,
        *,
        max_features: int = DEFAULT_MAX_FEATURES,
        use_logit: bool = False,
        num_clusters: int | None = None,
        seed: int | None = 0,
        batch_size: int = DEFAULT_BATCH_SIZE,
        feature_names: Sequence[str] | None = None,
        output_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(
            baseline,
            baseline_weights,
            use_logit=use_logit,
            num_clusters=num_clusters,
            seed=seed,
            batch_size=batch_size,
            feature_names=feature_names,
            output_names=output_names,
        )
        self.max_features = max_features

    def explain(self, model: PredictFunction, samples: Any) -> Explanation:
        """Explain ``model``, a predict callable (n, d) -> (n,) or (n, k), on ``samples`` (n, d).

        Returns an :class:`Explanation` with ``values`` (n, k, d), ``base_values`` (k,),
        ``predictions`` (n, k) and the samples' values as ``data`` (n, d).
        """
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
            linked = problem.linked_outputs_at(slice(start, start + chunk), masks)
            shap_values[start : start + chunk] = np.einsum("nck,cd->nkd", linked, coefficients)
        return problem.explanation(shap_values)
