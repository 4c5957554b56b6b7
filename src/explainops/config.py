"""Load job configurations: YAML/JSON files merged in order, overrides, env references, paths.

Relative paths in a file are resolved against that file's folder; ``--set`` overrides are taken
relative to the working directory. ``${oc.env:NAME}`` reads an environment variable (for secrets);
nothing in a configuration executes code.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from explainops.errors import ConfigError

# Keys whose string values are local paths (or URIs) to resolve against the config's folder.
_PATH_KEYS = frozenset(
    {
        "path",
        "baseline",
        "history_path",
        "baseline_path",
        "output_dir",
        "analysis_config",
        "dataset",
        "violations_path",
    }
)
_URI_KEYS = frozenset({"tracking_uri", "registry_uri"})

Model = TypeVar("Model", bound=pydantic.BaseModel)


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
    if key in _PATH_KEYS and "://" not in value and not Path(value).is_absolute():
        return str((folder / value).resolve())
    if key in _URI_KEYS and value.startswith("sqlite:///") and not value.startswith("sqlite:////"):
        return "sqlite:///" + str((folder / value.removeprefix("sqlite:///")).resolve())
    return value


def load_raw_config(paths: Sequence[str | Path], overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Merge config files in order, apply ``dotted.key=value`` overrides, resolve references."""
    if not paths:
        raise ConfigError("no configuration file given")
    merged: Any = OmegaConf.create({})
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
        merged = OmegaConf.merge(merged, resolve_relative_paths(loaded, path.parent.resolve()))
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"--set {override!r}: expected dotted.key=value")
        try:
            merged = OmegaConf.merge(merged, OmegaConf.from_dotlist([override]))
        except OmegaConfBaseException as error:
            raise ConfigError(f"--set {override!r}: {_one_line(error)}") from error
    try:
        resolved = OmegaConf.to_container(merged, resolve=True)
    except OmegaConfBaseException as error:
        raise ConfigError(
            f"cannot resolve a reference in the configuration: {_one_line(error)}"
        ) from error
    assert isinstance(resolved, dict)
    return {str(key): value for key, value in resolved.items()}


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def validation_message(error: pydantic.ValidationError, prefix: str = "") -> str:
    """One line listing every invalid field by its dotted path, with what was expected."""
    problems = []
    for detail in error.errors():
        parts = list(detail["loc"])
        if len(parts) > 1 and parts[0] == "job" and str(parts[1]).endswith("Job"):
            del parts[1]  # the job's KIND: a file holds one job, its fields are job.<field>
        location = ".".join(str(part) for part in (prefix, *parts) if part != "")
        message = detail["msg"]
        if detail["type"] == "union_tag_not_found":
            discriminator = str(detail.get("ctx", {}).get("discriminator", "KIND")).strip("'")
            message = f"missing {discriminator} (which kind of component)"
        problems.append(f"{location}: {message}")
    return "invalid configuration: " + "; ".join(problems)


def validate_model(model: type[Model], raw: dict[str, Any]) -> Model:
    """Validate ``raw`` into ``model``, raising ConfigError with every offending field's path."""
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as error:
        raise ConfigError(validation_message(error)) from error
