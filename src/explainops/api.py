"""Run a job from Python, as ``explainops run`` does from the shell."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from explainops.config import load_raw_config, resolve_config, resolve_relative_paths
from explainops.core.component import validate_model
from explainops.jobs import JobConfig, JobResult


def run(
    config: str | Path | Sequence[str | Path] | Mapping[str, Any],
    overrides: Sequence[str] = (),
) -> JobResult:
    """Validate and run a job; return where its outputs are and what it notified.

    Parameters
    ----------
    config
        A YAML or JSON file, several (merged in order), or the configuration as a mapping
        (``{"job": {"KIND": "ExplanationsJob", ...}}``; relative paths in it are taken from
        the working directory).
    overrides
        ``dotted.key=value`` overrides, as ``--set`` gives them.

    Returns
    -------
    JobResult
        ``outputs`` (every file written, by name), ``notification`` and ``metrics`` (the
        figures notified: samples, duration, additivity, top features, NDCG for drift) and
        ``attributions`` (the global attributions).

    Raises
    ------
    explainops.errors.ConfigError
        The configuration is invalid (``explainops run`` exits 2).
    explainops.errors.ExplainOpsError
        The job failed (``explainops run`` exits 1); the failure was notified.

    Examples
    --------
    After ``make demo``:

    >>> import explainops
    >>> result = explainops.run("confs/explanations.yaml", ["job.inputs_samples.limit=20"])
    ... # doctest: +SKIP
    >>> result.metrics["n_samples"]  # doctest: +SKIP
    20

    """
    if isinstance(config, Mapping):
        raw = resolve_config(resolve_relative_paths(dict(config), Path.cwd()), overrides)
    else:
        paths = [config] if isinstance(config, str | Path) else list(config)
        raw = load_raw_config(paths, overrides)
    job = validate_model(JobConfig, raw).job
    with job:
        return job.run()
