"""NDCG of feature rankings: the attribution-drift metric of SageMaker Clarify's monitor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def ndcg(baseline: Mapping[str, float], live: Mapping[str, float]) -> float:
    """Normalised discounted cumulative gain of the live feature ranking.

    Scores how well the features ranked by their live attributions keep the baseline's
    important features on top, as Amazon SageMaker Clarify's model-explainability monitor
    does. With F the features sorted by baseline attribution, F' the features sorted by live
    attribution (both descending) and a(f) the baseline attribution of feature f::

        DCG  = sum_{i=1..n} a(F'_i) / log2(i + 1)
        iDCG = sum_{i=1..n} a(F_i)  / log2(i + 1)
        NDCG = DCG / iDCG

    Only the order of the live attributions matters; the gains always come from the
    baseline. NDCG is 1.0 when the live ranking equals the baseline ranking and drops as
    important baseline features fall down the live ranking. Clarify reports a violation
    when NDCG < 0.90.

    Parameters
    ----------
    baseline : Mapping[str, float]
        Global attribution of each feature in the baseline (reference) data, e.g. the
        ``global_shap_values`` of one label. At least one feature; finite values.
    live : Mapping[str, float]
        Global attribution of each feature in the window being monitored, with exactly the
        same feature names as ``baseline``. Finite values.

    Returns
    -------
    float
        NDCG in [0, 1]; 1.0 means no drift of the ranking.

    Raises
    ------
    ValueError
        If either mapping is empty, if the two mappings do not name the same features (the
        message lists the features missing from ``live`` and those not in ``baseline``), or
        if an attribution is not a finite number (the message names the feature).

    Notes
    -----
    - **Absolute values.** Attributions are ranked by, and score with, their absolute
      value: a feature with a large negative global SHAP value (possible with the
      ``median`` aggregation) matters as much as one with a large positive value. With
      ``mean_abs`` and ``mean_sq`` values are never negative and nothing changes.
    - **Ties** (exactly equal absolute live attributions) are ranked without looking at
      names or dict order: a group of tied features shares the mean of the discounts of
      the positions it occupies, which equals the average DCG over every order of the tied
      features (McSherry & Najork, 2008; scikit-learn's ``ndcg_score`` does the same).
      The result is therefore a function of the values alone. Ties in the baseline do not
      change iDCG, whose tied gains are equal.
    - **All-zero baseline.** iDCG = 0 and NDCG is 0/0; it is defined as 1.0. A baseline in
      which no feature matters has all its features tied, and a baseline of equal non-zero
      attributions gives 1.0 for every live ranking, so 1.0 continues that case: there is
      no ranking to drift from. (scikit-learn's ``ndcg_score`` returns 0.0 here, i.e. a
      violation in every window.) An all-zero baseline usually means a constant model or a
      broken baseline job, which the job that loads the baseline should report.
    - **One feature.** A single feature can only be ranked first: NDCG = 1.0.
    - The live value can never beat the ideal ordering (DCG <= iDCG); the ratio is clipped
      at 1.0 against rounding.

    References
    ----------
    .. [1] Amazon SageMaker Clarify, "Feature attribution drift for models in production",
       https://docs.aws.amazon.com/sagemaker/latest/dg/clarify-model-monitor-feature-attribution-drift.html
    .. [2] K. Järvelin and J. Kekäläinen, "Cumulated gain-based evaluation of IR
       techniques", ACM Transactions on Information Systems 20(4), 2002.
    .. [3] F. McSherry and M. Najork, "Computing information retrieval performance measures
       efficiently in the presence of tied scores", ECIR 2008, LNCS 4956, pp. 414-421.

    Examples
    --------
    >>> ndcg({"a": 0.5, "b": 0.3, "c": 0.2}, {"a": 0.4, "b": 0.35, "c": 0.1})
    1.0
    >>> round(ndcg({"a": 0.5, "b": 0.3, "c": 0.2}, {"a": 0.3, "b": 0.6, "c": 0.1}), 4)
    0.9065

    """
    _, baseline_values, live_values = _paired_arrays(baseline, live)
    scores = np.abs(baseline_values)
    if not scores.any():
        return 1.0
    # Gains scaled by the largest one (NDCG is scale invariant): no overflow or underflow.
    gains = scores / scores.max()
    ideal = _tie_aware_dcg(gains, ranking_scores=scores)
    achieved = _tie_aware_dcg(gains, ranking_scores=np.abs(live_values))
    return min(achieved / ideal, 1.0)


def ranked_features(
    attributions: Mapping[str, float], k: int | None = None
) -> list[tuple[str, float]]:
    """Features by descending absolute attribution, ties broken by name; the top ``k``.

    Parameters
    ----------
    attributions : Mapping[str, float]
        Global attribution of each feature; finite values. May be empty.
    k : int or None, default None
        How many features to return; ``None`` returns all of them.

    Returns
    -------
    list[tuple[str, float]]
        ``(feature, attribution)`` pairs, the attribution as given (sign kept).

    Raises
    ------
    ValueError
        If ``k`` is negative or an attribution is not a finite number (naming the feature).

    """
    _check_k(k)
    names = sorted(attributions)
    values = _attribution_array(attributions, names, "attributions")
    # Names are sorted, so a stable sort on the magnitude breaks ties by name.
    order = np.argsort(-np.abs(values), kind="stable")[:k]
    return [(names[index], float(values[index])) for index in order]


@dataclass(frozen=True)
class RankChange:
    """Where one feature stands in the baseline and in the live ranking (ranks from 1)."""

    feature: str
    baseline_rank: int
    live_rank: int
    baseline_value: float
    live_value: float

    @property
    def shift(self) -> int:
        """Positions gained in the live ranking: positive moved up, negative moved down."""
        return self.baseline_rank - self.live_rank


def rank_changes(
    baseline: Mapping[str, float], live: Mapping[str, float], k: int | None = None
) -> list[RankChange]:
    """Baseline and live ranks of the features in the top ``k`` of either ranking.

    For violation reports: which features moved. Ranks follow :func:`ranked_features`
    (absolute values, ties broken by name), so tied features get distinct ranks here even
    though :func:`ndcg` treats them as tied.

    Parameters
    ----------
    baseline, live : Mapping[str, float]
        Global attributions with the same feature names, as for :func:`ndcg`.
    k : int or None, default None
        Size of the top of each ranking to report; ``None`` reports every feature.

    Returns
    -------
    list[RankChange]
        One entry per feature in the top ``k`` of the baseline or of the live ranking,
        ordered by baseline rank.

    Raises
    ------
    ValueError
        As :func:`ndcg` does for the mappings, and if ``k`` is negative.

    """
    _check_k(k)
    _paired_arrays(baseline, live)
    baseline_order = [name for name, _ in ranked_features(baseline)]
    live_order = [name for name, _ in ranked_features(live)]
    live_rank = {name: rank for rank, name in enumerate(live_order, start=1)}
    reported = set(baseline_order[:k]) | set(live_order[:k])
    return [
        RankChange(name, rank, live_rank[name], float(baseline[name]), float(live[name]))
        for rank, name in enumerate(baseline_order, start=1)
        if name in reported
    ]


def _tie_aware_dcg(gains: FloatArray, ranking_scores: FloatArray) -> float:
    """DCG of ``gains`` ordered by descending ``ranking_scores``, tied scores averaged.

    Each group of equal scores occupies consecutive positions and shares the mean of their
    discounts 1 / log2(position + 1).
    """
    _, group_of_feature, group_sizes = np.unique(
        -ranking_scores, return_inverse=True, return_counts=True
    )
    discounts = 1.0 / np.log2(np.arange(2, len(gains) + 2, dtype=np.float64))
    group_of_position = np.repeat(np.arange(len(group_sizes)), group_sizes)
    mean_discounts = np.bincount(group_of_position, weights=discounts) / group_sizes
    group_gains = np.bincount(group_of_feature.ravel(), weights=gains, minlength=len(group_sizes))
    return float(group_gains @ mean_discounts)


def _paired_arrays(
    baseline: Mapping[str, float], live: Mapping[str, float]
) -> tuple[list[str], FloatArray, FloatArray]:
    """Validated attributions of the same features, in the order of their sorted names.

    Sorting the names makes every result independent of the mappings' order, down to the
    order of floating-point sums.
    """
    if not baseline or not live:
        raise ValueError(
            "attribution drift needs at least one feature; "
            f"got {len(baseline)} baseline and {len(live)} live features"
        )
    missing = sorted(set(baseline) - set(live))
    extra = sorted(set(live) - set(baseline))
    if missing or extra:
        raise ValueError(
            "baseline and live attributions must name the same features; "
            f"missing from live: {missing}; not in baseline: {extra}"
        )
    names = sorted(baseline)
    return (
        names,
        _attribution_array(baseline, names, "baseline"),
        _attribution_array(live, names, "live"),
    )


def _attribution_array(
    attributions: Mapping[str, float], names: list[str], where: str
) -> FloatArray:
    """The attributions of ``names`` as floats, each checked to be a finite number."""
    try:
        values = np.array([attributions[name] for name in names], dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: attributions must be numbers ({error})") from error
    if values.ndim != 1:
        raise ValueError(f"{where}: each attribution must be a single number, not a sequence")
    not_finite = np.flatnonzero(~np.isfinite(values))
    if not_finite.size:
        listed = ", ".join(f"{names[index]!r} = {values[index]}" for index in not_finite)
        raise ValueError(f"{where}: attributions must be finite numbers; got {listed}")
    return values


def _check_k(k: int | None) -> None:
    if k is not None and k < 0:
        raise ValueError(f"k must be a non-negative number of features or None, got {k}")
