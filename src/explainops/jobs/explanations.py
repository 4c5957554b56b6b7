"""ExplanationsJob: explain a registered model version (or an endpoint) on a set of samples."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Literal

import pandas as pd
import pydantic

from explainops.core.explainer_settings import AutoExplainerSettings, ExplainerKind
from explainops.core.tables import (
    model_explanations_table,
    native_importance,
    sample_explanations_table,
)
from explainops.io.datasets import ReaderKind, WriterKind
from explainops.io.loaders import CustomLoader, EndpointLoader, LoaderKind
from explainops.io.registries import ModelVersion, Registry
from explainops.io.schemas import InputSchema, schema_from_signature
from explainops.jobs.attributions import DatasetAttributions, explain_dataset
from explainops.jobs.base import Job, Locals
from explainops.services.alerts import Notification

logger = logging.getLogger(__name__)

TOP_FEATURES_NOTIFIED = 5


class ExplanationsJob(Job):
    """Explain a registered model on samples: global (model) and per-sample explanations.

    Args:
        inputs_samples: reader of the samples to explain.
        models_explanations: writer of the global explanations (one row per label and feature).
        samples_explanations: writer of the sample explanations (one row per sample and label).
        registry: the MLflow registry and the registered model's ``name`` (optional with an
            ``EndpointLoader``: then it only supplies the input schema and the model's name).
        alias_or_version: an alias (default ``Champion``) or a version number.
        loader: ``CustomLoader`` (pyfunc), ``BuiltinLoader`` (native flavour) or
            ``EndpointLoader`` (a model served over HTTP).
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
    registry: Registry | None = None
    alias_or_version: str | int = "Champion"
    loader: Annotated[LoaderKind, pydantic.Field(discriminator="KIND")] = CustomLoader()
    explainer: Annotated[ExplainerKind, pydantic.Field(discriminator="KIND")] = (
        AutoExplainerSettings()
    )
    input_schema: InputSchema | None = None
    labels: list[str] | None = None

    @pydantic.model_validator(mode="after")
    def _check_registry(self) -> ExplanationsJob:
        if self.registry is None and not isinstance(self.loader, EndpointLoader):
            raise ValueError(f"registry is required with loader {self.loader.KIND}")
        return self

    def run(self) -> Locals:
        """Resolve, validate, load, explain, write, notify."""
        started = time.perf_counter()
        version = self._resolve()
        schema = self.input_schema or (
            schema_from_signature(version.input_schema()) if version else None
        )
        logger.info(
            "read and validate samples from %s (%s)",
            self.inputs_samples.path,
            "schema: "
            + ("config" if self.input_schema else "model signature" if schema else "none"),
        )
        logger.info("load %s with %s", version or self._endpoint_url(), self.loader.KIND)
        model = self.loader.load(version)
        with self.samples_explanations.open() as sample_sink:
            attributions = explain_dataset(
                self.inputs_samples,
                schema,
                model,
                self.explainer,
                output_names=self.labels,
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
        duration_s = time.perf_counter() - started
        notification = self._notification(version, attributions, models_table, duration_s)
        self.alerts.notify(notification)
        return locals()

    def _resolve(self) -> ModelVersion | None:
        if self.registry is None:
            return None
        logger.info(
            "resolve model %r %s in %s",
            self.registry.name,
            self.alias_or_version,
            self.registry.tracking_uri,
        )
        version = self.registry.resolve(self.alias_or_version)
        logger.info("resolved %s", version)
        return version

    def _notification(
        self,
        version: ModelVersion | None,
        attributions: DatasetAttributions,
        table: pd.DataFrame,
        duration_s: float,
    ) -> Notification:
        top = table.sort_values("importance", ascending=False).head(TOP_FEATURES_NOTIFIED)
        return Notification(
            job=self.KIND,
            status="succeeded",
            model=version.name if version else self._endpoint_url(),
            version=version.version if version else None,
            n_samples=attributions.n_samples,
            duration_s=duration_s,
            top_features=[
                (str(label), str(feature), float(importance))
                for label, feature, importance in zip(
                    top["label"], top["feature"], top["importance"], strict=True
                )
            ],
            max_additivity_error=attributions.max_additivity_error,
            outputs={
                "models_explanations": self.models_explanations.path,
                "samples_explanations": self.samples_explanations.path,
            },
        )

    def _endpoint_url(self) -> str | None:
        return self.loader.url if isinstance(self.loader, EndpointLoader) else None
