from __future__ import annotations

import doctest
import importlib
import itertools
import math
import string
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import ndcg_score

from explainops.drift import RankChange, ndcg, rank_changes, ranked_features

from .slow_ndcg import slow_ndcg

LOG2_3 = math.log2(3)  # 1.5849625...: the discount of position 2 is 1 / LOG2_3 = 0.6309298
LOG2_5 = math.log2(5)  # 2.3219281...: position 4; position 3 is 1 / log2(4) = 1/2
BASELINE = {"a": 0.5, "b": 0.3, "c": 0.2}
# iDCG of BASELINE = 0.5/1 + 0.3/log2(3) + 0.2/log2(4) = 0.5 + 0.1892789 + 0.1 = 0.7892789
BASELINE_IDCG = 0.5 + 0.3 / LOG2_3 + 0.2 / 2

PROPERTY = settings(max_examples=200, deadline=None)

# Small integers make ties frequent; wide floats exercise magnitudes.
FINITE = st.floats(allow_nan=False, allow_infinity=False)
BOUNDED = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_subnormal=False)
GRID = st.integers(min_value=-6, max_value=6).map(float)
MIXED = st.one_of(GRID, BOUNDED)
NAMES = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=4)


@st.composite
def attribution_pairs(
    draw: st.DrawFn, values: st.SearchStrategy[float] = MIXED, max_features: int = 6
) -> tuple[dict[str, float], dict[str, float]]:
    """Baseline and live attributions of the same features."""
    names = draw(st.lists(NAMES, min_size=1, max_size=max_features, unique=True))
    baseline = {name: draw(values) for name in names}
    live = {name: draw(values) for name in draw(st.permutations(names))}
    return baseline, live


# --- hand-computed values -------------------------------------------------------------------


def test_identical_ranking_scores_one() -> None:
    # given live attributions of other sizes but the baseline's order a > b > c
    live = {"a": 0.4, "b": 0.35, "c": 0.1}
    # when compared
    value = ndcg(BASELINE, live)
    # then DCG = iDCG term by term: the same sum of the same terms, so exactly 1.0
    assert value == 1.0, f"same ranking must give 1.0, got {value}"


def test_swapping_the_top_two_features() -> None:
    # given b overtakes a in the live window: live order b, a, c
    live = {"a": 0.3, "b": 0.6, "c": 0.1}
    # when compared
    value = ndcg(BASELINE, live)
    # then DCG = 0.3/1 + 0.5/log2(3) + 0.2/2 = 0.3 + 0.3154649 + 0.1 = 0.7154649
    #      NDCG = 0.7154649 / 0.7892789 = 0.9064791
    expected = (0.3 + 0.5 / LOG2_3 + 0.2 / 2) / BASELINE_IDCG
    assert value == pytest.approx(expected, rel=1e-12), "swapped top two"
    assert value == pytest.approx(0.9064791, abs=1e-7), "swapped top two, decimals"


def test_reversed_ranking() -> None:
    # given the live order c, b, a
    live = {"a": 0.1, "b": 0.3, "c": 0.6}
    # when compared
    value = ndcg(BASELINE, live)
    # then DCG = 0.2/1 + 0.3/log2(3) + 0.5/2 = 0.2 + 0.1892789 + 0.25 = 0.6392789
    #      NDCG = 0.6392789 / 0.7892789 = 0.8099531
    expected = (0.2 + 0.3 / LOG2_3 + 0.5 / 2) / BASELINE_IDCG
    assert value == pytest.approx(expected, rel=1e-12), "reversed ranking"
    assert value == pytest.approx(0.8099531, abs=1e-7), "reversed ranking, decimals"


def test_negative_attributions_count_by_magnitude() -> None:
    # given the swapped case with signs flipped (median aggregation can give negatives)
    baseline = {"a": -0.5, "b": 0.3, "c": -0.2}
    live = {"a": 0.3, "b": -0.6, "c": 0.1}
    # when compared
    value = ndcg(baseline, live)
    # then it equals the all-positive case: 0.9064791
    assert value == pytest.approx(ndcg(BASELINE, {"a": 0.3, "b": 0.6, "c": 0.1}), rel=1e-15), (
        "absolute values rank and score"
    )


def test_tied_live_features_share_the_mean_discount() -> None:
    # given b and c tied at the top of the live ranking, a last
    live = {"a": 0.1, "b": 0.4, "c": 0.4}
    # when compared
    value = ndcg(BASELINE, live)
    # then {b, c} shares the mean discount of positions 1 and 2, (1 + 1/log2(3)) / 2 = 0.8154649:
    #      DCG = (0.3 + 0.2) * 0.8154649 + 0.5/2 = 0.4077325 + 0.25 = 0.6577325
    #          = 0.5 + 0.25/log2(3), and iDCG = 0.6 + 0.3/log2(3), so NDCG = 5/6 exactly
    assert value == pytest.approx(5 / 6, rel=1e-12), f"tie-aware NDCG must be 5/6, got {value}"
    # and it is the mean of the two orders b, c, a and c, b, a
    order_bca = (0.3 + 0.2 / LOG2_3 + 0.5 / 2) / BASELINE_IDCG
    order_cba = (0.2 + 0.3 / LOG2_3 + 0.5 / 2) / BASELINE_IDCG
    assert value == pytest.approx((order_bca + order_cba) / 2, rel=1e-12), "mean of tie orders"


def test_ties_do_not_depend_on_dict_order() -> None:
    # given the same tied live attributions inserted in every order
    items = [("a", 0.1), ("b", 0.4), ("c", 0.4)]
    # when compared with the baseline, itself in every order
    values = {
        ndcg(dict(baseline_items), dict(live_items))
        for baseline_items in itertools.permutations(BASELINE.items())
        for live_items in itertools.permutations(items)
    }
    # then there is one value, bit for bit: the names are sorted before anything is summed
    assert len(values) == 1, f"dict order changed the result: {values}"


def test_all_zero_live_ties_every_feature() -> None:
    # given a live window in which no feature matters
    live = {"a": 0.0, "b": 0.0, "c": 0.0}
    # when compared
    value = ndcg(BASELINE, live)
    # then all three share the mean discount (1 + 0.6309298 + 0.5) / 3 = 0.7103099:
    #      DCG = 1.0 * 0.7103099, NDCG = 0.7103099 / 0.7892789 = 0.8999479
    expected = (1 + 1 / LOG2_3 + 0.5) / 3 / BASELINE_IDCG
    assert value == pytest.approx(expected, rel=1e-12), "all-zero live"
    assert value == pytest.approx(0.8999479, abs=1e-7), "all-zero live, decimals"


def test_all_zero_baseline_scores_one() -> None:
    # given a baseline in which no feature matters (iDCG = 0)
    baseline = {"a": 0.0, "b": -0.0, "c": 0.0}
    # when any live ranking is compared
    values = [ndcg(baseline, {"a": 0.9, "b": 0.1, "c": 0.0}), ndcg(baseline, baseline)]
    # then there is no ranking to drift from: 1.0 (returned as such, not computed), as for an
    # all-tied non-zero baseline
    assert values == [1.0, 1.0], f"all-zero baseline must give 1.0, got {values}"
    tied = {"a": 0.2, "b": 0.2, "c": 0.2}
    assert ndcg(tied, {"a": 0.9, "b": 0.1, "c": 0.0}) == pytest.approx(1.0, abs=1e-15), (
        "an all-tied baseline gives 1.0 whatever the live ranking"
    )


@pytest.mark.parametrize(("baseline", "live"), [(0.7, 0.1), (-3.0, 0.0), (0.0, 5.0)])
def test_one_feature_scores_one(baseline: float, live: float) -> None:
    # given a single feature, which can only rank first
    # when compared
    value = ndcg({"x": baseline}, {"x": live})
    # then 1.0 exactly: DCG and iDCG are the same single term (or 1.0 is returned for a zero)
    assert value == 1.0, f"one feature must give 1.0, got {value}"


def test_extreme_magnitudes_neither_overflow_nor_underflow() -> None:
    # given attributions near the largest and smallest normal floats, in the swapped order
    large = {name: value * 1e307 for name, value in BASELINE.items()}
    small = {name: value * 1e-300 for name, value in BASELINE.items()}
    live = {"a": 0.3, "b": 0.6, "c": 0.1}
    # when compared
    values = [ndcg(large, live), ndcg(small, live)]
    # then both equal the unscaled value 0.9064791
    assert values == pytest.approx([0.9064791] * 2, abs=1e-7), f"scale-free, got {values}"


def test_worked_example_of_the_docs() -> None:
    # given docs/drift.md's example: region, the least important baseline feature, jumps first
    baseline = {"age": 0.40, "income": 0.30, "tenure": 0.20, "region": 0.10}
    live = {"age": 0.15, "income": 0.30, "tenure": 0.10, "region": 0.40}
    # when compared
    value = ndcg(baseline, live)
    # then iDCG = 0.40 + 0.30/log2(3) + 0.20/2 + 0.10/log2(5) = 0.40 + 0.18928 + 0.10 + 0.04307
    #           = 0.73235 (order age, income, tenure, region)
    #      DCG  = 0.10 + 0.30/log2(3) + 0.40/2 + 0.20/log2(5) = 0.10 + 0.18928 + 0.20 + 0.08614
    #           = 0.57542 (order region, income, age, tenure); NDCG = 0.7857 < 0.90: a drift
    ideal = 0.40 + 0.30 / LOG2_3 + 0.20 / 2 + 0.10 / LOG2_5
    achieved = 0.10 + 0.30 / LOG2_3 + 0.40 / 2 + 0.20 / LOG2_5
    assert value == pytest.approx(achieved / ideal, rel=1e-12), "worked example"
    assert round(value, 4) == 0.7857, f"the docs say 0.7857, got {value:.6f}"


def test_docstring_examples_hold() -> None:
    # given the examples in the module's docstrings
    # when run as doctests
    result = doctest.testmod(importlib.import_module("explainops.drift.ndcg"))
    # then they all pass, and there are some to pass
    assert result.attempted >= 2, f"only {result.attempted} doctest(s) found"
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctests failed"


# --- validation -----------------------------------------------------------------------------


def test_mismatched_features_are_named() -> None:
    # given a live window that lost c and gained d
    live = {"a": 0.5, "b": 0.3, "d": 0.2}
    # when compared, then the error names both
    with pytest.raises(ValueError, match=r"missing from live: \['c'\]; not in baseline: \['d'\]"):
        ndcg(BASELINE, live)


@pytest.mark.parametrize(("baseline", "live"), [({}, {}), ({"a": 1.0}, {}), ({}, {"a": 1.0})])
def test_empty_attributions_are_rejected(
    baseline: dict[str, float], live: dict[str, float]
) -> None:
    # given an empty mapping on either side, when compared, then a ValueError with the counts
    with pytest.raises(ValueError, match="at least one feature"):
        ndcg(baseline, live)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("side", ["baseline", "live"])
def test_non_finite_attributions_are_named(bad: float, side: str) -> None:
    # given a non-finite attribution of feature b on one side
    baseline, live = dict(BASELINE), dict(BASELINE)
    (baseline if side == "baseline" else live)["b"] = bad
    # when compared, then the error names the side and the feature
    with pytest.raises(ValueError, match=rf"^{side}: .*'b' = {bad}"):
        ndcg(baseline, live)


def test_non_numeric_attributions_are_rejected() -> None:
    # given an attribution that is not a number
    live = {"a": 0.5, "b": "high", "c": 0.2}
    # when compared, then a ValueError about live
    with pytest.raises(ValueError, match=r"^live: attributions must be numbers"):
        ndcg(BASELINE, live)  # type: ignore[dict-item]


# --- properties -----------------------------------------------------------------------------


@PROPERTY
@given(attribution_pairs(values=st.one_of(GRID, FINITE)))
def test_ndcg_lies_between_zero_and_one(pair: tuple[dict[str, float], dict[str, float]]) -> None:
    baseline, live = pair
    value = ndcg(baseline, live)
    assert 0.0 <= value <= 1.0, f"NDCG out of [0, 1]: {value}"


@PROPERTY
@given(attribution_pairs(), st.floats(min_value=1e-3, max_value=1e3))
def test_ndcg_ignores_the_scale_of_the_baseline(
    pair: tuple[dict[str, float], dict[str, float]], factor: float
) -> None:
    baseline, live = pair
    scaled = {name: factor * value for name, value in baseline.items()}
    assert ndcg(scaled, live) == pytest.approx(ndcg(baseline, live), rel=1e-9, abs=1e-12), (
        f"scaling the baseline by {factor} changed NDCG"
    )


@PROPERTY
@given(attribution_pairs(values=GRID), st.floats(min_value=1e-3, max_value=1e3))
def test_ndcg_ignores_the_scale_of_the_live_window(
    pair: tuple[dict[str, float], dict[str, float]], factor: float
) -> None:
    # Small integers keep their order and ties exactly when scaled, and NDCG uses only the live
    # order: the same computation on the same gains, so the same float.
    baseline, live = pair
    scaled = {name: factor * value for name, value in live.items()}
    assert ndcg(baseline, scaled) == ndcg(baseline, live), (
        f"scaling the live window by {factor} changed NDCG"
    )


@PROPERTY
@given(attribution_pairs(values=st.one_of(GRID, FINITE)))
def test_ndcg_is_one_when_the_live_ranking_is_the_baseline_ranking(
    pair: tuple[dict[str, float], dict[str, float]],
) -> None:
    # Live values are the dense ranks of the baseline magnitudes: same order, same ties, so DCG is
    # iDCG's very sum and the ratio is exactly 1.0.
    baseline, _ = pair
    levels = sorted({abs(value) for value in baseline.values()})
    live = {name: float(levels.index(abs(value))) for name, value in baseline.items()}
    assert ndcg(baseline, live) == 1.0, f"same ranking must give 1.0: {baseline} vs {live}"
    assert ndcg(baseline, baseline) == 1.0, "a baseline compared with itself must give 1.0"


@PROPERTY
@given(attribution_pairs(), st.randoms(use_true_random=False))
def test_ndcg_ignores_the_order_of_the_mappings(
    pair: tuple[dict[str, float], dict[str, float]], shuffler: Random
) -> None:
    baseline, live = pair
    baseline_items, live_items = list(baseline.items()), list(live.items())
    shuffler.shuffle(baseline_items)
    shuffler.shuffle(live_items)
    # Exact: ndcg sorts the names first, so the sums run in the same order (its docstring's promise).
    assert ndcg(dict(baseline_items), dict(live_items)) == ndcg(baseline, live), (
        "dict order changed the result"
    )


@PROPERTY
@given(attribution_pairs())
def test_ndcg_equals_the_slow_formula(pair: tuple[dict[str, float], dict[str, float]]) -> None:
    baseline, live = pair
    assert ndcg(baseline, live) == pytest.approx(slow_ndcg(baseline, live), rel=1e-9, abs=1e-12), (
        f"vectorised and plain-Python NDCG differ for {baseline} vs {live}"
    )


@PROPERTY
@given(attribution_pairs(max_features=12))
def test_ndcg_equals_scikit_learn_when_both_are_defined(
    pair: tuple[dict[str, float], dict[str, float]],
) -> None:
    # scikit-learn needs two features and a non-zero iDCG (it returns 0.0 where we return 1.0).
    baseline, live = pair
    names = sorted(baseline)
    relevance = [[abs(baseline[name]) for name in names]]
    if len(names) < 2 or not any(relevance[0]):
        return
    reference = ndcg_score(relevance, [[abs(live[name]) for name in names]])
    assert ndcg(baseline, live) == pytest.approx(reference, rel=1e-9, abs=1e-12), (
        f"scikit-learn disagrees for {baseline} vs {live}"
    )


# --- ranked_features and rank_changes -------------------------------------------------------


def test_ranked_features_sort_by_magnitude_then_name() -> None:
    # given signed attributions with a tie between d and b
    attributions = {"d": 0.2, "a": -0.9, "c": 0.05, "b": -0.2}
    # when ranked
    ranking = ranked_features(attributions)
    # then by |value| descending, b before d, signs kept and values as given (so exact)
    assert ranking == [("a", -0.9), ("b", -0.2), ("d", 0.2), ("c", 0.05)], f"got {ranking}"
    assert ranked_features(attributions, k=2) == [("a", -0.9), ("b", -0.2)], "top 2"
    assert ranked_features(attributions, k=0) == [], "k=0 gives nothing"
    assert len(ranked_features(attributions, k=10)) == 4, "k beyond n gives everything"
    assert ranked_features({}) == [], "no features, no ranking"


def test_ranked_features_validate_their_input() -> None:
    # given a negative k or a NaN, when ranked, then ValueErrors naming the problem
    with pytest.raises(ValueError, match="k must be a non-negative"):
        ranked_features(BASELINE, k=-1)
    with pytest.raises(ValueError, match="'c' = nan"):
        ranked_features({"a": 1.0, "c": math.nan})


def test_rank_changes_report_the_features_that_moved() -> None:
    # given the docs' worked example
    baseline = {"age": 0.40, "income": 0.30, "tenure": 0.20, "region": 0.10}
    live = {"age": 0.15, "income": 0.30, "tenure": 0.10, "region": 0.40}
    # when the top 2 of either ranking are reported
    changes = rank_changes(baseline, live, k=2)
    # then age (1 -> 3), income (2 -> 2) and region (4 -> 1), in baseline order, values as given
    assert changes == [
        RankChange("age", 1, 3, 0.40, 0.15),
        RankChange("income", 2, 2, 0.30, 0.30),
        RankChange("region", 4, 1, 0.10, 0.40),
    ], f"got {changes}"
    assert [change.shift for change in changes] == [-2, 0, 3], "shift is positions gained"
    assert len(rank_changes(baseline, live)) == 4, "k=None reports every feature"


def test_rank_changes_validate_like_ndcg() -> None:
    # given mismatched features, when reported, then the same error as ndcg
    with pytest.raises(ValueError, match=r"missing from live: \['c'\]"):
        rank_changes(BASELINE, {"a": 0.1, "b": 0.2}, k=1)
