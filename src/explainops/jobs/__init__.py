"""Jobs: configured units of work, selected in YAML by their KIND."""

from typing import Annotated

import pydantic

from explainops.core.component import Component
from explainops.jobs.attribution_baseline import AttributionBaselineJob
from explainops.jobs.attribution_drift import AttributionDriftJob
from explainops.jobs.base import Job, JobResult
from explainops.jobs.clarify import ClarifyJob
from explainops.jobs.explanations import ExplanationsJob

JobKind = ExplanationsJob | AttributionBaselineJob | AttributionDriftJob | ClarifyJob


class JobConfig(Component):
    """A configuration file's top level: the job under ``job:``."""

    job: Annotated[JobKind, pydantic.Field(discriminator="KIND")]


__all__ = [
    "AttributionBaselineJob",
    "AttributionDriftJob",
    "ClarifyJob",
    "ExplanationsJob",
    "Job",
    "JobConfig",
    "JobKind",
    "JobResult",
]
