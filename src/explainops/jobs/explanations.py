"""ExplanationsJob: explain a registered model version (or an endpoint) on a set of samples."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Literal

import pydantic

from explainops.core.tables import (
    model_explanations_table,
    native_importance,
    sample_explanations_table,
)
from explainops.io.datasets import WriterKind
from explainops.jobs.base import JobResult
from explainops.jobs.model_job import ModelJob

logger = logging.getLogger(__name__)


class ExplanationsJob(ModelJob):
    """Explain a registered model on samples: global (model) and per-sample explanations.

    Args:
        models_explanations: writer of the global explanations (one row per label and feature).
        samples_explanations: writer of the sample explanations (one row per sample and label).
        alerts: where the completion (or failure) is notified.

    The model, explainer, schema and labels are ``ModelJob``'s fields.

    """

    KIND: Literal["ExplanationsJob"] = "ExplanationsJob"
    models_explanations: Annotated[WriterKind, pydantic.Field(discriminator="KIND")]
    samples_explanations: Annotated[WriterKind, pydantic.Field(discriminator="KIND")]

    def output_paths(self) -> dict[str, str]:
        """The two explanation tables."""
        return {
            "models_explanations": self.models_explanations.path,
            "samples_explanations": self.samples_explanations.path,
        }

    def run(self) -> JobResult:
        """Resolve, validate, load, explain, write, notify."""
        started = time.perf_counter()
        self.check_outputs()
        version = self.resolve_version()
        model = self.load_model(version)
        with self.samples_explanations.open() as sample_sink:
            attributions = self.explain_samples(
                version,
                model,
                on_batch=lambda explanation, ids: sample_sink.write(
                    sample_explanations_table(explanation, ids)
                ),
            )
            models_table = model_explanations_table(
                attributions.importance,
                attributions.feature_names,
                attributions.output_names,
                self.explainer.agg_method,
                native_importance(
                    model.native, len(attributions.feature_names), len(attributions.output_names)
                )
                if model.native is not None
                else None,
            )
            logger.info("write model explanations to %s", self.models_explanations.path)
            self.models_explanations.write(models_table)
            logger.info("write sample explanations to %s", self.samples_explanations.path)
        notification = self.completion_notification(version, attributions, started)
        self.alerts.notify(notification)
        return JobResult(self.KIND, self.output_paths(), notification, attributions)
