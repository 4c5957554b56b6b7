"""Backfill: a long history explained in one pass, its attributions kept window by window.

The samples are read and explained once, as one data set, with one model, background and
explainer; ``WindowedSamples`` takes the time column out of every batch and notes each row's
window, and ``WindowedAttributions`` (the pipeline's ``on_batch``) adds each batch's
explanations to the running attributions of the windows its rows fall in. A row's Shapley values
do not depend on the rows explained with it, so a window's attributions are those a run on that
window alone would compute; what a window costs beyond explaining its rows is one accumulator
and one NDCG per label.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import numpy as np
import pandas as pd
import pydantic

from explainops.core.aggregation import AttributionAccumulator
from explainops.core.component import Component
from explainops.core.pipeline import DatasetAttributions
from explainops.core.samples import SampleSource
from explainops.drift.baseline_file import AttributionBaseline
from explainops.drift.comparison import (
    DriftCheck,
    compare_with_baseline,
    history_rows,
    violations_document,
)
from explainops.drift.windows import (
    IntArray,
    WindowSize,
    missing_windows,
    parse_every,
    window_bounds,
    window_id,
    window_starts,
)
from explainops.errors import ConfigError, InputError
from explainops.explainers import Explanation
from explainops.explainers.explanation import AggMethod
from explainops.io.capture import CaptureReader
from explainops.io.registries import ModelVersion

logger = logging.getLogger(__name__)

# Drifted windows named in a notification (all of them are in the violations file).
NOTIFIED_WINDOWS = 50
_LISTED_ROWS = 5
# The time column a CaptureReader fills when a backfill names none.
CAPTURE_TIME_COLUMN = "inference_time"


class Windows(Component):
    """How a drift run cuts its samples into windows (a backfill).

    Args:
        every: window length: a whole number and a unit, ``s``, ``min``, ``h``, ``d`` or ``w``
            (``1d``, ``6h``, ``30min``, ``1w``); windows are aligned to UTC boundaries.
        time_column: the column of times (ISO 8601 text or datetimes; without a zone they are
            UTC); with a ``CaptureReader`` it may be omitted: the capture time is used.
        min_samples: windows with fewer rows are not compared (logged, counted in the
            notification, not written to the history).

    """

    every: str
    time_column: str | None = None
    min_samples: Annotated[int, pydantic.Field(ge=1)] = 1

    @pydantic.field_validator("every")
    @classmethod
    def _check_every(cls, every: str) -> str:
        return parse_every(every).every

    @property
    def size(self) -> WindowSize:
        """The window length."""
        return parse_every(self.every)


class WindowedSamples:
    """A sample source whose rows are cut into windows by a time column.

    Yields the source's batches without the time column (it is not a feature); remembers the
    window of each batch's rows until ``windows_of`` takes them, in the order the batches were
    read, which is the order the pipeline explains them in.
    """

    def __init__(self, source: SampleSource, time_column: str, size: WindowSize) -> None:
        self.source = source
        self.time_column = time_column
        self.size = size
        # Per batch read and not yet explained: its windows' starts and their run lengths.
        self._pending: deque[tuple[IntArray, IntArray]] = deque()

    @property
    def path(self) -> str:
        """Where the samples are."""
        return self.source.path

    @property
    def id_column(self) -> str | None:
        """The source's id column."""
        return self.source.id_column

    def batches(self) -> Iterator[pd.DataFrame]:
        """The source's batches without the time column; each pass starts afresh."""
        self._pending.clear()
        for batch in self.source.batches():
            starts = window_starts(self._times(batch), self.size)
            self._pending.append(_run_lengths(starts))
            yield batch.drop(columns=[self.time_column])

    def windows_of(self, rows: int) -> IntArray:
        """The window starts of the next ``rows`` rows explained (one batch's)."""
        starts, lengths = self._pending.popleft()
        expanded = np.repeat(starts, lengths)
        if expanded.size != rows:
            raise RuntimeError(f"a batch of {rows} rows was read with {expanded.size}")
        return expanded

    def _times(self, batch: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.datetime64]]:
        """The batch's times in UTC, as naive ``datetime64[ns]``; InputError naming bad rows."""
        if self.time_column not in batch.columns:
            raise InputError(
                f"{self.path}: time_column {self.time_column!r} not found; "
                f"columns: {list(batch.columns)}"
            )
        column = batch[self.time_column]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            raise InputError(
                f"{self.path}: time_column {self.time_column!r} holds numbers; expected times "
                "(ISO 8601 text such as 2026-01-05T13:36:30Z, or datetimes)"
            )
        if pd.api.types.is_datetime64_any_dtype(column):
            times = pd.to_datetime(column, utc=True)
        else:
            times = pd.to_datetime(column, utc=True, format="ISO8601", errors="coerce")
        bad = times.isna()
        if bad.any():
            listed = ", ".join(
                f"row {row}: {value!r}" for row, value in column[bad].head(_LISTED_ROWS).items()
            )
            raise InputError(
                f"{self.path}: time_column {self.time_column!r}: {int(bad.sum())} row(s) without "
                f"a valid time ({listed})"
            )
        return times.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")


def _run_lengths(starts: IntArray) -> tuple[IntArray, IntArray]:
    """``starts`` as (values, lengths) of its runs: a time-ordered batch is one or two runs."""
    if starts.size == 0:
        return starts, np.empty(0, dtype=np.int64)
    change = np.flatnonzero(starts[1:] != starts[:-1]) + 1
    first = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([first, [starts.size]]))
    return starts[first], lengths.astype(np.int64)


@dataclass(frozen=True)
class Window:
    """One window's global attributions.

    Attributes:
        window_id: its name (``2026-01-05``).
        start: its first instant (UTC).
        end: the instant after its last.
        attributions: its rows' global attributions.

    """

    window_id: str
    start: datetime
    end: datetime
    attributions: DatasetAttributions


class WindowedAttributions:
    """The running global attributions of every window: pass ``add`` as ``on_batch``."""

    def __init__(self, samples: WindowedSamples, agg_method: AggMethod, seed: int) -> None:
        self.samples = samples
        self.agg_method = agg_method
        self.seed = seed
        self._accumulators: dict[int, AttributionAccumulator] = {}

    def add(self, explanation: Explanation, sample_ids: list[Any]) -> None:
        """Add a batch's explanations to the windows its rows fall in."""
        starts = self.samples.windows_of(len(sample_ids))
        unique, inverse = np.unique(starts, return_inverse=True)
        for index, start in enumerate(unique.tolist()):
            part = explanation if unique.size == 1 else explanation.select(inverse == index)
            accumulator = self._accumulators.get(start)
            if accumulator is None:
                accumulator = AttributionAccumulator(self.agg_method, seed=self.seed)
                self._accumulators[start] = accumulator
            accumulator.add(part)

    def windows(self, total: DatasetAttributions) -> list[Window]:
        """Every window with rows, in time order; ``total`` is the whole run's attributions."""
        found = []
        for start in sorted(self._accumulators):
            accumulator = self._accumulators[start]
            first, end = window_bounds(start, self.samples.size)
            attributions = dataclasses.replace(
                total,
                importance=accumulator.result(),
                n_samples=accumulator.n_samples,
                max_additivity_error=accumulator.max_additivity_error,
            )
            found.append(Window(window_id(start, self.samples.size), first, end, attributions))
        return found

    def missing(self) -> int:
        """Windows between the first and the last that hold no row."""
        starts = np.fromiter(self._accumulators, dtype=np.int64)
        return missing_windows(starts, self.samples.size)


@dataclass(frozen=True)
class CheckedWindow:
    """A window compared with the baseline, label by label."""

    window: Window
    checks: list[DriftCheck]

    @property
    def drifted(self) -> list[DriftCheck]:
        """The labels whose NDCG is below the threshold."""
        return [check for check in self.checks if check.drifted]


@dataclass(frozen=True)
class Backfill:
    """Every window of a run compared with the baseline.

    Attributes:
        checked: the windows compared, in time order.
        skipped: the windows with fewer rows than ``min_samples``, not compared.
        missing: windows between the first and the last that hold no row.
        threshold: NDCG below it is a violation.

    """

    checked: list[CheckedWindow]
    skipped: list[Window]
    missing: int
    threshold: float

    @property
    def drifted(self) -> list[CheckedWindow]:
        """The windows where some label drifted."""
        return [item for item in self.checked if item.drifted]

    def shown_windows(self, limit: int) -> list[CheckedWindow]:
        """The windows a report shows: the first ``limit - 1`` drifting ones, and the last one."""
        if not self.checked:
            return []
        last = self.checked[-1]
        shown = [item for item in self.drifted if item is not last][: limit - 1]
        return [*shown, last]

    def violations_document(self) -> dict[str, Any]:
        """One ``constraint_violations.json`` for every window: each violation names its window."""
        return {
            "version": "1.0",
            "violations": [
                {
                    **violation,
                    "window_id": item.window.window_id,
                    "window_start": item.window.start.isoformat(),
                    "window_end": item.window.end.isoformat(),
                }
                for item in self.checked
                for violation in violations_document(item.drifted, self.threshold)["violations"]
            ],
        }

    def history_rows(self, model: str, version: ModelVersion | None) -> pd.DataFrame:
        """One history row per window and label; ``window_time`` is the window's start."""
        return pd.concat(
            [
                history_rows(
                    item.checks,
                    item.window.window_id,
                    item.window.start,
                    model,
                    version,
                    item.window.attributions,
                )
                for item in self.checked
            ],
            ignore_index=True,
        )

    def metrics(self) -> dict[str, Any]:
        """The verdict over all windows, and the figures a notification carries."""
        drifted = self.drifted
        labels = sorted({check.label for item in drifted for check in item.drifted})
        verdict = (
            f"drift in {len(drifted)} of {len(self.checked)} windows ({', '.join(labels)})"
            if drifted
            else f"no drift in {len(self.checked)} windows"
        )
        ndcg_min: dict[str, float] = {}
        for item in self.checked:
            for check in item.checks:
                ndcg_min[check.label] = round(min(ndcg_min.get(check.label, 1.0), check.ndcg), 6)
        return {
            "verdict": verdict,
            "threshold": self.threshold,
            "windows": len(self.checked),
            "windows_drifted": len(drifted),
            "drifted_windows": [item.window.window_id for item in drifted[:NOTIFIED_WINDOWS]],
            "first_drift": drifted[0].window.window_id if drifted else None,
            "windows_skipped": len(self.skipped),
            "windows_without_rows": self.missing,
            "ndcg_min": ndcg_min,
        }

    def drift_summary(self) -> str | None:
        """The drifted windows in a line (for a failure's message), or None."""
        names = [item.window.window_id for item in self.drifted]
        if not names:
            return None
        more = ", ..." if len(names) > _LISTED_ROWS else ""
        return (
            f"{len(names)} of {len(self.checked)} windows ({', '.join(names[:_LISTED_ROWS])}{more})"
        )


def check_windows(
    baseline: AttributionBaseline,
    windows: list[Window],
    missing: int,
    *,
    threshold: float,
    top_k: int,
    min_samples: int,
) -> Backfill:
    """Compare every window of at least ``min_samples`` rows with the baseline; log each."""
    checked, skipped = [], []
    for window in windows:
        if window.attributions.n_samples < min_samples:
            logger.info(
                "window %s: %d samples (< min_samples %d): skipped",
                window.window_id,
                window.attributions.n_samples,
                min_samples,
            )
            skipped.append(window)
            continue
        checks = compare_with_baseline(baseline, window.attributions, threshold, top_k)
        for check in checks:
            logger.info(
                "window %s label %s: NDCG %.4f (threshold %.2f): %s",
                window.window_id,
                check.label,
                check.ndcg,
                threshold,
                "DRIFT" if check.drifted else "ok",
            )
        checked.append(CheckedWindow(window, checks))
    if missing:
        logger.info("%d windows between the first and the last hold no samples", missing)
    return Backfill(checked, skipped, missing, threshold)


def windowed_samples(reader: Any, windows: Windows) -> WindowedSamples:
    """``reader``'s samples cut into ``windows`` (a ``CaptureReader``'s own time by default)."""
    time_column = windows.time_column
    if isinstance(reader, CaptureReader):
        time_column = time_column or reader.time_column or CAPTURE_TIME_COLUMN
        if reader.time_column != time_column:
            reader = reader.model_copy(update={"time_column": time_column})
    if time_column is None:
        raise ConfigError(
            "windows.time_column: required unless inputs_samples is a CaptureReader "
            "(whose capture time is then used)"
        )
    return WindowedSamples(reader, time_column, windows.size)
