"""Explainer configurations: which explainer explains a loaded model, and with what settings.

``AutoExplainer`` takes the tree fast path only where it explains exactly the function the other
explainers would: the loaded model's explained output must equal the trees' raw output on the
samples (regressors, forests' probabilities, boosted margins with ``model_output: raw``).
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pydantic

from explainops.core.component import Component, PathText
from explainops.core.model import LoadedModel
from explainops.errors import ExplainerError
from explainops.explainers import ExactExplainer, Explanation, KernelExplainer, TreeExplainer
from explainops.explainers.coalitions import DEFAULT_BATCH_SIZE
from explainops.explainers.explanation import AggMethod
from explainops.explainers.kernel import check_kernel_budget

logger = logging.getLogger(__name__)

BaselineRows = list[list[Any]] | list[dict[str, Any]]
ExplainFunction = Callable[[pd.DataFrame], Explanation]


@dataclass(frozen=True)
class ExplainContext:
    """What an explainer is built from: the model, the baseline and a preview of the samples."""

    model: LoadedModel
    baseline: pd.DataFrame
    baseline_weights: npt.NDArray[np.float64]
    output_names: tuple[str, ...] | None
    preview: pd.DataFrame


class ExplainerSettings(Component, abc.ABC):
    """Settings shared by every explainer.

    Args:
        baseline: background rows (a list of rows or of {column: value} records), a path or URI of
            a file of rows, or unset for a k-means summary of the samples weighted by cluster size.
        num_clusters: clusters of that summary (unset: chosen between 1 and 12).
        agg_method: global aggregation, ``mean_abs`` | ``median`` | ``mean_sq``.
        use_logit: explain log-odds (link applied to the expected prediction).
        seed: seed of the coalition design and the k-means summary.
        rows_per_model_call: rows per model call (``batch_size`` is accepted too).

    """

    KIND: str
    baseline: BaselineRows | PathText | None = None
    num_clusters: Annotated[int, pydantic.Field(ge=1)] | None = None
    agg_method: AggMethod = "mean_abs"
    use_logit: bool = False
    seed: int = 0
    rows_per_model_call: Annotated[
        int,
        pydantic.Field(
            ge=1, validation_alias=pydantic.AliasChoices("rows_per_model_call", "batch_size")
        ),
    ] = DEFAULT_BATCH_SIZE

    @abc.abstractmethod
    def build(self, context: ExplainContext) -> tuple[str, ExplainFunction]:
        """Return (name of the explainer used, function explaining a DataFrame of samples)."""

    def _common(self, context: ExplainContext) -> dict[str, Any]:
        return {
            "use_logit": self.use_logit,
            "seed": self.seed,
            "batch_size": self.rows_per_model_call,
            "output_names": context.output_names,
        }


class KernelBudget(Component):
    """Kernel SHAP's budget: ``num_samples`` coalitions, or ``auto`` up to a standard error.

    ``num_samples`` (default min(2d + 2048, 2^d - 2)); ``auto`` samples each row in rounds
    until every value's standard error is below ``target_stderr`` (required, in the explained
    output's units) or ``max_samples`` coalitions (default min(2d + 8192, 2^d - 2)).
    ``estimator`` (default ``stratified``): ``stratified``, a design of its own for each
    baseline row and a single-index control variate (lower error at the same model calls);
    ``stratified_plain``, the same without the control (less computing of its own, for models
    cheaper than it); ``kernel``, one design shared by every baseline row (shap's and Clarify's
    numbers); ``adjusted``, regression-adjusted Kernel SHAP (a tree surrogate per row; not with
    ``auto``).
    """

    num_samples: Annotated[int, pydantic.Field(ge=1)] | Literal["auto"] | None = None
    target_stderr: Annotated[float, pydantic.Field(gt=0)] | None = None
    max_samples: Annotated[int, pydantic.Field(ge=1)] | None = None
    estimator: Literal["stratified", "stratified_plain", "kernel", "adjusted"] | None = None

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> KernelBudget:
        try:  # the explainer's own rules, checked here so that a bad file fails at validation
            check_kernel_budget(**self.budget())
        except ExplainerError as error:
            raise ValueError(str(error)) from error
        return self

    def budget(self) -> dict[str, Any]:
        """The KernelExplainer arguments of this budget."""
        return {
            "num_samples": self.num_samples,
            "target_stderr": self.target_stderr,
            "max_samples": self.max_samples,
            "estimator": self.estimator,
        }


class KernelExplainerSettings(ExplainerSettings, KernelBudget):
    """Kernel SHAP; see :class:`KernelBudget` for ``num_samples``/``target_stderr``."""

    KIND: Literal["KernelExplainer"] = "KernelExplainer"

    def build(self, context: ExplainContext) -> tuple[str, ExplainFunction]:
        """Kernel SHAP on the model's predict function."""
        explainer = KernelExplainer(
            context.baseline,
            context.baseline_weights,
            **self.budget(),
            **self._common(context),
        )
        return "KernelExplainer", lambda frame: explainer.explain(context.model.predict, frame)


class ExactExplainerSettings(ExplainerSettings):
    """Exact Shapley values over all 2^d coalitions; refused above ``max_features``."""

    KIND: Literal["ExactExplainer"] = "ExactExplainer"
    max_features: Annotated[int, pydantic.Field(ge=1, le=24)] = 16

    def build(self, context: ExplainContext) -> tuple[str, ExplainFunction]:
        """Exact enumeration on the model's predict function."""
        explainer = ExactExplainer(
            context.baseline,
            context.baseline_weights,
            max_features=self.max_features,
            **self._common(context),
        )
        return "ExactExplainer", lambda frame: explainer.explain(context.model.predict, frame)


class TreeExplainerSettings(ExplainerSettings):
    """Tree SHAP from the native model's trees (needs ``BuiltinLoader``)."""

    KIND: Literal["TreeExplainer"] = "TreeExplainer"
    feature_perturbation: Literal["interventional", "tree_path_dependent"] = "interventional"

    def build(self, context: ExplainContext) -> tuple[str, ExplainFunction]:
        """Tree SHAP; the explained output is the ensemble's raw output."""
        if context.model.native is None:
            raise ExplainerError(
                "TreeExplainer needs the native model: use loader KIND BuiltinLoader"
            )
        explainer = TreeExplainer(
            context.baseline,
            context.baseline_weights,
            feature_perturbation=self.feature_perturbation,
            use_logit=self.use_logit,
            seed=self.seed,
            output_names=context.output_names,
        )
        return "TreeExplainer", lambda frame: explainer.explain(context.model.native, frame)


class AutoExplainerSettings(ExplainerSettings, KernelBudget):
    """Tree where it explains the same output exactly, else Exact for few features, else Kernel.

    ``num_samples``, ``target_stderr``, ``max_samples`` and ``estimator`` are Kernel's, when Kernel
    is chosen.
    """

    KIND: Literal["AutoExplainer"] = "AutoExplainer"
    max_exact_features: Annotated[int, pydantic.Field(ge=1, le=16)] = 11

    def build(self, context: ExplainContext) -> tuple[str, ExplainFunction]:
        """Pick and build the fastest explainer that gives the configured semantics."""
        if self._tree_fits(context):
            tree = TreeExplainerSettings(**self._shared_settings())
            return tree.build(context)
        if context.preview.shape[1] <= self.max_exact_features:
            return ExactExplainerSettings(**self._shared_settings()).build(context)
        return KernelExplainerSettings(**self._shared_settings(), **self.budget()).build(context)

    def _shared_settings(self) -> dict[str, Any]:
        return {
            name: getattr(self, name) for name in ExplainerSettings.model_fields if name != "KIND"
        }

    def _tree_fits(self, context: ExplainContext) -> bool:
        if context.model.native is None or self.use_logit:
            return False
        preview = context.preview.head(8)
        try:
            trees = TreeExplainer(context.baseline, context.baseline_weights).explain(
                context.model.native, preview
            )
        except ExplainerError as error:
            logger.info("tree fast path not used: %s", error)
            return False
        expected = context.model.predict(preview)
        if trees.predictions.shape != expected.shape or not np.allclose(
            trees.predictions, expected, rtol=1e-6, atol=1e-9
        ):
            logger.info(
                "tree fast path not used: the explained output is not the trees' raw output"
            )
            return False
        return True


ExplainerKind = (
    AutoExplainerSettings | KernelExplainerSettings | ExactExplainerSettings | TreeExplainerSettings
)
