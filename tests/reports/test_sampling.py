"""The rows a report draws: a uniform point sample that does not depend on batching, the
extreme predictions and listed samples for waterfalls, and the summary figures of every row
seen, each checked against pandas or a brute-force loop over the whole table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from explainops.reports.sampling import LabelRows, RowSampler

FEATURES = ("x1", "x2", "x3")
LABELS = ("a", "b", "c")


def explanations_table(
    n_samples: int,
    *,
    labels: Sequence[str] = LABELS,
    seed: int = 0,
    stderr: bool = False,
) -> pd.DataFrame:
    """A sample-major sample-explanations table: k label rows per sample, shuffled ids.

    Ids are a permutation of 1000.. so that input order is not id order; predictions add up
    to base value + SHAP values exactly (up to float rounding).
    """
    rng = np.random.default_rng(seed)
    ids = rng.permutation(n_samples) + 1000
    n_rows = n_samples * len(labels)
    values = rng.normal(size=(n_rows, len(FEATURES)))
    base = np.tile(np.arange(len(labels), dtype=np.float64), n_samples)
    table = pd.DataFrame(
        {
            "sample_id": np.repeat(ids, len(labels)),
            "label": np.tile(list(labels), n_samples),
            "prediction": base + values.sum(axis=1),
            "base_value": base,
        }
    )
    for index, name in enumerate(FEATURES):
        table[name] = values[:, index]
    if stderr:
        for name in FEATURES:
            table[f"{name}_stderr"] = rng.exponential(0.1, size=n_rows)
    return table


def whole_samples(table: pd.DataFrame, samples_per_batch: int) -> Iterator[pd.DataFrame]:
    """Batches of ``samples_per_batch`` whole samples (all their label rows)."""
    rows = samples_per_batch * table["label"].nunique()
    for start in range(0, len(table), rows):
        yield table.iloc[start : start + rows]


def ragged(table: pd.DataFrame, seed: int, max_rows: int = 40) -> Iterator[pd.DataFrame]:
    """Batches of 1 to ``max_rows`` rows, most cut in the middle of a sample's label rows."""
    rng = np.random.default_rng(seed)
    start = 0
    while start < len(table):
        stop = start + int(rng.integers(1, max_rows + 1))
        yield table.iloc[start:stop]
        start = stop


def fed(sampler: RowSampler, batches: Iterator[pd.DataFrame]) -> RowSampler:
    for batch in batches:
        sampler.add(batch)
    return sampler


def point_ids(rows: dict[str, LabelRows]) -> dict[str, list[int]]:
    return {label: list(entry.points.frame["sample_id"]) for label, entry in rows.items()}


@pytest.fixture(scope="module")
def big_table() -> pd.DataFrame:
    return explanations_table(5000)


# --- the point sample -----------------------------------------------------------------------


def test_the_point_sample_does_not_depend_on_batching(big_table: pd.DataFrame) -> None:
    # given 5,000 samples of 3 labels, fed whole, in batches of 7 samples, and in ragged
    # batches cut inside samples
    def sampler() -> RowSampler:
        return RowSampler(FEATURES, max_points=300, seed=11)

    # when each is sampled
    whole = point_ids(fed(sampler(), iter([big_table])).rows())
    sevens = point_ids(fed(sampler(), whole_samples(big_table, 7)).rows())
    cuts = list(ragged(big_table, seed=3, max_rows=120))
    cut = point_ids(fed(sampler(), iter(cuts)).rows())
    # then the same sample ids are drawn, in the same order, for every label
    assert sorted(whole) == sorted(LABELS), f"one sample per label, got {sorted(whole)}"
    assert sevens == whole, "batches of 7 samples drew other rows than one batch"
    assert cut == whole, "batches cut inside samples drew other rows than one batch"
    assert len(whole["a"]) == 300, f"300 points expected, got {len(whole['a'])}"
    inside = sum(len(batch) % 3 != 0 for batch in cuts)
    assert inside > len(cuts) / 2, f"only {inside} of {len(cuts)} batches cut inside a sample"


@pytest.mark.parametrize("max_points", [1, 50, 299, 300, 1000])
def test_the_sample_holds_min_of_max_points_and_n_in_input_order(max_points: int) -> None:
    # given 300 samples of 3 labels, fed in batches of 13 samples
    table = explanations_table(300, seed=1)
    input_order = list(dict.fromkeys(table["sample_id"]))
    # when sampled
    rows = fed(RowSampler(FEATURES, max_points=max_points, seed=5), whole_samples(table, 13))
    ids = point_ids(rows.rows())
    # then each label holds min(max_points, n) samples, the same ones, in input order
    expected = min(max_points, 300)
    for label in LABELS:
        assert len(ids[label]) == expected, f"{label}: {len(ids[label])} != {expected}"
        assert ids[label] == ids["a"], f"{label} drew other samples than label a"
    positions = [input_order.index(sample_id) for sample_id in ids["a"]]
    assert positions == sorted(positions), "the points are not in input order"
    assert len(set(ids["a"])) == expected, "a sample was drawn twice"


def test_every_sample_is_drawn_with_probability_max_points_over_n() -> None:
    # given 40 samples, 10 points drawn, under 1,000 fixed seeds
    n, max_points, seeds = 40, 10, 1000
    table = explanations_table(n, labels=("only",), seed=2)
    counts: Counter[int] = Counter()
    for seed in range(seeds):
        # when drawn
        rows = fed(RowSampler(FEATURES, max_points=max_points, seed=seed), iter([table]))
        counts.update(rows.rows()["only"].points.frame["sample_id"])
    # then each sample is drawn about seeds * 10/40 = 250 times: within the binomial interval
    # of probability 1 - 1e-6 (Bonferroni over the 40 samples), and the counts pass a
    # chi-square test of uniformity
    observed = np.array([counts[sample_id] for sample_id in table["sample_id"]])
    assert observed.sum() == seeds * max_points, "each seed draws exactly max_points"
    low, high = stats.binom.interval(1 - 1e-6 / n, seeds, max_points / n)
    assert observed.min() >= low and observed.max() <= high, (
        f"draw counts {observed.min()}..{observed.max()} outside [{low}, {high}] "
        f"(expected {seeds * max_points / n} each)"
    )
    p_value = stats.chisquare(observed).pvalue
    assert p_value > 1e-4, f"counts not uniform: chi-square p = {p_value:.2e}"


def test_the_keys_of_other_seeds_draw_other_samples(big_table: pd.DataFrame) -> None:
    # given the same table under two seeds
    first = point_ids(fed(RowSampler(FEATURES, max_points=100, seed=0), iter([big_table])).rows())
    second = point_ids(fed(RowSampler(FEATURES, max_points=100, seed=1), iter([big_table])).rows())
    # then the samples differ (two uniform draws of 100 in 5,000 share about 2)
    shared = set(first["a"]) & set(second["a"])
    assert len(shared) < 20, f"seeds 0 and 1 share {len(shared)} of 100 samples"


# --- waterfalls -----------------------------------------------------------------------------


def test_waterfalls_are_the_extreme_predictions_and_the_listed_ids(
    big_table: pd.DataFrame,
) -> None:
    # given 3 waterfalls of each kind, and listed ids: one that is label b's largest
    # prediction, one ordinary sample, one as text, one that does not exist
    by_label = {label: big_table[big_table["label"] == label] for label in LABELS}
    b_largest = int(by_label["b"].nlargest(1, "prediction")["sample_id"].iloc[0])
    ordinary = int(big_table["sample_id"].iloc[3 * 2500])
    text_id = int(big_table["sample_id"].iloc[3 * 4000])
    listed = [b_largest, ordinary, str(text_id), 99_999_999]
    sampler = RowSampler(FEATURES, max_points=10, waterfalls=3, sample_ids=listed, seed=0)
    # when fed in batches of 97 samples
    rows = fed(sampler, whole_samples(big_table, 97)).rows()
    for label in LABELS:
        waterfalls = rows[label].waterfalls
        ids_by_why: dict[str, set[int]] = {}
        for why, row in waterfalls:
            assert len(row) == 1, f"{label}: a waterfall of {len(row)} rows"
            ids_by_why.setdefault(why, set()).add(int(row.frame["sample_id"].iloc[0]))
        every_id = [int(row.frame["sample_id"].iloc[0]) for _, row in waterfalls]
        # then the largest and smallest are pandas' nlargest / nsmallest on the whole table
        largest = set(by_label[label].nlargest(3, "prediction")["sample_id"])
        smallest = set(by_label[label].nsmallest(3, "prediction")["sample_id"])
        assert ids_by_why["largest prediction"] == largest, f"{label}: largest predictions"
        assert ids_by_why["smallest prediction"] == smallest, f"{label}: smallest predictions"
        # and every listed id that exists is shown, once
        assert {b_largest, ordinary, text_id} <= set(every_id), f"{label}: listed ids missing"
        assert len(every_id) == len(set(every_id)), f"{label}: a sample shown twice: {every_id}"
        expected_listed = {ordinary, text_id} | ({b_largest} if label != "b" else set())
        assert ids_by_why["listed"] == expected_listed, f"{label}: listed waterfalls"
        # and each waterfall row is that sample's row of the table
        for _, row in waterfalls:
            sample_id = row.frame["sample_id"].iloc[0]
            original = by_label[label][by_label[label]["sample_id"] == sample_id]
            assert np.array_equal(row.values(FEATURES), original[list(FEATURES)].to_numpy()), (
                f"{label}: waterfall of {sample_id} holds another row's values"
            )
            assert row.frame["prediction"].iloc[0] == original["prediction"].iloc[0], (
                f"{label}: waterfall of {sample_id} holds another row's prediction"
            )


def test_a_small_data_set_shows_each_sample_once() -> None:
    # given 3 samples and 2 waterfalls of each kind: the largest two and smallest two overlap
    table = explanations_table(3, labels=("only",), seed=4)
    sampler = RowSampler(FEATURES, waterfalls=2, sample_ids=[int(table["sample_id"].iloc[0])])
    # when sampled
    waterfalls = fed(sampler, iter([table])).rows()["only"].waterfalls
    # then each of the 3 samples is shown exactly once
    ids = [int(row.frame["sample_id"].iloc[0]) for _, row in waterfalls]
    assert sorted(ids) == sorted(table["sample_id"]), f"each sample once, got {ids}"


def test_no_waterfalls_when_none_is_asked() -> None:
    # given waterfalls=0 and no listed ids
    sampler = fed(RowSampler(FEATURES, waterfalls=0), iter([explanations_table(20, seed=5)]))
    # then no label has a waterfall
    for label, entry in sampler.rows().items():
        assert entry.waterfalls == (), f"{label}: waterfalls {entry.waterfalls}"


# --- input values ---------------------------------------------------------------------------


def encoded_features(batch: pd.DataFrame) -> pd.DataFrame:
    """One row per sample of ``batch``: values that encode the sample's id (one is text)."""
    ids = pd.unique(batch["sample_id"])
    return pd.DataFrame(
        {"x1": ids * 10.0, "x2": [f"id-{sample_id}" for sample_id in ids], "x3": -ids}
    )


def assert_features_encode_ids(rows: dict[str, LabelRows], what: str) -> None:
    for label, entry in rows.items():
        for why, sampled in [("points", entry.points), *entry.waterfalls]:
            assert sampled.features is not None, f"{what} {label} {why}: no features"
            ids = sampled.frame["sample_id"].to_numpy()
            assert list(sampled.features.columns) == list(FEATURES), (
                f"{what} {label} {why}: feature columns {list(sampled.features.columns)}"
            )
            assert np.array_equal(sampled.features["x1"].to_numpy(), ids * 10.0), (
                f"{what} {label} {why}: x1 is not 10 x the sample id"
            )
            assert list(sampled.features["x2"]) == [f"id-{i}" for i in ids], (
                f"{what} {label} {why}: x2 does not name the sample"
            )
            assert np.array_equal(sampled.features["x3"].to_numpy(), -ids), (
                f"{what} {label} {why}: x3 is not minus the sample id"
            )


def test_features_given_to_add_stay_with_their_rows() -> None:
    # given 400 samples of 3 labels in batches of 1 to 40 whole samples, each with its inputs
    table = explanations_table(400, seed=6)
    sampler = RowSampler(FEATURES, max_points=50, waterfalls=2, sample_ids=[1003], seed=2)
    rng = np.random.default_rng(0)
    start = 0
    while start < 400:
        samples = int(rng.integers(1, 41))
        batch = table.iloc[3 * start : 3 * (start + samples)]
        # when each batch is added with its features
        sampler.add(batch, encoded_features(batch))
        start += samples
    # then every sampled row carries its own sample's features
    assert sampler.has_features, "features were given"
    assert_features_encode_ids(sampler.rows(), "add(features)")


def test_inputs_are_joined_by_sample_id_as_text() -> None:
    # given batches without features, and inputs indexed by the sample id as text, shuffled,
    # with an extra column and the features in another order
    table = explanations_table(300, seed=7)
    sampler = fed(
        RowSampler(FEATURES, max_points=40, waterfalls=1, sample_ids=[1007]),
        whole_samples(table, 11),
    )
    inputs = encoded_features(table).assign(other="ignored")[["other", "x3", "x2", "x1"]]
    inputs.index = pd.Index(pd.unique(table["sample_id"]).astype(str))
    inputs = inputs.sample(frac=1.0, random_state=0)
    # when the rows are drawn with the inputs
    rows = sampler.rows(inputs)
    # then each sampled row gets its own sample's inputs, in feature order
    assert not sampler.has_features, "no features were given to add()"
    assert_features_encode_ids(rows, "rows(inputs)")
    assert {str(i) for i in rows["a"].points.frame["sample_id"]} <= sampler.sampled_ids, (
        "the points' ids are among sampled_ids (what the inputs are read for)"
    )


def test_inputs_without_the_feature_columns_are_ignored() -> None:
    # given inputs that lack feature x2
    table = explanations_table(50, seed=8)
    sampler = fed(RowSampler(FEATURES, max_points=10), whole_samples(table, 9))
    inputs = encoded_features(table).drop(columns=["x2"])
    inputs.index = pd.Index(pd.unique(table["sample_id"]).astype(str))
    # when the rows are drawn with them
    rows = sampler.rows(inputs)
    # then no row has features
    for label, entry in rows.items():
        assert entry.points.features is None, f"{label}: points got partial inputs"
        for why, row in entry.waterfalls:
            assert row.features is None, f"{label} {why}: waterfall got partial inputs"


# --- what the summary says of every row -----------------------------------------------------


def test_importance_is_the_mean_absolute_value_over_every_row(big_table: pd.DataFrame) -> None:
    # given the table fed in ragged batches
    sampler = fed(RowSampler(FEATURES, max_points=5), ragged(big_table, seed=9, max_rows=400))
    # when the importance is asked
    importance = {entry.label: entry for entry in sampler.importance()}
    # then it is pandas' mean |value| per label over the whole table
    expected = big_table[list(FEATURES)].abs().groupby(big_table["label"]).mean()
    assert list(importance) == list(LABELS), f"labels in input order, got {list(importance)}"
    for label in LABELS:
        entry = importance[label]
        assert entry.feature_names == FEATURES, f"{label}: features {entry.feature_names}"
        np.testing.assert_allclose(
            entry.importance,
            expected.loc[label].to_numpy(),
            rtol=1e-12,
            err_msg=f"{label}: mean |SHAP value|",
        )


def test_max_additivity_error_is_the_brute_force_maximum() -> None:
    # given predictions that miss base + sum by various amounts, some below 1 in size and some
    # far above it (where the error is relative)
    table = explanations_table(500, seed=10)
    rng = np.random.default_rng(1)
    table["prediction"] = table["prediction"] * rng.choice([0.1, 1.0, 500.0], size=len(table))
    table["prediction"] += rng.normal(scale=0.01, size=len(table))
    # when fed in ragged batches
    sampler = fed(RowSampler(FEATURES), ragged(table, seed=11))
    # then the error is the max over rows of |base + sum - prediction| / max(1, |prediction|)
    expected = max(
        abs(row.base_value + sum(getattr(row, name) for name in FEATURES) - row.prediction)
        / max(1.0, abs(row.prediction))
        for row in table.itertuples()
    )
    assert sampler.max_additivity_error == pytest.approx(expected, rel=1e-9), (
        f"max additivity error {sampler.max_additivity_error} != brute force {expected}"
    )
    summary = dict(sampler.summary())
    assert summary["max additivity error"] == sampler.max_additivity_error, "summary's error"
    assert summary["samples"] == 500, f"summary's samples: {summary['samples']}"
    assert summary["labels"] == "a, b, c", f"summary's labels: {summary['labels']}"
    assert summary["features"] == 3, f"summary's features: {summary['features']}"


def test_stderr_max_is_the_largest_standard_error() -> None:
    # given standard error columns
    table = explanations_table(300, seed=12, stderr=True)
    # when fed in batches of 7 samples
    sampler = fed(RowSampler(FEATURES), whole_samples(table, 7))
    # then stderr_max is the max of the _stderr columns, and the summary says it
    expected = table[[f"{name}_stderr" for name in FEATURES]].to_numpy().max()
    assert sampler.stderr_max == expected, f"stderr_max {sampler.stderr_max} != {expected}"
    assert dict(sampler.summary())["largest standard error"] == expected, "summary's stderr"


def test_no_stderr_columns_no_stderr_max() -> None:
    # given a table without standard errors
    sampler = fed(RowSampler(FEATURES), iter([explanations_table(20, seed=13)]))
    # then there is no stderr_max, and the summary does not mention one
    assert sampler.stderr_max is None, f"stderr_max {sampler.stderr_max} without _stderr"
    assert "largest standard error" not in dict(sampler.summary()), "summary's stderr row"


def test_unknown_standard_errors_are_said_to_be_unknown_in_the_summary() -> None:
    # given rows whose standard errors are NaN (a single sampled coalition pair)
    table = pd.DataFrame(
        {
            "sample_id": [0, 1],
            "label": ["y", "y"],
            "prediction": [1.0, 2.0],
            "base_value": [0.5, 0.5],
            "a": [0.5, 1.5],
            "a_stderr": [np.nan, np.nan],
        }
    )
    sampler = RowSampler(["a"])
    sampler.add(table)
    # then the summary says the error is unknown, not 0
    summary = dict(sampler.summary())
    assert str(summary["largest standard error"]).startswith("unknown"), summary
