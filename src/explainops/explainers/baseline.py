"""Baseline (background) sets: user-given rows with optional weights, or a k-means summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from explainops.errors import InputError
from explainops.explainers.inputs import FeatureTable, as_feature_table, conform_to

FloatArray = npt.NDArray[np.float64]

MAX_AUTO_CLUSTERS = 12
# Stop adding clusters once one more removes less than this share of the one-cluster inertia.
_ELBOW_GAIN = 0.02
# k-means for the summary runs on at most this many rows (a random subset, fixed by the seed).
_MAX_CLUSTERING_ROWS = 20_000


@dataclass(frozen=True)
class Baseline:
    """Background rows with weights that sum to one."""

    table: FeatureTable
    weights: FloatArray

    @property
    def size(self) -> int:
        """Number of background rows."""
        return int(self.weights.shape[0])


def resolve_baseline(
    baseline: Any | None,
    baseline_weights: Any | None,
    samples: FeatureTable,
    num_clusters: int | None = None,
    seed: int | None = 0,
) -> Baseline:
    """Return the baseline to explain ``samples`` against.

    With ``baseline`` given, its rows (and optional non-negative weights) are used as they are.
    Without it, the samples are summarised by k-means, as SageMaker Clarify does: cluster centres
    weighted by cluster size.
    """
    if baseline is None:
        if baseline_weights is not None:
            raise InputError("baseline_weights given without a baseline")
        return kmeans_baseline(samples, num_clusters=num_clusters, seed=seed)
    names = samples.feature_names if isinstance(baseline, pd.DataFrame) else None
    table = as_feature_table(baseline, feature_names=names, what="baseline")
    if not isinstance(baseline, pd.DataFrame):
        table = FeatureTable(table.values, samples.feature_names)
    if table.values.shape[1] != len(samples.feature_names):
        raise InputError(
            f"baseline: {table.values.shape[1]} columns, expected {len(samples.feature_names)} "
            f"(the samples' features {list(samples.feature_names)})"
        )
    table = conform_to(table, samples, "baseline")
    if table.values.shape[0] == 0:
        raise InputError("baseline: at least one row is needed")
    return Baseline(table, normalised_weights(baseline_weights, table.values.shape[0]))


def normalised_weights(weights: Any | None, n_rows: int) -> FloatArray:
    """Validate baseline weights (finite, non-negative, positive sum) and scale them to sum to 1."""
    if weights is None:
        return np.full(n_rows, 1.0 / n_rows)
    array = np.asarray(weights, dtype=np.float64).reshape(-1)
    if array.shape[0] != n_rows:
        raise InputError(f"baseline_weights: {array.shape[0]} weights for {n_rows} baseline rows")
    if not np.all(np.isfinite(array)) or np.any(array < 0) or array.sum() <= 0:
        raise InputError(
            "baseline_weights: expected finite, non-negative weights with a positive sum"
        )
    return np.asarray(array / array.sum(), dtype=np.float64)


def kmeans_baseline(
    samples: FeatureTable, num_clusters: int | None = None, seed: int | None = 0
) -> Baseline:
    """Summarise samples by k-means centres weighted by cluster size, as SageMaker Clarify does.

    Numeric columns are standardised before clustering and summarised by their cluster mean;
    categorical (non-numeric) columns are one-hot encoded for clustering and summarised by their
    cluster mode (a k-prototypes-style summary). With ``num_clusters`` unset, k is the elbow of the
    inertia curve between 1 and 12: clusters are added while each removes at least 2% of the
    one-cluster inertia.

    Parameters
    ----------
    samples : FeatureTable
        The rows to summarise (see ``explainops.explainers.inputs.as_feature_table``).
    num_clusters : int, default=None
        Number of clusters (at most the number of distinct rows); None: the elbow, 1 to 12.
    seed : int or None, default=0
        Seed of the clustering and of the subset of rows it runs on for large inputs.

    Returns
    -------
    Baseline
        ``table`` of c centre rows (c, d) in the samples' features and dtypes, and ``weights``
        (c,): each cluster's share of the rows.

    Examples
    --------
    >>> import numpy as np
    >>> from explainops.explainers import kmeans_baseline
    >>> from explainops.explainers.inputs import as_feature_table
    >>> rows = np.array([[0.0, 0.0], [0.0, 2.0], [1.0, 1.0], [10.0, 10.0]])
    >>> baseline = kmeans_baseline(as_feature_table(rows), num_clusters=2)
    >>> order = np.argsort(baseline.weights)
    >>> print(np.round(baseline.table.values[order], 3))
    [[10.    10.   ]
     [ 0.333  1.   ]]
    >>> print(baseline.weights[order])
    [0.25 0.75]

    """
    rows = samples.values
    if rows.shape[0] == 0:
        raise InputError("cannot summarise an empty set of samples into a baseline")
    if num_clusters is not None and not num_clusters >= 1:
        raise InputError(f"num_clusters must be >= 1, got {num_clusters}")
    if samples.is_numeric and np.isnan(rows).any():
        missing = [
            name
            for name, column in zip(samples.feature_names, rows.T, strict=True)
            if np.isnan(column).any()
        ]
        raise InputError(
            f"cannot summarise samples with missing values (columns {missing}) into a k-means "
            "baseline; give baseline rows (explainer.baseline)"
        )
    rng = np.random.default_rng(seed)
    if rows.shape[0] > _MAX_CLUSTERING_ROWS:
        rows = rows[np.sort(rng.choice(rows.shape[0], _MAX_CLUSTERING_ROWS, replace=False))]
    frame = pd.DataFrame(rows, columns=list(samples.feature_names))
    numeric_columns, categorical_columns = _split_columns(frame, samples)
    encoded = _clustering_matrix(frame, numeric_columns, categorical_columns)
    distinct = np.unique(encoded, axis=0).shape[0]
    random_state = int(rng.integers(0, 2**31 - 1))
    if num_clusters is None:
        labels = _elbow_labels(encoded, min(MAX_AUTO_CLUSTERS, distinct), random_state)
    else:
        labels = _kmeans_labels(encoded, min(num_clusters, distinct), random_state)[0]
    clusters = np.unique(labels)
    centres = []
    for cluster in clusters:
        members = frame[labels == cluster]
        centre = {
            column: (
                members[column].astype(np.float64).mean()
                if column in numeric_columns
                else members[column].mode(dropna=False).iloc[0]
            )
            for column in frame.columns
        }
        centres.append(centre)
    summary = pd.DataFrame(centres, columns=list(samples.feature_names))
    values = summary.to_numpy(dtype=samples.values.dtype)
    counts = np.array([np.sum(labels == cluster) for cluster in clusters], dtype=np.float64)
    table = FeatureTable(values, samples.feature_names, samples.dtypes)
    return Baseline(table, counts / counts.sum())


def _split_columns(frame: pd.DataFrame, samples: FeatureTable) -> tuple[list[str], list[str]]:
    if samples.is_numeric:
        return list(frame.columns), []
    numeric: list[str] = []
    categorical: list[str] = []
    for column in frame.columns:
        converted = pd.to_numeric(frame[column], errors="coerce")
        is_numeric = samples.dtypes is not None and pd.api.types.is_numeric_dtype(
            samples.dtypes[column]
        )
        (numeric if is_numeric or converted.notna().all() else categorical).append(column)
    return numeric, categorical


def _clustering_matrix(
    frame: pd.DataFrame, numeric_columns: list[str], categorical_columns: list[str]
) -> FloatArray:
    parts: list[FloatArray] = []
    if numeric_columns:
        numeric = frame[numeric_columns].astype(np.float64).to_numpy()
        if np.isnan(numeric).any():
            raise InputError(
                "cannot build a k-means baseline from samples with missing values; "
                "give an explicit baseline"
            )
        scale = numeric.std(axis=0)
        parts.append((numeric - numeric.mean(axis=0)) / np.where(scale > 0, scale, 1.0))
    if categorical_columns:
        one_hot = pd.get_dummies(frame[categorical_columns].astype(str), dtype=np.float64)
        parts.append(one_hot.to_numpy())
    return np.asarray(np.hstack(parts), dtype=np.float64)


def _kmeans_labels(
    encoded: FloatArray, n_clusters: int, random_state: int
) -> tuple[npt.NDArray[np.int64], float]:
    # scikit-learn loads when a summary is made: most runs never make one (a second or two).
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=max(1, n_clusters), n_init=3, random_state=random_state)
    labels = model.fit_predict(encoded)
    return np.asarray(labels, dtype=np.int64), float(model.inertia_)


def _elbow_labels(
    encoded: FloatArray, max_clusters: int, random_state: int
) -> npt.NDArray[np.int64]:
    labels, inertia = _kmeans_labels(encoded, 1, random_state)
    total = inertia
    for n_clusters in range(2, max_clusters + 1):
        candidate, candidate_inertia = _kmeans_labels(encoded, n_clusters, random_state)
        if total <= 0 or (inertia - candidate_inertia) / total < _ELBOW_GAIN:
            break
        labels, inertia = candidate, candidate_inertia
    return labels
