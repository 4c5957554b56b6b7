"""Tell people a job finished or failed: in the log, through a webhook, or on the desktop.

A failed notification is logged and never undoes the job's outputs.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pydantic
import requests

from explainops.core.component import Component
from explainops.core.redaction import mask_url, redact, register_secret

logger = logging.getLogger(__name__)


class NotificationError(Exception):
    """A notification could not be delivered."""


@dataclass(frozen=True)
class Notification:
    """What a job reports when it ends: verdict, key metrics and where the outputs are."""

    job: str
    status: Literal["succeeded", "failed"]
    model: str | None = None
    version: int | None = None
    n_samples: int | None = None
    duration_s: float | None = None
    top_features: list[tuple[str, str, float]] = field(default_factory=list)
    max_additivity_error: float | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def title(self) -> str:
        """A one-line summary."""
        version = f" v{self.version}" if self.version is not None else ""
        model = f" for {self.model}{version}" if self.model else ""
        verdict = f": {self.metrics['verdict']}" if "verdict" in self.metrics else ""
        return f"explainops {self.job} {self.status}{model}{verdict}"

    def text(self, *, with_error: bool = True) -> str:
        """A human-readable message (Slack-compatible plain text)."""
        lines = [self.title]
        if self.error and with_error:
            lines.append(f"error: {self.error}")
        if self.n_samples is not None:
            lines.append(f"samples: {self.n_samples}")
        if self.duration_s is not None:
            lines.append(f"duration: {self.duration_s:.1f}s")
        if self.max_additivity_error is not None:
            lines.append(f"max additivity error: {self.max_additivity_error:.2e}")
        for name, value in self.metrics.items():
            if name != "verdict":
                lines.append(f"{name}: {value}")
        if self.top_features:
            lines.append("top features:")
            lines.extend(
                f"  {label} / {feature}: {importance:.4g}"
                for label, feature, importance in self.top_features
            )
        lines.extend(f"{name}: {location}" for name, location in self.outputs.items())
        return "\n".join(lines)

    def redacted(self) -> Notification:
        """A copy with registered secrets masked in its texts."""
        return dataclasses.replace(
            self,
            model=redact(self.model) if self.model else self.model,
            outputs={name: redact(location) for name, location in self.outputs.items()},
            error=redact(self.error) if self.error else self.error,
        )

    def payload(self) -> dict[str, Any]:
        """A JSON body: Slack's ``text`` plus every field for machines."""
        return {
            "text": self.text(),
            "job": self.job,
            "status": self.status,
            "model": self.model,
            "version": self.version,
            "n_samples": self.n_samples,
            "duration_s": self.duration_s,
            "top_features": [
                {"label": label, "feature": feature, "importance": importance}
                for label, feature, importance in self.top_features
            ],
            "max_additivity_error": self.max_additivity_error,
            "outputs": self.outputs,
            "metrics": self.metrics,
            "error": self.error,
        }


class Alerter(Component, abc.ABC):
    """Delivers notifications."""

    KIND: str

    def notify(self, notification: Notification) -> bool:
        """Deliver ``notification``; log a failure, never raise. Return whether it went out."""
        try:
            self._send(notification.redacted())
        except NotificationError as error:
            logger.error("notification failed: %s (the job's outputs are unaffected)", error)
            return False
        return True

    @abc.abstractmethod
    def _send(self, notification: Notification) -> None: ...


class LogAlerter(Alerter):
    """Writes the notification to the log."""

    KIND: Literal["LogAlerter"] = "LogAlerter"

    def _send(self, notification: Notification) -> None:
        # A failure's error is printed once, by whoever handles it (the CLI's ``error:`` line).
        if notification.status == "succeeded":
            logger.info("%s", notification.text())
        else:
            logger.error("%s", notification.text(with_error=False))


class WebhookAlerter(Alerter):
    """POSTs a JSON body with a Slack-compatible ``text`` to a webhook.

    Args:
        url: the webhook URL; or leave it unset and name an environment variable in ``url_env``
            (URLs of webhooks are secrets).
        timeout_s: per-attempt timeout.
        max_retries: retries after the first attempt, on connection errors, 5xx and 429.
        backoff_s: first wait between attempts, doubled each retry.

    """

    KIND: Literal["WebhookAlerter"] = "WebhookAlerter"
    url: str | None = None
    url_env: str = "EXPLAINOPS_WEBHOOK_URL"
    timeout_s: Annotated[float, pydantic.Field(gt=0)] = 10.0
    max_retries: Annotated[int, pydantic.Field(ge=0)] = 3
    backoff_s: Annotated[float, pydantic.Field(ge=0)] = 0.5

    @pydantic.field_validator("url")
    @classmethod
    def _url_is_a_secret(cls, url: str | None) -> str | None:
        """A webhook's URL is its credential, written in the config or not: mask it from now on."""
        if url:
            register_secret(url)
        return url

    def _send(self, notification: Notification) -> None:
        url = self.url or os.environ.get(self.url_env)
        if not url:
            raise NotificationError(f"WebhookAlerter has no url and ${self.url_env} is not set")
        register_secret(url)  # a webhook's URL is its credential
        shown = mask_url(url, hide_path=True)
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = requests.post(url, json=notification.payload(), timeout=self.timeout_s)
            except requests.RequestException as error:
                problem = f"POST {shown}: {type(error).__name__}"
                continue
            if response.status_code < 300:
                return
            problem = f"POST {shown}: HTTP {response.status_code}"
            if response.status_code != 429 and response.status_code < 500:
                break
        raise NotificationError(f"{problem} after {attempt + 1} attempt(s)")


class DesktopAlerter(Alerter):
    """A desktop notification through plyer (``pip install explainops[desktop]``)."""

    KIND: Literal["DesktopAlerter"] = "DesktopAlerter"
    timeout_s: Annotated[int, pydantic.Field(ge=1)] = 10

    def _send(self, notification: Notification) -> None:
        try:
            from plyer import notification as desktop  # type: ignore[import-not-found,unused-ignore]
        except ImportError as error:
            raise NotificationError(
                "DesktopAlerter needs plyer: pip install 'explainops[desktop]'"
            ) from error
        try:
            desktop.notify(
                title=notification.title, message=notification.text()[:256], timeout=self.timeout_s
            )
        except Exception as error:  # plyer raises platform-specific errors
            raise NotificationError(f"desktop notification failed: {error}") from error


AlerterKind = LogAlerter | WebhookAlerter | DesktopAlerter
