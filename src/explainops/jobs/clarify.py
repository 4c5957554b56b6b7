"""ClarifyJob: run a SageMaker Clarify explainability analysis config, unchanged, anywhere.

Reads the data set the way Clarify does (``explainops.clarify.data``), explains the model in
process (an MLflow model URI) or behind an HTTP endpoint (``explainops.clarify.model``) with
Kernel SHAP (``methods.shap``) and partial dependence (``methods.pdp``,
``explainops.clarify.partial_dependence``), and writes Clarify's output layout
(``explainops.clarify.layout``):
``analysis.json``, plus ``explanations_shap/out.csv`` when ``save_local_shap_values`` is set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

import pydantic

from explainops.clarify.analysis_config import AnalysisConfig, DatasetType, load_analysis_config
from explainops.clarify.data import (
    clarify_samples,
    dataset_type_of,
    format_name,
    shap_background,
)
from explainops.clarify.images import (
    DEFAULT_IMAGE_CONTENT_TYPE,
    HEATMAPS_FOLDER,
    ImageExplanation,
    explain_images,
    image_analysis_document,
)
from explainops.clarify.layout import (
    analysis_document,
    image_explanation_path,
    kernel_settings,
    local_values_writer,
    output_paths,
)
from explainops.clarify.model import endpoint_model, labelled, registered_model
from explainops.clarify.partial_dependence import check_pdp_features, clarify_partial_dependence
from explainops.clarify.text import TextOutputs, explain_texts, text_analysis_document
from explainops.core.component import MlflowUri, PathText
from explainops.core.model import LoadedModel
from explainops.core.pipeline import BatchMapper, DatasetAttributions, explain_dataset
from explainops.core.redaction import mask_url
from explainops.core.samples import SampleSource, first_batch
from explainops.drift.comparison import drift_metrics
from explainops.drift.constraints import VIOLATIONS_FILE, AttributionConstraints, write_violations
from explainops.engines import EngineKind, LocalEngine
from explainops.errors import ConfigError
from explainops.explainers import Explanation
from explainops.io.datasets import atomic_file, write_json
from explainops.io.endpoints import RequestLimits
from explainops.io.images import image_sources
from explainops.io.registries import default_tracking_uri
from explainops.jobs.base import Job, JobResult, success_notification
from explainops.reports.images import heatmap_png
from explainops.reports.output import ReportOutput, ReportRows
from explainops.reports.runs import clarify_run_report, run_summary
from explainops.reports.sources import build_report
from explainops.services.alerts import Notification
from explainops.services.progress import Progress

logger = logging.getLogger(__name__)

TOP_FEATURES = 5  # features listed per label in a violation


class ClarifyJob(Job):
    """Explain a model with a Clarify analysis config and write Clarify's outputs.

    Args:
        analysis_config: path of the Clarify analysis config JSON, used unchanged.
        dataset: path or fsspec URI of the data set.
        output_dir: folder receiving ``analysis.json`` (and ``explanations_shap/out.csv``).
        model_uri: an MLflow model URI explained in process (``models:/name/1``,
            ``models:/name@Champion``, ``runs:/...``, a local folder), or
        endpoint_url: a model served over HTTP (``predictor`` content and accept types).
        tracking_uri: MLflow tracking URI for ``models:/`` and ``runs:/`` URIs (default:
            ``MLFLOW_TRACKING_URI``, else ./mlruns/mlflow.db; the registry URI is
            ``MLFLOW_REGISTRY_URI``, else this).
        dataset_type: ``text/csv``, ``application/jsonlines`` or ``application/x-parquet``
            (default: the config's ``dataset_type``, else from the file extension).
        features_attribute: JMESPath of the features in JSON Lines records (default: the
            config's ``features``).
        probability_attribute: which model output to explain: a column index, or a JMESPath
            into JSON Lines responses (default: ``predictor.probability``).
        headers_from_env: endpoint request headers from environment variables.
        requests: how rows go to the endpoint (``RequestLimits``: rows per request,
            concurrency, timeout, retries, backoff), as for an ``EndpointLoader``.
        batch_size: rows read and explained per batch.
        engine: where batches are explained: ``LocalEngine`` or ``DaskEngine``.
        baseline_constraints: the ``analysis.json`` of a baseline job (Clarify's, or an
            explainops one): run as Model Monitor's explainability monitor, comparing the data
            set's global SHAP values with it per label by NDCG and writing
            ``constraint_violations.json`` next to ``analysis.json``.
        threshold: NDCG below it is a violation (default 0.9, Model Monitor's); only with
            ``baseline_constraints``.

    """

    KIND: Literal["ClarifyJob"] = "ClarifyJob"
    analysis_config: PathText
    dataset: PathText
    output_dir: PathText
    model_uri: str | None = None
    endpoint_url: str | None = None
    tracking_uri: MlflowUri = pydantic.Field(default_factory=default_tracking_uri)
    dataset_type: DatasetType | None = None
    features_attribute: str | None = None
    probability_attribute: int | str | None = None
    headers_from_env: dict[str, str] = pydantic.Field(default_factory=dict)
    requests: RequestLimits = RequestLimits()
    batch_size: Annotated[int, pydantic.Field(ge=1)] = 10_000
    engine: Annotated[EngineKind, pydantic.Field(discriminator="KIND")] = LocalEngine()
    baseline_constraints: PathText | None = None
    threshold: Annotated[float, pydantic.Field(gt=0, le=1)] = 0.90

    @pydantic.model_validator(mode="after")
    def _check_model(self) -> ClarifyJob:
        if (self.model_uri is None) == (self.endpoint_url is None):
            raise ValueError("give exactly one of model_uri and endpoint_url")
        if "threshold" in self.model_fields_set and self.baseline_constraints is None:
            raise ValueError("threshold: a drift threshold needs baseline_constraints")
        return self

    def output_paths(self) -> dict[str, str]:
        """analysis.json, the local values when saved, constraint_violations.json when checked."""
        return self._outputs(load_analysis_config(self.analysis_config))

    def check(self) -> list[str]:
        """Read the config and the data set's first batch, load the model, check the outputs."""
        config = load_analysis_config(self.analysis_config)
        if config.methods.shap is not None and config.methods.shap.image_config is not None:
            sources = image_sources(self.dataset)
            sources[0].read()
            self._model(
                config, config.predictor_or_default.content_type or DEFAULT_IMAGE_CONTENT_TYPE
            )
            return [
                f"analysis config: {self.analysis_config}",
                f"dataset: {self.dataset}: {len(sources)} image(s), the first read",
                f"model: {self._model_name()}"
                + (" (not called by validate)" if self.endpoint_url else " (loaded)"),
                *self.check_outputs(self._outputs(config)),
            ]
        dataset_type = dataset_type_of(self.dataset, self.dataset_type or config.dataset_type)
        reader = self._reader(config, dataset_type, self.dataset)
        batch = first_batch(reader, None)
        check_pdp_features(config, reader)
        self._model(config, dataset_type)
        constraints = self._constraints()
        return [
            f"analysis config: {self.analysis_config}",
            f"dataset: {self.dataset} ({format_name(reader, dataset_type)}): "
            f"first {len(batch)} row(s) read",
            f"model: {self._model_name()}"
            + (" (not called by validate)" if self.endpoint_url else " (loaded)"),
            *([f"baseline constraints: {constraints.describe()}"] if constraints else []),
            *self.check_outputs(self._outputs(config)),
        ]

    def run(self) -> JobResult:
        """Read the config, load the model, explain the data set, write analysis.json."""
        started = time.perf_counter()
        logger.info("read analysis config %s", self.analysis_config)
        config = load_analysis_config(self.analysis_config)
        outputs = self._outputs(config)
        self.check_outputs(outputs)
        constraints = self._constraints()
        if config.methods.shap is not None and config.methods.shap.image_config is not None:
            return self._run_images(config, outputs, started)
        dataset_type = dataset_type_of(self.dataset, self.dataset_type or config.dataset_type)
        reader = self._reader(config, dataset_type, self.dataset)
        logger.info("dataset %s (%s)", self.dataset, format_name(reader, dataset_type))
        model = labelled(
            self._model(config, dataset_type), config.predictor_or_default.label_headers
        )
        check_pdp_features(config, reader)
        if config.methods.shap is not None and config.methods.shap.text_config is not None:
            return self._run_text(config, reader, model, outputs, started)
        if constraints is not None and config.methods.shap is None:
            raise ConfigError(
                "baseline_constraints: the drift check compares global SHAP values; "
                "the analysis config has no methods.shap"
            )
        report = (
            ReportOutput(path=outputs["report_html"], title=config.methods.report.title)
            if config.methods.report is not None
            else None
        )
        # The report draws the local values the run saves (its notebook reads them again).
        rows = report.collector() if report is not None and "local_values" in outputs else None
        with (
            local_values_writer(outputs.get("local_values"), rows) as write_local,
            self.engine.session() as engine,
        ):
            attributions = (
                self._shap(config, dataset_type, reader, model, write_local, engine.map)
                if config.methods.shap is not None
                else None
            )
            dependence, n_samples = (
                clarify_partial_dependence(config.methods.pdp, reader, model, attributions)
                if config.methods.pdp is not None
                else (None, attributions.n_samples if attributions else 0)
            )
            analysis = analysis_document(
                config, self._model_name(), attributions, dependence, n_samples=n_samples
            )
            checks = (
                constraints.compare(attributions, self.threshold, TOP_FEATURES, self.dataset)
                if constraints and attributions
                else None
            )
            logger.info("write %s", outputs["analysis"])
            write_json(outputs["analysis"], analysis)
            if checks is not None:
                write_violations(outputs["constraint_violations"], checks, self.threshold)
        if report is not None:
            self._write_report(report, rows, config, analysis, attributions, outputs, started)
        published = {name: path for name, path in outputs.items() if name != "local_values"}
        notification = (
            success_notification(
                self.KIND,
                attributions,
                model=self._model_name(),
                version=None,
                duration_s=time.perf_counter() - started,
                outputs=published,
                metrics=drift_metrics(checks, self.threshold) if checks is not None else None,
            )
            if attributions
            else Notification(
                self.KIND,
                "succeeded",
                model=self._model_name(),
                n_samples=n_samples,
                duration_s=time.perf_counter() - started,
                outputs=published,
            )
        )
        self.alerts.notify(notification)
        return JobResult(self.KIND, outputs, notification, attributions)

    def _run_text(
        self,
        config: AnalysisConfig,
        reader: SampleSource,
        model: LoadedModel,
        outputs: dict[str, str],
        started: float,
    ) -> JobResult:
        """``methods.shap.text_config``: each text's units explained, Clarify's text outputs."""
        if config.methods.pdp is not None or self.baseline_constraints is not None:
            raise ConfigError(
                "methods.shap.text_config: partial dependence and baseline constraints are not "
                "computed for text features; remove methods.pdp / baseline_constraints"
            )
        shap = config.shap
        attributions = explain_texts(
            reader,
            model,
            shap,
            TextOutputs(
                outputs.get("local_values"), outputs.get("units"), outputs.get("local_table")
            ),
        )
        assert shap.text_config is not None
        analysis = text_analysis_document(
            config, self._model_name(), attributions, shap.text_config.max_top_tokens
        )
        logger.info("write %s", outputs["analysis"])
        write_json(outputs["analysis"], analysis)
        if config.methods.report is not None:
            report = ReportOutput(path=outputs["report_html"], title=config.methods.report.title)
            summary = [
                ("model", self._model_name()),
                ("dataset", self.dataset),
                ("rows", attributions.n_samples),
                ("model evaluations a row", attributions.evaluations / attributions.n_samples),
                ("rows enumerated exactly", attributions.exact_rows),
                ("max additivity error", attributions.max_additivity_error),
                ("duration (s)", round(time.perf_counter() - started, 2)),
            ]
            source = {
                "kind": "clarify_text",
                "analysis": outputs["analysis"],
                "units": outputs.get("units"),
                "title": report.title or f"Clarify text analysis of {self._model_name()}",
                "summary": summary,
            }
            report.write(build_report(source))
        notification = Notification(
            self.KIND,
            "succeeded",
            model=self._model_name(),
            n_samples=attributions.n_samples,
            duration_s=time.perf_counter() - started,
            outputs={name: path for name, path in outputs.items() if name != "local_values"},
            max_additivity_error=attributions.max_additivity_error,
        )
        self.alerts.notify(notification)
        return JobResult(self.KIND, outputs, notification, None)

    def _run_images(
        self, config: AnalysisConfig, outputs: dict[str, str], started: float
    ) -> JobResult:
        """``methods.shap.image_config``: each image's segments explained, heat maps drawn."""
        if config.methods.pdp is not None or self.baseline_constraints is not None:
            raise ConfigError(
                "methods.shap.image_config: partial dependence and baseline constraints are not "
                "computed for images; remove methods.pdp / baseline_constraints"
            )
        sources = image_sources(self.dataset)
        logger.info("dataset %s: %d image(s)", self.dataset, len(sources))
        content_type = config.predictor_or_default.content_type or DEFAULT_IMAGE_CONTENT_TYPE
        model = self._model(config, content_type)
        folder = self.output_dir.rstrip("/")

        def write_heatmaps(explained: ImageExplanation) -> None:
            objects = explained.objects
            for index, label in enumerate(explained.labels):
                path = f"{folder}/{HEATMAPS_FOLDER}/{explained.source.name}_{label}.png"
                png = heatmap_png(
                    explained.image,
                    explained.segments,
                    explained.explanation.values[index],
                    f"{explained.source.name}: SHAP values for {label}",
                    box=None if objects is None else objects.boxes[index],
                )
                with atomic_file(path, "wb") as handle:
                    handle.write(png)

        attributions = explain_images(
            config, sources, model, self.output_dir, on_image=write_heatmaps
        )
        analysis = image_analysis_document(config, self._model_name(), attributions)
        logger.info("write %s", outputs["analysis"])
        write_json(outputs["analysis"], analysis)
        if config.methods.report is not None:
            report = ReportOutput(path=outputs["report_html"], title=config.methods.report.title)
            summary = [
                ("model", self._model_name()),
                ("dataset", self.dataset),
                ("images", attributions.n_images),
                ("model evaluations an image", attributions.evaluations / attributions.n_images),
                ("images enumerated exactly", attributions.exact_images),
                ("max additivity error", attributions.max_additivity_error),
                ("duration (s)", round(time.perf_counter() - started, 2)),
            ]
            source = {
                "kind": "clarify_images",
                "analysis": outputs["analysis"],
                "images": [image_explanation_path(folder, name) for name in attributions.names],
                "title": report.title or f"Clarify image analysis of {self._model_name()}",
                "summary": summary,
            }
            report.write(build_report(source))
        notification = Notification(
            self.KIND,
            "succeeded",
            model=self._model_name(),
            n_samples=attributions.n_images,
            duration_s=time.perf_counter() - started,
            outputs=outputs,
            max_additivity_error=attributions.max_additivity_error,
        )
        self.alerts.notify(notification)
        return JobResult(self.KIND, outputs, notification, None)

    def _shap(
        self,
        config: AnalysisConfig,
        dataset_type: DatasetType,
        reader: SampleSource,
        model: LoadedModel,
        write_local: Callable[[Explanation, list[Any]], None] | None,
        map_batches: BatchMapper,
    ) -> DatasetAttributions:
        """``methods.shap``: Kernel SHAP values of every row, local values written as they come."""
        settings = kernel_settings(config.shap)
        return explain_dataset(
            reader,
            None,
            model,
            settings,
            baseline=lambda scan: shap_background(
                config,
                dataset_type,
                settings,
                scan,
                features_attribute=self.features_attribute,
                batch_size=self.batch_size,
            ),
            on_batch=write_local,
            map_batches=map_batches,
            progress=Progress,
        )

    def _write_report(
        self,
        report: ReportOutput,
        rows: ReportRows | None,
        config: AnalysisConfig,
        analysis: dict[str, Any],
        attributions: DatasetAttributions | None,
        outputs: dict[str, str],
        started: float,
    ) -> None:
        """``methods.report``: the report beside analysis.json."""
        pdp_labels = attributions.output_names if attributions else ()
        summary = run_summary(
            attributions,
            model=self._model_name(),
            explainer_settings=analysis["explainops"],
            duration_s=time.perf_counter() - started,
            inputs=self.dataset,
            rows=rows,
        )
        source = {
            "kind": "clarify",
            "analysis": outputs["analysis"],
            "local_values": outputs.get("local_values"),
            "analysis_config": self.analysis_config,
            "dataset": self.dataset,
            "dataset_type": self.dataset_type,
            "features_attribute": self.features_attribute,
            "pdp_labels": list(pdp_labels),
        }
        report.write(
            clarify_run_report(
                report,
                rows,
                analysis,
                title=f"Clarify analysis of {self._model_name()}",
                summary=summary,
                pdp_labels=pdp_labels,
                source=source,
            )
        )

    def _outputs(self, config: AnalysisConfig) -> dict[str, str]:
        outputs = output_paths(self.output_dir, config)
        if self.baseline_constraints is not None:
            outputs["constraint_violations"] = f"{self.output_dir.rstrip('/')}/{VIOLATIONS_FILE}"
        return outputs

    def _constraints(self) -> AttributionConstraints | None:
        """The baseline constraints, read and checked before any model call (None: no check)."""
        if self.baseline_constraints is None:
            return None
        constraints = AttributionConstraints.read(self.baseline_constraints)
        logger.info("baseline constraints %s", constraints.describe())
        return constraints

    def _reader(self, config: AnalysisConfig, dataset_type: DatasetType, path: str) -> SampleSource:
        return clarify_samples(
            config,
            dataset_type,
            path,
            features_attribute=self.features_attribute,
            batch_size=self.batch_size,
        )

    def _model(self, config: AnalysisConfig, dataset_type: str) -> LoadedModel:
        attribute = (
            self.probability_attribute
            if self.probability_attribute is not None
            else config.predictor_or_default.probability
        )
        if self.endpoint_url is not None:
            return endpoint_model(
                config,
                dataset_type,
                self.endpoint_url,
                attribute,
                headers_from_env=self.headers_from_env,
                **self.requests.model_dump(),
            )
        assert self.model_uri is not None
        return registered_model(self.model_uri, self.tracking_uri, attribute)

    def _model_name(self) -> str:
        return mask_url(self.endpoint_url) if self.endpoint_url else self.model_uri or ""
