"""Load job configurations: YAML/JSON files merged in order, overrides, env references, paths.

Relative paths in a file are resolved against that file's folder; ``--set`` overrides are taken
relative to the working directory. ``${oc.env:NAME}`` reads an environment variable (for secrets);
nothing in a configuration executes code.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import InterpolationResolutionError, OmegaConfBaseException

from explainops.core.component import (
    MLFLOW_URI_FORMAT,
    PATH_FORMAT,
    validate_model,
    validation_message,
)
from explainops.core.redaction import register_secret
from explainops.errors import ConfigError


@functools.cache
def path_keys() -> tuple[frozenset[str], frozenset[str]]:
    """The config keys that hold paths, and those that hold MLflow URIs.

    Read from the job schemas: a field declares itself a path by its type (``PathText``,
    ``MlflowUri`` in ``explainops.core.component``). The loader resolves relative paths before
    validation, file by file, so it goes by the key's name.
    """
    from explainops.jobs import JobConfig

    paths: set[str] = set()
    uris: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for name, field in node.get("properties", {}).items():
                formats = _formats(field)
                if PATH_FORMAT in formats:
                    paths.add(name)
                if MLFLOW_URI_FORMAT in formats:
                    uris.add(name)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(JobConfig.model_json_schema())
    return frozenset(paths), frozenset(uris)


def _formats(field: Any) -> set[str]:
    if not isinstance(field, dict):
        return set()
    found = {field["format"]} if isinstance(field.get("format"), str) else set()
    for key in ("anyOf", "oneOf", "allOf"):
        for member in field.get(key, []):
            found |= _formats(member)
    return found


def resolve_relative_paths(node: Any, folder: Path) -> Any:
    """Return ``node`` with relative paths under path-like keys made absolute against ``folder``."""
    if isinstance(node, dict):
        return {key: _resolve_value(key, value, folder) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve_relative_paths(item, folder) for item in node]
    return node


def _resolve_value(key: Any, value: Any, folder: Path) -> Any:
    if not isinstance(value, str) or "${" in value:
        return resolve_relative_paths(value, folder)
    path_fields, uri_fields = path_keys()
    if key in path_fields and "://" not in value and not Path(value).is_absolute():
        return str((folder / value).resolve())
    if key in uri_fields and value.startswith("sqlite:///") and not value.startswith("sqlite:////"):
        return "sqlite:///" + str((folder / value.removeprefix("sqlite:///")).resolve())
    return value


def load_raw_config(paths: Sequence[str | Path], overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Merge config files in order, apply ``dotted.key=value`` overrides, resolve references.

    Mappings merge key by key, except that a component whose ``KIND`` changes is replaced whole:
    a Tree explainer over a Kernel one does not inherit the Kernel explainer's fields. Values read
    from the environment (``${oc.env:NAME}``) are registered as secrets, so they never show in
    what explainops prints, logs or writes.
    """
    if not paths:
        raise ConfigError("no configuration file given")
    merged: dict[str, Any] = {}
    for path in map(Path, paths):
        if not path.is_file():
            raise ConfigError(f"{path}: configuration file not found")
        try:
            loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        except (OmegaConfBaseException, ValueError, yaml.YAMLError) as error:
            raise ConfigError(f"{path}: not valid YAML or JSON: {_one_line(error)}") from error
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"{path}: expected a mapping at the top level, got {type(loaded).__name__}"
            )
        merged = merge_configs(merged, resolve_relative_paths(loaded, path.parent.resolve()))
    return resolve_config(merged, overrides)


def resolve_config(config: Mapping[str, Any], overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Apply ``dotted.key=value`` overrides to a configuration, then resolve its references.

    The values of ``${oc.env:NAME}`` references are registered as secrets.
    """
    merged: Any = dict(config)
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"--set {override!r}: expected dotted.key=value")
        try:
            update = OmegaConf.to_container(OmegaConf.from_dotlist([override]), resolve=False)
        except OmegaConfBaseException as error:
            raise ConfigError(f"--set {override!r}: {_one_line(error)}") from error
        merged = merge_configs(merged, update)
    try:
        resolved = OmegaConf.to_container(OmegaConf.create(merged), resolve=True)
    except InterpolationResolutionError as error:
        raise ConfigError(_interpolation_message(error)) from None
    except OmegaConfBaseException as error:
        raise ConfigError(
            f"cannot resolve a reference in the configuration: {_one_line(error)}"
        ) from None
    assert isinstance(resolved, dict)
    _register_environment_secrets(merged)
    return {str(key): value for key, value in resolved.items()}


def merge_configs(base: Any, update: Any) -> Any:
    """``update`` merged into ``base``: mappings key by key, anything else replaced.

    A mapping whose ``KIND`` differs from the one it lands on replaces it whole.
    """
    if not isinstance(base, dict) or not isinstance(update, dict):
        return update
    if "KIND" in update and "KIND" in base and update["KIND"] != base["KIND"]:
        return dict(update)
    merged = dict(base)
    for key, value in update.items():
        merged[key] = merge_configs(base[key], value) if key in base else value
    return merged


_ENV_REFERENCE = re.compile(r"\$\{oc\.env:([^,}]+)")


def _register_environment_secrets(node: Any) -> None:
    """Register the value of every environment variable the configuration references."""
    if isinstance(node, dict):
        for value in node.values():
            _register_environment_secrets(value)
    elif isinstance(node, list):
        for item in node:
            _register_environment_secrets(item)
    elif isinstance(node, str):
        for name in _ENV_REFERENCE.findall(node):
            value = os.environ.get(name.strip())
            if value:
                register_secret(value)


def _interpolation_message(error: InterpolationResolutionError) -> str:
    key = getattr(error, "full_key", None) or "the configuration"
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    missing = re.search(r"Environment variable '([^']+)' not found", message)
    if missing:
        name = missing.group(1)
        return (
            f"{key}: environment variable {name} is not set "
            f"(referenced as ${{oc.env:{name}}}); set it or change the field"
        )
    return f"{key}: cannot resolve a reference: {message}"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


__all__ = [
    "load_raw_config",
    "merge_configs",
    "resolve_relative_paths",
    "validate_model",
    "validation_message",
]
