"""A finished job as an MLflow run, so that its outputs show in the MLflow UI beside the model.

The run holds the job's outputs as artifacts, its key figures as metrics and its settings as
params, and is tagged with the model it explained. It is linked to the model both ways: the
model version gets a tag naming the run (``explainops.explanations_run_id`` for an
``ExplanationsJob``), and when the version was logged as an MLflow 3 LoggedModel the run takes
that model as an input and its metrics are logged against the model's id, as ``mlflow.evaluate``
does, so they appear on the model's page too. Everything goes through MLflow's client: the
tracking server (or store) decides where artifacts are kept. The client is opened as a lookup
opens it (:func:`~explainops.io.registries.open_client`): the store must exist, and it becomes
MLflow's current registry.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from urllib.request import url2pathname

from explainops.core.redaction import mask_url
from explainops.errors import ModelLoadError, WriteError
from explainops.io.registries import failure_reason, open_client
from explainops.io.storage import protocol_of

logger = logging.getLogger(__name__)

TAG_PREFIX = "explainops."
# MLflow's limit on metric, param and tag keys in every store.
MAX_KEY_LENGTH = 250
# What MLflow accepts in a key, less the colon it refuses on Windows.
_UNSAFE_KEY_CHARACTERS = re.compile(r"[^\w\-. /]")
# ``models:/<model_id>``: the source of a version registered from an MLflow 3 LoggedModel.
_LOGGED_MODEL_SOURCE = re.compile(r"models:/(?P<model_id>[^/@]+)/?")
_CAMEL_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

Value = TypeVar("Value")


@dataclass(frozen=True)
class LoggedRun:
    """Where a job's run was logged.

    ``model_id`` is the LoggedModel its metrics are linked to; None when the job explained no
    registered version, or one without a LoggedModel (registered before MLflow 3, or elsewhere).
    """

    run_id: str
    experiment_id: str
    artifact_uri: str
    model_id: str | None = None


def log_job_run(
    tracking_uri: str,
    registry_uri: str | None,
    *,
    experiment: str,
    run_name: str,
    job: str,
    model_name: str | None,
    model_version: int | None,
    artifacts: Mapping[str, str],
    metrics: Mapping[str, float],
    params: Mapping[str, str] | None = None,
    artifact_location: str | None = None,
) -> LoggedRun:
    """Log a finished job as a FINISHED run of ``experiment`` and link it to the model version.

    Args:
        tracking_uri: the MLflow tracking URI; its store must exist (it is never created here).
        registry_uri: the registry URI, None for the tracking URI's.
        experiment: experiment name, created when missing (a deleted one is refused).
        run_name: the run's name in the UI, e.g. ``ExplanationsJob wine v3``.
        job: the job's KIND (``ExplanationsJob``), tagged ``explainops.job``.
        model_name: the registered model explained, None when there is none (an endpoint).
        model_version: its version; with ``model_name``, tagged ``explainops.model_version``
            and given the tag ``explainops.<job>_run_id`` (``explanations_run_id``) naming the run.
        artifacts: output name -> local file or folder, logged under the artifact folder
            ``name``. Outputs that are not local (``s3://...``) are not copied: a warning says
            so and the tag ``explainops.output.<name>`` records where they are.
        metrics: key figures; non-finite values are dropped (with a warning), and names are
            made MLflow keys by :func:`mlflow_key`. They are also logged against the version's
            LoggedModel when it has one.
        params: the job's settings, keys made MLflow keys likewise.
        artifact_location: where a newly created experiment keeps its artifacts (default: the
            tracking server's choice, ``./mlruns/<id>`` for a local store).

    Returns:
        The run's id, its experiment's id, its artifact URI and the linked LoggedModel's id.

    Raises:
        ModelLoadError: the registry does not exist or has no such model version (no run is
            created).
        WriteError: an output name or key is unusable (no run is created), or logging failed:
            the run is then marked FAILED; the message is one line naming the tracking URI
            with its credentials masked.

    """
    where = mask_url(tracking_uri)
    metric_values = _finite_metrics(metrics)
    param_values = _unique_keys(params or {}, "param")
    outputs = {_artifact_folder(name): path for name, path in artifacts.items()}
    if model_version is not None and model_name is None:
        raise WriteError(f"{job}: model version {model_version} given without a model name")

    with _tracking_errors(f"cannot log the {job} run {run_name!r} to MLflow at {where}"):
        client = open_client(tracking_uri, registry_uri)
        version = _model_version(client, model_name, model_version, registry_uri or tracking_uri)
        model_id = _logged_model_id(client, version)
        experiment_id = _experiment_id(client, experiment, artifact_location)
        run = client.create_run(
            experiment_id, run_name=run_name, tags=_run_tags(job, model_name, model_version)
        )
    run_id = str(run.info.run_id)
    with _terminated_on_failure(client, run_id, f"{job} run {run_name!r} ({run_id}) at {where}"):
        if model_id is not None:
            from mlflow.entities import LoggedModelInput

            client.log_inputs(run_id, models=[LoggedModelInput(model_id)])
        _log_values(client, run_id, metric_values, param_values, model_id)
        for name, path in outputs.items():
            _log_output(client, run_id, name, path)
        if version is not None:
            client.set_model_version_tag(
                version.name, str(version.version), version_tag_key(job), run_id
            )
        client.set_terminated(run_id, "FINISHED")
    logger.info(
        "logged the %s run %s in experiment %r at %s%s",
        job,
        run_id,
        experiment,
        where,
        f", its metrics linked to the model {model_id}" if model_id else "",
    )
    return LoggedRun(run_id, experiment_id, str(run.info.artifact_uri), model_id)


def mlflow_key(name: str) -> str:
    """``name`` as a metric, param or tag key every MLflow store accepts.

    Characters other than letters, digits, ``_ - . /`` and spaces become ``_``; empty, ``.``
    and ``..`` path segments are dropped (MLflow refuses keys that read as other paths), and
    the key is cut at MLflow's 250 characters.

    Examples:
        >>> mlflow_key("mean |SHAP| alcohol")
        'mean _SHAP_ alcohol'
        >>> mlflow_key("/drift//ks:p-value/./")
        'drift/ks_p-value'
        >>> mlflow_key("..")
        '_'

    """
    cleaned = _UNSAFE_KEY_CHARACTERS.sub("_", name)[:MAX_KEY_LENGTH]
    segments = [segment for segment in cleaned.split("/") if segment not in ("", ".", "..")]
    return "/".join(segments) or "_"


def version_tag_key(job: str) -> str:
    """The model-version tag naming a job's latest run: ``ExplanationsJob`` -> ``..._run_id``.

    Examples:
        >>> version_tag_key("ExplanationsJob")
        'explainops.explanations_run_id'
        >>> version_tag_key("AttributionDriftJob")
        'explainops.attribution_drift_run_id'

    """
    stem = job.removesuffix("Job") or job
    return mlflow_key(f"{TAG_PREFIX}{_CAMEL_WORD.sub('_', stem).lower()}_run_id")


def _run_tags(job: str, model_name: str | None, model_version: int | None) -> dict[str, str]:
    tags = {f"{TAG_PREFIX}job": job}
    if model_name is not None:
        tags[f"{TAG_PREFIX}model_name"] = model_name
    if model_version is not None:
        tags[f"{TAG_PREFIX}model_version"] = str(model_version)
    return tags


def _finite_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    finite = {name: float(value) for name, value in metrics.items() if math.isfinite(value)}
    dropped = sorted(set(metrics) - set(finite))
    if dropped:
        logger.warning("not logging the metrics %s: their values are not finite", dropped)
    return _unique_keys(finite, "metric")


def _unique_keys(values: Mapping[str, Value], kind: str) -> dict[str, Value]:
    """``values`` under their MLflow keys; two names of one key are refused, not merged."""
    keyed: dict[str, Value] = {}
    names: dict[str, str] = {}
    for name, value in values.items():
        key = mlflow_key(name)
        if key in names:
            raise WriteError(
                f"the {kind}s {names[key]!r} and {name!r} would both be logged as {key!r}: "
                "rename one"
            )
        names[key] = name
        keyed[key] = value
    return keyed


def _artifact_folder(name: str) -> str:
    """An output's name, checked to be a relative artifact folder (``explanations``)."""
    segments = name.replace("\\", "/").split("/")
    if not name or name.startswith("/") or any(s in ("", ".", "..") for s in segments):
        raise WriteError(
            f"output name {name!r} cannot name an artifact folder: expected a relative path "
            "such as 'explanations', without empty, '.' or '..' parts"
        )
    return "/".join(segments)


def _model_version(client: Any, name: str | None, version: int | None, registry: str) -> Any | None:
    """The registry's record of the version explained, None when the job names none."""
    if name is None or version is None:
        return None
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(name, str(version))
    except MlflowException as error:
        if getattr(error, "error_code", None) != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise ModelLoadError(
            f"model {name!r} has no version {version} in {mask_url(registry)}: no run is logged"
        ) from error


def _logged_model_id(client: Any, version: Any | None) -> str | None:
    """The id of the LoggedModel the version was registered from, when the tracking store has it.

    MLflow 3 fills ``ModelVersion.model_id`` in some registries only (Unity Catalog); its SQL
    and file registries leave it empty and keep the ``models:/<model_id>`` source instead.
    """
    if version is None:
        return None
    model_id = getattr(version, "model_id", None)
    if not model_id:
        match = _LOGGED_MODEL_SOURCE.fullmatch(str(getattr(version, "source", "") or ""))
        model_id = match["model_id"] if match else None
    if not model_id:
        return None
    from mlflow.exceptions import MlflowException

    try:
        client.get_logged_model(model_id)
    except MlflowException as error:
        if getattr(error, "error_code", None) != "RESOURCE_DOES_NOT_EXIST":
            raise
        logger.info("the LoggedModel %s is not in this tracking store: not linked", model_id)
        return None
    return str(model_id)


def _experiment_id(client: Any, name: str, artifact_location: str | None) -> str:
    """The id of the experiment ``name``, created when missing."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return str(client.create_experiment(name, artifact_location=artifact_location))
        except MlflowException as error:  # created meanwhile by another job
            if getattr(error, "error_code", None) != "RESOURCE_ALREADY_EXISTS":
                raise
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
    if found.lifecycle_stage != "active":
        raise WriteError(
            f"the experiment {name!r} is deleted: restore it (mlflow experiments restore) "
            "or log to another experiment"
        )
    return str(found.experiment_id)


def _log_values(
    client: Any,
    run_id: str,
    metrics: Mapping[str, float],
    params: Mapping[str, str],
    model_id: str | None,
) -> None:
    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[
            Metric(key, value, now, 0, model_id=model_id, run_id=run_id)
            for key, value in metrics.items()
        ],
        params=[Param(key, str(value)) for key, value in params.items()],
        synchronous=True,
    )


def _log_output(client: Any, run_id: str, name: str, path: str) -> None:
    """Log the file or folder ``path`` under the artifact folder ``name``; not-local: a tag."""
    if protocol_of(path) != "file":
        logger.warning(
            "output %r is at %s, not on this machine: not copied into the run (its location "
            "is the run's tag %s)",
            name,
            mask_url(path),
            _output_tag_key(name),
        )
        client.set_tag(run_id, _output_tag_key(name), mask_url(path), synchronous=True)
        return
    local = Path(url2pathname(urlsplit(path).path)) if path.startswith("file:") else Path(path)
    if local.is_dir():
        client.log_artifacts(run_id, str(local), artifact_path=name)
    elif local.is_file():
        client.log_artifact(run_id, str(local), artifact_path=name)
    else:
        raise WriteError(f"output {name!r}: {local} does not exist")


def _output_tag_key(name: str) -> str:
    return mlflow_key(f"{TAG_PREFIX}output.{name}")


@contextlib.contextmanager
def _tracking_errors(what: str) -> Iterator[None]:
    """Failures before the run exists become one WriteError line (ModelLoadError stays)."""
    try:
        yield
    except (ModelLoadError, WriteError):
        raise
    except Exception as error:  # MLflow's stores raise MlflowException, SQLAlchemy, requests...
        raise WriteError(f"{what}: {failure_reason(error)}") from error


@contextlib.contextmanager
def _terminated_on_failure(client: Any, run_id: str, run: str) -> Iterator[None]:
    """A failure marks the run FAILED (KILLED on interrupt) and becomes one WriteError line."""
    try:
        yield
    except Exception as error:
        marked = _terminate(client, run_id, "FAILED")
        raise WriteError(f"cannot log the {run}: {failure_reason(error)}; {marked}") from error
    except BaseException:
        _terminate(client, run_id, "KILLED")
        raise


def _terminate(client: Any, run_id: str, status: str) -> str:
    """End the run with ``status``; what became of it, for the error message."""
    try:
        client.set_terminated(run_id, status)
    except Exception as error:  # the store that failed the logging may fail this too
        return f"marking the run {status} failed too: {failure_reason(error)}"
    return f"the run is marked {status}"
