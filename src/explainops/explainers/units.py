"""Shapley values of instances of varying numbers of units: a text's tokens, an image's segments.

A text of n tokens or an image of n superpixels is a game of n players: a coalition keeps its
units and replaces the others by the baseline (a mask string, a baseline image's pixels), and
v(S) = link(f(instance with only S kept)). The number of units changes from instance to instance,
so, unlike a table's columns, every instance has a design of its own size: the Kernel SHAP
design of :func:`~explainops.explainers.coalition_design.kernel_design` for (n, budget, seed),
shared by the instances with as many units. A budget covering all 2^n - 2 proper coalitions
enumerates them, and the values are then exact Shapley values. Masked inputs of many instances
go to the model together, in calls of at most ``batch_size`` rows.

This module only does numbers: what a masked instance *is* (a string, an image) is the
instance's business (:class:`Maskable`); the caller's ``evaluate`` function turns a list of
masked batches into model outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from explainops.errors import ExplainerError
from explainops.explainers.coalition_design import (
    KernelDesign,
    KernelSolver,
    default_num_samples,
    kernel_design,
)
from explainops.explainers.link import apply_link

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

DEFAULT_UNITS_BATCH_SIZE = 2048


class Maskable(Protocol):
    """An instance whose units can be kept or masked."""

    @property
    def n_units(self) -> int:
        """Number of units n (the players of the game)."""

    def masked(self, keep: BoolArray) -> Any:
        """The model inputs of the coalitions ``keep`` (c, n): True keeps a unit, False masks it."""


# Given the masked batches of several instances (each what Maskable.masked returned), the model's
# outputs of all their rows stacked in order, shape (total rows, k).
Evaluate = Callable[[Sequence[Any]], FloatArray]


@dataclass(frozen=True)
class UnitExplanation:
    """The Shapley values of one instance's units.

    Attributes
    ----------
    values : ndarray of shape (k, n)
        One value per output and unit; for every output they add up to
        ``prediction - base_value`` (exact additivity).
    base_value : ndarray of shape (k,)
        v(empty): the output with every unit masked.
    prediction : ndarray of shape (k,)
        v(all): the output of the instance as it is.
    standard_errors : ndarray of shape (k, n)
        Sampling errors of ``values`` (0 when exact; NaN when a single pair was sampled).
    evaluations : int
        Model evaluations spent on the instance, its two end points included.
    exact : bool
        True when every coalition was evaluated.

    """

    values: FloatArray
    base_value: FloatArray
    prediction: FloatArray
    standard_errors: FloatArray
    evaluations: int
    exact: bool

    @property
    def additivity_error(self) -> float:
        """Max |sum of values + base value - prediction| over the outputs."""
        if self.values.shape[0] == 0:
            return 0.0
        gap = self.values.sum(axis=1) + self.base_value - self.prediction
        return float(np.max(np.abs(gap)))


@lru_cache(maxsize=64)
def _design(n_units: int, budget: int, seed: int | None) -> tuple[KernelDesign, KernelSolver]:
    design = kernel_design(n_units, budget, seed)
    return design, KernelSolver.for_design(design)


class UnitsExplainer:
    """Kernel SHAP over each instance's own units, exact when the budget covers them.

    Parameters
    ----------
    num_samples : int, default=None
        Coalitions evaluated per instance; None: min(2n + 2048, 2^n - 2) for n units, so that an
        instance of up to 11 units is enumerated exactly. Either way an instance whose 2^n - 2
        proper coalitions fit in the budget is enumerated.
    seed : int or None, default=0
        Seed of the sampled coalitions: the values depend only on it and the instance, never on
        which instances were explained together.
    use_logit : bool, default=False
        Explain the log-odds of the outputs instead of the outputs.
    batch_size : int, default=2048
        Masked inputs per model call, gathered across instances.

    Examples
    --------
    >>> import numpy as np
    >>> from explainops.explainers.units import UnitsExplainer
    >>> class Word:
    ...     def __init__(self, weights):
    ...         self.weights = np.asarray(weights)
    ...     @property
    ...     def n_units(self):
    ...         return len(self.weights)
    ...     def masked(self, keep):
    ...         return keep @ self.weights
    >>> evaluate = lambda batches: np.concatenate(batches)[:, None]
    >>> [explanation] = UnitsExplainer().explain(evaluate, [Word([1.0, 2.0, 3.0])])
    >>> explanation.values.round(6).tolist(), explanation.exact
    ([[1.0, 2.0, 3.0]], True)

    """

    def __init__(
        self,
        *,
        num_samples: int | None = None,
        seed: int | None = 0,
        use_logit: bool = False,
        batch_size: int = DEFAULT_UNITS_BATCH_SIZE,
    ) -> None:
        if num_samples is not None and num_samples < 1:
            raise ExplainerError(f"num_samples must be >= 1, got {num_samples}")
        if batch_size < 1:
            raise ExplainerError(f"batch_size must be >= 1, got {batch_size}")
        self.num_samples = num_samples
        self.seed = seed
        self.use_logit = use_logit
        self.batch_size = batch_size

    def budget(self, n_units: int) -> int:
        """The coalitions an instance of ``n_units`` units costs, its two end points excluded."""
        if n_units < 2:
            return 0
        proper = 2**n_units - 2 if n_units < 62 else np.iinfo(np.int64).max
        chosen = self.num_samples if self.num_samples is not None else default_num_samples(n_units)
        return int(min(chosen, proper))

    def explain(self, evaluate: Evaluate, instances: Sequence[Maskable]) -> list[UnitExplanation]:
        """The Shapley values of every instance's units, in order."""
        plans = [self._plan(instance.n_units) for instance in instances]
        outputs = self._evaluate_all(evaluate, instances, plans)
        return [
            self._solve(instance.n_units, plan, linked)
            for instance, plan, linked in zip(instances, plans, outputs, strict=True)
        ]

    def _plan(self, n_units: int) -> BoolArray:
        """The coalitions to evaluate: empty, full, then the design's (c, n)."""
        ends = np.zeros((2, n_units), np.bool_)
        ends[1] = True
        if n_units < 2:
            return ends
        design, _ = _design(n_units, self.budget(n_units), self.seed)
        return np.concatenate([ends, design.masks])

    def _evaluate_all(
        self, evaluate: Evaluate, instances: Sequence[Maskable], plans: list[BoolArray]
    ) -> list[FloatArray]:
        """link(f) of every instance's planned coalitions, in model calls of <= batch_size rows."""
        pieces: list[list[FloatArray]] = [[] for _ in instances]
        pending: list[tuple[int, Any, int]] = []  # (instance, masked batch, its rows)
        pending_rows = 0

        def flush() -> None:
            nonlocal pending_rows
            if not pending:
                return
            stacked = np.asarray(evaluate([batch for _, batch, _ in pending]), dtype=np.float64)
            if stacked.ndim == 1:
                stacked = stacked[:, None]
            if stacked.shape[0] != pending_rows:
                raise ExplainerError(
                    f"the model returned {stacked.shape[0]} outputs for {pending_rows} inputs"
                )
            start = 0
            for index, _, batch_rows in pending:
                pieces[index].append(stacked[start : start + batch_rows])
                start += batch_rows
            pending.clear()
            pending_rows = 0

        # Every call but the last is full: an instance's plan is cut where a call fills up, so a
        # default budget just over batch_size costs one call a row, not two.
        for index, (instance, plan) in enumerate(zip(instances, plans, strict=True)):
            start = 0
            while start < plan.shape[0]:
                chunk = plan[start : start + self.batch_size - pending_rows]
                pending.append((index, instance.masked(chunk), chunk.shape[0]))
                pending_rows += chunk.shape[0]
                start += chunk.shape[0]
                if pending_rows == self.batch_size:
                    flush()
        flush()
        return [apply_link(np.concatenate(parts), self.use_logit) for parts in pieces]

    def _solve(self, n_units: int, plan: BoolArray, linked: FloatArray) -> UnitExplanation:
        base, prediction, rest = linked[0], linked[1], linked[2:]
        n_outputs = linked.shape[1]
        if n_units < 2:
            values = (prediction - base)[:, None] if n_units == 1 else np.zeros((n_outputs, 0))
            errors = np.zeros_like(values)
            return UnitExplanation(values, base, prediction, errors, plan.shape[0], True)
        design, solver = _design(n_units, self.budget(n_units), self.seed)
        centred = (rest - base).T[None]  # (1, k, c)
        delta = (prediction - base)[None]  # (1, k)
        values = solver.solve(centred, delta)
        errors = solver.standard_errors(centred, values, design)
        return UnitExplanation(
            values[0], base, prediction, errors[0], plan.shape[0], design.is_exact
        )
