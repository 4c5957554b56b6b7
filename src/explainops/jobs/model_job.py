"""The base of jobs that explain a model: where it comes from and how its samples look."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import pandas as pd
import pydantic

from explainops.core.explainer_settings import (
    AutoExplainerSettings,
    ExplainerKind,
    ExplainerSettings,
)
from explainops.core.pipeline import Background, DatasetAttributions, explain_dataset
from explainops.core.redaction import mask_url
from explainops.core.samples import SampleScan, first_batch
from explainops.core.schemas import InputSchema, schema_from_signature
from explainops.drift.baseline_file import AttributionBaseline
from explainops.engines import EngineKind, LocalEngine
from explainops.explainers import Explanation
from explainops.io.datasets import read_table
from explainops.io.loaders import CustomLoader, EndpointLoader, LoadedModel, LoaderKind
from explainops.io.readers import ReaderKind
from explainops.io.registries import ModelVersion, Registry
from explainops.io.tracking import log_job_run
from explainops.jobs.base import (
    Job,
    check_distinct_outputs,
    notification_metrics,
    success_notification,
)
from explainops.reports.document import Report
from explainops.reports.output import ReportOutput, ReportRows
from explainops.reports.runs import drift_run_report, run_summary
from explainops.services.alerts import Notification
from explainops.services.progress import Progress

logger = logging.getLogger(__name__)


class ModelJob(Job):
    """A job explaining a registered model version, or a model behind an endpoint.

    Args:
        inputs_samples: reader of the samples to explain.
        registry: the MLflow registry and the registered model's ``name`` (optional with an
            ``EndpointLoader``: then it only supplies the input schema and the model's name).
        alias_or_version: an alias (default ``Champion``) or a version number.
        loader: ``CustomLoader`` (pyfunc), ``BuiltinLoader`` (native flavour) or
            ``EndpointLoader`` (a model served over HTTP).
        explainer: ``AutoExplainer`` (default), ``KernelExplainer``, ``ExactExplainer`` or
            ``TreeExplainer`` with their settings.
        input_schema: explicit schema of the samples, used instead of the model's signature.
        labels: names of the model's outputs (default: class labels, else label0, label1, ...).
        engine: where batches are explained: ``LocalEngine`` (this process) or ``DaskEngine``.
        report: also a report people look at (``ReportOutput``: HTML, PDF, notebook), or None.
        mlflow_run: also log the outputs (report included) and key figures as an MLflow run in
            the registry's tracking server, tagged with and linked to the model version: True
            (experiment ``explainops/<model name>``) or the experiment's name.

    """

    inputs_samples: Annotated[ReaderKind, pydantic.Field(discriminator="KIND")]
    registry: Registry | None = None
    alias_or_version: str | int = "Champion"
    loader: Annotated[LoaderKind, pydantic.Field(discriminator="KIND")] = CustomLoader()
    explainer: Annotated[ExplainerKind, pydantic.Field(discriminator="KIND")] = (
        AutoExplainerSettings()
    )
    input_schema: InputSchema | None = None
    labels: list[str] | None = None
    engine: Annotated[EngineKind, pydantic.Field(discriminator="KIND")] = LocalEngine()
    report: ReportOutput | None = None
    mlflow_run: bool | Annotated[str, pydantic.Field(min_length=1)] = False

    @pydantic.model_validator(mode="after")
    def _check_registry(self) -> Any:
        if self.registry is None and not isinstance(self.loader, EndpointLoader):
            raise ValueError(f"registry is required with loader {self.loader.KIND}")
        if self.registry is None and self.mlflow_run is not False:
            raise ValueError(
                "mlflow_run needs a registry: the run is logged to its tracking server"
            )
        return self

    @pydantic.model_validator(mode="after")
    def _check_outputs_are_distinct(self) -> Any:
        check_distinct_outputs(self.output_paths())
        return self

    def check(self) -> list[str]:
        """Check the outputs, resolve the model, read and validate the first batch of samples.

        In the order the run meets them, so the first problem is the one the run would report.
        """
        checked = self.check_outputs()
        version = self.resolve_version()
        checked += [
            f"model: {version}"
            if version is not None
            else f"model: endpoint {self.model_name(None)} (not called by validate)"
        ]
        schema = self.input_schema_of(version)
        batch = first_batch(self.inputs_samples, schema)
        checked.append(
            f"samples: {self.inputs_samples.path}: first {len(batch)} row(s) valid against "
            + ("the configured schema" if self.input_schema else "the model signature")
            if schema
            else f"samples: {self.inputs_samples.path}: first {len(batch)} row(s) read (no schema)"
        )
        return checked

    def resolve_version(self) -> ModelVersion | None:
        """The registered version the alias names (None for an endpoint without registry)."""
        if self.registry is None:
            return None
        logger.info(
            "resolve model %r %s in %s",
            self.registry.name,
            self.alias_or_version,
            self.registry.location,
        )
        version = self.registry.resolve(self.alias_or_version)
        logger.info("resolved %s", version)
        return version

    def input_schema_of(self, version: ModelVersion | None) -> InputSchema | None:
        """The configured schema, else the model's signature, else None (no validation)."""
        if self.input_schema is not None:
            return self.input_schema
        return schema_from_signature(version.input_schema()) if version else None

    def load_model(self, version: ModelVersion | None) -> LoadedModel:
        """Load the model with the configured loader."""
        logger.info("load %s with %s", version or self.model_name(None), self.loader.KIND)
        return self.loader.load(version)

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint's URL when the model is served over HTTP."""
        return self.loader.url if isinstance(self.loader, EndpointLoader) else None

    def model_name(self, version: ModelVersion | None) -> str:
        """The registered model's name, else the endpoint's URL (its secrets masked)."""
        if version is not None:
            return version.name
        return self.registry.name if self.registry else mask_url(str(self.endpoint_url))

    def explain_samples(
        self,
        version: ModelVersion | None,
        model: LoadedModel,
        *,
        settings: ExplainerSettings | None = None,
        output_names: Sequence[str] | None = None,
        background: Callable[[SampleScan], Background] | None = None,
        on_batch: Callable[[Explanation, list[Any]], None] | None = None,
    ) -> DatasetAttributions:
        """Validate, then explain every sample, on the configured engine (the shared pipeline)."""
        schema = self.input_schema_of(version)
        origin = "config" if self.input_schema else "model signature" if schema else "none"
        logger.info(
            "read and validate samples from %s (schema: %s)", self.inputs_samples.path, origin
        )
        with self.engine.session() as engine:
            return explain_dataset(
                self.inputs_samples,
                schema,
                model,
                settings or self.explainer,
                output_names=output_names or self.labels,
                baseline=background,
                on_batch=on_batch,
                map_batches=engine.map,
                progress=Progress,
                read_table=read_table,
            )

    def completion_notification(
        self,
        version: ModelVersion | None,
        attributions: DatasetAttributions,
        started: float,
        *,
        outputs: dict[str, str] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> Notification:
        """The job's key figures and outputs (default: ``output_paths()``), to notify."""
        return success_notification(
            self.KIND,
            attributions,
            model=self.model_name(version),
            version=version.version if version else None,
            duration_s=time.perf_counter() - started,
            outputs=self.output_paths() if outputs is None else outputs,
            metrics=metrics,
        )

    def report_paths(self) -> dict[str, str]:
        """The report's files, when there is one."""
        return self.report.paths() if self.report is not None else {}

    def drift_report(
        self,
        baseline: AttributionBaseline,
        version: ModelVersion | None,
        attributions: DatasetAttributions,
        started: float,
        *,
        history: pd.DataFrame | None = None,
        history_path: str | None = None,
        windows: Sequence[tuple[str, DatasetAttributions]] = (),
        threshold: float | None = None,
        extra: Sequence[tuple[str, Any]] = (),
    ) -> Report | None:
        """A baseline's or (with a ``history``) a drift run's report against ``baseline``.

        None without ``report``. ``history`` is the history as the run leaves it,
        ``history_path`` where the notebook reads it again.
        """
        if self.report is None:
            return None
        name = self.model_name(version)
        what = "drift" if history is not None else "baseline"
        return drift_run_report(
            self.report,
            baseline,
            title=f"Attribution {what} of {name}",
            summary=self.report_summary(version, attributions, started, extra=extra),
            history=history,
            windows=windows,
            threshold=threshold,
            source={"kind": "drift", "baseline": baseline.path, "history": history_path},
        )

    def report_summary(
        self,
        version: ModelVersion | None,
        attributions: DatasetAttributions,
        started: float,
        rows: ReportRows | None = None,
        extra: Sequence[tuple[str, Any]] = (),
    ) -> list[tuple[str, Any]]:
        """The summary table of this run's report."""
        return run_summary(
            attributions,
            model=self.model_name(version),
            version=version.version if version else None,
            alias=version.alias if version else None,
            explainer_settings=self.explainer.model_dump(exclude_defaults=True, exclude={"KIND"}),
            duration_s=time.perf_counter() - started,
            inputs=self.inputs_samples.path,
            rows=rows,
            extra=extra,
        )

    def log_run(self, version: ModelVersion | None, notification: Notification) -> None:
        """With ``mlflow_run``: the outputs and figures as an MLflow run beside the model."""
        if self.mlflow_run is False or self.registry is None:
            return
        name = self.model_name(version)
        experiment = self.mlflow_run if isinstance(self.mlflow_run, str) else f"explainops/{name}"
        logged = log_job_run(
            self.registry.tracking_uri,
            self.registry.registry_uri,
            experiment=experiment,
            run_name=f"{self.KIND} {name}" + (f" v{version.version}" if version else ""),
            job=self.KIND,
            model_name=version.name if version else None,
            model_version=version.version if version else None,
            artifacts=notification.outputs,
            metrics=notification_metrics(notification),
            params={
                f"explainer.{key}": str(value)
                for key, value in self.explainer.model_dump(mode="json").items()
                if value is not None and not isinstance(value, list | dict)
            },
        )
        logger.info("logged MLflow run %s in experiment %r", logged.run_id, experiment)
