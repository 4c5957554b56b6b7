"""One error type per boundary; each message says what failed, where, and what was expected."""


class ExplainOpsError(Exception):
    """Base class of every error explainops raises on purpose.

    ``notified`` is set by a job that already sent the failure's notification itself.
    """

    notified: bool = False


class ConfigError(ExplainOpsError):
    """A configuration file or value is invalid."""


class InputError(ExplainOpsError):
    """Input data (samples, baseline) is missing, malformed or violates its schema."""


class ModelLoadError(ExplainOpsError):
    """A model could not be found or loaded from the registry."""


class ExplainerError(ExplainOpsError):
    """An explainer cannot explain the given model or data as configured."""


class EndpointError(ExplainOpsError):
    """A model served over HTTP failed or answered something unusable."""


class WriteError(ExplainOpsError):
    """An output could not be written."""


class DriftError(ExplainOpsError):
    """Attribution drift was found and the job was told to fail on it."""
