"""Compare a window's global attributions with the baseline's, label by label.

NDCG per label and its verdict, Model Monitor's violations file, and the history's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import pandas as pd

from explainops.core.pipeline import DatasetAttributions
from explainops.drift.ndcg import ndcg, rank_changes, ranked_features
from explainops.errors import InputError
from explainops.io.registries import ModelVersion

# The history's columns, in order: a history with others cannot be appended to.
HISTORY_COLUMNS = (
    "window_id",
    "window_time",
    "model",
    "model_version",
    "n_samples",
    "label",
    "ndcg",
    "verdict",
    "baseline_top_features",
    "live_top_features",
)


class BaselineAttributions(Protocol):
    """What a window is compared with: a baseline file, or Model Monitor's constraints."""

    @property
    def path(self) -> str:
        """The file the attributions were read from, named in errors."""
        ...

    @property
    def labels(self) -> list[str]:
        """The labels, in the file's order."""
        ...

    @property
    def attributions(self) -> dict[str, dict[str, float]]:
        """``{label: {feature: global attribution}}``."""
        ...


@dataclass(frozen=True)
class DriftCheck:
    """One label's comparison with the baseline."""

    label: str
    ndcg: float
    drifted: bool
    baseline_top: list[str]
    live_top: list[str]
    moved: list[dict[str, Any]]


def compare_with_baseline(
    baseline: BaselineAttributions,
    attributions: DatasetAttributions,
    threshold: float,
    top_k: int,
) -> list[DriftCheck]:
    """NDCG of every label's live ranking against the baseline's."""
    live = attributions.by_output()
    if sorted(live) != sorted(baseline.labels):
        raise InputError(
            f"{baseline.path}: the baseline's labels {baseline.labels} differ from the model's "
            f"{list(live)}"
        )
    checks = []
    for label in baseline.labels:
        reference, current = baseline.attributions[label], live[label]
        score = ndcg(reference, current)
        moved = [
            {
                "feature": change.feature,
                "baseline_rank": change.baseline_rank,
                "live_rank": change.live_rank,
                "baseline_value": change.baseline_value,
                "live_value": change.live_value,
            }
            for change in rank_changes(reference, current, top_k)
            if change.baseline_rank != change.live_rank
        ]
        checks.append(
            DriftCheck(
                label,
                score,
                score < threshold,
                [name for name, _ in ranked_features(reference, top_k)],
                [name for name, _ in ranked_features(current, top_k)],
                moved,
            )
        )
    return checks


def violations_document(drifted: list[DriftCheck], threshold: float) -> dict[str, Any]:
    """``constraint_violations.json`` in SageMaker Model Monitor's schema, plus details."""
    return {
        "version": "1.0",
        "violations": [
            {
                "label": check.label,
                "metric_name": "shap",
                "constraint_check_type": "feature_attribution_drift_check",
                # Every digit, as Model Monitor writes it: rounded, 0.8952 would read as 0.90.
                "description": (
                    f"Feature attribution drift {check.ndcg!r} exceeds threshold {threshold}"
                ),
                "ndcg": check.ndcg,
                "threshold": threshold,
                "baseline_top_features": check.baseline_top,
                "live_top_features": check.live_top,
                "features_moved": check.moved,
            }
            for check in drifted
        ],
    }


def history_rows(
    checks: list[DriftCheck],
    window_id: str,
    window_time: datetime,
    model: str,
    version: ModelVersion | None,
    attributions: DatasetAttributions,
) -> pd.DataFrame:
    """One history row per label of this window, in ``HISTORY_COLUMNS``."""
    return pd.DataFrame(
        {
            "window_id": [window_id] * len(checks),
            "window_time": [window_time.isoformat()] * len(checks),
            "model": [model] * len(checks),
            "model_version": [version.version if version else None] * len(checks),
            "n_samples": [attributions.n_samples] * len(checks),
            "label": [check.label for check in checks],
            "ndcg": [check.ndcg for check in checks],
            "verdict": ["drift" if check.drifted else "ok" for check in checks],
            "baseline_top_features": [", ".join(check.baseline_top) for check in checks],
            "live_top_features": [", ".join(check.live_top) for check in checks],
        }
    ).astype({"model_version": "Int64"})


def drift_metrics(checks: list[DriftCheck], threshold: float) -> dict[str, Any]:
    """The verdict, threshold and NDCG per label, as notifications carry them."""
    drifted = [check.label for check in checks if check.drifted]
    return {
        "verdict": f"drift in {', '.join(drifted)}" if drifted else "no drift",
        "threshold": threshold,
        "ndcg": {check.label: round(check.ndcg, 6) for check in checks},
    }
