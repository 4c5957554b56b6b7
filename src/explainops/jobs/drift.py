"""Attribution drift monitoring: record a baseline of global attributions, then compare windows.

``AttributionBaselineJob`` explains a reference data set and writes a baseline file: Clarify's
analysis.json shape (``explanations.kernel_shap.<label>.{global_shap_values, expected_value}``)
plus, under ``explainops``, everything a later window must be explained with to be comparable:
the explainer config, the background rows and weights actually used, the model and its resolved
version, the features and labels, and a fingerprint of the data.

``AttributionDriftJob`` explains a new window with exactly that configuration and background,
compares its global attributions with the baseline's per label by NDCG (Clarify's definition),
writes ``constraint_violations.json``, appends to a history table, and notifies.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import fsspec
import numpy as np
import pandas as pd
import pydantic

from explainops import __version__
from explainops.core.explainer_settings import ExplainerKind, ExplainerSettings
from explainops.drift import ndcg, rank_changes, ranked_features
from explainops.drift.history import append_history, history_layout
from explainops.errors import ConfigError, DriftError, InputError
from explainops.io.datasets import read_json, write_json
from explainops.io.registries import ModelVersion
from explainops.jobs.attributions import (
    Baseline,
    DatasetAttributions,
    checked_baseline,
    explain_dataset,
    numeric_as_float,
)
from explainops.jobs.base import Locals
from explainops.jobs.model_job import ModelJob
from explainops.jobs.samples import SampleScan
from explainops.services.alerts import Notification

logger = logging.getLogger(__name__)

BASELINE_FORMAT = "explainops.attribution-baseline/1"
METHOD_KEY = "kernel_shap"  # Clarify's key, kept whatever the explainer, so tools read it
_EXPLAINER_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(
    Annotated[ExplainerKind, pydantic.Field(discriminator="KIND")]
)


class AttributionBaselineJob(ModelJob):
    """Explain a reference data set and record its global attributions as a drift baseline.

    Args:
        inputs_samples: reader of the reference data (training data or a trusted window).
        baseline_path: where the baseline JSON file is written (local path or fsspec URI).

    The model, explainer, schema and labels are ``ModelJob``'s fields.

    """

    KIND: Literal["AttributionBaselineJob"] = "AttributionBaselineJob"
    baseline_path: str

    def output_paths(self) -> dict[str, str]:
        """The baseline file."""
        return {"baseline": self.baseline_path}

    def run(self) -> Locals:
        """Resolve, load, explain the reference data, write the baseline, notify."""
        started = time.perf_counter()
        self.check_outputs()
        version = self.resolve_version()
        schema = self.input_schema_of(version)
        model = self.load_model(version)
        logger.info("explain the reference data %s", self.inputs_samples.path)
        with self.engine.session() as engine:
            attributions = explain_dataset(
                self.inputs_samples,
                schema,
                model,
                self.explainer,
                output_names=self.labels,
                map_batches=engine.map,
            )
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
        logger.info("write the baseline to %s", self.baseline_path)
        write_json(self.baseline_path, document)
        self.alerts.notify(
            attributions.notification(
                self.KIND,
                self.model_name(version),
                version.version if version else None,
                time.perf_counter() - started,
                {"baseline": self.baseline_path},
            )
        )
        return locals()


@dataclass(frozen=True)
class AttributionBaseline:
    """A baseline file, read back and checked."""

    path: str
    attributions: dict[str, dict[str, float]]
    features: list[str]
    labels: list[str]
    explainer: ExplainerSettings
    background: pd.DataFrame
    background_weights: np.ndarray
    model: str
    version: int | None

    @classmethod
    def read(cls, path: str) -> AttributionBaseline:
        """Read and check a baseline file; InputError naming what is missing or wrong."""
        document = read_json(path, "baseline file")
        try:
            return cls._parse(path, document)
        except (KeyError, TypeError, ValueError) as error:
            detail = (
                f"missing {error}" if isinstance(error, KeyError) else " ".join(str(error).split())
            )
            raise InputError(
                f"{path}: not an explainops attribution baseline ({detail}); "
                "write one with AttributionBaselineJob"
            ) from error

    @classmethod
    def _parse(cls, path: str, document: dict[str, Any]) -> AttributionBaseline:
        details = document["explainops"]
        if details["format"] != BASELINE_FORMAT:
            raise ValueError(f"format {details['format']!r}, expected {BASELINE_FORMAT!r}")
        explanations = document["explanations"][METHOD_KEY]
        attributions = {
            str(label): {
                str(name): float(value) for name, value in entry["global_shap_values"].items()
            }
            for label, entry in explanations.items()
        }
        features = [str(name) for name in details["features"]]
        for label, values in attributions.items():
            if list(values) != features:
                raise ValueError(f"label {label}: global_shap_values do not list the features")
        background = details["background"]
        return cls(
            path=path,
            attributions=attributions,
            features=features,
            labels=list(attributions),
            explainer=_EXPLAINER_ADAPTER.validate_python(details["explainer"]),
            background=pd.DataFrame(background["rows"], columns=features),
            background_weights=np.asarray(background["weights"], dtype=np.float64),
            model=str(details["model"]["name"]),
            version=details["model"]["version"],
        )


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

    The window is explained with the baseline's explainer config and background rows; setting
    ``explainer`` here is refused. The model fields are ``ModelJob``'s.

    """

    KIND: Literal["AttributionDriftJob"] = "AttributionDriftJob"
    baseline_path: str
    violations_path: str
    history_path: str
    window_id: str | None = None
    threshold: Annotated[float, pydantic.Field(gt=0, le=1)] = 0.90
    top_k: Annotated[int, pydantic.Field(ge=1)] = 5
    allow_model_change: bool = False
    fail_on_violation: bool = False

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
        return self

    def output_paths(self) -> dict[str, str]:
        """The violations file and the history (a file, or a file in the history folder)."""
        history = self.history_path
        if history_layout(history) == "folder":
            history = f"{history.rstrip('/')}/window.parquet"
        return {"violations": self.violations_path, "history": history}

    def check(self) -> list[str]:
        """Check the outputs and the baseline, then what every model job checks."""
        self.check_outputs()
        baseline = AttributionBaseline.read(self.baseline_path)
        self._check_model(baseline, self.resolve_version())
        features = len(baseline.features)
        return [f"baseline: {self.baseline_path} ({features} features)", *super().check()]

    def run(self) -> Locals:
        """Read the baseline, explain the window, compare, write, notify."""
        started = time.perf_counter()
        self.check_outputs()
        window_time = datetime.now(UTC)
        window_id = self.window_id or window_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        logger.info("read the baseline %s", self.baseline_path)
        baseline = AttributionBaseline.read(self.baseline_path)
        version = self.resolve_version()
        self._check_model(baseline, version)
        schema = self.input_schema_of(version)
        model = self.load_model(version)
        logger.info("explain window %s from %s", window_id, self.inputs_samples.path)
        with self.engine.session() as engine:
            attributions = explain_dataset(
                self.inputs_samples,
                schema,
                model,
                baseline.explainer,
                output_names=self.labels or baseline.labels,
                baseline=lambda scan: self._background(baseline, scan),
                map_batches=engine.map,
            )
        checks = compare_with_baseline(baseline, attributions, self.threshold, self.top_k)
        drifted = [check for check in checks if check.drifted]
        for check in checks:
            logger.info(
                "label %s: NDCG %.4f (threshold %.2f): %s",
                check.label,
                check.ndcg,
                self.threshold,
                "DRIFT" if check.drifted else "ok",
            )
        logger.info("write %s (%d violations)", self.violations_path, len(drifted))
        write_json(self.violations_path, violations_document(drifted, self.threshold))
        history = history_rows(
            checks, window_id, window_time, self.model_name(version), version, attributions
        )
        append_history(self.history_path, history, window_id)
        notification = self._notification(
            version, attributions, checks, time.perf_counter() - started
        )
        if drifted and self.fail_on_violation:
            labels = ", ".join(f"{check.label} NDCG {check.ndcg:.3f}" for check in drifted)
            failure = DriftError(
                f"attribution drift in window {window_id}: {labels} < {self.threshold} "
                "(fail_on_violation)"
            )
            # One notification per run: the failure, with the drift's figures.
            notification = dataclasses.replace(notification, status="failed", error=str(failure))
            self.alerts.notify(notification)
            failure.notified = True
            raise failure
        self.alerts.notify(notification)
        return locals()

    def _check_model(self, baseline: AttributionBaseline, version: ModelVersion | None) -> None:
        name = self.model_name(version)
        if name != baseline.model:
            message = f"{baseline.path}: the baseline was made for model {baseline.model!r}, "
            if not self.allow_model_change:
                raise InputError(message + f"not {name!r}; set allow_model_change: true to compare")
            logger.warning("%sexplaining %r (allow_model_change)", message, name)
        elif version is not None and baseline.version not in (None, version.version):
            logger.info(
                "the baseline was made with version %s, explaining version %s",
                baseline.version,
                version.version,
            )

    def _background(self, baseline: AttributionBaseline, scan: SampleScan) -> Baseline:
        if scan.feature_names != baseline.features:
            raise InputError(
                f"{self.inputs_samples.path}: features {scan.feature_names} differ from the "
                f"baseline's {baseline.features} ({baseline.path})"
            )
        frame, _ = checked_baseline(
            baseline.background,
            baseline.features,
            numeric_as_float(scan.reservoir[baseline.features]).dtypes.to_dict(),
            None,
            f"{baseline.path}: background",
        )
        return frame, baseline.background_weights

    def _notification(
        self,
        version: ModelVersion | None,
        attributions: DatasetAttributions,
        checks: list[DriftCheck],
        duration_s: float,
    ) -> Notification:
        drifted = [check.label for check in checks if check.drifted]
        return attributions.notification(
            self.KIND,
            self.model_name(version),
            version.version if version else None,
            duration_s,
            {"violations": self.violations_path, "history": self.history_path},
            {
                "verdict": f"drift in {', '.join(drifted)}" if drifted else "no drift",
                "threshold": self.threshold,
                "ndcg": {check.label: round(check.ndcg, 6) for check in checks},
            },
        )


@dataclass(frozen=True)
class DriftCheck:
    """One label's comparison with the baseline."""

    label: str
    ndcg: float
    drifted: bool
    baseline_top: list[str]
    live_top: list[str]
    moved: list[dict[str, Any]]


def compare_with_baseline(
    baseline: AttributionBaseline,
    attributions: DatasetAttributions,
    threshold: float,
    top_k: int,
) -> list[DriftCheck]:
    """NDCG of every label's live ranking against the baseline's."""
    live = attributions.by_output()
    if sorted(live) != sorted(baseline.labels):
        raise InputError(
            f"{baseline.path}: the baseline's labels {baseline.labels} differ from the model's "
            f"{list(live)}"
        )
    checks = []
    for label in baseline.labels:
        reference, current = baseline.attributions[label], live[label]
        score = ndcg(reference, current)
        moved = [
            {
                "feature": change.feature,
                "baseline_rank": change.baseline_rank,
                "live_rank": change.live_rank,
                "baseline_value": change.baseline_value,
                "live_value": change.live_value,
            }
            for change in rank_changes(reference, current, top_k)
            if change.baseline_rank != change.live_rank
        ]
        checks.append(
            DriftCheck(
                label,
                score,
                score < threshold,
                [name for name, _ in ranked_features(reference, top_k)],
                [name for name, _ in ranked_features(current, top_k)],
                moved,
            )
        )
    return checks


def violations_document(drifted: list[DriftCheck], threshold: float) -> dict[str, Any]:
    """``constraint_violations.json`` in SageMaker Model Monitor's schema, plus details."""
    return {
        "version": "1.0",
        "violations": [
            {
                "label": check.label,
                "metric_name": "shap",
                "constraint_check_type": "feature_attribution_drift_check",
                "description": (
                    f"Feature attribution drift {check.ndcg:.2f} exceeds threshold {threshold}"
                ),
                "ndcg": check.ndcg,
                "threshold": threshold,
                "baseline_top_features": check.baseline_top,
                "live_top_features": check.live_top,
                "features_moved": check.moved,
            }
            for check in drifted
        ],
    }


def history_rows(
    checks: list[DriftCheck],
    window_id: str,
    window_time: datetime,
    model: str,
    version: ModelVersion | None,
    attributions: DatasetAttributions,
) -> pd.DataFrame:
    """One history row per label of this window."""
    return pd.DataFrame(
        {
            "window_id": [window_id] * len(checks),
            "window_time": [window_time.isoformat()] * len(checks),
            "model": [model] * len(checks),
            "model_version": [version.version if version else None] * len(checks),
            "n_samples": [attributions.n_samples] * len(checks),
            "label": [check.label for check in checks],
            "ndcg": [check.ndcg for check in checks],
            "verdict": ["drift" if check.drifted else "ok" for check in checks],
            "baseline_top_features": [", ".join(check.baseline_top) for check in checks],
            "live_top_features": [", ".join(check.live_top) for check in checks],
        }
    ).astype({"model_version": "Int64"})


def baseline_document(
    attributions: DatasetAttributions,
    explainer: ExplainerSettings,
    *,
    model: str,
    version: ModelVersion | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The baseline file: analysis.json's shape plus what a comparable window needs."""
    background = attributions.background
    return {
        "version": "1.0",
        "explanations": {
            METHOD_KEY: {
                label: {"global_shap_values": values, "expected_value": float(expected)}
                for (label, values), expected in zip(
                    attributions.by_output().items(), attributions.expected_values, strict=True
                )
            }
        },
        "explainops": {
            "format": BASELINE_FORMAT,
            "explainops_version": __version__,
            "created_at": datetime.now(UTC).isoformat(),
            "model": {
                "name": model,
                "version": version.version if version else None,
                "alias": version.alias if version else None,
            },
            "explainer": explainer.model_dump(mode="json") | {"baseline": None},
            "explainer_used": attributions.explainer,
            "agg_method": explainer.agg_method,
            "features": list(attributions.feature_names),
            "labels": list(attributions.output_names),
            "background": {
                "rows": background.to_numpy().tolist(),
                "weights": attributions.background_weights.tolist(),
            },
            "data": data,
            "max_additivity_error": attributions.max_additivity_error,
        },
    }


def file_fingerprint(path: str) -> str:
    """``sha256:<hex>`` of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with fsspec.open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"
