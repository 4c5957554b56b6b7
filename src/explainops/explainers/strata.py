"""Stratified Kernel SHAP: an independent coalition design for each baseline row.

The interventional value is a weighted mean over the baseline rows b of v_b(S) = f(x_S, b_rest),
so the Shapley values are the same mean of the Shapley values of the games v_b. A single design
shared by every row makes the rows' sampling errors move together: the same coalitions are
missing for all of them, and the errors of games that look alike (the same model, near rows) add
up instead of cancelling. Giving each row (each stratum, when there are more rows than
:data:`MAX_STRATA`) its own seeded design, at the same number of coalitions, costs the same model
evaluations and makes the strata's errors independent: the error of the mean then falls with the
number of strata, up to 1 / sqrt(strata) of the shared design's for games that are alike. The
values still add up exactly (each stratum's do), are exact when the budget covers every
coalition, and depend only on (seed, stratum, budget), never on how samples are batched.

Each stratum's game is then fitted by Kernel SHAP's regression, of order 3 (with triples of
features, :class:`~explainops.explainers.coalition_design.InteractionBasis`) where the budget has
:data:`COALITIONS_PER_COEFFICIENT` coalitions per coefficient
(:data:`CONTROLLED_COALITIONS_PER_COEFFICIENT` where the order-1 fit would carry the controls),
else of order 1, with a single-index control variate where the stratum has enough sampled pairs
(:mod:`explainops.explainers.single_index`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import numpy.typing as npt

from explainops.explainers.coalition_design import (
    AdaptiveDesigns,
    InteractionBasis,
    KernelDesign,
    KernelSolver,
    Seed,
    kernel_design,
)
from explainops.explainers.single_index import SingleIndexControl

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Baseline rows beyond this share the designs: row b is in stratum b mod MAX_STRATA.
MAX_STRATA = 32
# The order-3 fit needs this many coalitions per coefficient (at 0.7 its error on 16 features
# was 1.4x that of order 1; from 1.5 up it was lower on every bench problem).
COALITIONS_PER_COEFFICIENT = 1.5
# ... and this many where the order-1 fit would carry the single-index controls, which take out
# much of what the triples fit. Over 10 seeds (bench/kernel_accuracy.py), order 1 with the
# control had 0.55-0.84x the order-3 fit's RMSE at 1.7-5.4 coalitions per coefficient (gbm12 at
# 512, mlp16 at 2048, logit13 at 2048), 1.14x on mlp16 at 5.9 (4096), 1.56x on gbm12 at 6.9
# (2048) and 0.63x on logit13 at 10.9 (4096): no threshold suits every model. From 6 on, the
# largest loss either way is 1.6x; below it, order 1 is also 2.6-7.3x faster, and the order-3 fit's
# jackknife is too wide on mlp16 (95% intervals covered 98.6% at 2048, order 1's 95.1%).
CONTROLLED_COALITIONS_PER_COEFFICIENT = 6.0
# Bound on the order-3 basis: d + C(d, 2) + C(d, 3) coefficients (up to d = 18).
MAX_ORDER3_COEFFICIENTS = 1000
# Bound on the entries of the order-3 coefficient operators (p x c) of all strata together.
MAX_COEFFICIENT_ENTRIES = 40_000_000
# Bound on the entries of the single-index controls' half-design operators (d x c each stratum):
# 160 MB; beyond it (300 features and 32 strata, say) the strata go without the control.
MAX_CONTROL_ENTRIES = 20_000_000


def fitting_order(
    n_features: int, num_samples: int, n_strata: int, controlled: bool = False
) -> int:
    """3 where the budget and memory afford the order-3 fit, else 1 (see the module's notes).

    ``controlled``: the order-1 fit would carry the single-index controls (asked for, and
    :func:`controls_affordable`); the order-3 fit then needs
    :data:`CONTROLLED_COALITIONS_PER_COEFFICIENT` coalitions per coefficient, else
    :data:`COALITIONS_PER_COEFFICIENT`.

    Examples
    --------
    >>> from explainops.explainers.strata import fitting_order
    >>> fitting_order(12, 2048, 10), fitting_order(12, 400, 10), fitting_order(30, 4096, 10)
    (3, 1, 1)
    >>> fitting_order(16, 2048, 10), fitting_order(16, 2048, 10, controlled=True)
    (3, 1)

    """
    size = InteractionBasis(n_features, order=3).size
    if num_samples >= 2**n_features - 2:  # every coalition: exact at any order, 1 is cheapest
        return 1
    affordable = n_strata * size * num_samples <= MAX_COEFFICIENT_ENTRIES
    per_coefficient = (
        CONTROLLED_COALITIONS_PER_COEFFICIENT if controlled else COALITIONS_PER_COEFFICIENT
    )
    enough = num_samples >= per_coefficient * size
    return 3 if size <= MAX_ORDER3_COEFFICIENTS and affordable and enough else 1


def controls_affordable(n_strata: int, n_features: int, num_samples: int) -> bool:
    """True when the single-index controls of ``n_strata`` strata fit the memory bound.

    Examples
    --------
    >>> from explainops.explainers.strata import controls_affordable
    >>> controls_affordable(10, 30, 2108), controls_affordable(32, 300, 2648)
    (True, False)

    """
    return n_strata * n_features * num_samples <= MAX_CONTROL_ENTRIES


@dataclass(frozen=True)
class Stratum:
    """Baseline rows that share a design: their positions, total weight, design and solve."""

    rows: IntArray
    weight: float
    design: KernelDesign
    solver: KernelSolver
    control: SingleIndexControl | None = None  # of an order-1 fit with enough sampled pairs


def assign_strata(weights: FloatArray, n_strata: int) -> list[tuple[int, IntArray, float]]:
    """Each stratum with weight: its number, rows (positions) and total weight; b in b mod n."""
    assignment = np.arange(weights.shape[0]) % n_strata
    strata = []
    for stratum in range(n_strata):
        rows = np.flatnonzero(assignment == stratum)
        weight = float(weights[rows].sum())
        if weight > 0:
            strata.append((stratum, rows, weight))
    return strata


class StratifiedDesigns:
    """The designs and solves of each stratum for one (d, budget, seed), made once, reused."""

    def __init__(self, n_features: int, num_samples: int, seed: Seed) -> None:
        self.n_features = n_features
        self.num_samples = num_samples
        self.seed = seed
        self._solved: dict[tuple[int, int], tuple[KernelDesign, KernelSolver]] = {}
        self._controls: dict[tuple[int, int], SingleIndexControl | None] = {}

    def control(self, stratum: int, order: int) -> SingleIndexControl | None:
        """The single-index control of the stratum's fit at ``order`` (None where it has none)."""
        key = (stratum, order)
        if key not in self._controls:
            self._controls[key] = SingleIndexControl.for_design(*self.design(stratum, order))
        return self._controls[key]

    def design(self, stratum: int, order: int) -> tuple[KernelDesign, KernelSolver]:
        """Stratum ``stratum``'s design (seeded by (seed, stratum)) and its solve at ``order``."""
        key = (stratum, order)
        if key not in self._solved:
            design = kernel_design(
                self.n_features,
                self.num_samples,
                stratum_seed(self.seed, stratum),
                enumerate_singletons=True,
            )
            self._solved[key] = (design, KernelSolver.for_design(design, order))
        return self._solved[key]

    def strata(self, weights: FloatArray, n_strata: int, controlled: bool = True) -> list[Stratum]:
        """The strata of baseline rows with ``weights`` (m,), in at most ``n_strata`` strata.

        ``controlled``: with the single-index control of each order-1 stratum that affords one
        (while the controls of all strata together hold at most :data:`MAX_CONTROL_ENTRIES`).
        """
        groups = assign_strata(weights, min(n_strata, weights.shape[0]))
        controlled = controlled and controls_affordable(
            len(groups), self.n_features, self.num_samples
        )
        order = fitting_order(self.n_features, self.num_samples, len(groups), controlled)
        result = []
        for stratum, rows, weight in groups:
            design, solver = self.design(stratum, order)
            control = self.control(stratum, order) if controlled else None
            result.append(Stratum(rows, weight, design, solver, control))
        return result


def _order_at(n_features: int, n_strata: int, controlled: bool, budget: int) -> int:
    """:func:`fitting_order` of a round, with the budget last, to make a picklable partial of it.

    ``controlled``: the controls are asked for (the round has them where they are affordable at
    its budget, as :meth:`AdaptiveStratum.at` decides). Explainers go to Dask workers with their
    designs, so a round's order function must pickle.
    """
    affordable = controls_affordable(n_strata, n_features, budget)
    return fitting_order(n_features, budget, n_strata, controlled and affordable)


def stratum_seed(seed: Seed, stratum: int) -> Seed:
    """The seed of stratum ``stratum``'s design: (seed..., stratum); None stays None."""
    return None if seed is None else (*np.atleast_1d(seed).tolist(), stratum)


@dataclass(frozen=True)
class AdaptiveStratum:
    """A stratum of ``num_samples="auto"``: its rows and weight, and its nested designs' rounds.

    ``designs`` lists the union of the rounds' coalitions, so a sample moving on evaluates only
    the new ones; :meth:`at` gives the stratum at a round (its design, solve and control), made
    when first needed: most samples stop at the first rounds, whose solves are the cheapest.
    """

    rows: IntArray
    weight: float
    designs: AdaptiveDesigns
    controlled: bool
    n_strata: int  # of the baseline, for the controls' memory bound
    _controls: dict[int, SingleIndexControl | None] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def n_rounds(self) -> int:
        """How many rounds the designs have (the same for every stratum)."""
        return self.designs.n_rounds

    def at(self, index: int) -> Stratum:
        """The stratum at round ``index``, with its single-index control where it has one."""
        round_ = self.designs.round(index)
        if index not in self._controls:
            n_features, budget = round_.design.masks.shape[1], round_.design.masks.shape[0]
            affordable = controls_affordable(self.n_strata, n_features, budget)
            self._controls[index] = (
                SingleIndexControl.for_design(round_.design, round_.solver)
                if self.controlled and affordable
                else None
            )
        return Stratum(self.rows, self.weight, round_.design, round_.solver, self._controls[index])


class AdaptiveStrata:
    """Each stratum's nested designs for one (d, first budget, cap, seed), made once, reused.

    A stratum's rounds grow from one seeded stream of paired draws (seeded by (seed, stratum)),
    with sizes 1 and d - 1 enumerated as in a fixed stratified design; each round is fitted at
    the order its budget affords, with its single-index controls (where all strata's controls of
    that round together fit :func:`controls_affordable`).
    """

    def __init__(self, n_features: int, first_budget: int, max_samples: int, seed: Seed) -> None:
        self.n_features = n_features
        self.first_budget = first_budget
        self.max_samples = max_samples
        self.seed = seed
        self._strata: dict[tuple[int, int, bool], AdaptiveStratum] = {}

    def strata(
        self, weights: FloatArray, n_strata: int, controlled: bool = True
    ) -> list[AdaptiveStratum]:
        """The strata of baseline rows with ``weights`` (m,), in at most ``n_strata`` strata."""
        groups = assign_strata(weights, min(n_strata, weights.shape[0]))
        result = []
        for stratum, rows, weight in groups:
            key = (stratum, len(groups), controlled)
            if key not in self._strata:
                designs = AdaptiveDesigns(
                    self.n_features,
                    self.first_budget,
                    self.max_samples,
                    stratum_seed(self.seed, stratum),
                    enumerate_singletons=True,
                    order=partial(_order_at, self.n_features, len(groups), controlled),
                )
                self._strata[key] = AdaptiveStratum(rows, weight, designs, controlled, len(groups))
            cached = self._strata[key]
            result.append(replace(cached, rows=rows, weight=weight))
        if len({stratum.n_rounds for stratum in result}) > 1:
            raise AssertionError("every stratum has the same rounds")  # pragma: no cover
        return result
