"""Kernel SHAP: Shapley values from a weighted linear regression over sampled coalitions.

The coalition design depends only on (number of features, num_samples, seed), so one design serves
every sample: the constrained weighted least squares reduces to one fixed linear operator, applied
to all samples and outputs in a single matrix product, and results do not depend on how samples
are batched or partitioned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from math import ceil, comb
from typing import Any

import numpy as np
import numpy.typing as npt

from explainops.errors import ExplainerError
from explainops.explainers._agnostic import ExplanationProblem, ModelAgnosticExplainer
from explainops.explainers.coalitions import DEFAULT_BATCH_SIZE
from explainops.explainers.exact import all_coalitions
from explainops.explainers.explanation import Explanation
from explainops.explainers.inputs import PredictFunction

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Bound on the (samples x coalitions x outputs) block of values held at once.
_MAX_VALUES_IN_MEMORY = 4_000_000
# Sampling stops after this many draws per budgeted coalition, even if duplicates kept it short.
_MAX_DRAWS_PER_COALITION = 20


def default_num_samples(n_features: int) -> int:
    """Clarify's and shap's default budget: min(2d + 2048, 2^d - 2) coalitions.

    Examples
    --------
    >>> from explainops.explainers.kernel import default_num_samples
    >>> default_num_samples(3), default_num_samples(20)
    (6, 2088)

    """
    return int(min(2 * n_features + 2048, 2**n_features - 2))


@dataclass(frozen=True)
class KernelDesign:
    """Coalitions to evaluate, their regression weights, and the sampled draws among them.

    Attributes
    ----------
    masks : ndarray of bool, shape (c, d)
        Distinct coalitions, never empty or full.
    weights : ndarray of shape (c,)
        Shapley-kernel regression weights, summing to one.
    draws : ndarray of int, shape (N, 2)
        Indices into masks of each sampled (coalition, complement) pair; empty when every
        coalition was enumerated rather than sampled.
    counts : ndarray of shape (c,)
        How often each coalition occurs among the draws (0 for enumerated ones).

    """

    masks: BoolArray
    weights: FloatArray
    draws: IntArray
    counts: FloatArray

    @property
    def is_exact(self) -> bool:
        """True when no coalition was sampled: the regression then gives exact Shapley values."""
        n_proper = 2 ** self.masks.shape[1] - 2
        return bool(self.draws.shape[0] == 0 and self.masks.shape[0] == n_proper)


def kernel_design(n_features: int, num_samples: int, seed: int | None) -> KernelDesign:
    """Choose the coalitions for ``num_samples`` model evaluations per sample and baseline row.

    With a budget covering all 2^d - 2 proper coalitions, all are enumerated. Otherwise coalition
    sizes are enumerated completely, in order of kernel weight (sizes s and d - s together), while
    the budget allows, and the rest of the kernel mass is covered by paired sampling: a coalition
    of a size drawn by kernel weight and its complement, duplicates evaluated once and weighted by
    their count.

    Parameters
    ----------
    n_features : int
        Number of features d.
    num_samples : int
        Budget of distinct coalitions to evaluate.
    seed : int or None
        Seed of the sampling (unused when every coalition is enumerated).

    Returns
    -------
    KernelDesign
        ``masks`` (c, d), ``weights`` (c,), ``draws`` (N, 2) and ``counts`` (c,).

    Examples
    --------
    >>> from explainops.explainers.kernel import kernel_design
    >>> design = kernel_design(n_features=3, num_samples=6, seed=0)
    >>> design.masks.shape, design.is_exact
    ((6, 3), True)

    """
    if n_features < 1:
        raise ExplainerError("KernelExplainer needs at least one feature")
    if n_features == 1:  # no proper coalition: the single feature gets the whole difference
        return KernelDesign(
            np.zeros((0, 1), np.bool_), np.zeros(0), np.zeros((0, 2), np.int64), np.zeros(0)
        )
    if num_samples < 1:
        raise ExplainerError(f"num_samples must be >= 1, got {num_samples}")
    n_proper = 2**n_features - 2
    if num_samples >= n_proper:
        masks = all_coalitions(n_features)[1:-1]
        sizes = masks.sum(axis=1)
        weights = (n_features - 1) / (
            np.array([comb(n_features, int(size)) for size in sizes]) * sizes * (n_features - sizes)
        )
        return KernelDesign(
            masks, weights / weights.sum(), np.zeros((0, 2), np.int64), np.zeros(masks.shape[0])
        )
    return _enumerated_and_sampled_design(n_features, num_samples, np.random.default_rng(seed))


def _size_weights(n_features: int) -> FloatArray:
    """Kernel mass of each size pair (s, d - s), s = 1..ceil((d-1)/2), normalised to sum to one."""
    n_sizes = ceil((n_features - 1) / 2)
    sizes = np.arange(1, n_sizes + 1)
    mass = (n_features - 1) / (sizes * (n_features - sizes))
    paired = sizes <= (n_features - 1) // 2
    mass = np.where(paired, 2 * mass, mass)
    return np.asarray(mass / mass.sum(), dtype=np.float64)


def _coalitions_of_size(n_features: int, size: int, with_complements: bool) -> BoolArray:
    members = np.array(list(combinations(range(n_features), size)), dtype=np.int64)
    masks = np.zeros((members.shape[0], n_features), dtype=np.bool_)
    np.put_along_axis(masks, members, True, axis=1)
    return np.concatenate([masks, ~masks]) if with_complements else masks


def _enumerated_and_sampled_design(
    n_features: int, num_samples: int, rng: np.random.Generator
) -> KernelDesign:
    size_weights = _size_weights(n_features)
    n_paired = (n_features - 1) // 2
    enumerated_masks: list[BoolArray] = []
    enumerated_weights: list[FloatArray] = []
    budget = num_samples
    remaining = size_weights.copy()
    first_sampled_size = len(size_weights) + 1
    for size in range(1, len(size_weights) + 1):
        n_coalitions = comb(n_features, size) * (2 if size <= n_paired else 1)
        if budget * remaining[size - 1] / remaining.sum() < n_coalitions - 1e-8:
            first_sampled_size = size
            break
        enumerated_masks.append(_coalitions_of_size(n_features, size, size <= n_paired))
        enumerated_weights.append(np.full(n_coalitions, size_weights[size - 1] / n_coalitions))
        budget -= n_coalitions
        remaining[size - 1] = 0.0
    sampled_masks, draws, counts = _sample_pairs(
        n_features, size_weights[first_sampled_size - 1 :], first_sampled_size, budget, rng
    )
    n_enumerated = sum(masks.shape[0] for masks in enumerated_masks)
    sampled_mass = float(size_weights[first_sampled_size - 1 :].sum())
    sampled_weights = sampled_mass * counts / max(1, 2 * draws.shape[0])
    masks = np.concatenate([*enumerated_masks, sampled_masks]).reshape(-1, n_features)
    weights = np.concatenate([*enumerated_weights, sampled_weights])
    return KernelDesign(
        masks=masks,
        weights=weights / weights.sum(),
        draws=draws + n_enumerated,
        counts=np.concatenate([np.zeros(n_enumerated), counts]),
    )


def _sample_pairs(
    n_features: int, size_mass: FloatArray, first_size: int, budget: int, rng: np.random.Generator
) -> tuple[BoolArray, IntArray, FloatArray]:
    """Draw (coalition, complement) pairs until ``budget`` distinct coalitions are reached."""
    empty = (np.zeros((0, n_features), np.bool_), np.zeros((0, 2), np.int64), np.zeros(0))
    if budget < 2 or size_mass.shape[0] == 0:
        return empty
    chunk = max(64, budget)
    drawn: list[BoolArray] = []
    for _ in range(_MAX_DRAWS_PER_COALITION * budget // chunk + 1):
        sizes = first_size + rng.choice(
            size_mass.shape[0], size=chunk, p=size_mass / size_mass.sum()
        )
        ranks = rng.random((chunk, n_features)).argsort(axis=1).argsort(axis=1)
        subsets = ranks < sizes[:, None]
        drawn.append(np.stack([subsets, ~subsets], axis=1))
        pairs = np.concatenate(drawn)
        codes = np.packbits(pairs.reshape(-1, n_features), axis=1)
        _, first_seen, inverse = np.unique(codes, axis=0, return_index=True, return_inverse=True)
        is_new = np.zeros(codes.shape[0], dtype=np.int64)
        is_new[first_seen] = 1
        distinct_after_draw = np.cumsum(is_new).reshape(-1, 2)[:, 1]
        if distinct_after_draw[-1] >= budget:
            break
    n_draws = int(np.searchsorted(distinct_after_draw, budget, side="right"))
    if n_draws == 0:
        return empty
    kept_first_seen = np.sort(first_seen[first_seen < 2 * n_draws])
    kept_codes_index = np.full(codes.shape[0], -1, dtype=np.int64)
    kept_codes_index[kept_first_seen] = np.arange(kept_first_seen.shape[0])
    # Map every kept draw entry to the position of its coalition's first occurrence.
    first_of_each = first_seen[inverse.reshape(-1)]
    draw_index = kept_codes_index[first_of_each[: 2 * n_draws]].reshape(n_draws, 2)
    masks = pairs.reshape(-1, n_features)[kept_first_seen]
    counts = np.bincount(draw_index.reshape(-1), minlength=masks.shape[0]).astype(np.float64)
    return masks, draw_index, counts


@dataclass(frozen=True)
class KernelSolver:
    """Closed-form solution of the efficiency-constrained weighted least squares of Kernel SHAP.

    minimise sum_j w_j (y_j - z_j . phi)^2 subject to sum(phi) = delta, for y = v(S) - v(empty) and
    delta = v(all) - v(empty). The KKT system is the same for every sample, so
    phi = y @ operator.T + delta * offset.
    """

    operator: FloatArray  # (d, c)
    offset: FloatArray  # (d,)

    @classmethod
    def for_design(cls, design: KernelDesign) -> KernelSolver:
        """Solve the KKT system of ``design`` once."""
        n_features = design.masks.shape[1]
        z = design.masks.astype(np.float64)
        weighted = z * design.weights[:, None]
        kkt = np.zeros((n_features + 1, n_features + 1))
        kkt[:n_features, :n_features] = z.T @ weighted
        kkt[:n_features, n_features] = 1.0
        kkt[n_features, :n_features] = 1.0
        rhs = np.zeros((n_features + 1, design.masks.shape[0] + 1))
        rhs[:n_features, :-1] = weighted.T
        rhs[n_features, -1] = 1.0
        solution = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
        return cls(operator=solution[:n_features, :-1], offset=solution[:n_features, -1])

    def solve(self, centred_values: FloatArray, delta: FloatArray) -> FloatArray:
        """SHAP values (n, k, d) from centred coalition values (n, k, c) and delta (n, k)."""
        return np.asarray(
            centred_values @ self.operator.T + delta[..., None] * self.offset, dtype=np.float64
        )

    def standard_errors(
        self, centred_values: FloatArray, values: FloatArray, design: KernelDesign
    ) -> FloatArray:
        """Standard errors (n, k, d) of the estimate, from the spread of the sampled pairs.

        A sandwich (influence-function) estimate: each sampled pair p has influence
        t_p = sum over its two coalitions j of operator[:, j] / count_j * r_j, with r_j the
        regression residual y_j - z_j . phi; the variance of phi is N times the sample variance of
        t_p over the N draws. Enumerated coalitions carry no sampling error; with a single
        sampled pair the spread is unknown and the standard errors are NaN.
        """
        n_draws = design.draws.shape[0]
        shape = values.shape
        if n_draws == 0:
            return np.zeros(shape)
        if n_draws == 1:  # one sampled pair cannot show its own spread: the error is unknown
            return np.full(shape, np.nan)
        residuals = centred_values - values @ design.masks.T.astype(np.float64)
        first, second = design.draws[:, 0], design.draws[:, 1]
        per_count = self.operator / np.maximum(design.counts, 1.0)
        a, b = per_count[:, first], per_count[:, second]  # (d, N)
        y1, y2 = residuals[..., first], residuals[..., second]  # (n, k, N)
        total = y1 @ a.T + y2 @ b.T
        squares = (y1**2) @ (a**2).T + 2 * (y1 * y2) @ (a * b).T + (y2**2) @ (b**2).T
        variance = (squares - total**2 / n_draws) / (n_draws - 1)
        return np.asarray(np.sqrt(n_draws * np.maximum(variance, 0.0)), dtype=np.float64)


class KernelExplainer(ModelAgnosticExplainer):
    """Kernel SHAP with a seed-determined, paired coalition design and a closed-form solve.

    The Shapley values are the solution of a weighted linear regression of v(S) on the coalition
    indicators, with Shapley-kernel weights and the efficiency constraint (Lundberg & Lee, 2017).
    A budget of ``num_samples`` coalitions covering all 2^d - 2 proper ones is enumerated and
    gives exact Shapley values; a smaller one enumerates the sizes of largest kernel weight and
    samples the rest in (coalition, complement) pairs. The design depends only on (d,
    ``num_samples``, ``seed``), so results do not depend on how the samples are batched.

    Parameters
    ----------
    baseline : array-like or DataFrame of shape (m, d), default=None
        The background rows B. None: a k-means summary of the samples, weighted by cluster size.
    baseline_weights : array-like of shape (m,), default=None
        Non-negative weights of the baseline rows, normalised to sum to one; None: equal.
    num_samples : int, default=None
        Coalitions evaluated per sample; None: min(2d + 2048, 2^d - 2), as shap and Clarify.
    use_logit : bool, default=False
        Explain log-odds: the logit of the expected output, as shap's ``link="logit"``.
    num_clusters : int, default=None
        Clusters of the k-means summary when no baseline is given; None: chosen between 1 and 12.
    seed : int or None, default=0
        Seed of the coalition design and of the k-means summary.
    batch_size : int, default=20_000
        Rows per model call (results do not depend on it).
    feature_names : sequence of str, default=None
        The features to explain (a DataFrame's columns to select, or an array's column names).
    output_names : sequence of str, default=None
        Names of the model's outputs; None: ``label0``, ``label1``, ...

    See Also
    --------
    ExactExplainer : the values from all 2^d coalitions, for few features.

    Notes
    -----
    The explanation's ``standard_errors`` estimate each value's sampling error from the spread
    of the sampled pairs (zero when every coalition was enumerated, NaN when a single pair was
    sampled: its spread is unknown).

    References
    ----------
    .. [1] S. M. Lundberg and S.-I. Lee, "A Unified Approach to Interpreting Model Predictions",
       Advances in Neural Information Processing Systems 30, 2017.

    Examples
    --------
    For a linear model f(x) = w . x + c the interventional SHAP value of feature j is
    w_j (x_j - mean_b b_j), the baseline's mean taken with its weights:

    >>> import numpy as np
    >>> from explainops.explainers import KernelExplainer
    >>> w = np.array([1.0, -2.0, 0.5])
    >>> def model(rows):
    ...     return rows @ w + 3.0
    >>> baseline = np.array([[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]])  # mean (1, 1, 1)
    >>> samples = np.array([[3.0, 0.0, 2.0], [-1.0, 4.0, 5.0]])
    >>> explanation = KernelExplainer(baseline, seed=0).explain(model, samples)
    >>> explanation.values.shape  # (n, k, d)
    (2, 1, 3)
    >>> print(np.round(explanation.values[:, 0, :], 6))
    [[ 2.   2.   0.5]
     [-2.  -6.   2. ]]
    >>> print(explanation.base_values, explanation.predictions[:, 0])
    [2.5] [ 7.  -3.5]

    """

    def __init__(
        self,
        baseline: Any | None = None,
        baseline_weights: Any | None = None,
        *,
        num_samples: int | None = None,
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
        if num_samples is not None and num_samples < 1:
            raise ExplainerError(f"num_samples must be >= 1, got {num_samples}")
        self.num_samples = num_samples
        # The design and its solve depend only on (d, num_samples, seed): made once, reused by
        # every batch a job explains.
        self._solved: dict[int, tuple[KernelDesign, KernelSolver]] = {}

    def design_for(self, n_features: int) -> KernelDesign:
        """The coalition design used for ``n_features`` features."""
        return self._design_and_solver(n_features)[0]

    def _design_and_solver(self, n_features: int) -> tuple[KernelDesign, KernelSolver]:
        if n_features not in self._solved:
            budget = self.num_samples or default_num_samples(n_features)
            design = kernel_design(n_features, budget, self.seed)
            self._solved[n_features] = (design, KernelSolver.for_design(design))
        return self._solved[n_features]

    def explain(self, model: PredictFunction, samples: Any) -> Explanation:
        """Explain ``model``, a predict callable (n, d) -> (n,) or (n, k), on ``samples`` (n, d).

        Returns an :class:`Explanation` with ``values`` (n, k, d), ``base_values`` (k,),
        ``predictions`` (n, k), ``standard_errors`` (n, k, d) and the samples' values as
        ``data`` (n, d).
        """
        problem = self.problem(model, samples)
        design, solver = self._design_and_solver(problem.n_features)
        values, errors = self._solve_in_chunks(problem, design, solver)
        return problem.explanation(values, errors)

    @staticmethod
    def _solve_in_chunks(
        problem: ExplanationProblem, design: KernelDesign, solver: KernelSolver
    ) -> tuple[FloatArray, FloatArray]:
        samples = problem.samples.values
        n_samples, n_outputs = problem.predictions.shape
        shape = (n_samples, n_outputs, problem.n_features)
        values, errors = np.empty(shape), np.zeros(shape)
        delta = problem.predictions - problem.base_values
        if design.masks.shape[0] == 0:
            values[...] = delta[..., None] * solver.offset
            return values, errors
        chunk = max(1, _MAX_VALUES_IN_MEMORY // (design.masks.shape[0] * n_outputs))
        for start in range(0, n_samples, chunk):
            stop = min(start + chunk, n_samples)
            linked = problem.linked_expected_outputs(samples[start:stop], design.masks, start)
            centred = np.moveaxis(linked, 1, 2) - problem.base_values[None, :, None]
            values[start:stop] = solver.solve(centred, delta[start:stop])
            errors[start:stop] = solver.standard_errors(centred, values[start:stop], design)
        return values, errors
