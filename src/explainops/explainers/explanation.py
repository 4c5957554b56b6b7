"""The result of an explainer: SHAP values with their base values, predictions and names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

AggMethod = Literal["mean_abs", "median", "mean_sq"]
AGG_METHODS: tuple[AggMethod, ...] = ("mean_abs", "median", "mean_sq")

FloatArray = npt.NDArray[np.float64]

# Suffix of the sample-explanations table's standard-error columns.
STDERR_SUFFIX = "_stderr"
# The sample-explanations table's columns of an adaptive budget (KernelExplainer, "auto").
EVALUATIONS_COLUMN, CONVERGED_COLUMN = "n_evaluations", "converged"
BUDGET_COLUMNS = (EVALUATIONS_COLUMN, CONVERGED_COLUMN)
# Names and base values shown by the repr before it elides the rest.
_REPR_ITEMS = 3


def aggregate_attributions(values: FloatArray, agg_method: AggMethod = "mean_abs") -> FloatArray:
    """Aggregate local SHAP values of shape (n, k, d) into global values of shape (k, d).

    ``mean_abs`` is the mean of |phi|, ``median`` the median of phi and ``mean_sq`` the mean of
    phi squared, over samples: the three aggregations SageMaker Clarify offers.

    Parameters
    ----------
    values : ndarray of shape (n, k, d)
        SHAP values: sample, output, feature.
    agg_method : {"mean_abs", "median", "mean_sq"}, default="mean_abs"
        The aggregation over samples.

    Returns
    -------
    ndarray of shape (k, d)
        One global value per output and feature.

    Examples
    --------
    >>> import numpy as np
    >>> from explainops.explainers import aggregate_attributions
    >>> values = np.array([[[1.0, -2.0]], [[-3.0, 2.0]], [[2.0, 5.0]]])  # 3 samples, 1 output
    >>> aggregate_attributions(values, "mean_abs")
    array([[2., 3.]])
    >>> aggregate_attributions(values, "median")
    array([[1., 2.]])

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


@dataclass(frozen=True, repr=False)
class Explanation:
    """Shapley values of a model's outputs for a set of samples.

    Efficiency holds for every sample and output:
    ``base_values + values.sum(axis=-1) == predictions``, to rounding.

    Parameters
    ----------
    values : ndarray of shape (n, k, d)
        SHAP values, indexed sample, output, feature.
    base_values : ndarray of shape (k,)
        Value of the empty coalition, link(mean over the baseline of f(b)), per output.
    predictions : ndarray of shape (n, k)
        The explained outputs, in the explained space (log-odds with ``use_logit``).
    feature_names : tuple of str, length d
        Feature names, in the input's column order.
    output_names : tuple of str, length k
        Names of the explained outputs (the ``label`` of the output tables).
    standard_errors : ndarray of shape (n, k, d), default=None
        Standard errors of sampled estimates (KernelExplainer); None when exact.
    data : ndarray of shape (n, d), default=None
        The explained samples' feature values: float64 for numeric features, else an object
        array of the values as given.
    evaluations : ndarray of int of shape (n,), default=None
        Model evaluations each sample's estimate took (coalitions x baseline rows), when the
        budget was adaptive (KernelExplainer with ``num_samples="auto"``).
    converged : ndarray of bool of shape (n,), default=None
        With an adaptive budget: whether the sample's standard errors all got below the target
        before the budget's cap.

    Notes
    -----
    Axis order. Ours is (sample, output, feature), so that ``values[i, j]`` is one row of the
    sample-explanations table. shap puts the output last: (n, d) for a single output and
    (n, d, k) for k outputs, with base values (n,) or (n, k). :meth:`to_shap` converts, so
    ``values[i, j, f] == explanation.to_shap().values[i, f, j]`` (for k > 1).

    Examples
    --------
    >>> import numpy as np
    >>> from explainops.explainers import Explanation
    >>> explanation = Explanation(
    ...     values=np.array([[[1.0, 2.0]], [[-0.5, 0.25]]]),
    ...     base_values=np.array([0.5]),
    ...     predictions=np.array([[3.5], [0.25]]),
    ...     feature_names=("age", "income"),
    ...     output_names=("score",),
    ... )
    >>> explanation
    Explanation(n_samples=2, outputs=('score',), features=2, base_values=[0.5],
                max_additivity_error=0)
    >>> explanation.global_importance("mean_abs")
    array([[0.75 , 1.125]])
    >>> explanation.to_frame(sample_ids=["a", "b"])
      sample_id  label  prediction  base_value  age  income
    0         a  score        3.50         0.5  1.0    2.00
    1         b  score        0.25         0.5 -0.5    0.25

    """

    values: FloatArray
    base_values: FloatArray
    predictions: FloatArray
    feature_names: tuple[str, ...]
    output_names: tuple[str, ...]
    standard_errors: FloatArray | None = None
    data: npt.NDArray[Any] | None = None
    evaluations: npt.NDArray[np.int64] | None = None
    converged: npt.NDArray[np.bool_] | None = None

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
        if self.data is not None and self.data.shape != (n, d):
            raise ValueError(f"data must have shape ({n}, {d}), got {self.data.shape}")
        for name in ("evaluations", "converged"):
            array = getattr(self, name)
            if array is not None and array.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {array.shape}")

    def select(self, rows: Any) -> Explanation:
        """The explanation of some samples only: ``rows`` a boolean mask or indices."""

        def pick(array: Any) -> Any:
            return None if array is None else array[rows]

        return Explanation(
            values=self.values[rows],
            base_values=self.base_values,
            predictions=self.predictions[rows],
            feature_names=self.feature_names,
            output_names=self.output_names,
            standard_errors=pick(self.standard_errors),
            data=pick(self.data),
            evaluations=pick(self.evaluations),
            converged=pick(self.converged),
        )

    def __repr__(self) -> str:
        outputs = repr(self.output_names[:_REPR_ITEMS])
        if len(self.output_names) > _REPR_ITEMS:
            outputs = f"{outputs[:-1]}, ...)"
        shown = [f"{value:.4g}" for value in self.base_values]
        if len(shown) > _REPR_ITEMS:
            shown = [shown[0], "...", shown[-1]]
        base_values = f"[{', '.join(shown)}]"
        return (
            f"Explanation(n_samples={self.n_samples}, outputs={outputs}, "
            f"features={len(self.feature_names)}, base_values={base_values}, "
            f"max_additivity_error={self.additivity_error():.2g})"
        )

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

    def to_frame(self, sample_ids: Sequence[Any] | None = None) -> pd.DataFrame:
        """The sample-explanations table: one row per (sample, output).

        Parameters
        ----------
        sample_ids : sequence of length n, default=None
            The samples' ids; None for their positions 0 .. n - 1.

        Returns
        -------
        DataFrame of n * k rows
            Columns ``sample_id``, ``label`` (the output name), ``prediction``, ``base_value``,
            then one column of SHAP values per feature in ``feature_names`` order, then, when the
            explainer estimated them, their standard errors as ``<feature>_stderr`` columns, and
            with an adaptive budget ``n_evaluations`` and ``converged``.
            Rows are sample-major: the k outputs of sample 0, then of sample 1, ...

        """
        n_samples, n_outputs, n_features = self.values.shape
        ids = np.arange(n_samples) if sample_ids is None else np.asarray(sample_ids)
        if ids.shape != (n_samples,):
            raise ValueError(f"expected {n_samples} sample ids, got shape {ids.shape}")
        columns: dict[str, Any] = {
            "sample_id": np.repeat(ids, n_outputs),
            "label": np.tile(np.asarray(self.output_names, dtype=object), n_samples),
            "prediction": self.predictions.reshape(-1),
            "base_value": np.tile(self.base_values, n_samples),
        }
        flat_values = self.values.reshape(n_samples * n_outputs, n_features)
        for index, feature in enumerate(self.feature_names):
            columns[feature] = flat_values[:, index]
        if self.standard_errors is not None:
            flat_errors = self.standard_errors.reshape(n_samples * n_outputs, n_features)
            for index, feature in enumerate(self.feature_names):
                columns[feature + STDERR_SUFFIX] = flat_errors[:, index]
        if self.evaluations is not None:
            columns[EVALUATIONS_COLUMN] = np.repeat(self.evaluations, n_outputs)
        if self.converged is not None:
            columns[CONVERGED_COLUMN] = np.repeat(self.converged, n_outputs)
        return pd.DataFrame(columns)

    def to_shap(self) -> Any:
        """Convert to a ``shap.Explanation``, in shap's axis order, for ``shap.plots``.

        The values are the same numbers, only transposed: no copy is rounded or rescaled.
        A single output gives shap's single-output layout; select one output of several before
        plotting, e.g. ``explanation.to_shap()[:, :, 0]``.

        Returns
        -------
        shap.Explanation
            ``values`` (n, d) for a single output, else (n, d, k); ``base_values`` (n,) or
            (n, k); ``data`` (n, d) when this explanation has the samples' values;
            ``error_std`` shaped like ``values`` when standard errors were estimated; and the
            feature and output names (a single output's name as a string).

        Raises
        ------
        ImportError
            When shap is not installed.

        """
        try:
            import shap
        except ImportError as error:
            raise ImportError(
                "Explanation.to_shap() needs the shap package, which is not installed: "
                "pip install shap"
            ) from error
        single = len(self.output_names) == 1

        def shap_order(array: FloatArray) -> FloatArray:
            return array[:, 0, :] if single else np.transpose(array, (0, 2, 1))

        base_values = np.repeat(self.base_values[None, :], self.n_samples, axis=0)
        return shap.Explanation(
            values=shap_order(self.values),
            base_values=base_values[:, 0] if single else base_values,
            data=self.data,
            feature_names=list(self.feature_names),
            output_names=self.output_names[0] if single else list(self.output_names),
            error_std=None if self.standard_errors is None else shap_order(self.standard_errors),
        )
