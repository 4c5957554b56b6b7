"""Single-index control variates: Kernel SHAP on what a smooth function of the values leaves.

A stratum's game v(S) = f(x_S, b_rest) is, for most models, close to a smooth function of one
index: for a logistic model exactly v(S) = sigmoid(c + sum_{j in S} delta_j), and a network or a
boosted ensemble is near one in the directions its rows vary. Kernel SHAP's order-1 regression,
on a paired design, is exact on interactions of up to two features; its error comes from the
higher ones, which such a function has in plenty. So each order-1 stratum fits, beside its
additive fit phi, a control game

    g(S) = sum_p a_p ((t(S) - T/2)^p - (-T/2)^p),  t(S) = sum_{j in S} beta_j,  p in POWERS,

with beta the current values (scaled) and T their sum: odd powers of the index centred at the
midpoint of the coalition and its complement, the only part a paired design gets wrong. The
coefficients a are the weighted least squares fit of the regression's residuals on the columns'
residuals (a joint fit of the additive part and the control, by Frisch-Waugh). The estimate is
then Kernel SHAP of the residual game v - g plus the *exact* Shapley values of g, which for a
power of a weighted sum of coalition indicators have a closed form (Owen's multilinear
extension, :func:`power_values`). The fitted values give a better index, so the fit is repeated
:data:`ITERATIONS` times. This is the regression-adjusted estimator of Witter, Liu & Musco
(2025) with a surrogate whose Shapley values are exact and cost O(d) a row.

What holds: the values add up exactly (g's exact values and its Kernel SHAP estimate both add up
to g(all) - g(empty)); an additive game leaves no residual, so a = 0 and the values are exact;
each row is computed on its own, so results do not depend on batching.

Standard errors. The coefficients and the index are fitted to the very coalitions whose error
they correct, so a jackknife holding them fixed sees residuals that the fit has already bent
towards (95% intervals covered 72-80% of the exact values at 64-200 coalitions). They are
therefore cross-fitted: the sampled pairs are split in two halves; the control fitted on one
half is held fixed while Kernel SHAP of the residual game is computed on the other half (with
the enumerated coalitions), whose jackknife is then honest; the two halves' errors are combined
as those of their mean. Measured against exact values (gbm12, logit13, mlp16 at 64 and 200
coalitions), that is the error of the cross-fitted estimate, the mean of the two halves'
estimates, to within 1-15%; but the reported estimate, a regression on all the pairs at once, has
2-26% less: a regression on half the pairs pays more than half for its noisier Gram matrix. That
split penalty is measured on the plain order-1 game, whose jackknife on the whole design and on
the halves is the same estimator of the same kind: the cross-fitted variance of a row is scaled
by the plain game's whole-design variance over its halves' (summed over the features, clipped to
[1/2, 1]; where either is unknown, NaN or infinite, it is not scaled). From
:data:`SPLIT_MEASURED_BELOW` sampled pairs a feature on, where the penalty is small (that factor
was 0.94-0.97 on the bench problems) and its three more jackknives would add half to the
control's time, the cross-fitted variance is kept as it is, on the safe side (docs/explainers.md
gives the coverage measured).

The control's coefficient noise. Linearised, a control fitted on m pairs and applied on n adds
B / (m n) to the variance: the cross-fitted estimate carries it twice (m = n / 2), the reported
one once. The two halves' controls applied to the whole design show it: their estimates differ by
the control game's sampling error at two independently fitted coefficient sets, and a quarter of
that difference squared estimates B / n^2. It is taken out of each row's variance (summed over
the features, keeping at least :data:`SPLIT_FLOOR` of it): after the split penalty where each
half fits alone, and from the whole design's variance where the halves are too small (below).

Halves barely large enough. With fewer than :data:`OPTIMISM_BELOW` pairs a feature in each
half (200 coalitions on 30 features: 35 pairs a half for a 30-weight index), a half's control is
far worse than the whole design's: the cross-fitted estimate had 2.4x the reported one's squared
error, and its intervals covered 98.7-99.0%. The variance is then the whole design's own
jackknife with its own control held fixed, which is optimistic (the control bent towards those
pairs: 2.1x too small there), scaled by the optimism the halves show. Each half's jackknife is
taken twice, with the other half's control and with its own; for a fit of p effective parameters
on m pairs their ratio is about (1 + p/m) / (1 - p/m), which gives p/m, and the whole design,
on twice the pairs, is scaled by (1 + p/n) / (1 - p/n) with p/n half of it (the classical cost of
estimated control-variate coefficients, and the optimism of a training error). The ratio is
pooled over the features and over a row's saturated strata, whose games share the model: one
stratum's is noisy (its 5-95% range was 1.2-26). Intervals then covered 93.8% and 96.0% on
logit30 and gbm30 at 200 coalitions over ten seeds (:func:`optimism_factor`).

Halves too small. With fewer pairs a half than :data:`MIN_PAIRS_FOR_CONTROL` or than features
(64 coalitions on 12-16 features: 8-10), a
half's own jackknife rests on too few pairs to judge a control (95% intervals covered 92.1% on
mlp16 over ten seeds: too narrow). Each half's control is then held fixed and judged on the
whole design instead, the mean of the two jackknife variances of the game it leaves; half of
those pairs fitted it (optimistic) and it was fitted on half of them (pessimistic), so it carries
the coefficient noise of a control fitted on half the pairs, twice the whole design's: with the
excess taken out as above, 94.0-96.5% over ten seeds (96.5-97.4% with it left in).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from math import comb

import numpy as np
import numpy.typing as npt

from explainops.explainers._compiled import (
    control_coefficients,
    odd_power_game,
    pair_differences,
    paired_power_moments,
    power_shapley_values,
)
from explainops.explainers.coalition_design import KernelDesign, KernelSolver, _rows_times

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Odd powers of the centred index in the control game (even ones a paired design fits exactly;
# a seventh power overfitted at 200 coalitions on 16 and 30 features). Exactly these two:
# paired_power_moments makes both in one pass over the complementary pairs, written out for them (an
# odd power of the centred index changes sign at a coalition's complement), and
# control_coefficients solves their 2 x 2 systems.
POWERS = (3, 5)
# Fits of the control, each with the index from the values of the one before.
ITERATIONS = 3
# Ridge on the control's coefficients, relative to their mean curvature (steadies the fit where
# the powers are nearly collinear on few pairs).
CONTROL_RIDGE = 1e-3
# A stratum needs this many sampled pairs for a control (with 10, on a game of a strong three-way
# product, the control's halves were too noisy to tell a real gain: 95% intervals covered 88%).
MIN_PAIRS_FOR_CONTROL = 16
# Below this many sampled pairs a feature the split penalty of the cross-fitted standard errors is
# measured and taken out; from it on they are kept as cross-fitted (see the module's docstring).
SPLIT_MEASURED_BELOW = 32
# The plain game's whole-design variance over its halves' is clipped to [SPLIT_FLOOR, 1]: an
# estimate on all the pairs has at most the variance of the mean of two on halves, and at least
# half of it (the mean of two independent halves' estimates of a linear estimator has that of one
# on all the pairs; the penalty of a nonlinear one is bounded here by that factor of 2).
SPLIT_FLOOR = 0.5
# Below this many sampled pairs a feature in each half, a half's control is fitted on too few
# pairs to stand for the whole design's (at 30 features and 200 coalitions, 35 pairs a half, the
# cross-fitted estimate had 2.4x the reported one's squared error): the variance is then the
# whole design's own jackknife corrected for the optimism measured on the halves
# (:func:`optimism_factor`).
OPTIMISM_BELOW = 2
# The halves' optimism x = p / m (a fit's parameters per pair) is clipped to [0, OPTIMISM_CLIP].
OPTIMISM_CLIP = 0.9
# The strata's fits are made together on blocks of rows of at most this many pair values
# (strata x rows x outputs x pairs): fresh arrays larger than that (8 MB at 2048 coalitions, 10
# strata and 100 rows) cost more in page faults and cache misses than their fewer calls save.
STACKED_VALUES = 2**18


def _bernoulli_cumulants(q: FloatArray, order: int) -> list[FloatArray]:
    """Cumulants kappa_1..kappa_order of Bernoulli(q) variables at each q (index 0 unused)."""
    kappa = [np.zeros_like(q) for _ in range(order + 1)]
    for r in range(1, order + 1):  # every raw moment of a Bernoulli is q
        lower = [comb(r - 1, m - 1) * kappa[m] * q for m in range(1, r)]
        kappa[r] = q - sum(lower, np.zeros_like(q))
    return kappa


@lru_cache(maxsize=8)
def _owen_tables(highest: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Owen's nodes' weights, the Bernoulli cumulants at them (nodes, highest + 1), C(a, b).

    The integrand of a power p is a polynomial in q of degree p - 1, so ceil(highest / 2)
    Gauss-Legendre nodes integrate it exactly (3 for the powers 3 and 5).
    """
    nodes, node_weights = np.polynomial.legendre.leggauss(max(1, (highest + 1) // 2))
    q = (nodes + 1.0) / 2.0
    kappa = _bernoulli_cumulants(q, max(highest - 1, 1))
    cumulants = np.zeros((q.shape[0], highest + 1))
    for order in range(1, highest):
        cumulants[:, order] = kappa[order]
    binomials = np.array(
        [[comb(a, b) for b in range(highest + 1)] for a in range(highest + 1)], dtype=np.float64
    )
    return node_weights / 2.0, cumulants, binomials


def power_values(
    beta: FloatArray, shift: FloatArray, powers: tuple[int, ...] = POWERS
) -> FloatArray:
    """Exact Shapley values (P, ..., d) of g_p(S) = (shift + sum_{j in S} beta_j)^p - shift^p.

    By Owen's multilinear extension, phi_i = integral over q in [0, 1] of
    E[(shift + s + beta_i)^p - (shift + s)^p], with s = sum_{j != i} beta_j Z_j and Z_j
    independent Bernoulli(q). The moments of shift + s follow from its cumulants (sums over j of
    beta_j^r times a Bernoulli's); the integrand is a polynomial in q of degree p - 1, integrated
    exactly by Gauss-Legendre at ceil(p / 2) nodes, in one compiled pass over the rows.

    Parameters
    ----------
    beta : ndarray of shape (..., d)
        The index's weights.
    shift : ndarray of shape (...,)
        The index's value at the empty coalition.
    powers : tuple of int
        The powers p, 1 or more.

    Examples
    --------
    Of g(S) = (sum_{j in S} beta_j)^2 each feature gets beta_i (sum of beta):

    >>> import numpy as np
    >>> from explainops.explainers.single_index import power_values
    >>> power_values(np.array([1.0, 2.0]), np.array(0.0), (2,))
    array([[3., 6.]])

    """
    node_weights, cumulants, binomials = _owen_tables(max(powers))
    flat_beta = np.ascontiguousarray(beta, dtype=np.float64).reshape(-1, beta.shape[-1])
    values = np.empty((len(powers), *flat_beta.shape))
    power_shapley_values(
        flat_beta,
        np.ascontiguousarray(np.broadcast_to(shift, beta.shape[:-1]), dtype=np.float64).reshape(-1),
        np.asarray(powers, dtype=np.int64),
        node_weights,
        cumulants,
        binomials,
        values,
    )
    return values.reshape(len(powers), *beta.shape)


@dataclass(frozen=True)
class ControlGame:
    """g(S) = sum_p a_p ((shift + t(S))^p - shift^p), t(S) = beta . z(S), for each row.

    Of one stratum, or of several stacked on a leading axis (:meth:`stratum` takes one out).
    """

    beta: FloatArray  # (..., n, k, d)
    shift: FloatArray  # (..., n, k)
    coefficients: FloatArray  # (..., n, k, P)

    @property
    def full(self) -> FloatArray:
        """g(all) - g(empty) = g(all): (..., n, k)."""
        index = self.beta.sum(axis=-1) + self.shift
        return _combine(_powers(index, self.shift), self.coefficients)

    def values(self) -> FloatArray:
        """The game's exact Shapley values (..., n, k, d)."""
        values = power_values(self.beta, self.shift)
        return _combine(values, self.coefficients)

    @staticmethod
    def joined(blocks: Sequence[ControlGame]) -> ControlGame:
        """Stacked control games of consecutive blocks of rows, as one (along the rows' axis)."""
        if len(blocks) == 1:
            return blocks[0]
        return ControlGame(
            np.concatenate([block.beta for block in blocks], axis=-3),
            np.concatenate([block.shift for block in blocks], axis=-2),
            np.concatenate([block.coefficients for block in blocks], axis=-3),
        )

    def stratum(self, position: int) -> ControlGame:
        """The control game of the stratum at ``position`` of a stacked one."""
        return ControlGame(self.beta[position], self.shift[position], self.coefficients[position])


def _odd_powers(base: FloatArray, out: FloatArray | None = None) -> FloatArray:
    """(P, ...) each power p of ``base`` (3, 5, ...: a square apart), by multiplications.

    numpy's ``**`` calls pow() on each element, several times slower than the products.
    """
    square = base * base
    columns = np.empty((len(POWERS), *base.shape)) if out is None else out
    np.multiply(base, square, out=columns[0])
    for position in range(1, len(POWERS)):
        np.multiply(columns[position - 1], square, out=columns[position])
    return columns


def _powers(index: FloatArray, shift: FloatArray) -> FloatArray:
    """(P, ...) the columns (index^p - shift^p) of each power p."""
    columns = _odd_powers(index)
    columns -= _odd_powers(shift)  # broadcast: shift has index's axes, or ones in their place
    return columns


def _combine(columns: FloatArray, coefficients: FloatArray) -> FloatArray:
    """The sum over p of columns[p] (..., n, k, ...) times coefficients[..., p]."""
    extra = (None,) * (columns.ndim - coefficients.ndim)
    total = columns[0] * coefficients[(..., 0, *extra)]
    for position in range(1, columns.shape[0]):
        total += columns[position] * coefficients[(..., position, *extra)]
    return np.asarray(total, dtype=np.float64)


def _stack_times(left: FloatArray, right: FloatArray) -> FloatArray:
    """Each stratum's product: left (S, ..., a) @ right (S, a, b), one matrix product a stratum."""
    flat = np.matmul(left.reshape(left.shape[0], -1, left.shape[-1]), right)
    return np.asarray(flat.reshape(*left.shape[:-1], right.shape[-1]), dtype=np.float64)


@dataclass(frozen=True)
class _Game:
    """The strata's games on their designs: order-1 values and multiplier, values at the pairs.

    ``difference`` and ``total`` (S, n, k, h): v(S) - v(S') and v(S) + v(S') at each pair's first
    coalition S and its complement S' (zero on a stratum's padding past its own pairs).
    """

    values: FloatArray  # (S, n, k, d)
    multiplier: FloatArray  # (S, n, k)
    difference: FloatArray
    total: FloatArray


@dataclass(frozen=True)
class _Part:
    """A design with its solve, its coalitions as floats and the inverse of its KKT matrix.

    With A = M^T W M (M the coalitions, W their weights), the order-1 fit of a game y with
    g = M^T W y and full value f solves [[A, 1], [1^T, 0]] [phi; mu] = [g; f]: phi = K g + o f and
    mu = o . g + m f, with the inverse's blocks K (d, d), o (d,) and m. The multiplier mu gives the
    residual's projection on the coalitions (M^T W (y - M phi) = mu 1), so the residuals' inner
    products follow from g, phi and mu without forming the residuals (:meth:`_Stack._fit_once`).

    A Kernel SHAP design holds each coalition with its complement, of the same weight (sampled
    as pairs; sizes k and d - k enumerated together). Every product over the coalitions is taken
    over the h = c / 2 pairs: for a pair's first coalition z and its complement 1 - z,
    w (y z + y' (1 - z)) = w ((y - y') z + y'), and the control's centred index changes sign.
    """

    design: KernelDesign
    solver: KernelSolver
    firsts: IntArray  # (h,): each pair's first coalition among the design's
    complements: IntArray  # (h,): its complement's
    pair_masks: FloatArray  # (h, d): the first coalitions, as floats
    pair_weights: FloatArray  # (h,): the weight of each of the pair's two coalitions
    kkt_values: FloatArray  # (d, d): K
    kkt_offset: FloatArray  # (d,): o
    kkt_corner: float  # m
    pair_operator: FloatArray  # (h, d): the solver's columns at the firsts less the complements'
    complement_operator: FloatArray  # (d,): the sum of its columns at the complements
    # of the solver's drawn coalitions (its jackknife's, each draw's two in turn): each one's
    # pair, +1 at a pair's first coalition and -1 at its complement, and 1 at a complement
    drawn_pairs: IntArray  # (2N,)
    drawn_signs: FloatArray  # (2N,)
    drawn_complements: FloatArray  # (2N,)

    @classmethod
    def of(cls, design: KernelDesign, solver: KernelSolver) -> _Part | None:
        """The part of ``design``; None where its coalitions are not in complementary pairs."""
        pairs = complementary_pairs(design)
        if pairs is None:
            return None
        firsts, complements = pairs
        masks = design.masks.astype(np.float64)
        d = masks.shape[1]
        kkt = np.zeros((d + 1, d + 1))
        kkt[:d, :d] = masks.T @ (masks * design.weights[:, None])
        kkt[:d, d] = kkt[d, :d] = 1.0
        inverse = np.linalg.pinv(kkt)  # the minimum-norm solve, as the solver's (lstsq)
        corner = float(inverse[d, d])
        n_pairs = firsts.shape[0]
        pair_of = np.empty(masks.shape[0], dtype=np.int64)
        pair_of[firsts] = pair_of[complements] = np.arange(n_pairs)
        is_complement = np.zeros(masks.shape[0])
        is_complement[complements] = 1.0
        drawn = solver.pairs.drawn if solver.pairs is not None else np.zeros(0, dtype=np.int64)
        return cls(
            design,
            solver,
            firsts,
            complements,
            masks[firsts],
            design.weights[firsts],
            inverse[:d, :d],
            inverse[:d, d],
            corner,
            np.ascontiguousarray((solver.operator[:, firsts] - solver.operator[:, complements]).T),
            solver.operator[:, complements].sum(axis=1),
            pair_of[drawn],
            1.0 - 2.0 * is_complement[drawn],
            is_complement[drawn],
        )

    def pair_game(self, control: ControlGame) -> tuple[FloatArray, FloatArray]:
        """One stratum's control game at each pair's first coalition (n, k, h), and each pair's sum.

        At a complement the centred index u is -u, so g(S') = sum_p a_p (-u^p - s^p) = -g(S) - 2
        sum_p a_p s^p: the pair's sum g(S) + g(S') (n, k) is the same for every pair.
        """
        first = _rows_times(control.beta, self.pair_masks.T)
        first += control.shift[..., None]
        rows = first.shape[:-1]
        odd_power_game(  # the index's powers, combined in place
            first.reshape(-1, first.shape[-1]),
            np.ascontiguousarray(control.shift, dtype=np.float64).reshape(-1),
            np.ascontiguousarray(control.coefficients, dtype=np.float64).reshape(-1, len(POWERS)),
        )
        at_shift = _combine(_odd_powers(control.shift), control.coefficients)
        return first.reshape(*rows, first.shape[-1]), -2.0 * at_shift

    def game_at(self, first: FloatArray, pair_sum: FloatArray) -> FloatArray:
        """A control game at each of this design's coalitions (n, k, c), from :meth:`pair_game`."""
        return self.written_out(first, pair_sum[..., None] - first)

    def written_out(self, first: FloatArray, second: FloatArray) -> FloatArray:
        """A game given at the pairs (n, k, h) twice, at each of this design's coalitions (n, k, c).

        The inverse of reading a game at the pairs: ``first`` at each pair's first coalition,
        ``second`` at its complement.
        """
        game = np.empty((*first.shape[:-1], self.design.masks.shape[0]))
        game[..., self.firsts] = first
        game[..., self.complements] = second
        return game

    def solve_pairs(self, first: FloatArray, pair_sum: FloatArray, full: FloatArray) -> FloatArray:
        """The solver's values (n, k, d) of a game given at the pairs, as :meth:`pair_game` gives.

        With y = ``first`` at each pair's first coalition and ``pair_sum`` - y at its complement,
        y @ (A_first - A_complement)^T + pair_sum (sum of A_complement) + full offset: the same
        as the solver's on the game written out at every coalition, with half the products.
        """
        values = _rows_times(first, self.pair_operator)
        values += pair_sum[..., None] * self.complement_operator
        values += full[..., None] * self.solver.offset
        return np.asarray(values, dtype=np.float64)

    def values_left_by(
        self, control: ControlGame, plain: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Kernel SHAP's values (n, k, d) of what ``control`` leaves of a game, and the control.

        ``plain`` (n, k, d): this part's order-1 values of the game. The solve is linear, so the
        values of the rest are ``plain`` less the control game's, solved from its values at the
        pairs (:meth:`solve_pairs`). Returned with the control game at the pairs' first
        coalitions (n, k, h) and the pairs' sum (n, k), as :meth:`pair_game` gives them.
        """
        first, pair_sum = self.pair_game(control)
        values = plain - self.solve_pairs(first, pair_sum, control.full)
        return np.asarray(values, dtype=np.float64), first, pair_sum

    def errors_left_by(
        self,
        control: ControlGame,
        centred: FloatArray,
        plain: FloatArray,
        coalitions: IntArray | None = None,
        left: tuple[FloatArray, FloatArray, FloatArray] | None = None,
    ) -> FloatArray:
        """The jackknife errors (n, k, d) of Kernel SHAP of what ``control`` leaves of a game.

        ``centred`` (n, k, C): the game at the whole design's coalitions, of which this part's
        are ``coalitions`` (None: this part is the whole design); ``plain`` (n, k, d): this
        part's order-1 values of the game; ``left``: :meth:`values_left_by`, when already made.
        The control is held fixed. The rest's residuals are taken at the drawn coalitions only,
        from the control game at the pairs, never written out at every coalition.
        """
        values, first, pair_sum = self.values_left_by(control, plain) if left is None else left
        if not self.solver.has_closed_form_errors:
            own = centred if coalitions is None else centred[..., coalitions]
            rest = own - self.game_at(first, pair_sum)
            return self.solver.standard_errors(rest, values, self.design)
        assert self.solver.pairs is not None
        drawn = self.solver.pairs.drawn
        residuals = centred[..., drawn if coalitions is None else coalitions[drawn]]
        residuals -= first[..., self.drawn_pairs] * self.drawn_signs
        residuals -= pair_sum[..., None] * self.drawn_complements
        # a control's solver is of order 1 (for_design): the fit's coefficients are the values
        residuals -= _rows_times(values, self.solver.pairs.drawn_columns)
        return self.solver.spread(residuals)

    def residual_sum(self, first: FloatArray, second: FloatArray, values: FloatArray) -> FloatArray:
        """The weighted sum of squares (n, k) of the order-1 fit's residuals.

        ``first``, ``second`` (n, k, h): the game at each pair's first coalition and at its
        complement; ``values`` (n, k, d): the fit's.
        """
        fitted = _rows_times(values, self.pair_masks.T)  # at the complement: the sum, less it
        residual = first - fitted
        squares = residual * residual
        residual = second - (values.sum(axis=-1)[..., None] - fitted)
        squares += residual * residual
        return np.asarray(_rows_times(squares, self.pair_weights[:, None]))[..., 0]


@dataclass(frozen=True)
class _Stack:
    """The same part (the whole design, or the same half) of each of S strata, fitted together.

    The strata's designs differ, so fitting each one's control is a few dozen small array
    operations a stratum, whose per-call cost was most of the control's at a few hundred
    coalitions. Stacked, every operation runs once for all the strata: each stratum's pairs are
    padded to the most any of them has by pairs of weight zero and no coalition, which add
    nothing to any weighted sum, so a stratum's fit is that of its own pairs (to rounding).
    """

    parts: tuple[_Part, ...]
    pair_masks: FloatArray  # (S, h, d)
    pair_masks_t: FloatArray  # (S, d, h): the same, transposed (contiguous, for the products)
    pair_weights: FloatArray  # (S, h)
    kkt_values: FloatArray  # (S, d, d)
    kkt_offset: FloatArray  # (S, d)
    kkt_corner: FloatArray  # (S,)
    kkt_column_sums: FloatArray  # (S, d): of each K, 1^T K

    @classmethod
    def of(cls, parts: Sequence[_Part]) -> _Stack:
        """The stack of ``parts``, one a stratum, all on the same features."""
        n_pairs = max(part.firsts.shape[0] for part in parts)
        n_features = parts[0].pair_masks.shape[1]
        masks = np.zeros((len(parts), n_pairs, n_features))
        weights = np.zeros((len(parts), n_pairs))
        for position, part in enumerate(parts):
            masks[position, : part.firsts.shape[0]] = part.pair_masks
            weights[position, : part.firsts.shape[0]] = part.pair_weights
        kkt_values = np.stack([part.kkt_values for part in parts])
        return cls(
            tuple(parts),
            masks,
            np.ascontiguousarray(masks.transpose(0, 2, 1)),
            weights,
            kkt_values,
            np.stack([part.kkt_offset for part in parts]),
            np.array([part.kkt_corner for part in parts]),
            np.ascontiguousarray(kkt_values.sum(axis=1)),
        )

    def game(
        self,
        centred: Sequence[FloatArray],
        pairs: Sequence[tuple[IntArray, IntArray]],
        delta: FloatArray,
        values: FloatArray,
    ) -> _Game:
        """The strata's games at their pairs, from each one's centred values (n, k, c_s).

        ``pairs``: each stratum's pairs' first coalitions and their complements, as indices into
        its ``centred`` values (the part's own, or a half's in the whole design's coalitions);
        ``delta`` (S, n, k): their full values; ``values`` (S, n, k, d): their order-1 values.
        """
        shape = (*values.shape[:-1], self.pair_weights.shape[1])
        difference, total = np.zeros(shape), np.zeros(shape)
        weighted = np.empty(shape[1:])
        complement_sums = np.empty(shape[1:-1])
        projected = np.empty(values.shape)
        n_pairs = shape[-1]
        for position, (part, of_stratum, (firsts, complements)) in enumerate(
            zip(self.parts, centred, pairs, strict=True)
        ):
            own = firsts.shape[0]
            pair_differences(
                np.ascontiguousarray(of_stratum).reshape(-1, of_stratum.shape[-1]),
                firsts,
                complements,
                part.pair_weights,
                difference[position].reshape(-1, n_pairs),
                total[position].reshape(-1, n_pairs),
                weighted.reshape(-1, n_pairs),
                complement_sums.reshape(-1),
            )
            # M^T W y over the pairs: (W (y - y')) z + the sum of w y', the same for every
            # feature (a stratum at a time: its arrays stay in cache)
            projected[position] = _rows_times(weighted[..., :own], part.pair_masks)
            projected[position] += complement_sums[..., None]
        return _Game(values, self._multiplier(projected, delta), difference, total)

    def fit(
        self, game: _Game, start: FloatArray | None = None, values_needed: bool = True
    ) -> tuple[FloatArray | None, ControlGame]:
        """The adjusted values (S, n, k, d) (unless not needed) and the strata's control.

        ``start`` (n, k, d): the first fit's index for every stratum (the strata's pooled values);
        None: each stratum's own order-1 values.
        """
        index = game.values if start is None else np.broadcast_to(start, game.values.shape)
        for iteration in range(ITERATIONS):
            control, estimates = self._fit_once(game, index)
            if iteration == ITERATIONS - 1 and not values_needed:
                return None, control
            # Kernel SHAP of v - g plus g's exact values
            index = game.values + control.values()
            index -= _combine(np.moveaxis(estimates, 1, 0), control.coefficients)
        return index, control

    def _multiplier(self, projected: FloatArray, full: FloatArray) -> FloatArray:
        """The multiplier mu (S, ...) of games with M^T W y = ``projected`` (S, ..., d)."""
        along = (slice(None), *(None,) * (full.ndim - 1))
        return np.asarray(
            _stack_times(projected, self.kkt_offset[:, :, None])[..., 0]
            + self.kkt_corner[along] * full
        )

    def _fit_once(self, game: _Game, index: FloatArray) -> tuple[ControlGame, FloatArray]:
        """The control game for ``index`` and its columns' Kernel SHAP estimates (S, P, n, k, d).

        The coefficients solve the weighted least squares of the game's order-1 residuals e on
        the power columns' residuals r_p. Their inner products come without forming either:
        r_p . W r_q = c_p . W c_q - g_p . phi_q - mu_q f_p and r_p . W e = c_p . W y - g_p .
        phi_y - mu_y f_p (c_p the column, g_p = M^T W c_p, phi_p its values, f_p its full value),
        since W r_q projects on the coalitions as mu_q 1 and phi_p adds up to f_p. The columns'
        moments and projections are taken over the pairs (:func:`paired_power_moments`).
        """
        scale = np.maximum(np.abs(index).sum(axis=-1, keepdims=True), np.finfo(float).tiny)
        beta = index / scale
        shift = -beta.sum(axis=-1) / 2.0
        n_strata, n_pairs = self.pair_weights.shape
        rows = beta.shape[1:-1]
        n_powers = len(POWERS)
        centres = _stack_times(beta, self.pair_masks_t)
        centres += shift[..., None]
        weighted_powers = np.empty((n_strata, n_powers, *rows, n_pairs))
        cross = np.empty((n_strata, *rows, n_powers, n_powers))
        game_cross = np.empty((n_strata, *rows, n_powers))
        sums = np.empty((n_strata, *rows, n_powers))
        paired_power_moments(
            centres.reshape(n_strata, -1, n_pairs),
            np.ascontiguousarray(shift).reshape(n_strata, -1),
            self.pair_weights,
            game.difference.reshape(n_strata, -1, n_pairs),
            game.total.reshape(n_strata, -1, n_pairs),
            weighted_powers.reshape(n_strata, n_powers, -1, n_pairs),
            cross.reshape(n_strata, -1, n_powers, n_powers),
            game_cross.reshape(n_strata, -1, n_powers),
            sums.reshape(n_strata, -1, n_powers),
        )
        # g_p = M^T W c_p (S, P, n, k, d): over a pair, w (2 u^p z - (u^p + s^p)), the sums
        # taken off by control_coefficients, which completes the columns' estimates and solves
        projected = _stack_times(weighted_powers, self.pair_masks)
        estimates = _stack_times(projected, self.kkt_values)
        coefficients = np.empty((n_strata, *rows, n_powers))
        control_coefficients(
            np.ascontiguousarray(shift).reshape(n_strata, -1),
            sums.reshape(n_strata, -1, n_powers),
            cross.reshape(n_strata, -1, n_powers, n_powers),
            game_cross.reshape(n_strata, -1, n_powers),
            self.kkt_offset,
            self.kkt_column_sums,
            self.kkt_corner,
            np.ascontiguousarray(game.values).reshape(n_strata, -1, game.values.shape[-1]),
            np.ascontiguousarray(game.multiplier).reshape(n_strata, -1),
            CONTROL_RIDGE,
            projected.reshape(n_strata, n_powers, -1, projected.shape[-1]),
            estimates.reshape(n_strata, n_powers, -1, estimates.shape[-1]),
            coefficients.reshape(n_strata, -1, n_powers),
        )
        return ControlGame(beta, shift, coefficients), estimates


def complementary_pairs(design: KernelDesign) -> tuple[IntArray, IntArray] | None:
    """Each complementary pair's first coalition and its complement: (h,), (h,) indices.

    None unless the coalitions are distinct and each one's complement is in the design with the
    same weight (to 1e-12).
    """
    masks = design.masks
    n_coalitions = masks.shape[0]
    packed = np.packbits(np.concatenate([masks, ~masks]), axis=1)
    _, ids = np.unique(packed, axis=0, return_inverse=True)
    ids = ids.reshape(-1)
    own, complements = ids[:n_coalitions], ids[n_coalitions:]
    if np.unique(own).shape[0] < n_coalitions:
        return None  # repeated coalitions
    position = np.full(2 * n_coalitions, -1, dtype=np.int64)
    position[own] = np.arange(n_coalitions)
    complement = position[complements]
    if (complement < 0).any():
        return None
    if not np.allclose(design.weights[complement], design.weights, rtol=1e-12, atol=0.0):
        return None
    firsts = np.flatnonzero(np.arange(n_coalitions) < complement)
    return firsts, complement[firsts]


def half_design(design: KernelDesign, half: int) -> tuple[KernelDesign, IntArray]:
    """The enumerated coalitions and the draws ``half``::2: the design and its coalitions' indices.

    The sampled coalitions' weights are their counts among the half's draws, per draw as in the
    whole design, scaled to the same sampled mass.
    """
    draws = design.draws[half::2]
    sampled = design.counts > 0
    counts = np.bincount(draws.reshape(-1), minlength=design.masks.shape[0]).astype(np.float64)
    weights = design.weights.copy()
    per_draw = design.weights[sampled] / design.counts[sampled]
    weights[sampled] = counts[sampled] * per_draw * design.draws.shape[0] / draws.shape[0]
    kept = np.flatnonzero(weights > 0)
    position = np.full(design.masks.shape[0], -1, dtype=np.int64)
    position[kept] = np.arange(kept.shape[0])
    part = KernelDesign(
        design.masks[kept], weights[kept] / weights[kept].sum(), position[draws], counts[kept]
    )
    return part, kept


@dataclass(frozen=True)
class SingleIndexControl:
    """A stratum's design with its two halves, solved once: :meth:`estimate` per batch."""

    whole: _Part
    halves: tuple[tuple[_Part, IntArray], tuple[_Part, IntArray]]

    @classmethod
    def for_design(cls, design: KernelDesign, solver: KernelSolver) -> SingleIndexControl | None:
        """The control of an order-1 ``design``, or None.

        None with fewer than :data:`MIN_PAIRS_FOR_CONTROL` sampled pairs, or where its coalitions
        are not in complementary pairs (Kernel SHAP's designs always are).
        """
        if solver.basis is not None or design.draws.shape[0] < MIN_PAIRS_FOR_CONTROL:
            return None
        whole = _Part.of(design, solver)
        if whole is None:
            return None
        halves = []
        for half in (0, 1):
            part_design, kept = half_design(design, half)
            part = _Part.of(part_design, KernelSolver.for_design(part_design))
            if part is None:
                return None
            halves.append((part, kept))
        return cls(whole, (halves[0], halves[1]))

    def half_pairs(self, centred: FloatArray, half: int) -> tuple[FloatArray, FloatArray]:
        """The whole design's values (n, k, c) at half ``half``'s pairs: (n, k, h) each.

        At each of the half's first coalitions and at its complement (the same as the half's own
        values read at its pairs), read from the whole design's values at once.
        """
        firsts, complements = self.half_pair_indices[half]
        return centred[..., firsts], centred[..., complements]

    @cached_property
    def half_pair_indices(self) -> tuple[tuple[IntArray, IntArray], tuple[IntArray, IntArray]]:
        """Each half's pairs: their first coalitions and complements among the whole design's."""
        (first, first_kept), (second, second_kept) = self.halves
        return (
            (first_kept[first.firsts], first_kept[first.complements]),
            (second_kept[second.firsts], second_kept[second.complements]),
        )

    def plain_values(self, centred: FloatArray, delta: FloatArray) -> Starts:
        """The order-1 values (n, k, d) of the whole design and of each half."""
        first, second = (part.solver.solve(centred[..., kept], delta) for part, kept in self.halves)
        return Starts(self.whole.solver.solve(centred, delta), (first, second))

    def estimate(
        self,
        centred: FloatArray,
        delta: FloatArray,
        starts: Starts | None = None,
        own: Starts | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """Values and standard errors (n, k, d) from centred coalition values (n, k, c).

        ``starts``: the first index of the whole design's fit and of each half's (the strata's
        pooled order-1 values, :func:`pooled_starts`); None: each design's own. ``own``: this
        stratum's :meth:`plain_values`, when already solved. The same as
        :meth:`ControlStack.estimate` of this stratum alone.
        """
        stack = ControlStack.of([self])
        return stack.estimate([centred], [delta], starts, None if own is None else [own])[0]

    @property
    def fewest_half_pairs(self) -> int:
        """The sampled pairs of the half that has fewer."""
        return min(int(part.design.draws.shape[0]) for part, _ in self.halves)

    @property
    def halves_fit_alone(self) -> bool:
        """Whether each half has the sampled pairs a control needs, and one a feature or more.

        Below :data:`MIN_PAIRS_FOR_CONTROL`, or fewer pairs than features, a half's own
        jackknife rests on too few pairs to judge a control (:meth:`whole_design_variance`).
        """
        n_features = self.whole.design.masks.shape[1]
        return self.fewest_half_pairs >= max(MIN_PAIRS_FOR_CONTROL, int(n_features))

    @property
    def halves_saturated(self) -> bool:
        """Whether each half fits alone but has fewer than :data:`OPTIMISM_BELOW` pairs a feature.

        A half's control (a d-weight index and its powers) is then fitted on barely more pairs
        than it has weights, far worse than the whole design's, and the cross-fitted variance
        overstates the reported estimate's (see :func:`optimism_factor`).
        """
        n_features = self.whole.design.masks.shape[1]
        return self.halves_fit_alone and self.fewest_half_pairs < OPTIMISM_BELOW * n_features

    def coefficient_noise(
        self,
        half_controls: tuple[ControlGame, ControlGame],
        at_pairs: Sequence[tuple[FloatArray, FloatArray]] | None = None,
    ) -> FloatArray:
        """The control's coefficient noise B / n^2 (n, k, d) in the whole design's estimate.

        The whole design's Kernel SHAP estimate of each half's control game, less its exact
        values, is that control's sampling error; the two differ only by their coefficients,
        fitted on disjoint halves, and a quarter of their difference squared estimates the
        variance the whole design's own fit carries (see the module's docstring). ``at_pairs``:
        each control game at the whole design's pairs (:meth:`_Part.pair_game`), when already
        made.
        """
        first, second = half_controls
        if at_pairs is None:
            at_pairs = [self.whole.pair_game(control) for control in half_controls]
        (at_first, first_sum), (at_second, second_sum) = at_pairs
        difference = self.whole.solve_pairs(
            at_first - at_second, first_sum - second_sum, first.full - second.full
        )
        difference -= first.values() - second.values()
        return np.asarray(difference * difference / 4.0, dtype=np.float64)

    def cross_fit(
        self,
        centred: FloatArray,
        own: Starts,
        values: FloatArray,
        half_controls: tuple[ControlGame, ControlGame],
        whole_control: ControlGame,
    ) -> CrossFit:
        """The values kept and their errors (n, k, d), from the whole design's fit and the halves'.

        ``values``: the whole design's adjusted values; ``half_controls``: the control fitted on
        each half; ``whole_control``: the whole design's. Each row and output keeps the control
        where it passes the cross-fit's test (fitted on one half, it lowers the other half's
        residuals, both ways round) and gets the plain order-1 estimate and its jackknife
        otherwise. Where each half has the pairs of :attr:`halves_fit_alone`, the errors are
        cross-fitted (each half's control, the other half's jackknife), scaled by the split
        penalty's :func:`split_factor` below :data:`SPLIT_MEASURED_BELOW` pairs a feature and then
        by :func:`noise_factor`; where the halves are :attr:`halves_saturated`, they are the
        whole design's jackknife with its own control, still to be scaled by the
        :func:`optimism_factor` of the sums returned with them (:class:`CrossFit`). Where a half
        has too few pairs to fit alone, its jackknife rests on too few pairs: each half's control
        is judged on the whole design instead (:meth:`whole_design_variance`).
        """
        alone = self.halves_fit_alone
        saturated = self.halves_saturated
        variance = np.zeros(values.shape)  # the cross-fitted estimate's, times 4
        in_sample = np.zeros(values.shape)  # each half's with its own control, summed
        n_features = values.shape[-1]
        measured = (
            alone
            and not saturated
            and self.whole.design.draws.shape[0] < SPLIT_MEASURED_BELOW * n_features
        )
        split_variance = np.zeros(values.shape)  # the plain game's on the halves, times 4
        residuals = np.zeros((2, *values.shape[:-1]))  # held out: plain, with the control
        for fitted, applied in ((0, 1), (1, 0)):
            control = half_controls[fitted]
            other, other_kept = self.halves[applied]
            left = other.values_left_by(control, own.halves[applied])
            rest_values, at_first, pair_sum = left
            observed_first, observed_second = self.half_pairs(centred, applied)
            rest_first = observed_first - at_first
            rest_second = observed_second - (pair_sum[..., None] - at_first)
            if alone:
                errors = other.errors_left_by(
                    control, centred, own.halves[applied], other_kept, left
                )
                variance += errors**2
            if saturated:  # the same half's jackknife with the control fitted on it
                own_errors = other.errors_left_by(
                    half_controls[applied], centred, own.halves[applied], other_kept
                )
                in_sample += own_errors**2
            if measured:
                half_errors = other.solver.standard_errors(
                    centred[..., other_kept], own.halves[applied], other.design
                )
                split_variance += half_errors**2
            residuals[0] += other.residual_sum(observed_first, observed_second, own.halves[applied])
            residuals[1] += other.residual_sum(rest_first, rest_second, rest_values)
        kept_control = residuals[1] < residuals[0]  # (n, k)
        plain = own.whole
        values = np.where(kept_control[..., None], values, plain)
        plain_errors = None
        if measured:  # the plain jackknife of every row: the split penalty's, and the plain rows'
            plain_errors = self.whole.solver.standard_errors(centred, plain, self.whole.design)
            variance *= split_factor(plain_errors**2, split_variance)[..., None]
        if saturated:  # the whole design's in-sample jackknife, scaled later
            errors = self.whole.errors_left_by(whole_control, centred, own.whole)
        elif alone:
            variance *= noise_factor(variance / 4.0, self.coefficient_noise(half_controls))[
                ..., None
            ]
            errors = np.sqrt(variance) / 2.0
        else:
            errors = np.sqrt(self.whole_design_variance(centred, own.whole, half_controls))
        optimism = (variance.sum(axis=-1), in_sample.sum(axis=-1)) if saturated else None
        if plain_errors is not None:
            errors = np.where(kept_control[..., None], errors, plain_errors)
            return CrossFit(values, errors, kept_control, optimism)
        uncontrolled = np.flatnonzero(~kept_control.all(axis=-1))  # rows with a plain output
        if uncontrolled.size:  # the plain jackknife, of those rows only
            plain_errors = self.whole.solver.standard_errors(
                centred[uncontrolled], plain[uncontrolled], self.whole.design
            )
            errors[uncontrolled] = np.where(
                kept_control[uncontrolled, :, None], errors[uncontrolled], plain_errors
            )
        return CrossFit(values, errors, kept_control, optimism)

    def whole_design_variance(
        self, centred: FloatArray, plain: FloatArray, half_controls: tuple[ControlGame, ControlGame]
    ) -> FloatArray:
        """The variance (n, k, d) where the halves are too small to judge a control on alone.

        Each half's control is held fixed and Kernel SHAP of the game it leaves is jackknifed on
        the whole design: the mean of the two variances. Half of the pairs it is judged on were
        used to fit it, which makes it optimistic, and it was fitted on half the pairs, which makes
        it pessimistic: a control fitted on m = n / 2 pairs carries the coefficient noise B / (m
        n) = 2 B / n^2, the whole design's own B / n^2. That excess is taken out as where the
        halves fit alone (:func:`noise_factor` of :meth:`coefficient_noise`). With 8-10 pairs a
        half (64 coalitions on 12-16 features) the mean alone covered 96.5-97.4% over ten seeds,
        and 94.0-96.5% with the noise taken out (the halves' own jackknives had covered
        92.1-96.5%; docs/explainers.md).
        """
        variance = np.zeros(plain.shape)
        lefts = [self.whole.values_left_by(control, plain) for control in half_controls]
        for control, left in zip(half_controls, lefts, strict=True):
            variance += self.whole.errors_left_by(control, centred, plain, left=left) ** 2
        variance /= 2.0
        noise = self.coefficient_noise(half_controls, [(first, sums) for _, first, sums in lefts])
        variance *= noise_factor(variance, noise)[..., None]
        return np.asarray(variance, dtype=np.float64)


@dataclass(frozen=True)
class CrossFit:
    """A stratum's values and errors (n, k, d) from :meth:`SingleIndexControl.cross_fit`.

    ``kept_control`` (n, k): where the control was kept. ``optimism``: where the halves are
    :attr:`SingleIndexControl.halves_saturated`, the sums (n, k) of :func:`optimism_factor`, by
    which the kept rows' ``errors`` (the whole design's in-sample jackknife) are still to be
    scaled; None otherwise.
    """

    values: FloatArray
    errors: FloatArray
    kept_control: npt.NDArray[np.bool_]
    optimism: tuple[FloatArray, FloatArray] | None

    def scaled_errors(self, factor: FloatArray | None) -> FloatArray:
        """The errors, those of the kept rows scaled by the square root of ``factor`` (n, k).

        Only where :attr:`optimism` is set; the errors as they are otherwise.
        """
        if self.optimism is None or factor is None:
            return self.errors
        scale = np.where(self.kept_control, np.sqrt(factor), 1.0)
        return np.asarray(self.errors * scale[..., None], dtype=np.float64)


@dataclass(frozen=True)
class ControlStack:
    """The single-index controls of several strata, their fits made together (:class:`_Stack`).

    Made once for a set of strata, :meth:`estimate` per batch of rows.
    """

    controls: tuple[SingleIndexControl, ...]
    whole: _Stack
    halves: tuple[_Stack, _Stack]

    @classmethod
    def of(cls, controls: Sequence[SingleIndexControl]) -> ControlStack:
        """The stack of ``controls``, one a stratum."""
        return cls(
            tuple(controls),
            _Stack.of([control.whole for control in controls]),
            (
                _Stack.of([control.halves[0][0] for control in controls]),
                _Stack.of([control.halves[1][0] for control in controls]),
            ),
        )

    def estimate(
        self,
        centred: Sequence[FloatArray],
        deltas: Sequence[FloatArray],
        starts: Starts | None = None,
        own: Sequence[Starts] | None = None,
    ) -> list[tuple[FloatArray, FloatArray]]:
        """Each stratum's values and standard errors (n, k, d), as if estimated alone.

        From each stratum's centred coalition values (n, k, c_s) and full values (n, k), the same
        as :meth:`SingleIndexControl.estimate` of each (to rounding), but for the standard errors
        of strata whose halves are :attr:`~SingleIndexControl.halves_saturated`: their optimism
        is pooled over those strata, row by row. ``starts``: the first indices of every stratum's
        fits (:func:`pooled_starts`); None: each design's own. ``own``: each stratum's
        :meth:`SingleIndexControl.plain_values`, when already solved.
        """
        if own is None:
            own = [
                control.plain_values(values, delta)
                for control, values, delta in zip(self.controls, centred, deltas, strict=True)
            ]
        n_rows, n_outputs = deltas[0].shape
        per_row = len(self.controls) * n_outputs * self.whole.pair_weights.shape[1]
        block = max(1, STACKED_VALUES // per_row)
        fits = [
            self._fit_block(
                [values[rows] for values in centred],
                np.stack([delta[rows] for delta in deltas]),
                None if starts is None else starts.rows(rows),
                [plain.rows(rows) for plain in own],
            )
            for rows in (slice(start, start + block) for start in range(0, n_rows, block))
        ]
        values = np.concatenate([fit[0] for fit in fits], axis=1)
        whole = ControlGame.joined([fit[1] for fit in fits])
        halves = [ControlGame.joined([fit[2][half] for fit in fits]) for half in (0, 1)]
        crossed = [
            control.cross_fit(
                centred[position],
                own[position],
                values[position],
                (halves[0].stratum(position), halves[1].stratum(position)),
                whole.stratum(position),
            )
            for position, control in enumerate(self.controls)
        ]
        # the saturated strata's optimism, pooled over them: each row's own, far steadier than
        # one stratum's (the strata differ in their designs and baseline rows, not their model)
        pooled = [fit.optimism for fit in crossed if fit.optimism is not None]
        factor = None
        if pooled:
            factor = optimism_factor(
                np.sum([held_out for held_out, _ in pooled], axis=0),
                np.sum([in_sample for _, in_sample in pooled], axis=0),
            )
        return [(fit.values, fit.scaled_errors(factor)) for fit in crossed]

    def _fit_block(
        self,
        centred: Sequence[FloatArray],
        delta: FloatArray,
        starts: Starts | None,
        own: Sequence[Starts],
    ) -> tuple[FloatArray, ControlGame, tuple[ControlGame, ControlGame]]:
        """The adjusted values (S, n, k, d), the whole design's control and each half's."""
        game = self.whole.game(
            centred,
            [(part.firsts, part.complements) for part in self.whole.parts],
            delta,
            np.stack([plain.whole for plain in own]),
        )
        values, whole_control = self.whole.fit(game, None if starts is None else starts.whole)
        assert values is not None
        controls = []
        for fitted in (0, 1):
            half_game = self.halves[fitted].game(  # each stratum's values at its half's pairs
                centred,
                [control.half_pair_indices[fitted] for control in self.controls],
                delta,
                np.stack([plain.halves[fitted] for plain in own]),
            )
            half_start = None if starts is None else starts.halves[fitted]
            _, control = self.halves[fitted].fit(half_game, half_start, values_needed=False)
            controls.append(control)
        return values, whole_control, (controls[0], controls[1])


def split_factor(whole: FloatArray, halves: FloatArray) -> FloatArray:
    """The split penalty's factor (n, k): the plain game's variance on all pairs over its halves'.

    ``whole`` (n, k, d): the plain order-1 estimate's jackknife variance on the whole design;
    ``halves`` (n, k, d): the sum of the two halves' jackknife variances, four times the variance
    of their mean. Summed over the features, clipped to [SPLIT_FLOOR, 1]; 1 where either is
    unknown (NaN or infinite): the cross-fitted errors are then kept as they are.
    """
    return _variance_ratio(whole, halves / 4.0)


def noise_factor(cross_fitted: FloatArray, noise: FloatArray) -> FloatArray:
    """The factor (n, k) that takes the coefficient ``noise`` out of the ``cross_fitted`` variance.

    Both (n, k, d): the cross-fitted variance carries the control's coefficient noise twice, the
    reported estimate once. Summed over the features, 1 - noise / cross-fitted, clipped to
    [SPLIT_FLOOR, 1]; 1 where either is unknown (NaN or infinite).
    """
    return _variance_ratio(cross_fitted - noise, cross_fitted)


def optimism_factor(held_out: FloatArray, in_sample: FloatArray) -> FloatArray:
    """The factor (n, k) that turns the whole design's in-sample variance into its estimate's.

    ``held_out``, ``in_sample`` (n, k): the halves' jackknife variances of the game each half's
    pairs leave under the other half's control and under their own, summed over the two halves
    and the features (and the strata). A control fitted on m pairs with p effective parameters
    leaves residuals whose variance is about (1 - x) of the true on its own pairs and (1 + x) on
    others (x = p / m); the estimate it adjusts has about (1 + y) times the variance of one with
    the true control, and its in-sample jackknife (1 - y), for y = p / n on the n pairs it was
    fitted on. The ratio R of the sums gives x = (R - 1) / (R + 1) on the halves, clipped to [0,
    :data:`OPTIMISM_CLIP`]; the whole design has twice their pairs, y = x / 2, and the factor is
    (1 + y) / (1 - y). NaN where either sum is unknown (the errors are then unknown too).
    """
    ratio = held_out / np.maximum(in_sample, np.finfo(float).tiny)
    per_pair = np.clip(1.0 - 2.0 / (ratio + 1.0), 0.0, OPTIMISM_CLIP)  # (R - 1) / (R + 1)
    whole = per_pair / 2.0
    return np.asarray((1.0 + whole) / (1.0 - whole), dtype=np.float64)


def _variance_ratio(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    """(n, k): the sums over the features (n, k, d) divided, clipped to [SPLIT_FLOOR, 1].

    1 where either sum is unknown (NaN or infinite). Both factors scale a variance that is at most
    twice what it should be, so at least :data:`SPLIT_FLOOR` of it is kept.
    """
    top, bottom = numerator.sum(axis=-1), denominator.sum(axis=-1)
    known = np.isfinite(top) & np.isfinite(bottom)
    ratio = np.where(known, top / np.maximum(bottom, np.finfo(float).tiny), 1.0)
    return np.asarray(np.clip(ratio, SPLIT_FLOOR, 1.0), dtype=np.float64)


@dataclass(frozen=True)
class Starts:
    """First indices of a stratum's fits: of the whole design, and of each half (n, k, d)."""

    whole: FloatArray
    halves: tuple[FloatArray, FloatArray]

    def rows(self, rows: slice) -> Starts:
        """The same starts of the rows ``rows`` alone."""
        return Starts(self.whole[rows], (self.halves[0][rows], self.halves[1][rows]))


def pooled_starts(plain: Sequence[Starts], weights: FloatArray) -> Starts:
    """The strata's order-1 values pooled by their ``weights``: design by design, half by half.

    One stratum's values are as noisy as its coalitions; the weighted mean over strata is far
    less so and points the same way where the games are alike, so it starts each stratum's first
    fit. Each half's start pools the same half of every stratum: no half's control sees the
    coalitions it is judged on.
    """
    shares = weights / weights.sum()

    def pool(parts: Sequence[FloatArray]) -> FloatArray:
        return np.asarray(sum(share * part for share, part in zip(shares, parts, strict=True)))

    return Starts(
        pool([starts.whole for starts in plain]),
        (
            pool([starts.halves[0] for starts in plain]),
            pool([starts.halves[1] for starts in plain]),
        ),
    )
