"""Kernel SHAP's coalition designs and the closed-form solve of its regression.

A design depends only on (number of features, budget, seed), so one design serves every sample:
the constrained weighted least squares reduces to one fixed linear operator, applied to all
samples and outputs in a single matrix product, and results do not depend on how samples are
batched or partitioned. :func:`kernel_design` makes the fixed-budget design;
:class:`AdaptiveDesigns` the nested designs of ``num_samples="auto"``, each round's coalitions
a superset of the previous round's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import combinations
from math import ceil, comb
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.linalg import solve_triangular

from explainops.errors import ExplainerError
from explainops.explainers.exact import all_coalitions

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
# What numpy's default_rng takes: an int, a sequence of ints (a seed and a stratum), or None.
Seed = int | Sequence[int] | None

# Bound on the (samples x coalitions x outputs) block of values held at once.
MAX_VALUES_IN_MEMORY = 4_000_000
# Sampling stops after this many draws per budgeted coalition, even if duplicates kept it short.
_MAX_DRAWS_PER_COALITION = 20
# Pairs drawn at a time for the stream of the adaptive designs.
_STREAM_CHUNK = 1024
# |det(I - H_p)| below this: the fit interpolates sampled pair p (its leverage is 1).
_INTERPOLATED = 1e-8
# Ridge on the interaction coefficients of an order-3 fit, relative to their mean curvature
# (0.001: 1.2x lower error at 2048 coalitions on 16 features, within 10% elsewhere; 0.01 and
# more: higher error on every bench problem).
INTERACTION_RIDGE = 0.001
# A Cholesky factor of X^T W X whose diagonal spans more than this ratio: solve the KKT system.
_WELL_CONDITIONED = 1e-7
# Bound on the entries of a design's leave-one-pair-out operators (N x d x c).
_MAX_JACKKNIFE_ENTRIES = 20_000_000


def default_num_samples(n_features: int) -> int:
    """Clarify's and shap's default budget: min(2d + 2048, 2^d - 2) coalitions.

    Examples
    --------
    >>> from explainops.explainers.coalition_design import default_num_samples
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


def kernel_design(
    n_features: int,
    num_samples: int,
    seed: Seed,
    *,
    enumerate_singletons: bool = False,
) -> KernelDesign:
    """Choose the coalitions for ``num_samples`` model evaluations per sample and baseline row.

    With a budget covering all 2^d - 2 proper coalitions, all are enumerated. Otherwise coalition
    sizes are enumerated completely, in order of kernel weight (sizes s and d - s together), while
    the budget allows, and the rest of the kernel mass is covered by paired sampling: a coalition
    of a size drawn by kernel weight and its complement, duplicates evaluated once and weighted by
    their count. With ``enumerate_singletons``, sizes 1 and d - 1 are enumerated whenever the
    budget holds their 2d coalitions, even where their share of the kernel mass would not cover
    them: a paired design with all of them is exact on games of pairwise interactions, and from
    2d + 2 coalitions on they lower the error of every game measured (docs/explainers.md).

    Parameters
    ----------
    n_features : int
        Number of features d.
    num_samples : int
        Budget of distinct coalitions to evaluate.
    seed : int, sequence of int, or None
        Seed of the sampling (unused when every coalition is enumerated).
    enumerate_singletons : bool, default=False
        Enumerate sizes 1 and d - 1 whenever the budget holds them.

    Returns
    -------
    KernelDesign
        ``masks`` (c, d), ``weights`` (c,), ``draws`` (N, 2) and ``counts`` (c,).

    Examples
    --------
    >>> from explainops.explainers.coalition_design import kernel_design
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
    rng = np.random.default_rng(seed)
    return _enumerated_and_sampled_design(n_features, num_samples, rng, enumerate_singletons)


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


def _enumerated_part(
    n_features: int, budget: int, enumerate_singletons: bool = False
) -> tuple[list[BoolArray], list[FloatArray], int, int]:
    """The sizes a budget enumerates: their masks and weights, the first sampled size, the rest.

    Sizes s and d - s are enumerated together, in order of kernel weight, while the budget's
    share of the remaining kernel mass covers all their coalitions (sizes 1 and d - 1 whenever
    the budget holds them, with ``enumerate_singletons``).
    """
    size_weights = _size_weights(n_features)
    n_paired = (n_features - 1) // 2
    masks: list[BoolArray] = []
    weights: list[FloatArray] = []
    remaining = size_weights.copy()
    for size in range(1, len(size_weights) + 1):
        n_coalitions = comb(n_features, size) * (2 if size <= n_paired else 1)
        forced = enumerate_singletons and size == 1 and budget >= n_coalitions
        if not forced and budget * remaining[size - 1] / remaining.sum() < n_coalitions - 1e-8:
            return masks, weights, size, budget
        masks.append(_coalitions_of_size(n_features, size, size <= n_paired))
        weights.append(np.full(n_coalitions, size_weights[size - 1] / n_coalitions))
        budget -= n_coalitions
        remaining[size - 1] = 0.0
    return masks, weights, len(size_weights) + 1, budget


def _combined_design(
    n_features: int,
    enumerated: tuple[list[BoolArray], list[FloatArray], int, int],
    pairs: BoolArray,
) -> KernelDesign:
    """Enumerated sizes plus sampled (coalition, complement) ``pairs`` (N, 2, d) of the rest."""
    enumerated_masks, enumerated_weights, first_sampled_size, _ = enumerated
    sampled_masks, draws, counts, _ = _distinct_pairs(pairs, n_features)
    n_enumerated = sum(masks.shape[0] for masks in enumerated_masks)
    sampled_mass = float(_size_weights(n_features)[first_sampled_size - 1 :].sum())
    sampled_weights = sampled_mass * counts / max(1, 2 * draws.shape[0])
    masks = np.concatenate([*enumerated_masks, sampled_masks]).reshape(-1, n_features)
    weights = np.concatenate([*enumerated_weights, sampled_weights])
    return KernelDesign(
        masks=masks,
        weights=weights / weights.sum(),
        draws=draws + n_enumerated,
        counts=np.concatenate([np.zeros(n_enumerated), counts]),
    )


def _enumerated_and_sampled_design(
    n_features: int, num_samples: int, rng: np.random.Generator, enumerate_singletons: bool
) -> KernelDesign:
    enumerated = _enumerated_part(n_features, num_samples, enumerate_singletons)
    first_sampled_size, budget = enumerated[2], enumerated[3]
    size_weights = _size_weights(n_features)
    pairs = _sample_pairs(
        n_features, size_weights[first_sampled_size - 1 :], first_sampled_size, budget, rng
    )
    return _combined_design(n_features, enumerated, pairs)


def _random_pairs(
    n_features: int, size_mass: FloatArray, first_size: int, n_pairs: int, rng: np.random.Generator
) -> tuple[BoolArray, IntArray]:
    """``n_pairs`` (coalition, complement) pairs (N, 2, d), sizes drawn by ``size_mass``."""
    sizes = first_size + rng.choice(size_mass.shape[0], size=n_pairs, p=size_mass / size_mass.sum())
    ranks = rng.random((n_pairs, n_features)).argsort(axis=1).argsort(axis=1)
    subsets = ranks < sizes[:, None]
    return np.stack([subsets, ~subsets], axis=1), np.asarray(sizes, dtype=np.int64)


def _distinct_pairs(
    pairs: BoolArray, n_features: int
) -> tuple[BoolArray, IntArray, FloatArray, IntArray]:
    """Distinct coalitions of ``pairs`` (N, 2, d) in order of first occurrence.

    Returns their masks (c, d), each draw's two indices into them (N, 2), their counts (c,) and
    the number of distinct coalitions after each draw (N,).
    """
    if pairs.shape[0] == 0:
        return (
            np.zeros((0, n_features), np.bool_),
            np.zeros((0, 2), np.int64),
            np.zeros(0),
            np.zeros(0, np.int64),
        )
    flat = pairs.reshape(-1, n_features)
    codes = np.packbits(flat, axis=1)
    _, first_seen, inverse = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    is_new = np.zeros(codes.shape[0], dtype=np.int64)
    is_new[first_seen] = 1
    distinct_after_draw = np.cumsum(is_new).reshape(-1, 2)[:, 1]
    order = np.sort(first_seen)
    position = np.empty(codes.shape[0], dtype=np.int64)
    position[order] = np.arange(order.shape[0])
    draw_index = position[first_seen[inverse.reshape(-1)]].reshape(-1, 2)
    counts = np.bincount(draw_index.reshape(-1), minlength=order.shape[0]).astype(np.float64)
    return flat[order], draw_index, counts, distinct_after_draw


def _sample_pairs(
    n_features: int, size_mass: FloatArray, first_size: int, budget: int, rng: np.random.Generator
) -> BoolArray:
    """Draw (coalition, complement) pairs (N, 2, d) until ``budget`` distinct coalitions."""
    if budget < 2 or size_mass.shape[0] == 0:
        return np.zeros((0, 2, n_features), np.bool_)
    chunk = max(64, budget)
    drawn: list[BoolArray] = []
    for _ in range(_MAX_DRAWS_PER_COALITION * budget // chunk + 1):
        drawn.append(_random_pairs(n_features, size_mass, first_size, chunk, rng)[0])
        distinct_after_draw = _distinct_pairs(np.concatenate(drawn), n_features)[3]
        if distinct_after_draw[-1] >= budget:
            break
    n_draws = int(np.searchsorted(distinct_after_draw, budget, side="right"))
    return np.concatenate(drawn)[:n_draws]


@dataclass(frozen=True)
class AdaptiveRound:
    """One round of ``num_samples="auto"``: its design, solve and coalitions' columns.

    ``columns`` are the indices of the design's coalitions (in the design's order) among
    :attr:`AdaptiveDesigns.masks`; a round's coalitions are those of the previous round and
    more, so they are the first ``len(columns)`` columns.
    """

    columns: IntArray
    design: KernelDesign
    order: int = 1  # of the fit (:meth:`KernelSolver.for_design`)

    @cached_property
    def solver(self) -> KernelSolver:
        """The round's solve, made when first needed (most samples stop at the early rounds)."""
        return KernelSolver.for_design(self.design, self.order)


def round_budgets(first_budget: int, max_samples: int) -> list[int]:
    """The budgets of the rounds: ``first_budget``, doubled each round, the last ``max_samples``.

    Examples
    --------
    >>> from explainops.explainers.coalition_design import round_budgets
    >>> round_budgets(128, 1000)
    [128, 256, 512, 1000]

    """
    budgets = [min(first_budget, max_samples)]
    while budgets[-1] < max_samples:
        budgets.append(min(2 * budgets[-1], max_samples))
    return budgets


class AdaptiveDesigns:
    """Nested designs of growing budget, and the union of their coalitions, made as needed.

    Every round enumerates the sizes its budget covers (as :func:`kernel_design`, with
    ``enumerate_singletons`` too) and takes the rest from one seeded stream of paired draws over
    all sizes, skipping the draws of sizes it enumerates (which leaves the draws of the other
    sizes distributed by kernel weight, as a fixed design samples them). A round takes at least
    the stream prefix of the round before, so its coalitions include the earlier rounds': a
    sample moving to the next round keeps every value it has. A budget covering all 2^d - 2
    proper coalitions enumerates them and ends the rounds. ``order``: the order of each round's
    fit from its budget (:meth:`KernelSolver.for_design`); None: 1.

    The union lists every coalition once, in the order the rounds first need them, so round r
    needs only the columns :meth:`new_columns` (``r``) evaluated beyond those of round r - 1.
    A round is drawn the first time it is asked for (most samples stop at the first rounds, and
    the stream's later draws cost the most); the rounds are the same whenever they are drawn.
    """

    def __init__(
        self,
        n_features: int,
        first_budget: int,
        max_samples: int,
        seed: Seed,
        enumerate_singletons: bool = False,
        order: Callable[[int], int] | None = None,
    ) -> None:
        self.n_features = n_features
        n_proper = 2**n_features - 2
        budgets = []
        for budget in round_budgets(first_budget, max_samples):
            budgets.append(budget)
            if budget >= n_proper or n_features < 2:
                break
        self.budgets = tuple(budgets)
        # the union holds at most the last round's coalitions (the rounds are nested)
        self.capacity = min(self.budgets[-1], max(n_proper, 0))
        self._seed = seed
        self._enumerate_singletons = enumerate_singletons
        self._order = order
        self._rng = np.random.default_rng(seed)
        self._stream_pairs = np.zeros((0, 2, n_features), np.bool_)
        self._stream_sizes = np.zeros(0, np.int64)
        self._consumed = 0  # stream positions taken by the rounds so far
        self._index_of: dict[bytes, int] = {}
        self._union: list[BoolArray] = []
        self._rounds: list[AdaptiveRound] = []
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]  # a lock does not pickle (explainers go to Dask workers)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def n_rounds(self) -> int:
        """How many rounds there are (the last one at ``max_samples`` or every coalition)."""
        return len(self.budgets)

    def round(self, index: int) -> AdaptiveRound:
        """Round ``index``, drawn (with every round before it) if not yet."""
        with self._lock:
            while len(self._rounds) <= index:
                self._draw_round(self.budgets[len(self._rounds)])
            return self._rounds[index]

    @property
    def rounds(self) -> tuple[AdaptiveRound, ...]:
        """Every round (all drawn)."""
        return tuple(self.round(index) for index in range(self.n_rounds))

    @property
    def masks(self) -> BoolArray:
        """(C, d): every round's coalitions, once each (all rounds drawn)."""
        self.round(self.n_rounds - 1)
        return np.array(self._union, dtype=np.bool_).reshape(-1, self.n_features)

    def new_columns(self, round_index: int) -> slice:
        """The columns of the union that round ``round_index`` adds to the previous rounds."""
        start = 0 if round_index == 0 else self.round(round_index - 1).columns.shape[0]
        return slice(start, self.round(round_index).columns.shape[0])

    def new_masks(self, round_index: int) -> BoolArray:
        """(c, d): the coalitions round ``round_index`` adds, in the union's order."""
        new = self.new_columns(round_index)
        return np.array(self._union[new], dtype=np.bool_).reshape(-1, self.n_features)

    def _draw_round(self, budget: int) -> None:
        n_features = self.n_features
        if budget >= 2**n_features - 2 or n_features < 2:
            design = kernel_design(n_features, max(budget, 1), self._seed)
        else:
            enumerated = _enumerated_part(n_features, budget, self._enumerate_singletons)
            first_sampled_size, remaining = enumerated[2], enumerated[3]
            size_weights = _size_weights(n_features)
            while True:
                accepted = np.flatnonzero(self._stream_sizes >= first_sampled_size)
                distinct = _distinct_pairs(self._stream_pairs[accepted], n_features)[3]
                enough = distinct.shape[0] > 0 and distinct[-1] >= remaining
                exhausted = self._stream_pairs.shape[0] >= _MAX_DRAWS_PER_COALITION * budget
                if remaining < 2 or enough or exhausted:
                    break
                pairs, sizes = _random_pairs(n_features, size_weights, 1, _STREAM_CHUNK, self._rng)
                self._stream_pairs = np.concatenate([self._stream_pairs, pairs])
                self._stream_sizes = np.concatenate([self._stream_sizes, sizes])
            n_draws = 0 if remaining < 2 else int(np.searchsorted(distinct, remaining, "right"))
            n_draws = max(n_draws, int(np.sum(accepted < self._consumed)))
            taken = accepted[:n_draws]
            self._consumed = max(self._consumed, int(taken[-1]) + 1 if taken.shape[0] else 0)
            design = _combined_design(n_features, enumerated, self._stream_pairs[taken])
        columns = np.empty(design.masks.shape[0], dtype=np.int64)
        for position, code in enumerate(np.packbits(design.masks, axis=1)):
            key = code.tobytes()
            if key not in self._index_of:
                self._index_of[key] = len(self._union)
                self._union.append(design.masks[position])
            columns[position] = self._index_of[key]
        if not np.array_equal(np.sort(columns), np.arange(len(self._union))):
            raise AssertionError("adaptive designs must be nested")  # pragma: no cover
        order = 1 if self._order is None else self._order(budget)
        self._rounds.append(AdaptiveRound(columns, design, order))


@dataclass(frozen=True)
class InteractionBasis:
    """The regression's functions of a coalition: its features, and their pairs and triples.

    Kernel SHAP regresses v(S) on the d indicators z_j. With ``order=3`` the regression also has
    one indicator per pair (z_i z_j) and per triple of features (z_i z_j z_k), and the values are
    the Shapley values of the fitted game: an interaction's coefficient is shared equally by its
    features. A design covering every coalition gives the exact values at any order (the
    additive fit of the fitted game is that of v); sampled designs give lower error where the
    game has interactions of three features, at the price of d + C(d, 2) + C(d, 3) unknowns.
    """

    n_features: int
    order: int = 1

    @property
    def interactions(self) -> tuple[IntArray, IntArray]:
        """The pairs (q, 2) and triples (t, 3) of features in the basis; none for order 1."""
        if self.order < 3:
            return np.zeros((0, 2), np.int64), np.zeros((0, 3), np.int64)
        features = range(self.n_features)
        pairs = np.array(list(combinations(features, 2)), np.int64).reshape(-1, 2)
        triples = np.array(list(combinations(features, 3)), np.int64).reshape(-1, 3)
        return pairs, triples

    @property
    def size(self) -> int:
        """Number of coefficients p."""
        if self.order < 3:
            return self.n_features
        return self.n_features + comb(self.n_features, 2) + comb(self.n_features, 3)

    def columns(self, masks: BoolArray) -> FloatArray:
        """The basis functions (c, p) at each coalition."""
        z = masks.astype(np.float64)
        if self.order < 3:
            return z
        pairs, triples = self.interactions
        return np.concatenate(
            [
                z,
                z[:, pairs[:, 0]] * z[:, pairs[:, 1]],
                z[:, triples[:, 0]] * z[:, triples[:, 1]] * z[:, triples[:, 2]],
            ],
            axis=1,
        )

    def values_from(self, coefficients: FloatArray) -> FloatArray:
        """The Shapley values of the fitted game, from its coefficients (p, ...) to (d, ...)."""
        if self.order < 3:
            return coefficients
        return np.asarray(self.to_values() @ coefficients, dtype=np.float64)

    def to_values(self) -> FloatArray:
        """The map (d, p) from the fitted game's coefficients to its Shapley values."""
        shares = np.zeros((self.n_features, self.size))
        shares[:, : self.n_features] = np.eye(self.n_features)
        start = self.n_features
        for members in self.interactions:
            columns = start + np.arange(members.shape[0])
            for member in range(members.shape[1]):
                shares[members[:, member], columns] = 1.0 / members.shape[1]
            start += members.shape[0]
        return shares


def _solve_kkt(
    masks: BoolArray, weights: FloatArray, basis: InteractionBasis, ridge: float = 0.0
) -> tuple[FloatArray, FloatArray]:
    """The operator (p, c) and offset (p,) of the fit's coefficients, from Kernel SHAP's KKT system.

    minimise sum_j w_j (y_j - x_j . beta)^2 subject to sum(beta) = delta (the fitted game's value
    at the full coalition, where every basis function is one); beta = operator @ y + delta * offset.
    With G = X^T W X positive definite the constraint is eliminated in closed form (one Cholesky
    factor); otherwise (a design that leaves some coefficient undetermined) the minimum-norm
    solution of the whole KKT system is taken.
    """
    x = basis.columns(masks)
    size = basis.size
    weighted = x * weights[:, None]
    gram = x.T @ weighted
    if size > masks.shape[1] and ridge > 0:
        # a ridge on the interactions' coefficients (never on the features'): their estimates
        # from one or two coalitions per coefficient are noisy
        interactions = np.arange(masks.shape[1], size)
        scale = float(np.mean(np.diag(gram)[interactions]))
        gram[interactions, interactions] += ridge * scale
    factor: FloatArray | None
    try:
        factor = np.asarray(np.linalg.cholesky(gram), dtype=np.float64)
    except np.linalg.LinAlgError:
        factor = None
    diagonal = np.abs(np.diag(factor)) if factor is not None else np.zeros(1)
    if factor is not None and diagonal.min() > _WELL_CONDITIONED * diagonal.max():
        # G^-1 [X^T W, 1] by two triangular solves
        right = np.concatenate([weighted.T, np.ones((size, 1))], axis=1)
        solved = _cholesky_solve(factor, right)
        unconstrained, towards_ones = solved[:, :-1], solved[:, -1]
        offset = towards_ones / towards_ones.sum()
        operator = unconstrained - np.outer(offset, unconstrained.sum(axis=0))
        return np.asarray(operator, dtype=np.float64), np.asarray(offset, dtype=np.float64)
    kkt = np.zeros((size + 1, size + 1))
    kkt[:size, :size] = gram
    kkt[:size, size] = 1.0
    kkt[size, :size] = 1.0
    rhs = np.zeros((size + 1, masks.shape[0] + 1))
    rhs[:size, :-1] = weighted.T
    rhs[size, -1] = 1.0
    solution = np.asarray(np.linalg.lstsq(kkt, rhs, rcond=None)[0], dtype=np.float64)
    return solution[:size, :-1], solution[:size, -1]


def _rows_times(left: npt.NDArray[Any], right: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The product left (..., a) @ right (a, b), as one matrix product over all leading axes.

    numpy's matmul of an (n, k, a) stack by an (a, b) matrix runs n separate products of k rows,
    which for k = 1 (one output) are matrix-vector products several times slower than one.
    """
    flat = np.asarray(left.reshape(-1, left.shape[-1]) @ right)
    return flat.reshape(*left.shape[:-1], right.shape[-1])


def _cholesky_solve(factor: FloatArray, right: FloatArray) -> FloatArray:
    """G^-1 right for G = factor factor^T, factor lower triangular."""
    half = solve_triangular(factor, right, lower=True, check_finite=False)
    return np.asarray(
        solve_triangular(factor.T, half, lower=False, check_finite=False), dtype=np.float64
    )


@dataclass(frozen=True)
class PairBlocks:
    """Per sampled draw p: the estimate's move when p is left out, as a product of its residuals.

    Leaving draw p out moves the values by t_p = A_p (I - H_p)^-1 r_p: A_p (d, 2) the
    operator's columns at the draw's two coalitions divided by their counts, H_p = X_p C_p the
    pair's block of the hat matrix (X the basis functions at the pair's coalitions, C the
    coefficients' operator) and r_p the regression's residuals there. A_p (I - H_p)^-1 is the
    same for every game, so it is formed once: ``moves`` (2N, d) holds its two columns as rows,
    in the order of ``drawn`` (2N,), the draws' coalitions (each draw's two in turn), so that
    the sum over the draws of t_p is the residuals at ``drawn`` times ``moves``. ``determinant``
    (N,) is det(I - H_p); ``drawn_columns`` (q, 2N) the basis functions at ``drawn``.
    """

    moves: FloatArray
    determinant: FloatArray
    drawn: IntArray
    drawn_columns: FloatArray
    has_interpolated_pair: bool  # the fit interpolates some pair (leverage 1: I - H_p singular)

    @cached_property
    def squared_moves(self) -> FloatArray:
        """(3N, d): the terms of t_p^2 in r_1^2, r_1 r_2 and r_2^2 (r_1, r_2 a draw's residuals)."""
        a, b = self.moves[0::2], self.moves[1::2]
        return np.ascontiguousarray(np.concatenate([a**2, 2 * a * b, b**2]))

    @classmethod
    def of(
        cls,
        operator: FloatArray,
        coefficients: FloatArray,
        columns: FloatArray,
        design: KernelDesign,
    ) -> PairBlocks:
        """Blocks of the draws: the values' ``operator`` (d, c), ``coefficients`` (p, c)."""
        first, second = design.draws[:, 0], design.draws[:, 1]
        counts = np.maximum(design.counts, 1.0)
        per_count = operator / counts
        coefficient_per_count = coefficients / counts
        a, b = per_count[:, first], per_count[:, second]
        ca, cb = coefficient_per_count[:, first], coefficient_per_count[:, second]
        keep_00 = 1.0 - np.sum(columns[first] * ca.T, axis=1)  # I - H_p, entry by entry
        keep_01 = -np.sum(columns[first] * cb.T, axis=1)
        keep_10 = -np.sum(columns[second] * ca.T, axis=1)
        keep_11 = 1.0 - np.sum(columns[second] * cb.T, axis=1)
        determinant = keep_00 * keep_11 - keep_01 * keep_10
        interpolated = bool(np.any(np.abs(determinant) < _INTERPOLATED))
        moves = np.empty((2 * first.shape[0], operator.shape[0]))
        with np.errstate(divide="ignore", invalid="ignore"):  # interpolated: never used
            # (I - H_p)^-1 = [[k11, -k01], [-k10, k00]] / det: y1 = (k11 r1 - k01 r2) / det,
            # y2 = (k00 r2 - k10 r1) / det, and t_p = a y1 + b y2
            moves[0::2] = ((a * keep_11 - b * keep_10) / determinant).T
            moves[1::2] = ((b * keep_00 - a * keep_01) / determinant).T
        drawn = design.draws.reshape(-1)
        return cls(
            moves,
            determinant,
            drawn,
            np.ascontiguousarray(columns[drawn].T),
            interpolated,
        )


@dataclass(frozen=True)
class KernelSolver:
    """Closed-form solution of the efficiency-constrained weighted least squares of Kernel SHAP.

    minimise sum_j w_j (y_j - x_j . beta)^2 subject to sum(beta) = delta, for y = v(S) - v(empty),
    delta = v(all) - v(empty) and x_j the basis functions at coalition j (the feature indicators
    z_j, and their triples for an order-3 :class:`InteractionBasis`); the values are the Shapley
    values of the fitted game. The KKT system is the same for every sample, so
    phi = y @ operator.T + delta * offset (and beta likewise, with ``coefficients``).

    When some sampled pair is interpolated by the fit (its 2 x 2 hat block has I - H singular,
    as happens with about p sampled pairs for p coefficients), the first-order leave-one-out
    formula of :meth:`standard_errors` breaks down; the design's leave-one-pair-out operators
    (N, d, c) and offsets (N, d) are then solved here, once, for an exact jackknife.
    """

    operator: FloatArray  # (d, c)
    offset: FloatArray  # (d,)
    pairs: PairBlocks | None = None  # with 2 or more sampled draws
    jackknife_operators: FloatArray | None = None  # (N, d, c)
    jackknife_offsets: FloatArray | None = None  # (N, d)
    basis: InteractionBasis | None = None  # None: the feature indicators (order 1)
    coefficients: FloatArray | None = None  # (p, c), for a basis of order 3
    coefficient_offset: FloatArray | None = None  # (p,)

    @classmethod
    def for_design(
        cls, design: KernelDesign, order: int = 1, ridge: float = INTERACTION_RIDGE
    ) -> KernelSolver:
        """Solve the KKT system of ``design`` once (and its jackknife when it needs one).

        ``order=3`` fits pairs and triples of features too (:class:`InteractionBasis`), their
        coefficients under a ``ridge``; a design on which that fit interpolates some sampled
        pair gets the order-1 fit instead.
        """
        basis = InteractionBasis(design.masks.shape[1], order)
        coefficients, coefficient_offset = _solve_kkt(design.masks, design.weights, basis, ridge)
        interacting = order > 1  # of order 1 the coefficients are the values: no second copy
        solver = cls(
            basis.values_from(coefficients),
            basis.values_from(coefficient_offset),
            basis=basis if interacting else None,
            coefficients=coefficients if interacting else None,
            coefficient_offset=coefficient_offset if interacting else None,
        )
        n_draws = design.draws.shape[0]
        if n_draws < 2:
            return solver
        pairs = PairBlocks.of(solver.operator, coefficients, basis.columns(design.masks), design)
        if interacting and pairs.has_interpolated_pair:
            # its exact jackknife would cost a solve of the larger system per pair
            return cls.for_design(design)
        if (
            not pairs.has_interpolated_pair
            or n_draws * solver.operator.size > _MAX_JACKKNIFE_ENTRIES
        ):
            # no interpolated pair: the closed form serves; one, but the jackknife is too large
            # to hold: standard_errors reports the spread as unknown (NaN)
            return replace(solver, pairs=pairs)
        sampled = design.counts > 0
        per_draw = design.weights[sampled] / design.counts[sampled]  # the same for every draw
        operators = np.zeros((n_draws, *solver.operator.shape))
        offsets = np.zeros((n_draws, solver.offset.shape[0]))
        for draw in range(n_draws):
            counts = design.counts.copy()
            np.subtract.at(counts, design.draws[draw], 1.0)
            weights = design.weights.copy()
            weights[sampled] = counts[sampled] * per_draw * n_draws / (n_draws - 1)
            kept = weights > 0
            left_out, left_out_offset = _solve_kkt(design.masks[kept], weights[kept], basis, ridge)
            operators[draw][:, kept] = basis.values_from(left_out)
            offsets[draw] = basis.values_from(left_out_offset)
        return replace(
            solver, pairs=pairs, jackknife_operators=operators, jackknife_offsets=offsets
        )

    def solve(self, centred_values: FloatArray, delta: FloatArray) -> FloatArray:
        """SHAP values (n, k, d) from centred coalition values (n, k, c) and delta (n, k)."""
        return np.asarray(
            _rows_times(centred_values, self.operator.T) + delta[..., None] * self.offset,
            dtype=np.float64,
        )

    def _fit(self, centred_values: FloatArray, values: FloatArray) -> FloatArray:
        """The fit's coefficients (n, k, q): of order 1 the values themselves, else beta."""
        if self.basis is None or self.coefficients is None or self.coefficient_offset is None:
            return values
        delta = values.sum(axis=-1)  # efficiency: the values add up to v(all) - v(empty)
        beta = _rows_times(centred_values, self.coefficients.T)
        beta += delta[..., None] * self.coefficient_offset
        return np.asarray(beta, dtype=np.float64)

    def standard_errors(
        self, centred_values: FloatArray, values: FloatArray, design: KernelDesign
    ) -> FloatArray:
        """Standard errors (n, k, d) of the estimate: a jackknife over the sampled pairs.

        The estimate moves by t_p = A_p (I - H_p)^-1 r_p when draw p is left out: r_p the
        regression residuals y_j - x_j . beta at its two coalitions, A_p the two columns of the
        operator divided by the coalitions' counts, H_p the pair's 2 x 2 block of the hat
        matrix (the leave-one-out identity of least squares, HC3). The variance of phi is N
        times the sample variance of t_p over the N draws. Without the (I - H_p)^-1 factor (the
        plain sandwich, HC0) the residuals are those of a fit that has already bent towards each
        pair, and with a few dozen pairs for d features the errors come out several times too
        small. Where a pair is interpolated (I - H_p singular) the leave-one-pair-out estimates
        are solved exactly instead (``jackknife_operators``). Enumerated coalitions carry no
        sampling error; with a single sampled pair the spread is unknown and the standard
        errors are NaN.
        """
        n_draws = design.draws.shape[0]
        shape = values.shape
        if n_draws == 0:
            return np.zeros(shape)
        if n_draws == 1:  # one sampled pair cannot show its own spread: the error is unknown
            return np.full(shape, np.nan)
        if self.jackknife_operators is not None and self.jackknife_offsets is not None:
            return self._jackknife_errors(centred_values, values)
        if self.pairs is None or self.pairs.has_interpolated_pair:  # no jackknife affordable
            return np.full(shape, np.nan)
        pairs = self.pairs
        residuals = centred_values[..., pairs.drawn]
        residuals -= _rows_times(self._fit(centred_values, values), pairs.drawn_columns)
        return self.spread(residuals)

    @property
    def has_closed_form_errors(self) -> bool:
        """Whether :meth:`standard_errors` is :meth:`spread` of the residuals at the draws."""
        return (
            self.jackknife_operators is None
            and self.pairs is not None
            and not self.pairs.has_interpolated_pair
        )

    def spread(self, residuals: FloatArray) -> FloatArray:
        """The jackknife errors (n, k, d) from the fit's residuals (n, k, 2N) at the draws.

        The residuals at each draw's two coalitions in turn (``pairs.drawn``); only where
        :attr:`has_closed_form_errors` (see :meth:`standard_errors`).
        """
        assert self.pairs is not None
        n_draws = self.pairs.determinant.shape[0]
        r1, r2 = residuals[..., 0::2], residuals[..., 1::2]
        products = np.empty((*residuals.shape[:-1], 3 * n_draws))
        np.multiply(r1, r1, out=products[..., :n_draws])
        np.multiply(r1, r2, out=products[..., n_draws : 2 * n_draws])
        np.multiply(r2, r2, out=products[..., 2 * n_draws :])
        # sums over the draws of t_p and of t_p^2, each as one product (in double precision: the
        # engines' tests compare errors computed on other thread counts to 1e-12)
        total = _rows_times(residuals, self.pairs.moves)
        squares = _rows_times(products, self.pairs.squared_moves)
        variance = (squares - total**2 / n_draws) / (n_draws - 1)
        return np.asarray(np.sqrt(n_draws * np.maximum(variance, 0.0)), dtype=np.float64)

    def _jackknife_errors(self, centred_values: FloatArray, values: FloatArray) -> FloatArray:
        """sqrt((N - 1) / N * sum over draws of (phi_-p - mean)^2), a few samples at a time."""
        assert self.jackknife_operators is not None and self.jackknife_offsets is not None
        n_draws, n_features, _ = self.jackknife_operators.shape
        delta = values.sum(axis=-1)  # efficiency: the values add up to v(all) - v(empty)
        errors = np.empty(values.shape)
        per_sample = n_draws * values.shape[1] * n_features
        step = max(1, MAX_VALUES_IN_MEMORY // per_sample)
        for start in range(0, values.shape[0], step):
            part = slice(start, start + step)
            left_out = np.einsum("nkc,pdc->pnkd", centred_values[part], self.jackknife_operators)
            left_out += delta[None, part, :, None] * self.jackknife_offsets[:, None, None, :]
            errors[part] = np.sqrt((n_draws - 1) * left_out.var(axis=0))
        return errors
