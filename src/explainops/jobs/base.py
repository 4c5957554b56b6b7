"""The base of every job: a configured unit of work that notifies how it ended."""

from __future__ import annotations

import abc
import logging
from types import TracebackType
from typing import Annotated, Any

import pydantic

from explainops.core.component import Component
from explainops.services.alerts import AlerterKind, LogAlerter, Notification

logger = logging.getLogger(__name__)

Locals = dict[str, Any]


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
        if error is not None and not isinstance(error, KeyboardInterrupt):
            self.alerts.notify(Notification(job=self.KIND, status="failed", error=str(error)))
        logger.info("end %s%s", self.KIND, " (failed)" if error else "")

    @abc.abstractmethod
    def run(self) -> Locals:
        """Do the work; return the local variables for tests and notebooks."""
