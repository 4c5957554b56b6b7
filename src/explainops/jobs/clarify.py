"""ClarifyJob: run a SageMaker Clarify explainability analysis config, unchanged, anywhere.

Reads the data set the way Clarify does (CSV with or without a header row, JSON Lines with a
``features`` JMESPath, Parquet), explains the model in process (an MLflow model URI) or behind an
HTTP endpoint with Kernel SHAP, and writes Clarify's output layout: ``analysis.json`` with
``explanations.kernel_shap.<label>.{global_shap_values, expected_value}``, plus the local values
in ``explanations_shap/out.csv`` when ``save_local_shap_values`` is set.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

import fsspec
import jmespath
import numpy as np
import pandas as pd
import pydantic

from explainops import __version__
from explainops.clarify.analysis_config import AnalysisConfig, DatasetType, load_analysis_config
from explainops.core.component import validation_message
from explainops.core.explainer_settings import KernelExplainerSettings
from explainops.core.model import LoadedModel
from explainops.core.redaction import mask_url
from explainops.engines import EngineKind, LocalEngine
from explainops.errors import ConfigError, InputError
from explainops.explainers import Explanation
from explainops.explainers.inputs import default_output_names
from explainops.io.datasets import (
    CsvReader,
    CsvWriter,
    JsonLinesReader,
    ParquetReader,
    Reader,
    write_json,
)
from explainops.io.endpoints import EndpointLoader
from explainops.io.registries import (
    default_tracking_uri,
    load_pyfunc,
    registered_version,
)
from explainops.jobs.attributions import (
    Baseline,
    DatasetAttributions,
    checked_baseline,
    explain_dataset,
    numeric_as_float,
    resolve_baseline,
)
from explainops.jobs.base import Job, Locals
from explainops.jobs.samples import SampleScan, first_batch

logger = logging.getLogger(__name__)

ANALYSIS_FILE = "analysis.json"
LOCAL_VALUES_FILE = "explanations_shap/out.csv"
DEFAULT_SEED = 0


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
        endpoint_batch_size: rows per endpoint request.
        max_concurrency: endpoint requests in flight.
        timeout_s: endpoint response timeout.
        max_retries: endpoint retries on 5xx, 429 and timeouts.
        batch_size: rows explained per batch.
        engine: where batches are explained: ``LocalEngine`` or ``DaskEngine``.

    """

    KIND: Literal["ClarifyJob"] = "ClarifyJob"
    analysis_config: str
    dataset: str
    output_dir: str
    model_uri: str | None = None
    endpoint_url: str | None = None
    tracking_uri: str = pydantic.Field(default_factory=default_tracking_uri)
    dataset_type: DatasetType | None = None
    features_attribute: str | None = None
    probability_attribute: int | str | None = None
    headers_from_env: dict[str, str] = pydantic.Field(default_factory=dict)
    endpoint_batch_size: Annotated[int, pydantic.Field(ge=1)] = 1000
    max_concurrency: Annotated[int, pydantic.Field(ge=1)] = 4
    timeout_s: Annotated[float, pydantic.Field(gt=0)] = 30.0
    max_retries: Annotated[int, pydantic.Field(ge=0)] = 3
    batch_size: Annotated[int, pydantic.Field(ge=1)] = 10_000
    engine: Annotated[EngineKind, pydantic.Field(discriminator="KIND")] = LocalEngine()

    @pydantic.model_validator(mode="after")
    def _check_model(self) -> ClarifyJob:
        if (self.model_uri is None) == (self.endpoint_url is None):
            raise ValueError("give exactly one of model_uri and endpoint_url")
        return self

    def output_paths(self) -> dict[str, str]:
        """analysis.json and, when the config saves them, the local values."""
        return self._output_paths(load_analysis_config(self.analysis_config))

    def _output_paths(self, config: AnalysisConfig) -> dict[str, str]:
        output_dir = self.output_dir.rstrip("/")
        paths = {"analysis": f"{output_dir}/{ANALYSIS_FILE}"}
        if config.shap.save_local_shap_values:
            paths["local_values"] = f"{output_dir}/{LOCAL_VALUES_FILE}"
        return paths

    def check(self) -> list[str]:
        """Read the config and the data set's first batch, load the model, check the outputs."""
        config = load_analysis_config(self.analysis_config)
        dataset_type = self._dataset_type(config)
        batch = first_batch(self._reader(config, dataset_type, self.dataset), None)
        self._model(config, dataset_type)
        return [
            f"analysis config: {self.analysis_config}",
            f"dataset: {self.dataset} ({dataset_type}): first {len(batch)} row(s) read",
            f"model: {self._model_name()}"
            + (" (not called by validate)" if self.endpoint_url else " (loaded)"),
            *self.check_outputs(self._output_paths(config)),
        ]

    def run(self) -> Locals:
        """Read the config, load the model, explain the data set, write analysis.json."""
        started = time.perf_counter()
        logger.info("read analysis config %s", self.analysis_config)
        config = load_analysis_config(self.analysis_config)
        self.check_outputs(self._output_paths(config))
        shap = config.shap
        dataset_type = self._dataset_type(config)
        reader = self._reader(config, dataset_type, self.dataset)
        logger.info("dataset %s (%s)", self.dataset, dataset_type)
        model = self._model(config, dataset_type)
        seed = shap.seed if shap.seed is not None else DEFAULT_SEED
        settings = KernelExplainerSettings(
            num_samples=shap.num_samples,
            agg_method=shap.agg_method,
            use_logit=shap.use_logit,
            seed=seed,
            num_clusters=shap.num_clusters,
        )
        label_headers = config.predictor_or_default.label_headers
        output_dir = self.output_dir.rstrip("/")
        local_values = CsvWriter(path=f"{output_dir}/{LOCAL_VALUES_FILE}")
        with (
            self._local_values_sink(local_values, shap.save_local_shap_values) as write_local,
            self.engine.session() as engine,
        ):
            attributions = explain_dataset(
                reader,
                None,
                self._labelled(model, label_headers),
                settings,
                baseline=lambda scan: self._baseline(config, dataset_type, settings, scan),
                on_batch=write_local,
                map_batches=engine.map,
            )
            analysis = analysis_document(attributions, config, seed, self._model_name())
            logger.info("write %s/%s", output_dir, ANALYSIS_FILE)
            write_json(f"{output_dir}/{ANALYSIS_FILE}", analysis)
        duration_s = time.perf_counter() - started
        self.alerts.notify(
            attributions.notification(
                self.KIND,
                self._model_name(),
                None,
                duration_s,
                {"analysis": f"{output_dir}/{ANALYSIS_FILE}"},
            )
        )
        return locals()

    # --- data ------------------------------------------------------------------------------

    def _dataset_type(self, config: AnalysisConfig) -> DatasetType:
        chosen = self.dataset_type or config.dataset_type
        if chosen is not None:
            return chosen
        lowered = self.dataset.lower()
        if lowered.endswith((".parquet", ".pq")):
            return "application/x-parquet"
        if lowered.endswith((".jsonl", ".jsonlines", ".json")):
            return "application/jsonlines"
        return "text/csv"

    def _reader(self, config: AnalysisConfig, dataset_type: DatasetType, path: str) -> Reader:
        if dataset_type == "application/jsonlines":
            features = self.features_attribute or config.features
            if features is None:
                raise ConfigError(
                    "JSON Lines data sets need the features' JMESPath: set 'features' in the "
                    "analysis config or pass --features-attribute"
                )
            return JsonLinesReader(
                path=path, features=features, headers=config.headers, batch_size=self.batch_size
            )
        if dataset_type == "application/x-parquet":
            return ParquetReader(path=path, batch_size=self.batch_size)
        return CsvReader(
            path=path, headers=csv_column_names(path, config.headers), batch_size=self.batch_size
        )

    def _baseline(
        self,
        config: AnalysisConfig,
        dataset_type: DatasetType,
        settings: KernelExplainerSettings,
        scan: SampleScan,
    ) -> Baseline:
        features = scan.feature_names
        dtypes = numeric_as_float(scan.reservoir[features]).dtypes.to_dict()
        baseline = config.shap.baseline
        where = "methods.shap.baseline"
        if baseline is None:
            return resolve_baseline(settings, scan, None)
        if isinstance(baseline, str):
            frame = self._reader(config, dataset_type, baseline).read()
        else:
            frame = baseline_frame(baseline, features, self.features_attribute or config.features)
        return checked_baseline(frame, features, dtypes, None, where)

    # --- model -----------------------------------------------------------------------------

    def _model(self, config: AnalysisConfig, dataset_type: DatasetType) -> LoadedModel:
        predictor = config.predictor_or_default
        attribute = (
            self.probability_attribute
            if self.probability_attribute is not None
            else predictor.probability
        )
        if self.endpoint_url is not None:
            content_type = predictor.content_type or dataset_type
            logger.info("load endpoint %s (%s)", self._model_name(), content_type)
            options: dict[str, Any] = {}
            if predictor.content_template is not None:
                options["content_template"] = predictor.content_template
            try:
                loader = EndpointLoader(
                    url=self.endpoint_url,
                    content_type=content_type,
                    accept_type=predictor.accept_type,
                    probability_attribute=attribute,
                    label_headers=None,
                    headers_from_env=self.headers_from_env,
                    batch_size=self.endpoint_batch_size,
                    max_concurrency=self.max_concurrency,
                    timeout_s=self.timeout_s,
                    max_retries=self.max_retries,
                    **options,
                )
            except pydantic.ValidationError as error:
                raise ConfigError(f"predictor: {validation_message(error)}") from error
            return loader.load(None)
        assert self.model_uri is not None
        version = registered_version(self.model_uri, self.tracking_uri)
        model_uri = version.uri if version else self.model_uri
        logger.info("load %s", model_uri)
        return select_output(load_pyfunc(model_uri, version), attribute, self.model_uri)

    def _labelled(self, model: LoadedModel, label_headers: list[str] | None) -> LoadedModel:
        def names(preview: pd.DataFrame) -> tuple[str, ...]:
            return label_names(label_headers, model.predict(preview.head(2)).shape[1])

        return LoadedModel(model.predict, names, model.native, model.version)

    def _model_name(self) -> str:
        return mask_url(self.endpoint_url) if self.endpoint_url else self.model_uri or ""

    # --- outputs ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _local_values_sink(
        self, writer: CsvWriter, enabled: bool
    ) -> Iterator[Callable[[Explanation, list[Any]], None] | None]:
        if not enabled:
            yield None
            return
        logger.info("write local SHAP values to %s", writer.path)
        with writer.open() as sink:
            yield lambda explanation, ids: sink.write(local_values_table(explanation))


def csv_column_names(path: str, headers: list[str] | None) -> list[str] | None:
    """Column names to give a CSV data set, or None when its first row is a header row.

    A first row equal to ``headers``, or with any non-numeric field, is a header row.
    """
    try:
        with fsspec.open(path, "rt", encoding="utf-8") as handle:
            first = handle.readline()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read: {error}") from error
    fields = [field.strip().strip('"') for field in first.strip().split(",")]
    if not first.strip():
        raise InputError(f"{path}: empty data set")
    if headers is not None and fields == headers:
        return None
    numeric = all(_is_number(field) for field in fields)
    if not numeric:
        if headers is not None:
            raise InputError(
                f"{path}: the first row {fields} looks like a header row but differs from the "
                f"analysis config's headers {headers}"
            )
        return None
    if headers is None:
        return [f"column_{index}" for index in range(len(fields))]
    if len(headers) != len(fields):
        raise InputError(
            f"{path}: rows have {len(fields)} columns, the analysis config's headers name "
            f"{len(headers)} ({', '.join(headers)})"
        )
    return headers


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def baseline_frame(rows: list[Any], features: list[str], features_path: str | None) -> pd.DataFrame:
    """Baseline rows given in the data set's format: lists of values or JSON Lines records."""
    path = jmespath.compile(features_path) if features_path else None
    values: list[Any] = []
    for number, row in enumerate(rows, start=1):
        if isinstance(row, dict) and path is not None:
            row = path.search(row)
        if isinstance(row, dict):
            values.append([row.get(feature) for feature in features])
            continue
        if not isinstance(row, list) or len(row) != len(features):
            raise InputError(
                f"methods.shap.baseline: row {number} is {json.dumps(row)[:80]}, expected "
                f"{len(features)} values ({', '.join(features)})"
            )
        values.append(row)
    return pd.DataFrame(values, columns=features)


def select_output(model: LoadedModel, attribute: int | str | None, uri: str) -> LoadedModel:
    """Explain only the output column ``attribute`` (index or name) of an in-process model."""
    if attribute is None:
        return model

    def column(outputs: np.ndarray, names: tuple[str, ...] | None) -> int:
        if isinstance(attribute, int):
            index = attribute
        elif names is not None and attribute in names:
            index = names.index(attribute)
        else:
            raise ConfigError(
                f"{uri}: probability attribute {attribute!r} is not an output; "
                f"outputs: {list(names) if names else outputs.shape[1]}"
            )
        if not 0 <= index < outputs.shape[1]:
            raise ConfigError(
                f"{uri}: probability attribute {attribute} is out of range: the model has "
                f"{outputs.shape[1]} outputs"
            )
        return index

    chosen: list[int] = []

    def predict(frame: pd.DataFrame) -> np.ndarray:
        outputs = model.predict(frame)
        if not chosen:
            chosen.append(column(outputs, model.output_names(frame.head(2))))
        return outputs[:, chosen[0] : chosen[0] + 1]

    return LoadedModel(predict, lambda frame: None, None, model.version)


def label_names(label_headers: list[str] | None, n_outputs: int) -> tuple[str, ...]:
    """Names of the explained outputs: ``label_headers`` when they fit, else label0, label1, ..."""
    if label_headers is None:
        return default_output_names(n_outputs)
    if len(label_headers) == n_outputs:
        return tuple(label_headers)
    if n_outputs == 1 and len(label_headers) == 2:
        # One score for a binary label: the probability of the positive (second) label.
        return (label_headers[1],)
    raise ConfigError(
        f"predictor.label_headers names {len(label_headers)} labels {label_headers} but the "
        f"model returns {n_outputs} score(s)"
    )


def local_values_table(explanation: Explanation) -> pd.DataFrame:
    """Clarify's local values: one row a sample, columns ``<feature>_<label>``, label by label."""
    n_samples, n_outputs, n_features = explanation.values.shape
    columns = [
        f"{feature}_{label}"
        for label in explanation.output_names
        for feature in explanation.feature_names
    ]
    return pd.DataFrame(
        explanation.values.reshape(n_samples, n_outputs * n_features), columns=columns
    )


def analysis_document(
    attributions: DatasetAttributions, config: AnalysisConfig, seed: int, model: str
) -> dict[str, Any]:
    """Clarify's analysis.json content, with explainops' run details under ``explainops``."""
    kernel_shap = {
        label: {
            "global_shap_values": values,
            "expected_value": float(expected),
        }
        for (label, values), expected in zip(
            attributions.by_output().items(), attributions.expected_values, strict=True
        )
    }
    return {
        "version": config.version or "1.0",
        "explanations": {"kernel_shap": kernel_shap},
        "explainops": {
            "version": __version__,
            "model": model,
            "explainer": attributions.explainer,
            "agg_method": config.shap.agg_method,
            "num_samples": config.shap.num_samples,
            "use_logit": config.shap.use_logit,
            "seed": seed,
            "n_samples": attributions.n_samples,
            "max_additivity_error": attributions.max_additivity_error,
        },
    }
