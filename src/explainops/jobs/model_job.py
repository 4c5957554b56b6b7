"""The base of jobs that explain a model: where it comes from and how its samples look."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any

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
from explainops.engines import EngineKind, LocalEngine
from explainops.explainers import Explanation
from explainops.io.datasets import read_table
from explainops.io.loaders import CustomLoader, EndpointLoader, LoadedModel, LoaderKind
from explainops.io.readers import ReaderKind
from explainops.io.registries import ModelVersion, Registry
from explainops.jobs.base import Job, success_notification
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

    @pydantic.model_validator(mode="after")
    def _check_registry(self) -> Any:
        if self.registry is None and not isinstance(self.loader, EndpointLoader):
            raise ValueError(f"registry is required with loader {self.loader.KIND}")
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
