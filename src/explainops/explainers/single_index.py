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
as those of their mean. That cross-fitted estimate uses half the pairs for each part and has at
least the error of the reported one, so the standard errors are on the safe side
(docs/explainers.md gives the coverage measured).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import comb

import numpy as np
import numpy.typing as npt

from explainops.explainers.coalition_design import KernelDesign, KernelSolver, _rows_times

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Odd powers of the centred index in the control game (even ones a paired design fits exactly;
# a seventh power overfitted at 200 coalitions on 16 and 30 features).
POWERS = (3, 5)
# Fits of the control, each with the index from the values of the one before.
ITERATIONS = 3
# Ridge on the control's coefficients, relative to their mean curvature (steadies the fit where
# the powers are nearly collinear on few pairs).
CONTROL_RIDGE = 1e-3
# A stratum needs this many sampled pairs for a control (with 10, on a game of a strong three-way
# product, the control's halves were too noisy to tell a real gain: 95% intervals covered 88%).
MIN_PAIRS_FOR_CONTROL = 16
# Gauss-Legendre nodes for Owen's integral: exact for polynomials in q of degree <= 11.
_NODES, _NODE_WEIGHTS = np.polynomial.legendre.leggauss(6)
_Q = (_NODES + 1.0) / 2.0
_Q_WEIGHTS = _NODE_WEIGHTS / 2.0


def _bernoulli_cumulants(q: FloatArray, order: int) -> list[FloatArray]:
    """Cumulants kappa_1..kappa_order of Bernoulli(q) variables at each q (index 0 unused)."""
    kappa = [np.zeros_like(q) for _ in range(order + 1)]
    for r in range(1, order + 1):  # every raw moment of a Bernoulli is q
        lower = [comb(r - 1, m - 1) * kappa[m] * q for m in range(1, r)]
        kappa[r] = q - sum(lower, np.zeros_like(q))
    return kappa


def _integer_powers(x: FloatArray, highest: int) -> list[FloatArray]:
    """[x^0, x^1, ..., x^highest] by products (numpy's float power is several times slower)."""
    result = [np.ones_like(x), x]
    for _ in range(2, highest + 1):
        result.append(result[-1] * x)
    return result[: highest + 1]


def power_values(
    beta: FloatArray, shift: FloatArray, powers: tuple[int, ...] = POWERS
) -> FloatArray:
    """Exact Shapley values (P, ..., d) of g_p(S) = (shift + sum_{j in S} beta_j)^p - shift^p.

    By Owen's multilinear extension, phi_i = integral over q in [0, 1] of
    E[(shift + s + beta_i)^p - (shift + s)^p], with s = sum_{j != i} beta_j Z_j and Z_j
    independent Bernoulli(q). The moments of shift + s follow from its cumulants (sums over j of
    beta_j^r times a Bernoulli's); the integrand is a polynomial in q of degree p - 1, integrated
    exactly by Gauss-Legendre at 6 nodes (p up to 12), all nodes and powers at once.

    Parameters
    ----------
    beta : ndarray of shape (..., d)
        The index's weights.
    shift : ndarray of shape (...,)
        The index's value at the empty coalition.
    powers : tuple of int
        The powers p, from 1 to 12.

    Examples
    --------
    Of g(S) = (sum_{j in S} beta_j)^2 each feature gets beta_i (sum of beta):

    >>> import numpy as np
    >>> from explainops.explainers.single_index import power_values
    >>> power_values(np.array([1.0, 2.0]), np.array(0.0), (2,))
    array([[3., 6.]])

    """
    highest = max(powers)
    beta_powers = _integer_powers(beta, highest)
    q = _Q.reshape(-1, *([1] * beta.ndim))  # nodes on a leading axis
    kappa = _bernoulli_cumulants(q, highest - 1)
    cumulants = [np.zeros(1)]
    for r in range(1, highest):
        others = beta_powers[r].sum(axis=-1, keepdims=True) - beta_powers[r]
        cumulants.append(others * kappa[r])
    if highest > 1:
        cumulants[1] = cumulants[1] + np.asarray(shift, dtype=np.float64)[..., None]
    moments = [np.ones((1, *beta.shape))]
    for n in range(1, highest):
        terms = [comb(n - 1, j - 1) * cumulants[j] * moments[n - j] for j in range(1, n + 1)]
        moments.append(np.sum(terms, axis=0))
    q_weights = _Q_WEIGHTS.reshape(q.shape)
    values = []
    for power in powers:
        integrand = sum(comb(power, j) * beta_powers[power - j] * moments[j] for j in range(power))
        values.append(np.sum(q_weights * integrand, axis=0))
    return np.stack(values)


@dataclass(frozen=True)
class ControlGame:
    """g(S) = sum_p a_p ((shift + t(S))^p - shift^p), t(S) = beta . z(S), for each row."""

    beta: FloatArray  # (n, k, d)
    shift: FloatArray  # (n, k)
    coefficients: FloatArray  # (n, k, P)

    def at(self, masks: FloatArray) -> FloatArray:
        """The game at each coalition of ``masks`` (c, d): (n, k, c)."""
        index = _rows_times(self.beta, masks.T) + self.shift[..., None]
        return _combine(_powers(index, self.shift[..., None]), self.coefficients)

    @property
    def full(self) -> FloatArray:
        """g(all) - g(empty) = g(all): (n, k)."""
        index = self.beta.sum(axis=-1) + self.shift
        return _combine(_powers(index, self.shift), self.coefficients)

    def values(self) -> FloatArray:
        """The game's exact Shapley values (n, k, d)."""
        values = power_values(self.beta, self.shift)
        return _combine(values, self.coefficients)


def _powers(index: FloatArray, shift: FloatArray) -> FloatArray:
    """(P, ...) the columns (index^p - shift^p) of each power p (3, 5, ...: a square apart)."""
    square = index * index
    columns = np.empty((len(POWERS), *index.shape))
    np.multiply(index, square, out=columns[0])
    for position in range(1, len(POWERS)):
        np.multiply(columns[position - 1], square, out=columns[position])
    for position, power in enumerate(POWERS):
        columns[position] -= shift**power
    return columns


def _combine(columns: FloatArray, coefficients: FloatArray) -> FloatArray:
    """The sum over p of columns[p] (n, k, ...) times coefficients[..., p]: (n, k, ...)."""
    extra = (None,) * (columns.ndim - coefficients.ndim)
    total = columns[0] * coefficients[(..., 0, *extra)]
    for position in range(1, columns.shape[0]):
        total += columns[position] * coefficients[(..., position, *extra)]
    return np.asarray(total, dtype=np.float64)


@dataclass(frozen=True)
class _Part:
    """A design with its solve and its coalitions as floats."""

    design: KernelDesign
    solver: KernelSolver
    masks: FloatArray  # (c, d)

    @classmethod
    def of(cls, design: KernelDesign, solver: KernelSolver) -> _Part:
        return cls(design, solver, design.masks.astype(np.float64))

    def fit(
        self,
        centred: FloatArray,
        delta: FloatArray,
        values_needed: bool = True,
        start: FloatArray | None = None,
        values: FloatArray | None = None,
    ) -> tuple[FloatArray | None, ControlGame]:
        """The adjusted values (n, k, d) on this design (unless not needed) and the control.

        ``start`` (n, k, d): the first fit's index (the strata's pooled values); None: this
        design's own order-1 values, ``values`` when already solved.
        """
        if values is None:
            values = self.solver.solve(centred, delta)
        residual = centred - _rows_times(values, self.masks.T)
        index = values if start is None else start
        for iteration in range(ITERATIONS):
            control, estimates = self._fit_once(residual, index)
            if iteration == ITERATIONS - 1 and not values_needed:
                return None, control
            # Kernel SHAP of v - g plus g's exact values
            index = values + control.values()
            index -= _combine(estimates, control.coefficients)
        return index, control

    def _fit_once(self, residual: FloatArray, index: FloatArray) -> tuple[ControlGame, FloatArray]:
        """The control game for ``index`` and its columns' Kernel SHAP estimates (P, n, k, d)."""
        scale = np.maximum(np.abs(index).sum(axis=-1, keepdims=True), np.finfo(float).tiny)
        beta = index / scale
        shift = -beta.sum(axis=-1) / 2.0
        columns = _powers(_rows_times(beta, self.masks.T) + shift[..., None], shift[..., None])
        fulls = _powers(beta.sum(axis=-1) + shift, shift)
        estimates = self.solver.solve(columns, fulls)  # (P, n, k, d), one product
        column_residuals = columns - _rows_times(estimates, self.masks.T)
        weights = self.design.weights
        weighted = column_residuals * weights
        gram = np.moveaxis(
            np.stack([np.sum(weighted * other, axis=-1) for other in column_residuals]), 0, -1
        )
        gram = np.moveaxis(gram, 0, -2)  # (n, k, P, P)
        right = np.moveaxis(np.sum(weighted * residual, axis=-1), 0, -1)  # (n, k, P)
        curvature = np.einsum("nkpp->nkp", gram).mean(axis=-1)
        ridge = (CONTROL_RIDGE * curvature + np.finfo(float).tiny)[..., None, None]
        coefficients = np.linalg.solve(gram + ridge * np.eye(len(POWERS)), right[..., None])
        coefficients = np.where(curvature[..., None] > 0, coefficients[..., 0], 0.0)
        return ControlGame(beta, shift, coefficients), estimates

    def residual_sum(self, centred: FloatArray, values: FloatArray) -> FloatArray:
        """The weighted sum of squares (n, k) of the order-1 fit's residuals."""
        residuals = centred - _rows_times(values, self.masks.T)
        return np.asarray(_rows_times(residuals * residuals, self.design.weights[:, None]))[..., 0]


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
        """The control of an order-1 ``design``; None with fewer than 16 sampled pairs."""
        if solver.basis is not None or design.draws.shape[0] < MIN_PAIRS_FOR_CONTROL:
            return None
        halves = []
        for half in (0, 1):
            part, kept = half_design(design, half)
            halves.append((_Part.of(part, KernelSolver.for_design(part)), kept))
        return cls(_Part.of(design, solver), (halves[0], halves[1]))

    def plain_values(self, centred: FloatArray, delta: FloatArray) -> Starts:
        """The order-1 values (n, k, d) of the whole design and of each half."""
        return Starts(
            self.whole.solver.solve(centred, delta),
            tuple(part.solver.solve(centred[..., kept], delta) for part, kept in self.halves),  # type: ignore[arg-type]
        )

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
        stratum's :meth:`plain_values`, when already solved.

        Each row and output keeps the control where it passes the cross-fit's test (fitted on
        one half, it lowers the other half's residuals, both ways round) and gets the plain
        order-1 estimate and its jackknife otherwise.
        """
        if own is None:
            own = self.plain_values(centred, delta)
        whole_start = None if starts is None else starts.whole
        values, _ = self.whole.fit(centred, delta, start=whole_start, values=own.whole)
        assert values is not None
        variance = np.zeros(values.shape)
        residuals = np.zeros((2, *values.shape[:-1]))  # held out: plain, with the control
        for fitted, applied in ((0, 1), (1, 0)):
            part, kept = self.halves[fitted]
            half_start = None if starts is None else starts.halves[fitted]
            _, control = part.fit(
                centred[..., kept],
                delta,
                values_needed=False,
                start=half_start,
                values=own.halves[fitted],
            )
            other, other_kept = self.halves[applied]
            observed = centred[..., other_kept]
            rest = observed - control.at(other.masks)
            rest_values = other.solver.solve(rest, delta - control.full)
            errors = other.solver.standard_errors(rest, rest_values, other.design)
            variance += errors**2
            residuals[0] += other.residual_sum(observed, own.halves[applied])
            residuals[1] += other.residual_sum(rest, rest_values)
        errors = np.sqrt(variance) / 2.0
        plain = own.whole
        plain_errors = self.whole.solver.standard_errors(centred, plain, self.whole.design)
        kept_control = (residuals[1] < residuals[0])[..., None]
        return np.where(kept_control, values, plain), np.where(kept_control, errors, plain_errors)


@dataclass(frozen=True)
class Starts:
    """First indices of a stratum's fits: of the whole design, and of each half (n, k, d)."""

    whole: FloatArray
    halves: tuple[FloatArray, FloatArray]


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
