"""The MLflow model registry: resolve an alias or version, then load the model it names.

The default registry is an embedded SQLite database, ``./mlruns/mlflow.db``, created on demand.
"""

from __future__ import annotations

import abc
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pydantic

from explainops.core.component import Component
from explainops.errors import ModelLoadError

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
ModelOutput = Literal["probability", "raw"]


def default_tracking_uri() -> str:
    """The embedded SQLite registry in ./mlruns/mlflow.db of the working directory."""
    return "sqlite:///" + str(Path("mlruns", "mlflow.db").resolve())


def _quiet_mlflow() -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


class Registry(Component):
    """Where registered models live, and which one to explain.

    Args:
        name: registered model name.
        tracking_uri: MLflow tracking URI (default: SQLite in ./mlruns/mlflow.db).
        registry_uri: MLflow registry URI (default: the tracking URI).

    """

    name: str
    tracking_uri: str = pydantic.Field(default_factory=default_tracking_uri)
    registry_uri: str | None = None

    def client(self) -> Any:
        """An MlflowClient on this registry (creating the SQLite file's folder if needed)."""
        _quiet_mlflow()
        import mlflow

        for uri in (self.tracking_uri, self.registry_uri):
            if uri and uri.startswith("sqlite:///"):
                Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.registry_uri or self.tracking_uri)
        return mlflow.MlflowClient(self.tracking_uri, self.registry_uri or self.tracking_uri)

    def resolve(self, alias_or_version: str | int) -> ModelVersion:
        """The concrete version an alias (e.g. ``Champion``) or version number points to."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        try:
            registered = client.get_registered_model(self.name)
        except MlflowException as error:
            names = sorted(model.name for model in client.search_registered_models())
            raise ModelLoadError(
                f"model {self.name!r} is not registered in "
                f"{self.registry_uri or self.tracking_uri}; "
                f"registered models: {names or 'none'}"
            ) from error
        versions = sorted(
            int(version.version) for version in client.search_model_versions(f"name='{self.name}'")
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
            self.name, version, alias, f"models:/{self.name}/{version}", details.run_id
        )

    def _version_number(
        self, alias_or_version: str | int, versions: list[int], aliases: dict[str, Any]
    ) -> int:
        if isinstance(alias_or_version, int) or str(alias_or_version).isdigit():
            version = int(alias_or_version)
            if version not in versions:
                raise ModelLoadError(
                    f"model {self.name!r} has no version {version}; versions: {versions or 'none'}"
                )
            return version
        if alias_or_version not in aliases:
            listed = ", ".join(f"{alias} -> {number}" for alias, number in sorted(aliases.items()))
            raise ModelLoadError(
                f"model {self.name!r} has no alias {alias_or_version!r}; "
                f"aliases: {listed or 'none'}; versions: {versions or 'none'}"
            )
        return int(aliases[alias_or_version])


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version, resolved from an alias or number."""

    name: str
    version: int
    alias: str | None
    uri: str
    run_id: str | None

    def input_schema(self) -> Any | None:
        """The MLflow signature's input schema, or None when the model was logged without one."""
        import mlflow

        try:
            info = mlflow.models.get_model_info(self.uri)
        except Exception as error:  # MLflow raises many types for unreadable artifacts
            raise ModelLoadError(
                f"{self.uri}: cannot read the model's metadata: {error}"
            ) from error
        return info.signature.inputs if info.signature is not None else None

    def __str__(self) -> str:
        alias = f" (alias {self.alias})" if self.alias else ""
        return f"{self.name} version {self.version}{alias}"


@dataclass(frozen=True)
class LoadedModel:
    """A loaded model as the explainers see it.

    Attributes:
        predict: DataFrame of input columns -> (n, k) explained outputs.
        output_names: given a few input rows, the names of the k outputs when the model knows
            them (class labels, a pyfunc's output columns), else None.
        native: the native model object (for the tree fast path and native importances), or None.
        version: where it came from.

    """

    predict: Callable[[pd.DataFrame], FloatArray]
    output_names: Callable[[pd.DataFrame], tuple[str, ...] | None]
    native: Any | None
    version: ModelVersion | None


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
        raise ModelLoadError(f"{uri}: cannot load the pyfunc model: {error}") from error

    def predict(frame: pd.DataFrame) -> FloatArray:
        return _as_outputs(model.predict(frame))

    def output_names(frame: pd.DataFrame) -> tuple[str, ...] | None:
        raw = model.predict(frame)
        return tuple(map(str, raw.columns)) if isinstance(raw, pd.DataFrame) else None

    return LoadedModel(predict, output_names, None, version)


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
                f"{version.uri}: cannot read the model's metadata: {error}"
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
                f"{version.uri}: cannot load the {flavor} model: {error}"
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
