"""Global attributions computed from explanations streamed batch by batch."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from explainops.explainers import Explanation, aggregate_attributions
from explainops.explainers.explanation import AggMethod

FloatArray = npt.NDArray[np.float64]


class AttributionAccumulator:
    """Running statistics of SHAP values for global attributions.

    mean_abs and mean_sq are exact from running sums; the median keeps the values in memory
    (n x k x d floats).
    """

    def __init__(self, agg_method: AggMethod) -> None:
        self.agg_method = agg_method
        self.n_samples = 0
        self.max_additivity_error = 0.0
        self._sum: FloatArray | None = None
        self._kept: list[FloatArray] = []

    def add(self, explanation: Explanation) -> None:
        """Account for one batch."""
        values = explanation.values
        self.n_samples += values.shape[0]
        self.max_additivity_error = max(self.max_additivity_error, explanation.additivity_error())
        if self.agg_method == "median":
            self._kept.append(values)
            return
        statistic = np.abs(values) if self.agg_method == "mean_abs" else np.square(values)
        batch_sum = statistic.sum(axis=0)
        self._sum = batch_sum if self._sum is None else self._sum + batch_sum

    def result(self) -> FloatArray:
        """Global attributions (k, d)."""
        if self.n_samples == 0:
            raise ValueError("no explanations were accumulated")
        if self.agg_method == "median":
            return aggregate_attributions(np.concatenate(self._kept), "median")
        assert self._sum is not None
        return np.asarray(self._sum / self.n_samples, dtype=np.float64)
