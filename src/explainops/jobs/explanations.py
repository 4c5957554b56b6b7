"""ExplanationsJob: explain a registered model version (or an endpoint) on a set of samples."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import pandas as pd
import pydantic

from explainops.core.component import Component, PathText
from explainops.core.model import LoadedModel
from explainops.core.partial_dependence import (
    DEFAULT_GRID_RESOLUTION,
    PartialDependence,
    dataset_partial_dependence,
    select_features,
)
from explainops.core.pipeline import DatasetAttributions
from explainops.core.samples import SampleSource, feature_columns, first_batch
from explainops.core.schemas import InputSchema
from explainops.core.tables import (
    model_explanations_table,
    native_importance,
    sample_explanations_table,
)
from explainops.explainers import Explanation
from explainops.io.datasets import WriterKind, write_json
from explainops.io.registries import ModelVersion
from explainops.jobs.base import JobResult
from explainops.jobs.model_job import ModelJob
from explainops.reports.output import ReportOutput, ReportRows
from explainops.reports.runs import explanations_run_report

logger = logging.getLogger(__name__)

FEATURES_FIELD = "job.partial_dependence.features"


class PartialDependenceOutput(Component):
    """The model's partial dependence on some features, written as JSON.

    Args:
        path: the JSON file: ``{"labels": [...], "pdp": [...]}``, one entry a feature as in
            Clarify's analysis.json (``feature_values``, ``model_predictions`` per label,
            ``data_distribution``, or ``error``).
        features: names or indexes of the features (default: the ``top_k_features`` of largest
            global attribution of the first label).
        grid_resolution: equal-width buckets a numerical feature's range is divided into.
        top_k_features: features taken from the attribution ranking when ``features`` is unset.

    """

    path: PathText
    features: Annotated[list[int | str], pydantic.Field(min_length=1)] | None = None
    grid_resolution: Annotated[int, pydantic.Field(ge=1)] = DEFAULT_GRID_RESOLUTION
    top_k_features: Annotated[int, pydantic.Field(ge=1)] = 10

    def check_features(self, reader: SampleSource, schema: InputSchema | None) -> None:
        """Refuse a feature that is not one before anything is explained (ConfigError)."""
        if self.features is not None:
            names = feature_columns(first_batch(reader, schema), schema, reader.id_column)
            select_features(self.features, names, None, self.top_k_features, FEATURES_FIELD)

    def compute(
        self,
        reader: SampleSource,
        schema: InputSchema | None,
        model: LoadedModel,
        attributions: DatasetAttributions,
        rows_per_model_call: int,
    ) -> list[PartialDependence]:
        """The partial dependence over every sample, read (and validated) again, batch by batch."""
        names = list(attributions.feature_names)
        features = select_features(
            self.features,
            names,
            attributions.importance[0].tolist(),
            self.top_k_features,
            FEATURES_FIELD,
        )
        logger.info("partial dependence of %s", ", ".join(features))
        return dataset_partial_dependence(
            reader,
            schema,
            model.predict,
            names,
            features,
            grid_resolution=self.grid_resolution,
            rows_per_model_call=rows_per_model_call,
        )

    def write(self, dependence: list[PartialDependence], labels: Sequence[str]) -> None:
        """Write ``{"labels": [...], "pdp": [...]}`` to ``path``, atomically."""
        logger.info("write partial dependence to %s", self.path)
        records = [result.as_record() for result in dependence]
        write_json(self.path, {"labels": list(labels), "pdp": records})


class ExplanationsJob(ModelJob):
    """Explain a registered model on samples: global (model) and per-sample explanations.

    Args:
        models_explanations: writer of the global explanations (one row per label and feature).
        samples_explanations: writer of the sample explanations (one row per sample and label).
        partial_dependence: also the model's partial dependence on some features
            (``PartialDependenceOutput``), or None.
        alerts: where the completion (or failure) is notified.

    The model, explainer, schema and labels are ``ModelJob``'s fields.

    """

    KIND: Literal["ExplanationsJob"] = "ExplanationsJob"
    models_explanations: Annotated[WriterKind, pydantic.Field(discriminator="KIND")]
    samples_explanations: Annotated[WriterKind, pydantic.Field(discriminator="KIND")]
    partial_dependence: PartialDependenceOutput | None = None

    def output_paths(self) -> dict[str, str]:
        """The two explanation tables, and the partial dependence file when configured."""
        paths = {
            "models_explanations": self.models_explanations.path,
            "samples_explanations": self.samples_explanations.path,
        }
        if self.partial_dependence is not None:
            paths["partial_dependence"] = self.partial_dependence.path
        return paths | self.report_paths()

    def run(self) -> JobResult:
        """Resolve, validate, load, explain, write, notify."""
        started = time.perf_counter()
        self.check_outputs()
        version = self.resolve_version()
        model = self.load_model(version)
        pdp, schema = self.partial_dependence, self.input_schema_of(version)
        if pdp is not None:
            pdp.check_features(self.inputs_samples, schema)
        rows = self.report.collector() if self.report is not None else None

        with self.samples_explanations.open() as sample_sink:

            def write_batch(explanation: Explanation, ids: list[Any]) -> None:
                table = sample_explanations_table(explanation, ids)
                sample_sink.write(table)
                if rows is not None:
                    rows.add(table, explanation)

            attributions = self.explain_samples(version, model, on_batch=write_batch)
            dependence = (
                pdp.compute(
                    self.inputs_samples,
                    schema,
                    model,
                    attributions,
                    self.explainer.rows_per_model_call,
                )
                if pdp is not None
                else None
            )
            models_table = model_explanations_table(
                attributions.importance,
                attributions.feature_names,
                attributions.output_names,
                self.explainer.agg_method,
                native_importance(
                    model.native, attributions.feature_names, len(attributions.output_names)
                )
                if model.native is not None
                else None,
            )
            logger.info("write model explanations to %s", self.models_explanations.path)
            self.models_explanations.write(models_table)
            if pdp is not None and dependence is not None:
                pdp.write(dependence, attributions.output_names)
            logger.info("write sample explanations to %s", self.samples_explanations.path)
        if self.report is not None and rows is not None:
            self._write_report(
                self.report, rows, version, attributions, models_table, dependence, started
            )
        notification = self.completion_notification(version, attributions, started)
        self.alerts.notify(notification)
        self.log_run(version, notification)
        return JobResult(self.KIND, self.output_paths(), notification, attributions)

    def _write_report(
        self,
        report: ReportOutput,
        rows: ReportRows,
        version: ModelVersion | None,
        attributions: DatasetAttributions,
        models_table: pd.DataFrame,
        dependence: list[PartialDependence] | None,
        started: float,
    ) -> None:
        """The report of the run, written once every other output is."""
        name = self.model_name(version)
        summary = self.report_summary(version, attributions, started, rows)
        source = {
            "kind": "explanations",
            "samples_explanations": self.samples_explanations.path,
            "models_explanations": self.models_explanations.path,
            "partial_dependence": self.partial_dependence.path if self.partial_dependence else None,
            "inputs": self.inputs_samples.model_dump(mode="json"),
            "agg_method": self.explainer.agg_method,
        }
        report.write(
            explanations_run_report(
                report,
                rows,
                attributions,
                models_table,
                title=f"Explanations of {name}"
                + (f" version {version.version}" if version else ""),
                summary=summary,
                agg_method=self.explainer.agg_method,
                dependence=dependence,
                source=source,
            )
        )
