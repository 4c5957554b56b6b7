"""The result of an explainer: SHAP values with their base values, predictions and names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

AggMethod = Literal["mean_abs", "median", "mean_sq"]
AGG_METHODS: tuple[AggMethod, ...] = ("mean_abs", "median", "mean_sq")

FloatArray = npt.NDArray[np.float64]


def aggregate_attributions(values: FloatArray, agg_method: AggMethod = "mean_abs") -> FloatArray:
    """Aggregate local SHAP values of shape (n, k, d) into global values of shape (k, d).

    ``mean_abs`` is the mean of |phi|, ``median`` the median of phi and ``mean_sq`` the mean of
    phi squared, over samples: the three aggregations SageMaker Clarify offers.
    """
    if values.ndim != 3:
        raise ValueError(f"values must have shape (n, k, d), got {values.shape}")
    if values.shape[0] == 0:
        raise ValueError("cannot aggregate the attributions of zero samples")
    if agg_method == "mean_abs":
        return np.asarray(np.mean(np.abs(values), axis=0), dtype=np.float64)
    if agg_method == "median":
        return np.asarray(np.median(values, axis=0), dtype=np.float64)
    if agg_method == "mean_sq":
        return np.asarray(np.mean(np.square(values), axis=0), dtype=np.float64)
    raise ValueError(f"agg_method must be one of {', '.join(AGG_METHODS)}, got {agg_method!r}")


@dataclass(frozen=True)
class Explanation:
    """Shapley values of a model's outputs for a set of samples.

    Attributes:
        values: (n, k, d) SHAP values: sample, output, feature.
        base_values: (k,) value of the empty coalition, link(mean over baseline of f(b)).
        predictions: (n, k) explained outputs, in the explained space (log-odds with use_logit).
            Efficiency holds: ``base_values + values.sum(-1) == predictions``.
        feature_names: d names, in the input's column order.
        output_names: k names of the explained outputs.
        standard_errors: (n, k, d) standard errors of sampled estimates, or None when exact.

    """

    values: FloatArray
    base_values: FloatArray
    predictions: FloatArray
    feature_names: tuple[str, ...]
    output_names: tuple[str, ...]
    standard_errors: FloatArray | None = None

    def __post_init__(self) -> None:
        n, k, d = self.values.shape
        if self.base_values.shape != (k,):
            raise ValueError(f"base_values must have shape ({k},), got {self.base_values.shape}")
        if self.predictions.shape != (n, k):
            raise ValueError(
                f"predictions must have shape ({n}, {k}), got {self.predictions.shape}"
            )
        if len(self.feature_names) != d or len(self.output_names) != k:
            raise ValueError(
                f"expected {d} feature names and {k} output names, "
                f"got {len(self.feature_names)} and {len(self.output_names)}"
            )
        if self.standard_errors is not None and self.standard_errors.shape != self.values.shape:
            raise ValueError("standard_errors must have the shape of values")

    @property
    def n_samples(self) -> int:
        """Number of explained samples."""
        return int(self.values.shape[0])

    def global_importance(self, agg_method: AggMethod = "mean_abs") -> FloatArray:
        """Global attributions of shape (k, d), aggregated over samples with ``agg_method``."""
        return aggregate_attributions(self.values, agg_method)

    def additivity_error(self) -> float:
        """Largest relative violation of ``base + sum(values) == prediction`` over all rows."""
        if self.n_samples == 0:
            return 0.0
        reconstructed = self.base_values[None, :] + self.values.sum(axis=2)
        scale = np.maximum(1.0, np.abs(self.predictions))
        return float(np.max(np.abs(reconstructed - self.predictions) / scale))
