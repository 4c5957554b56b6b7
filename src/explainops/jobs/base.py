"""The base of every job: a configured unit of work that notifies how it ended."""

from __future__ import annotations

import abc
import logging
import os
from dataclasses import dataclass
from types import TracebackType
from typing import Annotated, Any

import pydantic

from explainops.core.component import Component
from explainops.core.pipeline import DatasetAttributions
from explainops.io.datasets import check_output_path
from explainops.services.alerts import AlerterKind, LogAlerter, Notification

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobResult:
    """What a finished job returns: where its outputs are and what it notified.

    Attributes:
        job: the job's KIND.
        outputs: every file written, by name.
        notification: the completion notification (its figures, as sent to ``alerts``).
        attributions: the global attributions the job computed (None: it computed none, as
            a Clarify analysis of partial dependence only).

    """

    job: str
    outputs: dict[str, str]
    notification: Notification
    attributions: DatasetAttributions | None

    @property
    def metrics(self) -> dict[str, Any]:
        """The notification's key figures: samples, duration, additivity, top features, ..."""
        notification = self.notification
        return {
            "n_samples": notification.n_samples,
            "duration_s": notification.duration_s,
            "max_additivity_error": notification.max_additivity_error,
            "top_features": notification.top_features,
            **notification.metrics,
        }


def check_distinct_outputs(paths: dict[str, str]) -> None:
    """Raise ValueError when two outputs are one file: the one published last would win."""
    seen: dict[str, str] = {}
    for name, path in paths.items():
        local = "://" not in path or path.startswith("file://")
        key = os.path.abspath(path.removeprefix("file://")) if local else path
        if key in seen:
            raise ValueError(
                f"{seen[key]} and {name} are the same file {path!r}: give each output a path of "
                "its own"
            )
        seen[key] = name


class Job(Component, abc.ABC):
    """A job: use it as a context manager, then call ``run()``.

    Leaving the context with an error notifies the failure through ``alerts``.
    """

    KIND: str
    alerts: Annotated[AlerterKind, pydantic.Field(discriminator="KIND")] = LogAlerter()

    def __enter__(self) -> Job:
        logger.info("start %s", self.KIND)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        # A job that notified its own failure (with its metrics) marks the error as notified.
        if (
            error is not None
            and not isinstance(error, KeyboardInterrupt)
            and not getattr(error, "notified", False)
        ):
            self.alerts.notify(Notification(job=self.KIND, status="failed", error=str(error)))
        logger.info("end %s%s", self.KIND, " (failed)" if error else "")

    def output_paths(self) -> dict[str, str]:
        """Every file the job writes, by name (checked before any work starts)."""
        return {}

    def check_outputs(self, paths: dict[str, str] | None = None) -> list[str]:
        """Raise WriteError unless every output path can be written; writes nothing."""
        paths = self.output_paths() if paths is None else paths
        for path in paths.values():
            check_output_path(path)
        return [f"output {name} can be written: {path}" for name, path in paths.items()]

    def check(self) -> list[str]:
        """Check what can be checked without doing the work; return what was checked.

        Raises the error the run would raise for the first problem found.
        """
        return self.check_outputs()

    @abc.abstractmethod
    def run(self) -> JobResult:
        """Do the work; return where the outputs are and what was notified."""


def success_notification(
    job: str,
    attributions: DatasetAttributions,
    *,
    model: str | None,
    version: int | None,
    duration_s: float,
    outputs: dict[str, str],
    metrics: dict[str, Any] | None = None,
) -> Notification:
    """The notification of a job that explained a data set: key figures and outputs."""
    return Notification(
        job=job,
        status="succeeded",
        model=model,
        version=version,
        n_samples=attributions.n_samples,
        duration_s=duration_s,
        top_features=attributions.top_features(),
        max_additivity_error=attributions.max_additivity_error,
        outputs=outputs,
        metrics=metrics or {},
    )


def notification_metrics(notification: Notification) -> dict[str, float]:
    """A notification's figures as numbers by name (an MLflow run's metrics).

    Nested figures are flattened (``ndcg.class_0``); top features become ``top.<label>.<name>``.
    """
    metrics: dict[str, float] = {}
    for name in ("n_samples", "duration_s", "max_additivity_error"):
        value = getattr(notification, name)
        if isinstance(value, int | float):
            metrics[name] = float(value)
    for output, feature, value in notification.top_features or []:
        metrics[f"top.{output}.{feature}"] = float(value)

    def flatten(prefix: str, value: Any) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, int | float):
            metrics[prefix] = float(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                flatten(f"{prefix}.{key}", item)

    for name, value in notification.metrics.items():
        flatten(name, value)
    return metrics
