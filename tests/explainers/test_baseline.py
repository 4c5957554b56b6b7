from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainops.errors import InputError
from explainops.explainers import kmeans_baseline
from explainops.explainers.baseline import resolve_baseline
from explainops.explainers.inputs import as_feature_table


def _blobs(n_clusters: int, per_cluster: list[int]) -> np.ndarray:
    rng = np.random.default_rng(0)
    centres = rng.uniform(-20, 20, size=(n_clusters, 3))
    return np.concatenate(
        [
            centre + rng.normal(scale=0.1, size=(count, 3))
            for centre, count in zip(centres, per_cluster, strict=True)
        ]
    )


def test_kmeans_summary_weights_centres_by_cluster_size() -> None:
    # given three well separated clusters of 10, 30 and 60 rows
    samples = as_feature_table(_blobs(3, [10, 30, 60]))
    # when summarised into three clusters
    baseline = kmeans_baseline(samples, num_clusters=3)
    # then the weights are the cluster shares
    assert baseline.size == 3, "one row per cluster"
    np.testing.assert_allclose(
        np.sort(baseline.weights), [0.1, 0.3, 0.6], err_msg="weights = cluster sizes"
    )


def test_automatic_cluster_count_finds_the_elbow() -> None:
    samples = as_feature_table(_blobs(4, [25, 25, 25, 25]))
    baseline = kmeans_baseline(samples)
    assert baseline.size == 4, (
        f"four separated blobs should give four clusters, got {baseline.size}"
    )


def test_categorical_columns_are_summarised_by_their_mode() -> None:
    frame = pd.DataFrame({"colour": ["red"] * 8 + ["blue"] * 2, "size": np.arange(10.0)})
    baseline = kmeans_baseline(as_feature_table(frame), num_clusters=1)
    assert baseline.table.values[0, 0] == "red", "the mode of a categorical column"
    assert baseline.table.values[0, 1] == pytest.approx(4.5), "the mean of a numeric column"


def test_given_baseline_weights_are_normalised_and_validated() -> None:
    samples = as_feature_table(np.zeros((3, 2)))
    baseline = resolve_baseline(np.ones((2, 2)), [1.0, 3.0], samples)
    np.testing.assert_allclose(baseline.weights, [0.25, 0.75], err_msg="weights sum to one")
    with pytest.raises(InputError, match="non-negative"):
        resolve_baseline(np.ones((2, 2)), [1.0, -1.0], samples)
    with pytest.raises(InputError, match="3 weights for 2 baseline rows"):
        resolve_baseline(np.ones((2, 2)), [1.0, 1.0, 1.0], samples)
    with pytest.raises(InputError, match="baseline: 3 columns, expected 2"):
        resolve_baseline(np.ones((2, 3)), None, samples)


def test_dataframe_baseline_is_reordered_to_the_samples_columns() -> None:
    samples = as_feature_table(pd.DataFrame({"a": [1.0], "b": [2.0]}))
    baseline = resolve_baseline(pd.DataFrame({"b": [20.0], "a": [10.0]}), None, samples)
    np.testing.assert_allclose(
        baseline.table.values, [[10.0, 20.0]], err_msg="columns matched by name"
    )
    with pytest.raises(InputError, match=r"missing feature columns \['b'\]"):
        resolve_baseline(pd.DataFrame({"a": [1.0]}), None, samples)
