"""Base class of every configurable part: strict, immutable, and closed to unknown keys."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import pydantic

from explainops.errors import ConfigError

Model = TypeVar("Model", bound=pydantic.BaseModel)

# A field that holds a local path or URI: a relative path in a configuration file is resolved
# against that file's folder (the loader finds these fields by their schema's ``format``).
PATH_FORMAT = "path"
PathText = Annotated[str, pydantic.Field(json_schema_extra={"format": PATH_FORMAT})]
# An MLflow tracking or registry URI: a relative ``sqlite:///`` path is resolved the same way.
MLFLOW_URI_FORMAT = "mlflow-uri"
MlflowUri = Annotated[str, pydantic.Field(json_schema_extra={"format": MLFLOW_URI_FORMAT})]


class Component(pydantic.BaseModel):
    """A part selected and configured from YAML by its ``KIND``."""

    model_config = pydantic.ConfigDict(strict=True, frozen=True, extra="forbid")


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
