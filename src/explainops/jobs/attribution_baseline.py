"""AttributionBaselineJob: explain reference data and record a drift baseline file."""

from __future__ import annotations

import logging
import time
from typing import Literal

from explainops.core.component import PathText
from explainops.drift.baseline_file import (
    AttributionBaseline,
    baseline_document,
    file_fingerprint,
)
from explainops.io.datasets import write_json
from explainops.jobs.base import JobResult
from explainops.jobs.model_job import ModelJob

logger = logging.getLogger(__name__)


class AttributionBaselineJob(ModelJob):
    """Explain a reference data set and record its global attributions as a drift baseline.

    Args:
        inputs_samples: reader of the reference data (training data or a trusted window).
        baseline_path: where the baseline JSON file is written (local path or fsspec URI).

    The model, explainer, schema and labels are ``ModelJob``'s fields; the file's format is
    ``explainops.drift.baseline_file``'s.

    """

    KIND: Literal["AttributionBaselineJob"] = "AttributionBaselineJob"
    baseline_path: PathText

    def output_paths(self) -> dict[str, str]:
        """The baseline file, and the report when configured."""
        return {"baseline": self.baseline_path} | self.report_paths()

    def run(self) -> JobResult:
        """Resolve, load, explain the reference data, write the baseline, notify."""
        started = time.perf_counter()
        self.check_outputs()
        version = self.resolve_version()
        model = self.load_model(version)
        logger.info("explain the reference data %s", self.inputs_samples.path)
        attributions = self.explain_samples(version, model)
        for label, values in attributions.by_output().items():
            if not any(values.values()):
                logger.warning("baseline: every attribution of %s is zero", label)
        document = baseline_document(
            attributions,
            self.explainer,
            model=self.model_name(version),
            version=version,
            data={
                "path": self.inputs_samples.path,
                "n_samples": attributions.n_samples,
                "sha256": file_fingerprint(self.inputs_samples.path),
            },
        )
        # The report is drawn from the baseline as a monitor will read it, and rendered before
        # anything is written: a report that cannot be drawn leaves the previous baseline.
        report = self.drift_report(
            AttributionBaseline.of_document(self.baseline_path, document),
            version,
            attributions,
            started,
        )
        rendered = self.report.render(report) if self.report and report else {}
        logger.info("write the baseline to %s", self.baseline_path)
        write_json(self.baseline_path, document)
        if self.report is not None:
            self.report.publish(rendered)
        notification = self.completion_notification(version, attributions, started)
        self.log_run(version, notification)
        self.alerts.notify(notification)
        return JobResult(self.KIND, self.output_paths(), notification, attributions)
