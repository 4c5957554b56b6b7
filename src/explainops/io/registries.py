"""The MLflow model registry: resolve an alias or version, then load the model it names.

The registry is found as every MLflow tool finds it: the configured ``tracking_uri``, else
``MLFLOW_TRACKING_URI``, else the embedded SQLite database ``./mlruns/mlflow.db`` of the working
directory; the registry URI is the configured ``registry_uri``, else ``MLFLOW_REGISTRY_URI``, else
the tracking URI. A lookup only reads: MLflow's SQLite store would create a missing database (and
its folders and tables) on first open, so a lookup checks first and fails with a ModelLoadError
instead. Only registering (``demo/registration.py``, the tests) creates a registry.
"""

from __future__ import annotations

import abc
import contextlib
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from urllib.request import url2pathname

import numpy as np
import numpy.typing as npt
import pandas as pd
import pydantic

from explainops.core.component import Component, MlflowUri
from explainops.core.model import LoadedModel
from explainops.core.redaction import mask_url
from explainops.errors import ExplainerError, ModelLoadError

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
ModelOutput = Literal["probability", "raw"]

TRACKING_URI_VARIABLE = "MLFLOW_TRACKING_URI"
REGISTRY_URI_VARIABLE = "MLFLOW_REGISTRY_URI"
LOOK_ELSEWHERE = (
    "to look elsewhere set registry.tracking_uri in the config, "
    f"--tracking-uri (explainops clarify) or {TRACKING_URI_VARIABLE}"
)
# MLflow's schema version and the tables a lookup reads: a database without them is not a
# registry (and MLflow would create them in it).
_REGISTRY_TABLES = ("alembic_version", "registered_models", "model_versions")
# Tracking URIs without a scheme that MLflow reads as a service, not as a local folder.
_NAMED_TRACKING_URIS = frozenset({"databricks", "databricks-uc", "uc"})
# MLflow retries a request 7 times with a doubling backoff: about four minutes before it reports
# a tracking server that is down. A lookup gives up after about three seconds, unless the user
# set these variables.
_LOOKUP_HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
_MODEL_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[^/@]+))/?")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"()<>]+")


def default_tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the SQLite registry of ./mlruns/mlflow.db.

    Read when a configuration is validated, so that a run looks where ``validate`` showed.
    """
    return _uri_from_environment(TRACKING_URI_VARIABLE) or sqlite_uri(Path("mlruns", "mlflow.db"))


def default_registry_uri() -> str | None:
    """``MLFLOW_REGISTRY_URI`` when set, else None: the registry is the tracking URI's."""
    return _uri_from_environment(REGISTRY_URI_VARIABLE)


def sqlite_uri(path: Path) -> str:
    """The MLflow URI of the SQLite database at ``path``, made absolute."""
    return "sqlite:///" + str(path.resolve())


def _uri_from_environment(variable: str) -> str | None:
    value = os.environ.get(variable, "").strip()
    if not value:
        return None
    # MLflow opens a relative SQLite path from the working directory: pin it to this one.
    path = _sqlite_path(value)
    if path is None or path.is_absolute():
        return value
    _, separator, query = value.partition("?")
    return sqlite_uri(path) + separator + query


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///PATH`` URI; None for other URIs and in-memory ones."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").partition("?")[0]
    return Path(path) if path and path != ":memory:" else None


def _local_store_path(uri: str) -> Path | None:
    """The folder of a local file store (``file:`` URI or plain path); None for other URIs."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(url2pathname(parts.path))
    if parts.scheme or uri in _NAMED_TRACKING_URIS:
        return None
    return Path(uri)


def check_registry_exists(uri: str) -> None:
    """Refuse a missing or non-MLflow local registry before MLflow opens (so creates) it.

    Remote registries (HTTP, databases) are left to MLflow.
    """
    where = mask_url(uri)
    sqlite_path = _sqlite_path(uri)
    if sqlite_path is not None:
        _check_sqlite_registry(where, sqlite_path)
        return
    folder = _local_store_path(uri)
    if folder is not None and not folder.is_dir():
        raise ModelLoadError(
            f"no MLflow registry at {where}: {folder} is not a folder (a lookup never creates "
            f"one); {LOOK_ELSEWHERE}"
        )


def _check_sqlite_registry(where: str, path: Path) -> None:
    if not path.exists():
        raise ModelLoadError(
            f"no MLflow registry at {where}: {path} does not exist (a lookup never creates one); "
            f"{LOOK_ELSEWHERE}"
        )
    problem = _sqlite_problem(path)
    if problem is not None:
        raise ModelLoadError(
            f"{where} is not an MLflow registry: {path} {problem}; {LOOK_ELSEWHERE}"
        )


def _sqlite_problem(path: Path) -> str | None:
    """What keeps the existing ``path`` from being read as a registry (opened read-only)."""
    if path.is_dir():
        return "is a folder, not a SQLite file"
    try:
        if path.stat().st_size == 0:
            return "is an empty file"
        with contextlib.closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        ) as connection:
            tables = {
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    except sqlite3.Error as error:
        return f"is not a readable SQLite database ({error})"
    missing = [table for table in _REGISTRY_TABLES if table not in tables]
    if missing:
        return f"is a SQLite database without MLflow's {missing[0]} table"
    return None


def failure_reason(error: BaseException) -> str:
    """Why an MLflow call failed, in one line, credentials masked.

    MLflow wraps HTTP and SQL failures in long messages that repeat the request's URL (with its
    user-info and query): the driver's or the socket's own message says it in a few words.
    """
    import requests

    causes = [error]
    while (cause := causes[-1].__cause__ or causes[-1].__context__) is not None:
        if any(cause is seen for seen in causes):
            break
        causes.append(cause)
    reason: BaseException | str = error
    for link in causes:
        original = getattr(link, "orig", None)  # SQLAlchemy's DBAPIError wraps the driver's
        if isinstance(original, BaseException):
            reason = original
            break
        if isinstance(link, requests.RequestException):
            reason = causes[-1]
            break
    text = " ".join(str(reason).split()) or type(reason).__name__
    return _URL.sub(lambda match: mask_url(match.group()), text)


@contextlib.contextmanager
def _registry_errors(location: str) -> Iterator[None]:
    """Every failure of a lookup becomes one ModelLoadError line naming the registry."""
    try:
        yield
    except ModelLoadError:
        raise
    except Exception as error:  # MLflow's stores raise MlflowException, SQLAlchemy, requests...
        raise ModelLoadError(
            f"cannot look up models in the MLflow registry at {location}: "
            f"{failure_reason(error)}; {LOOK_ELSEWHERE}"
        ) from error


@contextlib.contextmanager
def _restored_environment(*names: str) -> Iterator[None]:
    """Put the environment variables ``names`` back as they were on exit."""
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _lookup_http_limits() -> Iterator[None]:
    """Bound MLflow's HTTP retries for the duration of a lookup, unless the user set them.

    urllib3 logs every retry with the request's path and query (where a token can be): the
    lookup's one error says why it failed instead.
    """
    retries = logging.getLogger("urllib3.connectionpool")
    level = retries.level
    retries.setLevel(logging.ERROR)
    try:
        with _restored_environment(*_LOOKUP_HTTP_LIMITS):
            for name, value in _LOOKUP_HTTP_LIMITS.items():
                os.environ.setdefault(name, value)
            yield
    finally:
        retries.setLevel(level)


def _location(tracking_uri: str, registry_uri: str | None) -> str:
    """The registry URI (and the tracking URI when it differs), user-info and query masked."""
    if registry_uri is None or registry_uri == tracking_uri:
        return mask_url(tracking_uri)
    return f"{mask_url(registry_uri)} (tracking {mask_url(tracking_uri)})"


def open_client(tracking_uri: str, registry_uri: str | None = None) -> Any:
    """An MlflowClient on an existing registry (checked first: a lookup never creates one).

    Also makes it MLflow's current registry, which ``models:/`` and ``runs:/`` URIs are read from.
    """
    _quiet_mlflow()
    import mlflow

    registry_uri = registry_uri or tracking_uri
    for uri in dict.fromkeys((registry_uri, tracking_uri)):
        check_registry_exists(uri)
    # MLflow's setters also export the URIs as MLFLOW_TRACKING_URI and MLFLOW_REGISTRY_URI: keep
    # the user's, or the next job of this process would take this one's registry for its default.
    with _restored_environment(TRACKING_URI_VARIABLE, REGISTRY_URI_VARIABLE):
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(registry_uri)
    return mlflow.MlflowClient(tracking_uri, registry_uri)


def _quiet_mlflow() -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _not_found(error: Exception) -> bool:
    return getattr(error, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


class Registry(Component):
    """Where registered models live, and which one to explain.

    Args:
        name: registered model name.
        tracking_uri: MLflow tracking URI (default: ``MLFLOW_TRACKING_URI``, else SQLite in
            ./mlruns/mlflow.db of the working directory).
        registry_uri: MLflow registry URI (default: ``MLFLOW_REGISTRY_URI``, else the tracking
            URI).

    """

    name: str
    tracking_uri: MlflowUri = pydantic.Field(default_factory=default_tracking_uri)
    registry_uri: MlflowUri | None = pydantic.Field(default_factory=default_registry_uri)

    @property
    def location(self) -> str:
        """Where lookups go, for messages and logs, user-info and query values masked."""
        return _location(self.tracking_uri, self.registry_uri)

    def client(self) -> Any:
        """An MlflowClient on this registry, which must exist: a lookup never creates one."""
        return open_client(self.tracking_uri, self.registry_uri)

    def resolve(self, alias_or_version: str | int) -> ModelVersion:
        """The concrete version an alias (e.g. ``Champion``) or version number points to."""
        with _lookup_http_limits(), _registry_errors(self.location):
            client = self.client()
            registered = self._registered_model(client)
            versions = sorted(
                int(version.version)
                for version in client.search_model_versions(f"name='{self.name}'")
            )
            aliases = dict(getattr(registered, "aliases", {}) or {})
            version = self._version_number(alias_or_version, versions, aliases)
            details = client.get_model_version(self.name, str(version))
        alias = (
            None
            if isinstance(alias_or_version, int) or str(alias_or_version).isdigit()
            else str(alias_or_version)
        )
        return ModelVersion(
            self.name,
            version,
            alias,
            f"models:/{self.name}/{version}",
            details.run_id,
            self.location,
        )

    def _registered_model(self, client: Any) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return client.get_registered_model(self.name)
        except MlflowException as error:
            if not _not_found(error):
                raise
            names = sorted(model.name for model in client.search_registered_models())
            raise ModelLoadError(
                f"model {self.name!r} is not registered in {self.location}; "
                f"registered models: {names or 'none'}; {LOOK_ELSEWHERE}"
            ) from error

    def _version_number(
        self, alias_or_version: str | int, versions: list[int], aliases: dict[str, Any]
    ) -> int:
        if isinstance(alias_or_version, int) or str(alias_or_version).isdigit():
            version = int(alias_or_version)
            if version not in versions:
                raise ModelLoadError(
                    f"model {self.name!r} has no version {version}; versions: "
                    f"{versions or 'none'} (in {self.location}; {LOOK_ELSEWHERE})"
                )
            return version
        if alias_or_version not in aliases:
            listed = ", ".join(f"{alias} -> {number}" for alias, number in sorted(aliases.items()))
            raise ModelLoadError(
                f"model {self.name!r} has no alias {alias_or_version!r}; "
                f"aliases: {listed or 'none'}; versions: {versions or 'none'} "
                f"(in {self.location}; {LOOK_ELSEWHERE})"
            )
        return int(aliases[alias_or_version])


def registered_version(model_uri: str, tracking_uri: str) -> ModelVersion | None:
    """The version ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` names; None for other URIs.

    Looked up as a job's registry is: same resolution, same errors. MLflow resolves the other
    ``models:/`` and ``runs:/`` URIs itself: their registry is checked and made current first,
    so they too are read where the job says and never create a registry.
    """
    match = _MODEL_URI.fullmatch(model_uri)
    if match is not None:
        registry = Registry(name=match["name"], tracking_uri=tracking_uri)
        alias_or_version = int(match["version"]) if match["version"] else match["alias"]
        logger.info("resolve model %r %s in %s", registry.name, alias_or_version, registry.location)
        return registry.resolve(alias_or_version)
    if model_uri.startswith(("models:/", "runs:/")):
        registry_uri = default_registry_uri()
        with _registry_errors(_location(tracking_uri, registry_uri)):
            open_client(tracking_uri, registry_uri)
    return None


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version, resolved from an alias or number.

    ``registry`` says where it was found, for messages (credentials masked).
    """

    name: str
    version: int
    alias: str | None
    uri: str
    run_id: str | None
    registry: str | None = None

    @property
    def where(self) -> str:
        """The version's URI and, for messages, its registry."""
        return f"{self.uri} in {self.registry}" if self.registry else self.uri

    def input_schema(self) -> Any | None:
        """The MLflow signature's input schema, or None when the model was logged without one."""
        import mlflow

        try:
            info = mlflow.models.get_model_info(self.uri)
        except Exception as error:  # MLflow raises many types for unreadable artifacts
            raise ModelLoadError(
                f"{self.where}: cannot read the model's metadata: {failure_reason(error)}"
            ) from error
        return info.signature.inputs if info.signature is not None else None

    def __str__(self) -> str:
        alias = f" (alias {self.alias})" if self.alias else ""
        return f"{self.name} version {self.version}{alias}"


def _as_outputs(raw: Any) -> FloatArray:
    values = np.asarray(raw.to_numpy() if hasattr(raw, "to_numpy") else raw, dtype=np.float64)
    return values.reshape(-1, 1) if values.ndim == 1 else values


class Loader(Component, abc.ABC):
    """Loads a model version; ``model_output`` picks probabilities or the raw margin."""

    KIND: str
    model_output: ModelOutput = "probability"

    @abc.abstractmethod
    def load(self, version: ModelVersion | None) -> LoadedModel:
        """Load ``version`` (None for a model that does not come from the registry)."""


def _registered(version: ModelVersion | None, loader: str) -> ModelVersion:
    if version is None:
        raise ModelLoadError(f"{loader} loads a registered model: configure job.registry")
    return version


class CustomLoader(Loader):
    """Loads the MLflow pyfunc flavour: explains whatever its ``predict`` returns."""

    KIND: Literal["CustomLoader"] = "CustomLoader"

    def load(self, version: ModelVersion | None) -> LoadedModel:
        """Load the pyfunc model of ``version``."""
        version = _registered(version, self.KIND)
        if self.model_output == "raw":
            raise ModelLoadError(
                "CustomLoader explains the pyfunc's predict output; "
                "model_output 'raw' needs BuiltinLoader"
            )
        return load_pyfunc(version.uri, version)


def load_pyfunc(uri: str, version: ModelVersion | None = None) -> LoadedModel:
    """Load the MLflow pyfunc model at ``uri`` (``models:/``, ``runs:/`` or a local path)."""
    _quiet_mlflow()
    import mlflow

    try:
        model = mlflow.pyfunc.load_model(uri)
    except Exception as error:  # MLflow raises many types for missing or unreadable models
        where = version.where if version else uri
        raise ModelLoadError(
            f"{where}: cannot load the pyfunc model: {failure_reason(error)}"
        ) from error

    integers = _integer_columns(model)
    if integers:
        logger.info(
            "the model's signature takes integers in %s: baseline values there (k-means cluster "
            "means) reach it rounded to the nearest integer",
            list(integers),
        )

    def predict(frame: pd.DataFrame) -> FloatArray:
        return _as_outputs(model.predict(_as_integers(frame, integers)))

    def output_names(frame: pd.DataFrame) -> tuple[str, ...] | None:
        raw = model.predict(_as_integers(frame, integers))
        return tuple(map(str, raw.columns)) if isinstance(raw, pd.DataFrame) else None

    def answers(frame: pd.DataFrame) -> list[Any]:
        raw = model.predict(_as_integers(frame, integers))
        return per_row_answers(raw, len(frame), version.where if version else uri)

    return LoadedModel(predict, output_names, None, version, answers)


def per_row_answers(raw: Any, n_rows: int, where: str) -> list[Any]:
    """A pyfunc's whole answer for ``n_rows`` rows, split into one answer per row.

    A list (or tuple, or array) holds one item per row; a DataFrame one row per row (its
    ``prediction`` column's cell when it has one); a dict answers a single row.

    Raises:
        ExplainerError: the answer does not hold one item per row.

    """
    if isinstance(raw, pd.DataFrame):
        items = list(raw["prediction"]) if "prediction" in raw.columns else raw.to_dict("records")
    elif isinstance(raw, dict) and n_rows == 1:
        items = [raw]
    elif isinstance(raw, list | tuple | np.ndarray | pd.Series):
        items = list(raw)
    else:
        raise ExplainerError(
            f"{where}: the model answered a {type(raw).__name__}; expected one answer per row"
        )
    if len(items) != n_rows:
        raise ExplainerError(f"{where}: the model answered {len(items)} items for {n_rows} rows")
    return items


def _integer_columns(model: Any) -> dict[str, type[np.integer[Any]]]:
    """Columns the pyfunc's signature types as integers (MLflow refuses floats there)."""
    try:
        schema = model.metadata.get_input_schema()
    except Exception:  # a model without metadata or signature: nothing to conform to
        return {}
    if schema is None or not schema.has_input_names():
        return {}
    widths: dict[str, type[np.integer[Any]]] = {"long": np.int64, "integer": np.int32}
    return {
        str(spec.name): widths[type_name]
        for spec in schema.inputs
        if (type_name := getattr(getattr(spec, "type", None), "name", None)) in widths
    }


def _as_integers(frame: pd.DataFrame, columns: dict[str, type[np.integer[Any]]]) -> pd.DataFrame:
    """``frame`` with its float ``columns`` rounded to integers (the explainers send floats)."""
    floats = [
        column
        for column in columns
        if column in frame.columns
        and pd.api.types.is_float_dtype(frame[column].dtype)
        and not frame[column].isna().any()  # missing values: left for the signature to judge
    ]
    if not floats:
        return frame
    rounded = frame.copy()
    for column in floats:
        rounded[column] = np.rint(frame[column].to_numpy()).astype(columns[column])
    return rounded


_NATIVE_FLAVORS = ("sklearn", "lightgbm", "xgboost")


class BuiltinLoader(Loader):
    """Loads the native flavour (scikit-learn, LightGBM, XGBoost).

    Classifiers are explained through their class probabilities (``model_output: probability``,
    outputs named by class) or their raw margin (``raw``: decision_function / raw score).
    """

    KIND: Literal["BuiltinLoader"] = "BuiltinLoader"

    def load(self, version: ModelVersion | None) -> LoadedModel:
        """Load the native model of ``version``."""
        version = _registered(version, self.KIND)
        import mlflow

        try:
            flavors = mlflow.models.get_model_info(version.uri).flavors
        except Exception as error:
            raise ModelLoadError(
                f"{version.where}: cannot read the model's metadata: {failure_reason(error)}"
            ) from error
        flavor = next((name for name in _NATIVE_FLAVORS if name in flavors), None)
        if flavor is None:
            raise ModelLoadError(
                f"{version}: no native flavour BuiltinLoader can load (has {sorted(flavors)}, "
                f"supported {list(_NATIVE_FLAVORS)}); use CustomLoader"
            )
        try:
            native = getattr(mlflow, flavor).load_model(version.uri)
        except Exception as error:
            raise ModelLoadError(
                f"{version.where}: cannot load the {flavor} model: {failure_reason(error)}"
            ) from error
        predict, names = native_prediction(native, self.model_output)
        return LoadedModel(predict, lambda frame: names, native, version)


def native_prediction(
    native: Any, model_output: ModelOutput
) -> tuple[Callable[[pd.DataFrame], FloatArray], tuple[str, ...] | None]:
    """The explained function of a native model, and its output names when known."""
    classes = getattr(native, "classes_", None)
    labels = None if classes is None else tuple(str(label) for label in classes)
    if model_output == "raw" and labels is not None:
        margin = _raw_margin(native)
        if margin is None:
            raise ModelLoadError(
                f"{type(native).__name__} has no raw margin output; use model_output 'probability'"
            )
        # A binary classifier has one margin, the positive class's log-odds.
        return (lambda frame: _as_outputs(margin(frame))), labels[1:] if len(
            labels
        ) == 2 else labels
    if labels is not None and hasattr(native, "predict_proba"):
        return (lambda frame: _as_outputs(native.predict_proba(frame))), labels
    return (lambda frame: _as_outputs(native.predict(frame))), None


def _raw_margin(native: Any) -> Callable[[pd.DataFrame], Any] | None:
    module = type(native).__module__
    if module.startswith("lightgbm"):
        return lambda frame: native.predict(frame, raw_score=True)
    if module.startswith("xgboost"):
        return lambda frame: native.predict(frame, output_margin=True)
    return getattr(native, "decision_function", None)
