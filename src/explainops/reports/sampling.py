"""The rows a report draws: a bounded uniform sample, and the samples that get a waterfall.

A report of a million explained rows must stay small, so the beeswarm and scatter plots draw a
uniform sample of at most ``max_points`` samples, and say so. The sample is a bottom-k of random
keys drawn one per sample in input order from a seeded generator: the same rows are drawn
whatever the batching, in the job (from each batch's explanation) and when the report is drawn
again from the sample-explanations table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from explainops.core.tables import RESERVED_COLUMNS
from explainops.explainers.explanation import (
    BUDGET_COLUMNS,
    CONVERGED_COLUMN,
    EVALUATIONS_COLUMN,
    STDERR_SUFFIX,
)
from explainops.reports.importance import GlobalImportance

FloatArray = npt.NDArray[np.float64]
DEFAULT_MAX_POINTS = 1000
_KEY = "__report_key"
_FEATURE_PREFIX = "__feature__"


@dataclass(frozen=True)
class SampledRows:
    """Some explained samples of one label, with their inputs when known.

    Attributes:
        frame: sample-explanations rows (``sample_id``, ``prediction``, ``base_value``, one
            column of SHAP values per feature).
        features: the same samples' input values, one column a feature (None: not known).

    """

    frame: pd.DataFrame
    features: pd.DataFrame | None

    def values(self, feature_names: Sequence[str]) -> FloatArray:
        """(n, d) SHAP values."""
        return self.frame[list(feature_names)].to_numpy(dtype=np.float64)

    def __len__(self) -> int:
        return len(self.frame)


@dataclass(frozen=True)
class LabelRows:
    """What the report draws of one label: the point sample and the waterfall samples.

    ``waterfalls`` are (why it was chosen, its row): the largest and smallest predictions, then
    the ids the configuration lists.
    """

    points: SampledRows
    waterfalls: tuple[tuple[str, SampledRows], ...]


class RowSampler:
    """Keeps, label by label, a uniform sample of explained rows and the extreme predictions.

    Feed it the sample-explanations table batch by batch (``add``), with the batch's input
    values when known; then ``rows()``.
    """

    def __init__(
        self,
        feature_names: Sequence[str],
        *,
        max_points: int = DEFAULT_MAX_POINTS,
        waterfalls: int = 1,
        sample_ids: Sequence[Any] = (),
        seed: int = 0,
    ) -> None:
        self.feature_names = tuple(feature_names)
        self.max_points = max_points
        self.waterfalls = waterfalls
        self.sample_ids = list(sample_ids)
        self._wanted = {str(sample_id) for sample_id in sample_ids}
        self.seed = seed
        self._counts: dict[str, int] = {}
        self._kept: dict[str, pd.DataFrame] = {}
        self._largest: dict[str, pd.DataFrame] = {}
        self._smallest: dict[str, pd.DataFrame] = {}
        self._listed: dict[str, pd.DataFrame] = {}
        self.has_features = False
        self.n_samples = 0
        self._abs_sums: dict[str, FloatArray] = {}
        self.max_additivity_error = 0.0
        self.stderr_max: float | None = None
        # An adaptive Kernel budget's model evaluations per sample (the first label's rows).
        self._budget: _BudgetTally | None = None

    def add(self, table: pd.DataFrame, features: pd.DataFrame | None = None) -> None:
        """Take one batch: sample-explanations rows (sample-major), and its inputs when known.

        ``features``, when given, holds one row per sample of ``table``, in the same order.
        """
        labels = table["label"].astype(str).to_numpy()
        if features is not None:
            self.has_features = True
            inputs = features.reset_index(drop=True)
            inputs.columns = [_FEATURE_PREFIX + str(name) for name in inputs.columns]
        for position, label in enumerate(dict.fromkeys(labels)):
            rows = table.loc[labels == label].reset_index(drop=True)
            start = self._counts.get(label, 0)
            self._counts[label] = start + len(rows)
            rows.index = pd.RangeIndex(start, start + len(rows))
            rows[_KEY] = uniform_keys(self.seed, rows.index.to_numpy())
            if features is not None:
                rows = pd.concat([rows, inputs.set_axis(rows.index)], axis=1)
            self._measure(label, rows)
            if position == 0:  # every label has a row per sample: count the samples once
                self._measure_budget(rows)
            self._keep(label, rows)
        self.n_samples = max(self._counts.values(), default=0)

    def _measure(self, label: str, rows: pd.DataFrame) -> None:
        """Accumulate what the summary says of every row: importance, additivity, stderr."""
        values = rows[list(self.feature_names)].to_numpy(dtype=np.float64)
        self._abs_sums[label] = self._abs_sums.get(label, 0.0) + np.abs(values).sum(axis=0)
        if len(rows):
            predictions = rows["prediction"].to_numpy(dtype=np.float64)
            error = np.abs(
                rows["base_value"].to_numpy(dtype=np.float64) + values.sum(axis=1) - predictions
            )
            scaled = error / np.maximum(1.0, np.abs(predictions))
            self.max_additivity_error = max(self.max_additivity_error, float(np.nanmax(scaled)))
        errors = [f"{name}{STDERR_SUFFIX}" for name in self.feature_names]
        if len(rows) and all(column in rows for column in errors):
            spread = rows[errors].to_numpy(dtype=np.float64)
            if np.isnan(spread).any():  # a single sampled pair: the error is unknown
                self.stderr_max = float("nan")
            elif self.stderr_max is None or not np.isnan(self.stderr_max):
                self.stderr_max = max(self.stderr_max or 0.0, float(spread.max()))

    def _measure_budget(self, rows: pd.DataFrame) -> None:
        if not set(BUDGET_COLUMNS) <= set(rows.columns) or not len(rows):
            return
        if self._budget is None:
            self._budget = _BudgetTally()
        self._budget.add(
            rows[EVALUATIONS_COLUMN].to_numpy(dtype=np.float64),
            rows[CONVERGED_COLUMN].to_numpy(dtype=bool),
        )

    def budget_summary(self) -> list[tuple[str, Any]]:
        """With an adaptive Kernel budget: evaluations per sample and how many converged."""
        return [] if self._budget is None else self._budget.summary()

    def importance(self) -> list[GlobalImportance]:
        """Mean |SHAP value| per label and feature, over every row seen."""
        return [
            GlobalImportance(label, self.feature_names, sums / max(1, self._counts[label]))
            for label, sums in self._abs_sums.items()
        ]

    def summary(self) -> list[tuple[str, Any]]:
        """What the rows alone tell of the run (a report drawn from its files)."""
        rows: list[tuple[str, Any]] = [
            ("samples", self.n_samples),
            ("labels", ", ".join(self.labels)),
            ("features", len(self.feature_names)),
            ("max additivity error", self.max_additivity_error),
        ]
        if self.stderr_max is not None:
            rows.append(("largest standard error", stderr_text(self.stderr_max)))
        return rows + self.budget_summary()

    def _keep(self, label: str, rows: pd.DataFrame) -> None:
        self._kept[label] = _smallest(
            pd.concat([self._kept.get(label), rows]), _KEY, self.max_points
        )
        self._largest[label] = _smallest(
            pd.concat([self._largest.get(label), rows]), "prediction", self.waterfalls, -1
        )
        self._smallest[label] = _smallest(
            pd.concat([self._smallest.get(label), rows]), "prediction", self.waterfalls
        )
        if self._wanted:
            listed = rows[rows["sample_id"].astype(str).isin(self._wanted)]
            if len(listed):
                self._listed[label] = pd.concat([self._listed.get(label), listed])

    @property
    def labels(self) -> list[str]:
        """The labels seen, in order."""
        return list(self._kept)

    @property
    def sampled_ids(self) -> set[str]:
        """Every sample id kept for any figure (as text)."""
        frames = [*self._kept.values(), *self._largest.values(), *self._smallest.values()]
        frames += list(self._listed.values())
        return {str(value) for frame in frames for value in frame["sample_id"]}

    def rows(self, inputs: pd.DataFrame | None = None) -> dict[str, LabelRows]:
        """The rows to draw, label by label, in input order.

        ``inputs`` (indexed by sample id as text, one column a feature) supplies the input
        values when the batches came without them.
        """
        result = {}
        for label, kept in self._kept.items():
            waterfalls = [
                *(("largest prediction", row) for row in _each(self._largest[label])),
                *(("smallest prediction", row) for row in _each(self._smallest[label])),
                *(("listed", row) for row in _each(self._listed.get(label))),
            ]
            result[label] = LabelRows(
                points=self._split(kept.sort_index(kind="stable"), inputs),
                waterfalls=tuple(
                    (why, self._split(row, inputs)) for why, row in _unique_waterfalls(waterfalls)
                ),
            )
        return result

    def _split(self, frame: pd.DataFrame, inputs: pd.DataFrame | None) -> SampledRows:
        feature_columns = [c for c in frame.columns if str(c).startswith(_FEATURE_PREFIX)]
        explained = frame.drop(columns=[_KEY, *feature_columns]).reset_index(drop=True)
        features = None
        if feature_columns and self.has_features:
            features = frame[feature_columns].reset_index(drop=True)
            features.columns = [c[len(_FEATURE_PREFIX) :] for c in feature_columns]
        elif inputs is not None and set(self.feature_names) <= set(inputs.columns):
            found = inputs.reindex(explained["sample_id"].astype(str))[list(self.feature_names)]
            features = found.reset_index(drop=True) if found.notna().any().any() else None
        return SampledRows(explained, features)


@dataclass
class _BudgetTally:
    """Model evaluations per sample of an adaptive Kernel budget, and how many converged."""

    count: int = 0
    total: float = 0.0
    low: float = float("inf")
    high: float = 0.0
    converged: int = 0

    def add(self, evaluations: FloatArray, converged: npt.NDArray[np.bool_]) -> None:
        self.count += len(evaluations)
        self.total += float(evaluations.sum())
        self.low = min(self.low, float(evaluations.min()))
        self.high = max(self.high, float(evaluations.max()))
        self.converged += int(converged.sum())

    def summary(self) -> list[tuple[str, Any]]:
        stopped = self.count - self.converged
        return [
            (
                "model evaluations per sample (num_samples: auto)",
                f"mean {self.total / self.count:,.0f}, min {self.low:,.0f}, max {self.high:,.0f}",
            ),
            (
                "samples whose standard errors reached target_stderr",
                f"{self.converged:,} of {self.count:,}"
                + (f" ({stopped:,} stopped at max_samples)" if stopped else ""),
            ),
        ]


def stderr_text(value: float) -> float | str:
    """The largest standard error as a summary shows it (NaN: unknown, and why)."""
    if np.isnan(value):
        return (
            "unknown: too few coalition pairs were sampled to show their spread; raise num_samples"
        )
    return value


def uniform_keys(seed: int, positions: npt.NDArray[np.int64]) -> FloatArray:
    """A uniform number in [0, 1) for each sample position: splitmix64 of (seed, position).

    A function of the position alone, so the sample does not depend on how rows were batched.
    """
    with np.errstate(over="ignore"):
        state = positions.astype(np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        state = state + np.uint64(0x9E3779B97F4A7C15)
        state = (state ^ (state >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        state = (state ^ (state >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        state = state ^ (state >> np.uint64(31))
    return (state >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _smallest(frame: pd.DataFrame, column: str, count: int, sign: int = 1) -> pd.DataFrame:
    """The ``count`` rows of smallest ``sign * column``, ties by first seen."""
    if len(frame) <= count:
        return frame
    order = np.argsort(sign * frame[column].to_numpy(dtype=np.float64), kind="stable")
    return frame.iloc[np.sort(order[:count])]


def _each(frame: pd.DataFrame | None) -> list[pd.DataFrame]:
    if frame is None:
        return []
    return [frame.iloc[[position]] for position in range(len(frame))]


def _unique_waterfalls(
    waterfalls: list[tuple[str, pd.DataFrame]],
) -> list[tuple[str, pd.DataFrame]]:
    """One waterfall a sample (a small data set's largest can also be its listed one)."""
    seen: set[str] = set()
    unique = []
    for why, row in waterfalls:
        sample_id = str(row["sample_id"].iloc[0])
        if sample_id not in seen:
            seen.add(sample_id)
            unique.append((why, row))
    return unique


def explanation_columns(table: pd.DataFrame) -> list[str]:
    """The feature columns of a sample-explanations table (not ids, labels or standard errors)."""
    return [
        str(column)
        for column in table.columns
        if column not in RESERVED_COLUMNS and not str(column).endswith(STDERR_SUFFIX)
    ]
