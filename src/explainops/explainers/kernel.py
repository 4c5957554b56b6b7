"""Kernel SHAP: Shapley values from a weighted linear regression over sampled coalitions.

The coalition design depends only on (number of features, num_samples, seed), so one design serves
every sample (see :mod:`explainops.explainers.coalition_design`), and results do not depend on how
samples are batched or partitioned. With ``num_samples="auto"`` each sample is explained in rounds
of growing, nested designs until its standard errors are below a target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from explainops.errors import ExplainerError
from explainops.explainers._agnostic import ExplanationProblem, ModelAgnosticExplainer
from explainops.explainers.baseline import Baseline
from explainops.explainers.coalition_design import (
    MAX_VALUES_IN_MEMORY,
    AdaptiveDesigns,
    KernelDesign,
    KernelSolver,
    default_num_samples,
    kernel_design,
)
from explainops.explainers.coalitions import DEFAULT_BATCH_SIZE, ValueFunction
from explainops.explainers.explanation import Explanation
from explainops.explainers.inputs import FeatureTable, PredictFunction
from explainops.explainers.link import apply_link
from explainops.explainers.single_index import ControlStack, pooled_starts
from explainops.explainers.strata import (
    MAX_STRATA,
    AdaptiveStrata,
    AdaptiveStratum,
    StratifiedDesigns,
    Stratum,
)
from explainops.explainers.surrogate import adjusted_estimate

__all__ = [
    "KernelDesign",
    "KernelExplainer",
    "KernelSolver",
    "check_kernel_budget",
    "default_num_samples",
    "kernel_design",
]

FloatArray = npt.NDArray[np.float64]

Estimator = Literal["stratified", "stratified_plain", "kernel", "adjusted"]
ESTIMATORS: tuple[str, ...] = ("stratified", "stratified_plain", "kernel", "adjusted")

# Fewer sampled pairs than this in a stratum: the stratified estimate's errors are unknown (NaN).
MIN_PAIRS_FOR_ERRORS = 4
# num_samples: auto starts at max(2d + 2, this) coalitions a sample.
_AUTO_FIRST_BUDGET = 128
# num_samples: auto's default max_samples is min(2d + this, 2^d - 2) coalitions.
_AUTO_MAX_EXTRA = 8192


def check_kernel_budget(
    num_samples: int | str | None,
    target_stderr: float | None,
    max_samples: int | None,
    estimator: str | None,
) -> None:
    """Refuse an inconsistent budget with an ExplainerError saying which setting and why.

    The one set of rules, for the explainer and for its YAML settings.
    """
    if estimator is not None and estimator not in ESTIMATORS:
        expected = ", ".join(repr(name) for name in ESTIMATORS)
        raise ExplainerError(f"estimator must be one of {expected}, got {estimator!r}")
    if num_samples == "auto" and estimator == "adjusted":
        raise ExplainerError(
            "num_samples: auto works with the estimators 'stratified', 'stratified_plain' and "
            "'kernel', not 'adjusted'"
        )
    if num_samples == "auto":
        if target_stderr is None or not target_stderr > 0:
            raise ExplainerError(
                "num_samples: auto needs target_stderr, a standard error > 0 in the "
                f"explained output's units, got {target_stderr}"
            )
        if max_samples is not None and max_samples < 1:
            raise ExplainerError(f"max_samples must be >= 1, got {max_samples}")
        return
    if isinstance(num_samples, (str, bool)):
        raise ExplainerError(
            f"num_samples must be a number of coalitions or 'auto', got {num_samples!r}"
        )
    if num_samples is not None and num_samples < 1:
        raise ExplainerError(f"num_samples must be >= 1, got {num_samples}")
    for name, value in (("target_stderr", target_stderr), ("max_samples", max_samples)):
        if value is not None:
            raise ExplainerError(f"{name} is used only with num_samples: auto")


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
    num_samples : int or "auto", default=None
        Coalitions evaluated per sample; None: min(2d + 2048, 2^d - 2), as shap and Clarify.
        ``"auto"``: each sample is explained in rounds of nested designs (with the stratified
        estimators, each stratum's own), from max(2d + 2, 128) coalitions, doubled each round
        up to ``max_samples``, until every one of its values has a standard error below
        ``target_stderr``; a sample that gets there stops costing model calls.
    target_stderr : float, default=None
        With ``num_samples="auto"`` (and only then; required): the standard error, in the
        explained output's units, every value of a sample must be below.
    max_samples : int, default=None
        With ``num_samples="auto"``: the largest budget of a sample, in coalitions; None:
        min(2d + 8192, 2^d - 2).
    estimator : {"stratified", "stratified_plain", "kernel", "adjusted"}, default=None
        How the coalitions are chosen and the values fitted; None: ``"stratified"``.
        ``"stratified"`` (:mod:`explainops.explainers.strata`): every baseline row (up to 32
        strata) gets its own seeded design of ``num_samples`` coalitions, sizes 1 and d - 1
        enumerated when they fit, and a fit with pairs and triples of features where the
        budget has 1.5 coalitions per coefficient; elsewhere, with 16 or more sampled pairs,
        the order-1 fit with a single-index control variate
        (:mod:`explainops.explainers.single_index`), kept per sample where a cross-fit shows
        it helps: the same model evaluations as ``"kernel"``, with 2.0-14x lower error than
        shap's on the bench problems (docs/benchmarks.md), for computing of its own.
        ``"stratified_plain"``: the same without the control, for models so cheap that its
        computing would cost more than their calls. With ``use_logit`` the link is taken of
        the mean over all rows, so there is one stratum.
        ``"kernel"``: one design shared by every baseline row, the regression of shap's
        ``KernelExplainer`` (numbers comparable with shap and Clarify).
        ``"adjusted"``: regression-adjusted Kernel SHAP (:mod:`explainops.explainers.surrogate`):
        the shared design, a tree surrogate of v(S) fitted per sample and output, its exact
        Shapley values, and Kernel SHAP on the residual only; fitting 100 small trees per
        sample and output. Its standard errors hold the surrogate fixed and are too small
        below a few hundred coalitions.
        ``num_samples="auto"`` works with every estimator but ``"adjusted"``.
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
    The explanation's ``standard_errors`` estimate each value's sampling error by a jackknife
    over the sampled pairs (zero when every coalition was enumerated, NaN when a single pair was
    sampled: its spread is unknown). With ``num_samples="auto"`` the explanation also says, per
    sample, how many model evaluations it took (``evaluations``: coalitions x baseline rows) and
    whether its standard errors reached the target (``converged``).

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
        num_samples: int | Literal["auto"] | None = None,
        target_stderr: float | None = None,
        max_samples: int | None = None,
        estimator: Estimator | None = None,
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
        self.num_samples = num_samples
        self.target_stderr = target_stderr
        self.max_samples = max_samples
        check_kernel_budget(num_samples, target_stderr, max_samples, estimator)
        self.estimator: Estimator = estimator or "stratified"
        # The designs and their solves depend only on (d, the budget settings, seed): made once,
        # reused by every batch a job explains.
        self._solved: dict[int, tuple[KernelDesign, KernelSolver]] = {}
        self._adaptive: dict[int, AdaptiveDesigns] = {}
        self._stratified: dict[int, StratifiedDesigns] = {}
        self._adaptive_strata: dict[int, AdaptiveStrata] = {}

    def design_for(self, n_features: int) -> KernelDesign:
        """The coalition design used for ``n_features`` features."""
        return self._design_and_solver(n_features)[0]

    def _budget(self, n_features: int) -> int:
        if isinstance(self.num_samples, int):
            return self.num_samples
        return default_num_samples(n_features)

    def _design_and_solver(self, n_features: int) -> tuple[KernelDesign, KernelSolver]:
        if n_features not in self._solved:
            design = kernel_design(n_features, self._budget(n_features), self.seed)
            self._solved[n_features] = (design, KernelSolver.for_design(design))
        return self._solved[n_features]

    def explain(self, model: PredictFunction, samples: Any) -> Explanation:
        """Explain ``model``, a predict callable (n, d) -> (n,) or (n, k), on ``samples`` (n, d).

        Returns an :class:`Explanation` with ``values`` (n, k, d), ``base_values`` (k,),
        ``predictions`` (n, k), ``standard_errors`` (n, k, d) and the samples' values as
        ``data`` (n, d); with ``num_samples="auto"`` also ``evaluations`` (n,) and
        ``converged`` (n,).
        """
        problem = self.problem(model, samples)
        if self.num_samples == "auto":
            return self._explain_adaptively(problem)
        if self.estimator in ("stratified", "stratified_plain"):
            return problem.explanation(*self._solve_stratified(problem))
        design, solver = self._design_and_solver(problem.n_features)
        values, errors = self._solve_in_chunks(problem, design, solver)
        return problem.explanation(values, errors)

    def strata_for(self, n_features: int, weights: FloatArray, use_logit: bool) -> list[Stratum]:
        """The strata of ``estimator="stratified"`` for baseline rows of ``weights`` (m,)."""
        if n_features not in self._stratified:
            budget = self._budget(n_features)
            self._stratified[n_features] = StratifiedDesigns(n_features, budget, self.seed)
        # the logit of a mean is not a mean of logits, and where every coalition is evaluated
        # all strata would have the same design: one stratum, the whole baseline
        exact = self._budget(n_features) >= 2**n_features - 2
        n_strata = 1 if use_logit or exact else MAX_STRATA
        controlled = self.estimator == "stratified"
        return self._stratified[n_features].strata(weights, n_strata, controlled)

    def adaptive_strata_for(
        self, n_features: int, weights: FloatArray, use_logit: bool
    ) -> list[AdaptiveStratum]:
        """The strata of a stratified ``num_samples="auto"``, each with its rounds.

        As :meth:`strata_for` round by round: a design of its own for each baseline row (one
        stratum with ``use_logit``), each stratum's rounds nested.
        """
        if n_features not in self._adaptive_strata:
            first, cap = self._adaptive_budgets(n_features)
            self._adaptive_strata[n_features] = AdaptiveStrata(n_features, first, cap, self.seed)
        n_strata = 1 if use_logit else MAX_STRATA
        controlled = self.estimator == "stratified"
        return self._adaptive_strata[n_features].strata(weights, n_strata, controlled)

    def _solve_stratified(self, problem: ExplanationProblem) -> tuple[FloatArray, FloatArray]:
        """The weighted mean of each stratum's values; their variances add, squared weights."""
        baseline = problem.value_function.baseline
        strata = self.strata_for(problem.n_features, baseline.weights, problem.use_logit)
        if len(strata) == 1 and strata[0].control is None:
            return self._solve_in_chunks(problem, strata[0].design, strata[0].solver)
        weights = np.array([stratum.weight for stratum in strata])
        parts = self._stratum_problems(problem, strata)
        if any(stratum.control is not None for stratum in strata):
            values, variances = self._solve_controlled(parts, strata)
        else:
            estimates: list[FloatArray] = []
            variances = np.zeros((*problem.predictions.shape, problem.n_features))
            for stratum, part in zip(strata, parts, strict=True):
                stratum_values, errors = self._solve_in_chunks(part, stratum.design, stratum.solver)
                estimates.append(stratum_values)
                variances += (stratum.weight * errors) ** 2
            values = np.einsum("g,gnkd->nkd", weights, np.stack(estimates))
        sampled = [stratum.design.draws.shape[0] for stratum in strata]
        if 0 < min(sampled) < MIN_PAIRS_FOR_ERRORS:
            # a handful of sampled pairs beside the enumerated sizes cannot show the error of
            # what was not sampled (95% intervals covered 25-84% of the exact values): unknown
            variances[...] = np.nan
        return values, np.sqrt(variances)

    @classmethod
    def _stratum_problems(
        cls, problem: ExplanationProblem, strata: Sequence[Stratum | AdaptiveStratum]
    ) -> list[ExplanationProblem]:
        """The problem of each stratum against its rows alone; one stratum: the problem itself."""
        if len(strata) == 1:  # the whole baseline
            return [problem]
        rows_per_call = max(1, problem.value_function.batch_size)
        scratch = np.empty(rows_per_call * problem.n_features, problem.samples.values.dtype)
        return [
            replace(cls._stratum_problem(problem, stratum.rows, stratum.weight), scratch=scratch)
            for stratum in strata
        ]

    @classmethod
    def _solve_controlled(
        cls, parts: list[ExplanationProblem], strata: list[Stratum]
    ) -> tuple[FloatArray, FloatArray]:
        """The strata's weighted values and variances, with their single-index controls.

        A block of samples at a time, every stratum's coalition values at once
        (:meth:`_strata_estimate`).
        """
        n_samples, n_outputs = parts[0].predictions.shape
        shape = (n_samples, n_outputs, parts[0].n_features)
        values, variances = np.zeros(shape), np.zeros(shape)
        # every stratum's coalition values are held at once; the controls' fits (all strata
        # together, on blocks of rows of bounded size) and then each stratum's cross-fit hold a
        # few more arrays of one stratum's size
        sizes = [stratum.design.masks.shape[0] for stratum in strata]
        chunk = max(1, MAX_VALUES_IN_MEMORY // ((sum(sizes) + 4 * max(sizes)) * n_outputs))
        stack = ControlStack.of([s.control for s in strata if s.control is not None])
        for start in range(0, n_samples, chunk):
            rows = slice(start, min(start + chunk, n_samples))
            centred, deltas = [], []
            for stratum, part in zip(strata, parts, strict=True):
                linked = part.linked_outputs_at(rows, stratum.design.masks)
                centred.append(np.moveaxis(linked, 1, 2) - part.base_values[None, :, None])
                deltas.append(part.predictions[rows] - part.base_values)
            values[rows], variances[rows] = cls._strata_estimate(strata, stack, centred, deltas)
        return values, variances

    @staticmethod
    def _strata_estimate(
        strata: Sequence[Stratum],
        stack: ControlStack | None,
        centred: Sequence[FloatArray],
        deltas: Sequence[FloatArray],
    ) -> tuple[FloatArray, FloatArray]:
        """The strata's weighted values and variances (n, k, d) from their coalitions' values.

        ``centred`` (n, k, c_s) and ``deltas`` (n, k): each stratum's centred coalition values
        and full values. The controlled strata are fitted together (``stack``, of their controls
        in order), each control's first fit from the strata's pooled order-1 values
        (:func:`pooled_starts`); the others by their own solve and jackknife.
        """
        controlled = [i for i, stratum in enumerate(strata) if stratum.control is not None]
        results: dict[int, tuple[FloatArray, FloatArray]] = {}
        if controlled:
            assert stack is not None
            plain = [
                stack.controls[position].plain_values(centred[i], deltas[i])
                for position, i in enumerate(controlled)
            ]
            shares = np.array([strata[i].weight for i in controlled])
            estimates = stack.estimate(
                [centred[i] for i in controlled],
                [deltas[i] for i in controlled],
                pooled_starts(plain, shares),
                plain,
            )
            results = dict(zip(controlled, estimates, strict=True))
        values = np.zeros((*deltas[0].shape, strata[0].design.masks.shape[1]))
        variances = np.zeros(values.shape)
        for i, stratum in enumerate(strata):
            if i in results:
                estimate, errors = results[i]
            else:
                estimate = stratum.solver.solve(centred[i], deltas[i])
                errors = stratum.solver.standard_errors(centred[i], estimate, stratum.design)
            values += stratum.weight * estimate
            variances += (stratum.weight * errors) ** 2
        return values, variances

    @staticmethod
    def _stratum_problem(
        problem: ExplanationProblem, positions: npt.NDArray[np.int64], weight: float
    ) -> ExplanationProblem:
        """``problem`` against the baseline rows at ``positions`` alone (of total ``weight``)."""
        baseline = problem.value_function.baseline
        table = baseline.table
        weights = baseline.weights[positions] / weight
        rows = FeatureTable(table.values[positions], table.feature_names, table.dtypes)
        value_function = ValueFunction(
            problem.value_function.model_outputs,
            Baseline(rows, weights),
            problem.value_function.batch_size,
        )
        outputs = problem.baseline_outputs[positions]
        base_values = apply_link(weights @ outputs, problem.use_logit)
        return replace(
            problem,
            value_function=value_function,
            base_values=base_values,
            baseline_outputs=outputs,
        )

    def _adaptive_budgets(self, n_features: int) -> tuple[int, int]:
        """The first round's budget and the cap of ``num_samples="auto"``."""
        n_proper = max(1, 2**n_features - 2)
        cap = self.max_samples or min(2 * n_features + _AUTO_MAX_EXTRA, n_proper)
        return max(2 * n_features + 2, _AUTO_FIRST_BUDGET), cap

    def adaptive_designs_for(self, n_features: int) -> AdaptiveDesigns:
        """The nested designs of ``num_samples="auto"`` with ``estimator="kernel"``."""
        if n_features not in self._adaptive:
            first, cap = self._adaptive_budgets(n_features)
            self._adaptive[n_features] = AdaptiveDesigns(n_features, first, cap, self.seed)
        return self._adaptive[n_features]

    def _explain_adaptively(self, problem: ExplanationProblem) -> Explanation:
        """Rounds of nested designs per sample, until its standard errors are below target."""
        if self.estimator in ("stratified", "stratified_plain") and problem.n_features > 1:
            return self._explain_stratified_adaptively(problem)
        assert self.target_stderr is not None
        designs = self.adaptive_designs_for(problem.n_features)
        n_samples, n_outputs = problem.predictions.shape
        settled = _Settled((n_samples, n_outputs, problem.n_features), self.target_stderr)
        n_background = problem.value_function.baseline.table.values.shape[0]
        delta = problem.predictions - problem.base_values
        if designs.capacity == 0:  # one feature: it gets the whole difference
            settled.values[...] = delta[..., None] * designs.round(0).solver.offset
        chunk = max(1, MAX_VALUES_IN_MEMORY // max(1, designs.capacity * n_outputs))
        for start in range(0, n_samples if designs.capacity else 0, chunk):
            positions = np.arange(start, min(start + chunk, n_samples))
            store = np.empty((positions.shape[0], designs.capacity, n_outputs))
            active = np.arange(positions.shape[0])
            for index in range(designs.n_rounds):
                round_ = designs.round(index)
                new = designs.new_columns(index)
                if new.stop > new.start:
                    store[active, new] = problem.linked_outputs_at(
                        positions[active], designs.new_masks(index)
                    )
                linked = store[np.ix_(active, round_.columns)]
                centred = np.moveaxis(linked, 1, 2) - problem.base_values[None, :, None]
                chosen = positions[active]
                estimate = round_.solver.solve(centred, delta[chosen])
                spread = round_.solver.standard_errors(centred, estimate, round_.design)
                evaluations = round_.columns.shape[0] * n_background
                last = index == designs.n_rounds - 1
                active = active[~settled.settle(chosen, estimate, spread, evaluations, last)]
                if active.shape[0] == 0:
                    break
        return settled.explanation(problem)

    def _explain_stratified_adaptively(self, problem: ExplanationProblem) -> Explanation:
        """Rounds of each stratum's nested designs per sample, until its errors are below target.

        Round by round the still active samples evaluate the coalitions each stratum's round
        adds, and get the stratified estimate of that round (:meth:`_strata_estimate`); a sample
        whose every standard error is below the target, or at the last round, stops there. A
        sample's values depend on its own coalition values alone, so neither the other samples
        nor the batching change them.
        """
        assert self.target_stderr is not None
        weights = problem.value_function.baseline.weights
        strata = self.adaptive_strata_for(problem.n_features, weights, problem.use_logit)
        parts = self._stratum_problems(problem, strata)
        n_rounds = strata[0].n_rounds
        rounds: dict[int, tuple[list[Stratum], ControlStack | None]] = {}

        def at(index: int) -> tuple[list[Stratum], ControlStack | None]:
            """The strata at round ``index`` and their controls' stack, made when first needed."""
            if index not in rounds:
                round_strata = [stratum.at(index) for stratum in strata]
                present = [s.control for s in round_strata if s.control is not None]
                rounds[index] = (round_strata, ControlStack.of(present) if present else None)
            return rounds[index]

        n_samples, n_outputs = problem.predictions.shape
        settled = _Settled((n_samples, n_outputs, problem.n_features), self.target_stderr)
        union = sum(stratum.designs.capacity for stratum in strata)
        largest = max(stratum.designs.capacity for stratum in strata)
        chunk = max(1, MAX_VALUES_IN_MEMORY // ((2 * union + 4 * largest) * n_outputs))
        for start in range(0, n_samples, chunk):
            positions = np.arange(start, min(start + chunk, n_samples))
            stores = [
                np.empty((positions.shape[0], stratum.designs.capacity, n_outputs))
                for stratum in strata
            ]
            active = np.arange(positions.shape[0])
            for index in range(n_rounds):
                chosen = positions[active]
                centred, deltas = [], []
                for stratum, part, store in zip(strata, parts, stores, strict=True):
                    new = stratum.designs.new_columns(index)
                    if new.stop > new.start:
                        store[active, new] = part.linked_outputs_at(
                            chosen, stratum.designs.new_masks(index)
                        )
                    linked = store[np.ix_(active, stratum.designs.round(index).columns)]
                    centred.append(np.moveaxis(linked, 1, 2) - part.base_values[None, :, None])
                    deltas.append(part.predictions[chosen] - part.base_values)
                round_strata, stack = at(index)
                estimate, variances = self._strata_estimate(round_strata, stack, centred, deltas)
                sampled = [stratum.design.draws.shape[0] for stratum in round_strata]
                if 0 < min(sampled) < MIN_PAIRS_FOR_ERRORS:
                    variances[...] = np.nan  # unknown, as for a fixed budget: not below target
                evaluations = sum(s.design.masks.shape[0] * s.rows.shape[0] for s in round_strata)
                last = index == n_rounds - 1
                finished = settled.settle(chosen, estimate, np.sqrt(variances), evaluations, last)
                active = active[~finished]
                if active.shape[0] == 0:
                    break
        return settled.explanation(problem)

    def _solve_in_chunks(
        self,
        problem: ExplanationProblem,
        design: KernelDesign,
        solver: KernelSolver,
    ) -> tuple[FloatArray, FloatArray]:
        """Values and standard errors (n, k, d), a bounded block of samples at a time."""
        n_samples, n_outputs = problem.predictions.shape
        shape = (n_samples, n_outputs, problem.n_features)
        values, errors = np.empty(shape), np.zeros(shape)
        delta = problem.predictions - problem.base_values
        if design.masks.shape[0] == 0:
            values[...] = delta[..., None] * solver.offset
            return values, errors
        chunk = max(1, MAX_VALUES_IN_MEMORY // (design.masks.shape[0] * n_outputs))
        for start in range(0, n_samples, chunk):
            stop = min(start + chunk, n_samples)
            linked = problem.linked_outputs_at(slice(start, stop), design.masks)
            centred = np.moveaxis(linked, 1, 2) - problem.base_values[None, :, None]
            if self.estimator == "adjusted":
                values[start:stop], errors[start:stop] = adjusted_estimate(
                    centred, delta[start:stop], design, solver, self.seed
                )
                continue
            values[start:stop] = solver.solve(centred, delta[start:stop])
            errors[start:stop] = solver.standard_errors(centred, values[start:stop], design)
        return values, errors


class _Settled:
    """What ``num_samples="auto"`` has settled for each sample, round by round.

    ``values`` and ``errors`` (n, k, d), ``evaluations`` (n,) and ``converged`` (n,), filled as
    the samples stop.
    """

    def __init__(self, shape: tuple[int, int, int], target: float) -> None:
        self.target = target
        self.values, self.errors = np.empty(shape), np.zeros(shape)
        self.evaluations = np.zeros(shape[0], dtype=np.int64)
        self.converged = np.ones(shape[0], dtype=np.bool_)

    def settle(
        self,
        chosen: npt.NDArray[np.int64],
        estimate: FloatArray,
        spread: FloatArray,
        evaluations: int,
        last: bool,
    ) -> npt.NDArray[np.bool_]:
        """Which of the samples ``chosen`` stop at this round, their results recorded.

        A sample stops when every standard error is below the target, or at the last round
        (then not converged); ``evaluations``: what a sample stopping here has cost.
        """
        done: npt.NDArray[np.bool_] = np.all(spread < self.target, axis=(1, 2))
        finished = np.ones_like(done) if last else done
        stopped = chosen[finished]
        self.values[stopped] = estimate[finished]
        self.errors[stopped] = spread[finished]
        self.evaluations[stopped] = evaluations
        self.converged[stopped] = done[finished]
        return finished

    def explanation(self, problem: ExplanationProblem) -> Explanation:
        """The explanation of ``problem`` with what was settled."""
        return problem.explanation(
            self.values, self.errors, evaluations=self.evaluations, converged=self.converged
        )
