"""Clarify's NDCG in plain Python, written from the formula, sharing no code with explainops."""

from __future__ import annotations

import itertools
import math


def slow_ndcg(baseline: dict[str, float], live: dict[str, float]) -> float:
    """Clarify's formula in plain Python, ties averaged over every order of the tied features."""
    gain = {name: abs(value) for name, value in baseline.items()}

    def dcg(order: list[str]) -> float:
        return sum(gain[name] / math.log2(position + 1) for position, name in enumerate(order, 1))

    ideal = dcg(sorted(gain, key=lambda name: -gain[name]))
    if ideal == 0.0:
        return 1.0
    levels = sorted({abs(value) for value in live.values()}, reverse=True)
    groups = [[name for name in live if abs(live[name]) == level] for level in levels]
    orders = [
        [name for group in combination for name in group]
        for combination in itertools.product(*(itertools.permutations(g) for g in groups))
    ]
    return sum(dcg(order) for order in orders) / len(orders) / ideal
