"""ExplanationsJob: explain a registered model version on a set of samples."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import pydantic

from explainops.core.aggregation import AttributionAccumulator
from explainops.core.explainer_settings import AutoExplainerSettings, ExplainContext, ExplainerKind
from explainops.core.tables import (
    check_feature_names,
    model_explanations_table,
    native_importance,
    sample_explanations_table,
)
from explainops.errors import InputError
from explainops.explainers import kmeans_baseline
from explainops.explainers.inputs import as_feature_table
from explainops.io.datasets import ReaderKind, WriterKind, reader_for_path
from explainops.io.registries import CustomLoader, LoadedModel, LoaderKind, Registry
from explainops.io.schemas import (
    InputSchema,
    raise_for_violations,
    schema_from_signature,
    validate_batch,
)
from explainops.jobs.base import Job, Locals
from explainops.jobs.samples import SampleScan, scan_samples, validated_batches
from explainops.services.alerts import Notification

logger = logging.getLogger(__name__)

TOP_FEATURES_NOTIFIED = 5


class ExplanationsJob(Job):
    """Explain a registered model on samples: global (model) and per-sample explanations.

    Args:
        inputs_samples: reader of the samples to explain.
        models_explanations: writer of the global explanations (one row per label and feature).
        samples_explanations: writer of the sample explanations (one row per sample and label).
        registry: the MLflow registry and the registered model's ``name``.
        alias_or_version: an alias (default ``Champion``) or a version number.
        loader: ``CustomLoader`` (pyfunc) or ``BuiltinLoader`` (native flavour).
        explainer: ``AutoExplainer`` (default), ``KernelExplainer``, ``ExactExplainer`` or
            ``TreeExplainer`` with their settings.
        input_schema: explicit schema of the samples, used instead of the model's signature.
        labels: names of the model's outputs (default: class labels, else label0, label1, ...).
        alerts: where the completion (or failure) is notified.

    """

    KIND: Literal["ExplanationsJob"] = "ExplanationsJob"
    inputs_samples: Annotated[ReaderKind, pydantic.Field(discriminator="KIND")]
    models_explanations: Annotated[WriterKind, pydantic.Field(discriminator="KIND")]
    samples_explanations: Annotated[WriterKind, pydantic.Field(discriminator="KIND")]
    registry: Registry
    alias_or_version: str | int = "Champion"
    loader: Annotated[LoaderKind, pydantic.Field(discriminator="KIND")] = CustomLoader()
    explainer: Annotated[ExplainerKind, pydantic.Field(discriminator="KIND")] = (
        AutoExplainerSettings()
    )
    input_schema: InputSchema | None = None
    labels: list[str] | None = None

    def run(self) -> Locals:
        """Resolve, validate, load, explain, write, notify."""
        started = time.perf_counter()
        logger.info(
            "resolve model %r %s in %s",
            self.registry.name,
            self.alias_or_version,
            self.registry.tracking_uri,
        )
        version = self.registry.resolve(self.alias_or_version)
        logger.info("resolved %s", version)
        schema = self.input_schema or schema_from_signature(version.input_schema())
        logger.info(
            "read and validate samples from %s (%s)",
            self.inputs_samples.path,
            "schema: "
            + ("config" if self.input_schema else "model signature" if schema else "none"),
        )
        scan = scan_samples(self.inputs_samples, schema, self.explainer.seed)
        check_feature_names(scan.feature_names)
        logger.info("validated %d samples with %d features", scan.n_rows, len(scan.feature_names))
        logger.info("load %s with %s", version, self.loader.KIND)
        model = self.loader.load(version)
        context = self._context(model, scan, schema)
        explainer_name, explain = self.explainer.build(context)
        logger.info(
            "explain with %s against %d baseline rows", explainer_name, len(context.baseline)
        )
        accumulator = AttributionAccumulator(self.explainer.agg_method)
        with self.samples_explanations.open() as sample_sink:
            for batch in validated_batches(self.inputs_samples, schema):
                explanation = explain(batch[scan.feature_names])
                sample_ids = (
                    batch[self.inputs_samples.id_column]
                    if self.inputs_samples.id_column
                    else batch.index
                )
                sample_sink.write(sample_explanations_table(explanation, list(sample_ids)))
                accumulator.add(explanation)
                logger.info("explained %d/%d samples", accumulator.n_samples, scan.n_rows)
            importance = accumulator.result()
            models_table = model_explanations_table(
                importance,
                explanation.feature_names,
                explanation.output_names,
                self.explainer.agg_method,
                native_importance(
                    model.native, len(scan.feature_names), len(explanation.output_names)
                )
                if model.native is not None
                else None,
            )
            logger.info("write model explanations to %s", self.models_explanations.path)
            self.models_explanations.write(models_table)
            logger.info("write sample explanations to %s", self.samples_explanations.path)
        duration_s = time.perf_counter() - started
        notification = self._notification(version, accumulator, models_table, duration_s)
        self.alerts.notify(notification)
        return locals()

    def _context(
        self, model: LoadedModel, scan: SampleScan, schema: InputSchema | None
    ) -> ExplainContext:
        preview = scan.reservoir[scan.feature_names].head(8)
        baseline, weights = self._baseline(scan, schema)
        names = tuple(self.labels) if self.labels else model.output_names(preview)
        return ExplainContext(model, baseline, weights, names, preview)

    def _baseline(
        self, scan: SampleScan, schema: InputSchema | None
    ) -> tuple[pd.DataFrame, np.ndarray]:
        settings = self.explainer
        features = scan.feature_names
        if settings.baseline is None:
            summary = kmeans_baseline(
                as_feature_table(scan.reservoir[features]), settings.num_clusters, settings.seed
            )
            frame = pd.DataFrame(summary.table.values, columns=features).astype(
                scan.reservoir[features].dtypes.to_dict()
            )
            logger.info("baseline: k-means summary of the samples, %d clusters", len(frame))
            return frame, summary.weights
        if isinstance(settings.baseline, str):
            frame = reader_for_path(settings.baseline).read()
        elif all(isinstance(row, dict) for row in settings.baseline):
            frame = pd.DataFrame(settings.baseline)
        else:
            widths = {len(row) for row in settings.baseline}
            if widths != {len(features)}:
                raise InputError(
                    f"explainer.baseline: rows of {sorted(widths)} values, "
                    f"expected {len(features)} ({', '.join(features)})"
                )
            frame = pd.DataFrame(settings.baseline, columns=features)
        missing = [column for column in features if column not in frame.columns]
        if missing:
            raise InputError(f"explainer.baseline: missing columns {missing}")
        frame = frame[features]
        if schema is not None:
            frame, violations = validate_batch(frame.reset_index(drop=True), schema)
            raise_for_violations("explainer.baseline", violations, len(violations))
        return frame.astype(scan.reservoir[features].dtypes.to_dict()), np.full(
            len(frame), 1.0 / len(frame)
        )

    def _notification(
        self,
        version: Any,
        accumulator: AttributionAccumulator,
        table: pd.DataFrame,
        duration_s: float,
    ) -> Notification:
        top = table.sort_values("importance", ascending=False).head(TOP_FEATURES_NOTIFIED)
        return Notification(
            job=self.KIND,
            status="succeeded",
            model=version.name,
            version=version.version,
            n_samples=accumulator.n_samples,
            duration_s=duration_s,
            top_features=[
                (str(label), str(feature), float(importance))
                for label, feature, importance in zip(
                    top["label"], top["feature"], top["importance"], strict=True
                )
            ],
            max_additivity_error=accumulator.max_additivity_error,
            outputs={
                "models_explanations": self.models_explanations.path,
                "samples_explanations": self.samples_explanations.path,
            },
        )
