"""AttributionDriftJob: explain a window like the baseline was, compare by NDCG, record, alert."""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import UTC, datetime
from typing import Annotated, Literal

import pydantic

from explainops.core.component import PathText
from explainops.drift.baseline_file import AttributionBaseline
from explainops.drift.comparison import (
    compare_with_baseline,
    drift_metrics,
    history_rows,
    violations_document,
)
from explainops.drift.history import append_history, history_layout
from explainops.errors import ConfigError, DriftError
from explainops.io.datasets import write_json
from explainops.io.registries import ModelVersion
from explainops.jobs.base import JobResult
from explainops.jobs.model_job import ModelJob

logger = logging.getLogger(__name__)


class AttributionDriftJob(ModelJob):
    """Explain a window like the baseline was explained, and check its attributions for drift.

    Args:
        inputs_samples: reader of the window to check.
        baseline_path: the baseline file written by ``AttributionBaselineJob``.
        violations_path: where ``constraint_violations.json`` is written (every run: an empty
            ``violations`` list when nothing drifted, so no stale verdict survives).
        history_path: history table (``.parquet`` or ``.csv``) that every run appends to, or a
            folder (ending in ``/``) where every run adds a file: safe for overlapping runs on
            object stores too.
        window_id: name of the window in the history (default: the run's UTC time).
        threshold: NDCG below it is a violation (default 0.90, as Clarify).
        top_k: features listed per label in violations and history.
        allow_model_change: explain a model other than the baseline's (else refused).
        fail_on_violation: fail the job (exit 1) when a label drifts, after writing everything.

    The window is explained with the baseline's explainer config and background rows; setting
    ``explainer`` here is refused. The model fields are ``ModelJob``'s.

    """

    KIND: Literal["AttributionDriftJob"] = "AttributionDriftJob"
    baseline_path: PathText
    violations_path: PathText
    history_path: PathText
    window_id: str | None = None
    threshold: Annotated[float, pydantic.Field(gt=0, le=1)] = 0.90
    top_k: Annotated[int, pydantic.Field(ge=1)] = 5
    allow_model_change: bool = False
    fail_on_violation: bool = False

    @pydantic.model_validator(mode="after")
    def _check_settings(self) -> AttributionDriftJob:
        if "explainer" in self.model_fields_set:
            raise ValueError(
                "explainer: a drift window is explained with the baseline's explainer config; "
                "remove it here"
            )
        try:
            history_layout(self.history_path)
        except ConfigError as error:
            raise ValueError(str(error)) from None
        return self

    def output_paths(self) -> dict[str, str]:
        """The violations file and the history (a file, or a file in the history folder)."""
        history = self.history_path
        if history_layout(history) == "folder":
            history = f"{history.rstrip('/')}/window.parquet"
        return {"violations": self.violations_path, "history": history}

    def check(self) -> list[str]:
        """Check the outputs and the baseline, then what every model job checks."""
        self.check_outputs()
        baseline = AttributionBaseline.read(self.baseline_path)
        self._resolve_for(baseline)
        features = len(baseline.features)
        return [f"baseline: {self.baseline_path} ({features} features)", *super().check()]

    def run(self) -> JobResult:
        """Read the baseline, explain the window, compare, write, notify."""
        started = time.perf_counter()
        self.check_outputs()
        window_time = datetime.now(UTC)
        window_id = self.window_id or window_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        logger.info("read the baseline %s", self.baseline_path)
        baseline = AttributionBaseline.read(self.baseline_path)
        version = self._resolve_for(baseline)
        model = self.load_model(version)
        logger.info("explain window %s from %s", window_id, self.inputs_samples.path)
        attributions = self.explain_samples(
            version,
            model,
            settings=baseline.explainer,
            output_names=self.labels or baseline.labels,
            background=lambda scan: baseline.background_for(scan, self.inputs_samples.path),
        )
        checks = compare_with_baseline(baseline, attributions, self.threshold, self.top_k)
        drifted = [check for check in checks if check.drifted]
        for check in checks:
            logger.info(
                "label %s: NDCG %.4f (threshold %.2f): %s",
                check.label,
                check.ndcg,
                self.threshold,
                "DRIFT" if check.drifted else "ok",
            )
        logger.info("write %s (%d violations)", self.violations_path, len(drifted))
        write_json(self.violations_path, violations_document(drifted, self.threshold))
        history = history_rows(
            checks, window_id, window_time, self.model_name(version), version, attributions
        )
        append_history(self.history_path, history, window_id)
        notification = self.completion_notification(
            version,
            attributions,
            started,
            outputs={"violations": self.violations_path, "history": self.history_path},
            metrics=drift_metrics(checks, self.threshold),
        )
        if drifted and self.fail_on_violation:
            labels = ", ".join(f"{check.label} NDCG {check.ndcg:.3f}" for check in drifted)
            failure = DriftError(
                f"attribution drift in window {window_id}: {labels} < {self.threshold} "
                "(fail_on_violation)"
            )
            # One notification per run: the failure, with the drift's figures.
            notification = dataclasses.replace(notification, status="failed", error=str(failure))
            self.alerts.notify(notification)
            failure.notified = True
            raise failure
        self.alerts.notify(notification)
        return JobResult(self.KIND, notification.outputs, notification, attributions)

    def _resolve_for(self, baseline: AttributionBaseline) -> ModelVersion | None:
        """The model version to explain, refused if it is not the baseline's model."""
        version = self.resolve_version()
        baseline.check_model(
            self.model_name(version), version.version if version else None, self.allow_model_change
        )
        return version
