"""Streamed global attributions against the same statistics computed on all values at once."""

from __future__ import annotations

import numpy as np
import pytest

from explainops.core.aggregation import AttributionAccumulator
from explainops.explainers import Explanation, aggregate_attributions


def explanation(values: np.ndarray) -> Explanation:
    """An additive explanation holding ``values`` (n, k, d)."""
    _, k, d = values.shape
    base = np.zeros(k)
    return Explanation(
        values,
        base,
        values.sum(axis=2),
        tuple(f"f{index}" for index in range(d)),
        tuple(f"label{index}" for index in range(k)),
    )


@pytest.fixture
def values() -> np.ndarray:
    """20,000 rows x 2 outputs x 3 features of skewed attributions."""
    return np.random.default_rng(0).lognormal(size=(20_000, 2, 3)) - 1.0


@pytest.mark.parametrize("agg_method", ["mean_abs", "mean_sq", "median"])
def test_streamed_statistics_equal_the_whole_data_ones(values: np.ndarray, agg_method) -> None:
    # given the values streamed in uneven batches, below the median's exact limit
    accumulator = AttributionAccumulator(agg_method)
    for start, stop in [(0, 7), (7, 5000), (5000, 20_000)]:
        accumulator.add(explanation(values[start:stop]))

    # then the result equals the statistic of all values
    np.testing.assert_allclose(
        accumulator.result(), aggregate_attributions(values, agg_method), rtol=1e-12
    )
    assert accumulator.n_samples == 20_000, "every row counted"
    assert accumulator.median_is_exact, "exact below the limit"


def test_median_beyond_the_limit_is_a_close_sample_estimate(values: np.ndarray) -> None:
    # given a limit of 6,000 values: 1,000 rows of 2 x 3
    accumulator = AttributionAccumulator("median", median_exact_values=6_000, seed=1)
    for start in range(0, 20_000, 1_500):
        accumulator.add(explanation(values[start : start + 1_500]))

    # then the estimate is the median of a 1,000-row sample: within a few percentile points
    estimate = accumulator.result()
    assert not accumulator.median_is_exact, "the sketch was used"
    flat = values.reshape(20_000, -1)
    ranks = (flat < estimate.reshape(1, -1)).mean(axis=0)
    assert np.all(np.abs(ranks - 0.5) < 0.05), f"rank of the estimate within 5 points: {ranks}"


def test_median_sample_does_not_depend_on_batch_sizes(values: np.ndarray) -> None:
    results = []
    for size in (1_000, 3_333):
        accumulator = AttributionAccumulator("median", median_exact_values=6_000, seed=1)
        for start in range(0, 20_000, size):
            accumulator.add(explanation(values[start : start + size]))
        assert not accumulator.median_is_exact, f"batches of {size}: the sample was used"
        results.append(accumulator.result())
    # each row's random key comes from the same stream position whatever the batching, so both
    # keep the same rows, and the median of the same values is the same float: exact equality
    np.testing.assert_array_equal(results[0], results[1], "the sample follows rows, not batches")
