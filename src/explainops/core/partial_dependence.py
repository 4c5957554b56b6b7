"""Partial dependence: the model's average prediction while one feature sweeps a grid.

For a feature j and a grid value v, the partial dependence is the mean over the data set's rows
of the model's prediction on the row with feature j set to v (Friedman's estimate, what
scikit-learn's ``partial_dependence(method="brute")`` computes). The data set is read twice, batch
by batch, and never held in memory: a first pass finds each feature's range or categories (no
model call), a second sums the predictions of every row at every grid point, in model calls of
about ``rows_per_model_call`` rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from explainops.core.samples import SampleSource, validated_batches
from explainops.core.schemas import InputSchema
from explainops.errors import ConfigError, InputError
from explainops.explainers.coalitions import DEFAULT_BATCH_SIZE

FloatArray = npt.NDArray[np.float64]
DataType = Literal["numerical", "categorical"]

DEFAULT_GRID_RESOLUTION = 15
# Categories a categorical feature may have: each costs one prediction per row.
MAX_CATEGORIES = 100


@dataclass(frozen=True)
class PartialDependence:
    """The partial dependence of the model on one feature.

    Attributes:
        feature_name: the feature.
        data_type: ``numerical`` (a numeric dtype) or ``categorical`` (any other dtype).
        grid_values: (g,) the values the feature is set to: the centres of ``grid_resolution``
            equal-width buckets over the data's range, or the categories, sorted.
        average: (k, g) the mean prediction of each of the k model outputs at each grid value.
        data_distribution: (g,) the share of the data set's rows whose value falls in each bucket
            (or is each category); rows without a value fall in none.
        error: why the feature has no partial dependence (then the arrays are empty), or None.

    """

    feature_name: str
    data_type: DataType
    grid_values: npt.NDArray[Any] = field(default_factory=lambda: np.empty(0))
    average: FloatArray = field(default_factory=lambda: np.empty((0, 0)))
    data_distribution: FloatArray = field(default_factory=lambda: np.empty(0))
    error: str | None = None

    def as_record(self) -> dict[str, Any]:
        """The entry Clarify writes under ``explanations.pdp`` in analysis.json.

        ``model_predictions`` holds one list per model output; a feature that could not be
        computed has an ``error`` instead of the values.
        """
        record: dict[str, Any] = {"feature_name": self.feature_name, "data_type": self.data_type}
        if self.error is not None:
            return record | {"error": self.error}
        return record | {
            "feature_values": self.grid_values.tolist(),
            "model_predictions": self.average.tolist(),
            "data_distribution": self.data_distribution.tolist(),
        }


def partial_dependence(
    samples: pd.DataFrame | Callable[[], Iterable[pd.DataFrame]],
    predict: Callable[[pd.DataFrame], npt.NDArray[Any]],
    features: Sequence[str],
    *,
    grid_resolution: int = DEFAULT_GRID_RESOLUTION,
    rows_per_model_call: int = DEFAULT_BATCH_SIZE,
    max_categories: int = MAX_CATEGORIES,
) -> list[PartialDependence]:
    """Partial dependence of the model's outputs on each of ``features``, by brute force.

    Parameters
    ----------
    samples : DataFrame, or a function returning a fresh iterable of DataFrames
        The rows the predictions are averaged over, as the model takes them (every column goes
        to ``predict``). A function is called twice, for the two passes over the data, and its
        batches may together be larger than memory.
    predict : callable
        DataFrame of n rows -> (n, k) model outputs (or (n,) for one output). The column of a
        numerical feature being swept reaches it as float64 (bucket centres are fractions); every
        other column as read.
    features : sequence of str
        The columns whose partial dependence is computed.
    grid_resolution : int, default 15
        Buckets a numerical feature's range [min, max] is divided into; the grid is their centres.
    rows_per_model_call : int, default 20000
        Rows per ``predict`` call: every row at every grid point, of all features, is predicted,
        in calls of this many rows (the last of a batch smaller).
    max_categories : int, default 100
        A categorical feature with more distinct values gets an ``error`` instead.

    Returns
    -------
    list of PartialDependence
        One per feature, in order. A feature that cannot be computed (no values, a single value,
        too many categories, a non-numeric value in a numeric column) has ``error`` set; the
        other features are still computed.

    Raises
    ------
    InputError
        No rows, a feature that is not a column, or model outputs of the wrong shape.

    References
    ----------
    J. H. Friedman, "Greedy Function Approximation: A Gradient Boosting Machine", Annals of
    Statistics 29(5), 2001 (section 8.2).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 1.0, 3.0, 3.0]})
    >>> linear = lambda rows: (2 * rows["a"] + rows["b"]).to_numpy()
    >>> [result] = partial_dependence(frame, linear, ["a"], grid_resolution=2)
    >>> result.grid_values.tolist(), result.average.tolist(), result.data_distribution.tolist()
    ([0.75, 2.25], [[3.5, 6.5]], [0.5, 0.5])

    """
    if grid_resolution < 1 or rows_per_model_call < 1:
        raise ValueError("grid_resolution and rows_per_model_call must be at least 1")
    batches = (lambda: [samples]) if isinstance(samples, pd.DataFrame) else samples
    summaries = _summarise(batches, list(features), max_categories)
    grids = [summary.grid(grid_resolution) for summary in summaries]
    sums = _PredictionSums(grids, predict, rows_per_model_call)
    for batch in batches():
        sums.add(batch)
    return sums.results()


def dataset_partial_dependence(
    reader: SampleSource,
    schema: InputSchema | None,
    predict: Callable[[pd.DataFrame], npt.NDArray[Any]],
    feature_names: Sequence[str],
    features: Sequence[str],
    *,
    grid_resolution: int = DEFAULT_GRID_RESOLUTION,
    rows_per_model_call: int = DEFAULT_BATCH_SIZE,
) -> list[PartialDependence]:
    """``partial_dependence`` over every sample of ``reader``, batch by batch.

    The batches are validated against ``schema`` as the explain pipeline's are (callers scanned
    them first) and reach ``predict`` with the model's input columns, ``feature_names``.
    """
    columns = list(feature_names)
    return partial_dependence(
        lambda: (batch[columns] for batch in validated_batches(reader, schema)),
        predict,
        features,
        grid_resolution=grid_resolution,
        rows_per_model_call=rows_per_model_call,
    )


def select_features(
    requested: Sequence[int | str] | None,
    feature_names: Sequence[str],
    ranking: Sequence[float] | None,
    top_k: int,
    where: str,
) -> list[str]:
    """The features to compute: ``requested`` (names or positions), else the ``top_k`` ranked.

    ``ranking`` holds one importance a feature (the global SHAP values); the largest come first,
    ties in feature order. Repeated features are computed once.

    Raises:
        ConfigError: a name that is no feature, a position out of range, or neither features nor
            a ranking; the message starts with ``where`` (the configuration field).

    """
    names = list(feature_names)
    if requested is None:
        if ranking is None:
            raise ConfigError(
                f"{where}: missing; without SHAP values the features cannot be ranked"
            )
        order = sorted(range(len(names)), key=lambda index: -abs(float(ranking[index])))
        return [names[index] for index in order[:top_k]]
    selected: list[str] = []
    for item in requested:
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise ConfigError(f"{where}: {item!r} is neither a feature name nor an index")
        if isinstance(item, int) and not 0 <= item < len(names):
            raise ConfigError(
                f"{where}: index {item} is out of range: there are {len(names)} features "
                f"(0 to {len(names) - 1})"
            )
        if isinstance(item, str) and item not in names:
            raise ConfigError(f"{where}: {item!r} is not a feature; features: {names}")
        name = names[item] if isinstance(item, int) else item
        if name not in selected:
            selected.append(name)
    return selected


@dataclass(frozen=True)
class _Grid:
    """Where one feature is evaluated: its grid values, or why it is not."""

    feature_name: str
    data_type: DataType
    values: npt.NDArray[Any]
    edges: FloatArray | None  # numerical buckets' g + 1 edges
    category_counts: FloatArray | None  # rows of each category
    error: str | None = None


@dataclass
class _FeatureSummary:
    """What the first pass learns of a feature: its range, or its categories and their counts."""

    feature_name: str
    data_type: DataType
    max_categories: int
    minimum: float = math.inf
    maximum: float = -math.inf
    counts: dict[Any, int] = field(default_factory=dict)
    error: str | None = None

    def add(self, column: pd.Series, batch_number: int) -> None:
        if self.error is not None:
            return
        if self.data_type == "numerical":
            self._add_numbers(column, batch_number)
            return
        for value, count in column.dropna().value_counts(sort=False).items():
            self.counts[value] = self.counts.get(value, 0) + int(count)
        if len(self.counts) > self.max_categories:
            self.error = (
                f"more than {self.max_categories} categories: partial dependence needs one "
                "prediction per row and category"
            )
            self.counts.clear()

    def _add_numbers(self, column: pd.Series, batch_number: int) -> None:
        if not _is_numerical(column.dtype):
            self.error = f"a numerical feature with non-numeric values in batch {batch_number}"
            return
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        values = values[~np.isnan(values)]
        if values.size:
            self.minimum = min(self.minimum, float(values.min()))
            self.maximum = max(self.maximum, float(values.max()))

    def grid(self, grid_resolution: int) -> _Grid:
        """The grid values of a numerical feature (bucket centres) or a categorical one."""
        empty = np.empty(0)
        if self.error is not None:
            return _Grid(self.feature_name, self.data_type, empty, None, None, self.error)
        if self.data_type == "categorical":
            if not self.counts:
                return self._failed("no values: every value is missing")
            categories = _sorted(list(self.counts))
            values = np.empty(len(categories), dtype=object)
            values[:] = categories
            counts = np.array([self.counts[category] for category in categories], np.float64)
            return _Grid(self.feature_name, self.data_type, values, None, counts)
        if self.minimum > self.maximum:
            return self._failed("no values: every value is missing")
        if self.minimum == self.maximum:
            return self._failed(f"a single value ({self.minimum!r}): no range to divide")
        edges = np.linspace(self.minimum, self.maximum, grid_resolution + 1)
        return _Grid(self.feature_name, self.data_type, (edges[:-1] + edges[1:]) / 2, edges, None)

    def _failed(self, error: str) -> _Grid:
        return _Grid(self.feature_name, self.data_type, np.empty(0), None, None, error)


def _summarise(
    batches: Callable[[], Iterable[pd.DataFrame]], features: list[str], max_categories: int
) -> list[_FeatureSummary]:
    """The first pass: each feature's data type (of the first batch), range or categories."""
    summaries: list[_FeatureSummary] | None = None
    for number, batch in enumerate(batches(), start=1):
        if summaries is None:
            missing = [feature for feature in features if feature not in batch.columns]
            if missing:
                raise InputError(
                    f"partial dependence: {missing} are not columns; columns: {list(batch.columns)}"
                )
            summaries = [
                _FeatureSummary(
                    feature,
                    "numerical" if _is_numerical(batch[feature].dtype) else "categorical",
                    max_categories,
                )
                for feature in features
            ]
        for summary in summaries:
            summary.add(batch[summary.feature_name], number)
    if summaries is None:
        raise InputError("partial dependence: no rows")
    return summaries


class _PredictionSums:
    """The second pass: sums of the predictions at every grid point, and the bucket counts.

    The grid points of all features are numbered one after the other; pair p of a batch of n
    rows is row p % n at grid point p // n. Pairs go to the model in runs of
    ``rows_per_model_call``, so one call may hold several grid points, and several features.
    """

    def __init__(
        self,
        grids: list[_Grid],
        predict: Callable[[pd.DataFrame], npt.NDArray[Any]],
        rows_per_model_call: int,
    ) -> None:
        self.grids = grids
        self.predict = predict
        self.rows_per_model_call = rows_per_model_call
        sizes = [len(grid.values) if grid.error is None else 0 for grid in grids]
        self.first_point = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.n_points = int(self.first_point[-1])
        self.sums: FloatArray | None = None
        self.bucket_counts = [np.zeros(size) for size in sizes]
        self.n_rows = 0

    def add(self, batch: pd.DataFrame) -> None:
        """Predict every row of ``batch`` at every grid point; add to the sums and counts."""
        n_rows = len(batch)
        if n_rows == 0:
            return
        self.n_rows += n_rows
        for grid, counts in zip(self.grids, self.bucket_counts, strict=True):
            if grid.edges is not None and grid.error is None:
                values = batch[grid.feature_name].to_numpy(dtype=np.float64, na_value=np.nan)
                counts += np.histogram(values[~np.isnan(values)], bins=grid.edges)[0]
        total_pairs = n_rows * self.n_points
        for start in range(0, total_pairs, self.rows_per_model_call):
            pairs = np.arange(start, min(start + self.rows_per_model_call, total_pairs))
            points, rows = pairs // n_rows, pairs % n_rows
            outputs = self._predict(self._model_rows(batch, points, rows), len(pairs))
            if self.sums is None:
                self.sums = np.zeros((self.n_points, outputs.shape[1]))
            np.add.at(self.sums, points, outputs)

    def _model_rows(
        self, batch: pd.DataFrame, points: npt.NDArray[np.int64], rows: npt.NDArray[np.int64]
    ) -> pd.DataFrame:
        """The batch's ``rows``, each with its grid point's feature set to the point's value."""
        # Which feature each pair's grid point belongs to; points are ascending.
        owners = np.searchsorted(self.first_point, points, side="right") - 1
        parts = []
        for owner in np.unique(owners):
            selected = owners == owner
            grid = self.grids[owner]
            part = batch.take(rows[selected])
            values = grid.values[points[selected] - self.first_point[owner]]
            if grid.data_type == "categorical":
                # The categories are the column's own values: keep its dtype (bool, category, ...).
                values = pd.Series(values, index=part.index).astype(batch[grid.feature_name].dtype)
            part[grid.feature_name] = values
            parts.append(part)
        return parts[0] if len(parts) == 1 else pd.concat(parts)

    def _predict(self, rows: pd.DataFrame, expected: int) -> FloatArray:
        outputs = np.asarray(self.predict(rows), dtype=np.float64)
        if outputs.ndim == 1:
            outputs = outputs[:, None]
        if outputs.ndim != 2 or outputs.shape[0] != expected:
            raise InputError(
                f"partial dependence: the model answered {expected} rows with outputs of shape "
                f"{outputs.shape}, expected ({expected}, k)"
            )
        if self.sums is not None and outputs.shape[1] != self.sums.shape[1]:
            raise InputError(
                f"partial dependence: the model gave {outputs.shape[1]} outputs, "
                f"then {self.sums.shape[1]}"
            )
        return outputs

    def results(self) -> list[PartialDependence]:
        """The averages per feature, once every batch was added."""
        if self.n_rows == 0:
            raise InputError("partial dependence: no rows")
        results = []
        for index, grid in enumerate(self.grids):
            if grid.error is not None:
                results.append(
                    PartialDependence(grid.feature_name, grid.data_type, error=grid.error)
                )
                continue
            assert self.sums is not None
            first, last = self.first_point[index], self.first_point[index + 1]
            counts = grid.category_counts if grid.edges is None else self.bucket_counts[index]
            assert counts is not None
            results.append(
                PartialDependence(
                    grid.feature_name,
                    grid.data_type,
                    grid.values,
                    (self.sums[first:last] / self.n_rows).T.copy(),
                    counts / self.n_rows,
                )
            )
        return results


def _is_numerical(dtype: Any) -> bool:
    return bool(pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype))


def _sorted(categories: list[Any]) -> list[Any]:
    """Categories in their natural order, or by their text when they do not compare."""
    try:
        return sorted(categories)
    except TypeError:
        return sorted(categories, key=str)
