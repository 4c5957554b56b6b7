"""AttributionDriftJob: explain a window like the baseline was, compare by NDCG, record, alert."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import pandas as pd
import pydantic

from explainops.core.component import PathText
from explainops.core.pipeline import DatasetAttributions, explain_dataset
from explainops.drift.backfill import (
    WindowedAttributions,
    WindowedSamples,
    Windows,
    check_windows,
    windowed_samples,
)
from explainops.drift.baseline_file import AttributionBaseline
from explainops.drift.comparison import (
    HISTORY_COLUMNS,
    compare_with_baseline,
    drift_metrics,
    history_rows,
    violations_document,
)
from explainops.drift.history import (
    HistoryAppend,
    appending_history,
    check_history,
    history_layout,
)
from explainops.errors import ConfigError, DriftError
from explainops.io.capture import CaptureReader
from explainops.io.datasets import read_table, write_json
from explainops.io.loaders import LoadedModel
from explainops.io.registries import ModelVersion
from explainops.jobs.base import JobResult
from explainops.jobs.model_job import ModelJob
from explainops.reports.document import Report
from explainops.services.alerts import Notification
from explainops.services.progress import Progress

logger = logging.getLogger(__name__)

# A backfill's report shows these many windows beside the baseline: the drifting ones, the last.
REPORTED_WINDOWS = 12


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
        windows: cut the samples into windows by time (a backfill): ``every`` (``1d``, ``6h``),
            ``time_column`` (default with a ``CaptureReader``: the capture time) and
            ``min_samples``; each window is compared and recorded, in one run.

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
    windows: Windows | None = None

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
        if self.windows is not None:
            if self.window_id is not None:
                raise ValueError("window_id: windows name themselves by time; remove it here")
            if self.windows.time_column is None and not isinstance(
                self.inputs_samples, CaptureReader
            ):
                raise ValueError(
                    "windows.time_column: required unless inputs_samples is a CaptureReader "
                    "(whose capture time is then used)"
                )
        return self

    def output_paths(self) -> dict[str, str]:
        """The violations file and the history (a file, or a file in the history folder)."""
        history = self.history_path
        if history_layout(history) == "folder":
            history = f"{history.rstrip('/')}/window.parquet"
        return {"violations": self.violations_path, "history": history} | self.report_paths()

    def check(self) -> list[str]:
        """Check the outputs, the baseline and the history, then what every model job checks."""
        self.check_outputs()
        baseline = AttributionBaseline.read(self.baseline_path)
        self._resolve_for(baseline)
        check_history(self.history_path, HISTORY_COLUMNS)
        features = len(baseline.features)
        return [
            f"baseline: {self.baseline_path} ({features} features)",
            f"history: {self.history_path} can be appended to",
            *super().check(),
        ]

    def run(self) -> JobResult:
        """Read the baseline, explain the window (or every window), compare, write, notify."""
        started = time.perf_counter()
        self.check_outputs()
        logger.info("read the baseline %s", self.baseline_path)
        baseline = AttributionBaseline.read(self.baseline_path)
        version = self._resolve_for(baseline)
        # An unusable history fails the run now, not once every sample is explained.
        check_history(self.history_path, HISTORY_COLUMNS)
        model = self.load_model(version)
        if self.windows is not None:
            return self._backfill(baseline, version, model, started)
        window_time = datetime.now(UTC)
        window_id = self.window_id or window_time.strftime("%Y-%m-%dT%H:%M:%SZ")
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
            verdict = "DRIFT" if check.drifted else "ok"
            logger.info(
                "label %s: NDCG %.4f (threshold %.2f): %s",
                *(check.label, check.ndcg, self.threshold, verdict),
            )
        rows = history_rows(
            checks, window_id, window_time, self.model_name(version), version, attributions
        )
        with appending_history(self.history_path, rows, window_id) as history:
            report = self._report(
                baseline, version, attributions, started, history, [(window_id, attributions)]
            )
            outputs = self._publish(report, violations_document(drifted, self.threshold), history)
        notification = self.completion_notification(
            version,
            attributions,
            started,
            outputs=outputs,
            metrics=drift_metrics(checks, self.threshold),
        )
        self.log_run(version, notification)
        labels = ", ".join(f"{check.label} NDCG {check.ndcg:.3f}" for check in drifted)
        self._notify(notification, f"window {window_id}: {labels}" if drifted else None)
        return JobResult(self.KIND, notification.outputs, notification, attributions)

    def _backfill(
        self,
        baseline: AttributionBaseline,
        version: ModelVersion | None,
        model: LoadedModel,
        started: float,
    ) -> JobResult:
        """Explain the samples once, cut into windows; compare and record every window."""
        assert self.windows is not None
        samples = windowed_samples(self.inputs_samples, self.windows)
        split = WindowedAttributions(
            samples, baseline.explainer.agg_method, baseline.explainer.seed
        )
        logger.info(
            "backfill %s: windows of %s by %s",
            samples.path,
            self.windows.every,
            samples.time_column,
        )
        total = self._explain(version, model, baseline, samples, split)
        backfill = check_windows(
            baseline,
            split.windows(total),
            split.missing(),
            threshold=self.threshold,
            top_k=self.top_k,
            min_samples=self.windows.min_samples,
        )
        logger.info("%d of %d windows drift", len(backfill.drifted), len(backfill.checked))
        rows, rows_id = pd.DataFrame(), ""  # every window skipped: nothing to record
        if backfill.checked:
            rows = backfill.history_rows(self.model_name(version), version)
            first, last = backfill.checked[0].window, backfill.checked[-1].window
            rows_id = f"{first.window_id}_{last.window_id}"
        shown = [
            (item.window.window_id, item.window.attributions)
            for item in backfill.shown_windows(REPORTED_WINDOWS)
        ]
        extra = [
            ("windows compared", len(backfill.checked)),
            ("windows drifting", len(backfill.drifted)),
        ]
        with appending_history(self.history_path, rows, rows_id) as history:
            report = self._report(baseline, version, total, started, history, shown, extra)
            outputs = self._publish(report, backfill.violations_document(), history)
        notification = self.completion_notification(
            version, total, started, outputs=outputs, metrics=backfill.metrics()
        )
        self.log_run(version, notification)
        self._notify(notification, backfill.drift_summary())
        return JobResult(self.KIND, notification.outputs, notification, total)

    def _report(
        self,
        baseline: AttributionBaseline,
        version: ModelVersion | None,
        attributions: DatasetAttributions,
        started: float,
        history: HistoryAppend,
        windows: list[tuple[str, DatasetAttributions]],
        extra: Sequence[tuple[str, Any]] = (),
    ) -> Report | None:
        """The run's report (with ``report``), drawing the history as the run will leave it."""
        return self.drift_report(
            baseline,
            version,
            attributions,
            started,
            history=history.table(),
            history_path=self.history_path,
            windows=windows,
            threshold=self.threshold,
            extra=extra,
        )

    def _publish(
        self, report: Report | None, violations: dict[str, Any], history: HistoryAppend
    ) -> dict[str, str]:
        """Publish the outputs, each atomically, once all are ready; the files written.

        The history's append was checked and the report drawn; the report is rendered first,
        so that after it only storage can fail: a failed run leaves the violations file and the
        history as they were, and the notification names only the files written.
        """
        report_paths = {}
        if self.report is not None and report is not None:
            report_paths = self.report.write(report)
        logger.info("write %s (%d violations)", self.violations_path, len(violations["violations"]))
        write_json(self.violations_path, violations)
        recorded = {"history": self.history_path} if history.publish() else {}
        return {"violations": self.violations_path} | recorded | report_paths

    def _explain(
        self,
        version: ModelVersion | None,
        model: LoadedModel,
        baseline: AttributionBaseline,
        samples: WindowedSamples,
        split: WindowedAttributions,
    ) -> DatasetAttributions:
        """The shared pipeline over the windowed samples, each batch split by window."""
        with self.engine.session() as engine:
            return explain_dataset(
                samples,
                self.input_schema_of(version),
                model,
                baseline.explainer,
                output_names=self.labels or baseline.labels,
                baseline=lambda scan: baseline.background_for(scan, samples.path),
                on_batch=split.add,
                map_batches=engine.map,
                progress=Progress,
                read_table=read_table,
            )

    def _notify(self, notification: Notification, drift: str | None) -> None:
        """Notify once: the failure with the drift's figures when ``fail_on_violation``."""
        if drift is not None and self.fail_on_violation:
            failure = DriftError(
                f"attribution drift in {drift} < {self.threshold} (fail_on_violation)"
            )
            notification = dataclasses.replace(notification, status="failed", error=str(failure))
            self.alerts.notify(notification)
            failure.notified = True
            raise failure
        self.alerts.notify(notification)

    def _resolve_for(self, baseline: AttributionBaseline) -> ModelVersion | None:
        """The model version to explain, refused if it is not the baseline's model."""
        version = self.resolve_version()
        baseline.check_model(
            self.model_name(version), version.version if version else None, self.allow_model_change
        )
        return version
