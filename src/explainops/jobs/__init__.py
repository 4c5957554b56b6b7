"""Jobs: configured units of work, selected in YAML by their KIND."""

from explainops.core.component import Component
from explainops.jobs.base import Job, Locals
from explainops.jobs.explanations import ExplanationsJob

JobKind = ExplanationsJob


class JobConfig(Component):
    """A configuration file's top level: the job under ``job:``."""

    job: JobKind


__all__ = ["ExplanationsJob", "Job", "JobConfig", "JobKind", "Locals"]
