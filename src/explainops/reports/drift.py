"""The drift report: the baseline's ranking, each compared window beside it, the NDCG history.

An ``AttributionBaselineJob`` report has the baseline's sections only; an ``AttributionDriftJob``
report adds, per compared window, its importance beside the baseline's with the features that
moved and the NDCG per label against the threshold, then the NDCG of every window in the history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from explainops.drift.baseline_file import AttributionBaseline
from explainops.drift.ndcg import ndcg, rank_changes, ranked_features
from explainops.reports import figures
from explainops.reports.document import FigureSpec, Report, Section, Table
from explainops.reports.explanations import anchor

TOP_FEATURES_LISTED = 10


@dataclass(frozen=True)
class WindowImportance:
    """One compared window: its global importance per label, and its NDCG against the baseline."""

    window_id: str
    importance: dict[str, dict[str, float]]
    n_samples: int

    def as_record(self) -> dict[str, Any]:
        """JSON-safe, for the report's source."""
        return {
            "window_id": self.window_id,
            "importance": self.importance,
            "n_samples": self.n_samples,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> WindowImportance:
        """Back from ``as_record``."""
        return cls(str(record["window_id"]), record["importance"], int(record["n_samples"]))


def drift_report(
    *,
    title: str,
    summary: Sequence[tuple[str, Any]],
    baseline: AttributionBaseline,
    history: pd.DataFrame | None,
    windows: Sequence[WindowImportance],
    threshold: float | None,
    source: dict[str, Any] | None = None,
) -> Report:
    """The sections of a baseline or drift report.

    Args:
        title: the page title.
        summary: (what, value) rows about the run.
        baseline: the attribution baseline the windows are compared with.
        history: the drift history table (one row per window and label), or None.
        windows: the windows to show beside the baseline (their importance is in no file).
        threshold: NDCG below it is a drift.
        source: how to build the report again (for the notebook).

    """
    sections = [_baseline_section(baseline)]
    sections += [_window_section(baseline, window, threshold) for window in windows]
    if history is not None and len(history):
        sections.append(_history_section(history, threshold))
    rows = list(summary) or [
        ("model", baseline.model),
        ("model version", baseline.version),
        ("baseline", baseline.path),
        ("labels", ", ".join(baseline.labels)),
        ("features", len(baseline.features)),
    ]
    return Report(
        title=title,
        kind="drift",
        summary=Table.of(("", ""), rows, anchor="summary"),
        sections=tuple(sections),
        source=source or {},
    )


def _vector(values: dict[str, float], features: Sequence[str]) -> np.ndarray[Any, Any]:
    return np.asarray([values.get(feature, 0.0) for feature in features], dtype=np.float64)


def _baseline_section(baseline: AttributionBaseline) -> Section:
    features = baseline.features
    tables, specs = [], []
    for label in baseline.labels:
        values = baseline.attributions[label]
        ranked = ranked_features(values, TOP_FEATURES_LISTED)
        tables.append(
            Table.of(
                ("label", "rank", "feature", "baseline importance"),
                [(label, rank, name, value) for rank, (name, value) in enumerate(ranked, 1)],
                anchor=anchor("baseline", label, "top"),
            )
        )
        specs.append(
            FigureSpec(
                anchor("baseline", label, "figure"),
                f"Baseline importance for {label}",
                partial(figures.importance_bars, features, _vector(values, features)),
            )
        )
    return Section(
        anchor="baseline",
        title="Baseline ranking",
        notes=(
            f"The global SHAP importance of the baseline {baseline.path} ({baseline.model} "
            f"version {baseline.version}): the ranking windows are compared with.",
        ),
        tables=tuple(tables),
        figures=tuple(specs),
    )


def _window_section(
    baseline: AttributionBaseline, window: WindowImportance, threshold: float | None
) -> Section:
    features = baseline.features
    verdicts, moved, specs = [], [], []
    for label in baseline.labels:
        reference, current = baseline.attributions[label], window.importance.get(label, {})
        score = ndcg(reference, current)
        drifted = threshold is not None and score < threshold
        verdicts.append((label, f"{score:.6f}", threshold, "drift" if drifted else "ok"))
        # The baseline's top features whose rank moved, ranked as the violations file ranks.
        moved += [
            (
                label,
                change.feature,
                change.baseline_rank,
                change.live_rank,
                change.baseline_value,
                change.live_value,
            )
            for change in rank_changes(reference, current, TOP_FEATURES_LISTED)
            if change.baseline_rank <= TOP_FEATURES_LISTED
            and change.baseline_rank != change.live_rank
        ]
        specs.append(
            FigureSpec(
                anchor("window", window.window_id, label),
                f"{label}: baseline and window {window.window_id} importance (NDCG {score:.4f})",
                partial(
                    figures.ranking_comparison,
                    features,
                    _vector(reference, features),
                    _vector(current, features),
                ),
            )
        )
    tables = [
        Table.of(
            ("label", "NDCG", "threshold", "verdict"),
            verdicts,
            anchor=anchor("ndcg", window.window_id),
        )
    ]
    if moved:
        tables.append(
            Table.of(
                (
                    "label",
                    "feature",
                    "baseline rank",
                    "window rank",
                    "baseline value",
                    "window value",
                ),
                moved,
                anchor=anchor("moved", window.window_id),
            )
        )
    return Section(
        anchor=anchor("window", window.window_id),
        title=f"Window {window.window_id}",
        notes=(
            f"{window.n_samples} samples. NDCG compares the window's feature ranking with the "
            "baseline's, as SageMaker Model Monitor does: 1 is the same ranking; below the "
            "threshold is a drift. The moved features are the baseline's top "
            f"{TOP_FEATURES_LISTED} whose rank changed.",
        ),
        tables=tuple(tables),
        figures=tuple(specs),
    )


def _history_section(history: pd.DataFrame, threshold: float | None) -> Section:
    windows = list(dict.fromkeys(history["window_id"].astype(str)))
    table = history.assign(window_id=history["window_id"].astype(str))
    series = {
        str(label): rows.set_index("window_id")["ndcg"]
        .groupby(level=0)
        .last()
        .reindex(windows)
        .to_numpy(dtype=np.float64)
        for label, rows in table.groupby("label", sort=False)
    }
    drifted = table[table["verdict"] == "drift"]
    notes = [
        f"{len(windows)} windows in the history, {drifted['window_id'].nunique()} of them "
        "drifting in some label (marked x)."
    ]
    rows = [
        (row.window_id, row.label, float(str(row.ndcg)), row.verdict, row.live_top_features)
        for row in drifted.itertuples()
    ]
    tables = (
        (
            Table.of(
                ("window", "label", "NDCG", "verdict", "window's top features"),
                rows[-50:],
                anchor="drifting-windows",
            ),
        )
        if rows
        else ()
    )
    if len(rows) > 50:
        notes.append(f"The last 50 of {len(rows)} drifting (window, label) pairs are listed.")
    return Section(
        anchor="history",
        title="NDCG history",
        notes=tuple(notes),
        tables=tables,
        figures=(
            FigureSpec(
                "history-figure",
                "NDCG of each label, window after window, against the threshold",
                lambda: figures.ndcg_history(windows, series, threshold=threshold),
            ),
        ),
    )
