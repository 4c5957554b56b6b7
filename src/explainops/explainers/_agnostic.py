"""What the model-agnostic explainers (Exact, Kernel) share: the value function v(S), its ends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from explainops.errors import ExplainerError
from explainops.explainers.base import Explainer
from explainops.explainers.coalitions import DEFAULT_BATCH_SIZE, ValueFunction
from explainops.explainers.explanation import Explanation
from explainops.explainers.inputs import (
    FeatureTable,
    PredictFunction,
    model_output_function,
)
from explainops.explainers.link import apply_link

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ExplanationProblem:
    """Everything needed to explain a set of samples: the samples, v(S) and the end points."""

    samples: FeatureTable
    value_function: ValueFunction
    base_values: FloatArray
    predictions: FloatArray
    output_names: tuple[str, ...]
    use_logit: bool
    # The model outputs (m, k) of the baseline rows, before the link (for strata of them).
    baseline_outputs: FloatArray
    # Each sample's label (its index in a DataFrame of samples, else its position), so that a
    # failing model call can name the samples it was about.
    sample_labels: npt.NDArray[Any] | None = None
    # A flat buffer the masked rows may be built in (see ValueFunction.expected_outputs).
    scratch: npt.NDArray[Any] | None = None

    @property
    def n_features(self) -> int:
        """Number of features d."""
        return len(self.samples.feature_names)

    def linked_outputs_at(
        self, rows: slice | npt.NDArray[np.int64], masks: npt.NDArray[np.bool_]
    ) -> FloatArray:
        """link(v(S)) of shape (n, c, k) for the samples ``rows`` (a slice or positions)."""
        positions = np.arange(self.samples.values.shape[0])[rows]
        labels = positions if self.sample_labels is None else self.sample_labels[rows]
        outputs = self.value_function.expected_outputs(
            self.samples.values[rows], masks, labels, self.scratch
        )
        return apply_link(outputs, self.use_logit)

    def explanation(
        self,
        values: FloatArray,
        standard_errors: FloatArray | None = None,
        *,
        evaluations: npt.NDArray[np.int64] | None = None,
        converged: npt.NDArray[np.bool_] | None = None,
    ) -> Explanation:
        """Wrap (n, k, d) values with this problem's end points and names."""
        return Explanation(
            values=values,
            base_values=self.base_values,
            predictions=self.predictions,
            feature_names=self.samples.feature_names,
            output_names=self.output_names,
            standard_errors=standard_errors,
            data=self.samples.values,
            evaluations=evaluations,
            converged=converged,
        )


class ModelAgnosticExplainer(Explainer):
    """Base of the explainers that only call the model's predict function (Exact, Kernel).

    Takes the settings of :class:`Explainer` and ``batch_size``: the rows per model call.
    """

    def __init__(
        self,
        baseline: Any | None = None,
        baseline_weights: Any | None = None,
        *,
        use_logit: bool = False,
        num_clusters: int | None = None,
        seed: int | None = 0,
        batch_size: int = DEFAULT_BATCH_SIZE,
        feature_names: Sequence[str] | None = None,
        output_names: Sequence[str] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ExplainerError(f"batch_size must be >= 1, got {batch_size}")
        super().__init__(
            baseline,
            baseline_weights,
            use_logit=use_logit,
            num_clusters=num_clusters,
            seed=seed,
            feature_names=feature_names,
            output_names=output_names,
        )
        self.batch_size = batch_size

    def problem(self, model: PredictFunction, samples: Any) -> ExplanationProblem:
        """Validate the inputs and compute the end points v(empty) and v(all) for every output."""
        table = self._samples_table(samples)
        baseline = self._resolve_baseline(table)
        value_function = ValueFunction(
            model_output_function(model, table), baseline, self.batch_size
        )
        labels = (
            samples.index.to_numpy()
            if isinstance(samples, pd.DataFrame)
            else np.arange(table.values.shape[0])
        )
        baseline_outputs = value_function.baseline_outputs()
        base_values = apply_link(baseline.weights @ baseline_outputs, self.use_logit)
        predictions = apply_link(value_function.predict(table.values, labels), self.use_logit)
        return ExplanationProblem(
            samples=table,
            value_function=value_function,
            base_values=base_values,
            predictions=predictions,
            output_names=self._output_names(predictions.shape[1]),
            use_logit=self.use_logit,
            sample_labels=labels,
            baseline_outputs=baseline_outputs,
        )
