"""The model a Clarify config explains: in process or behind an endpoint, and its labels."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import pandas as pd
import pydantic

from explainops.clarify.analysis_config import AnalysisConfig
from explainops.core.component import validation_message
from explainops.core.model import LoadedModel
from explainops.core.redaction import mask_url
from explainops.errors import ConfigError
from explainops.explainers.inputs import default_output_names
from explainops.io.endpoints import IMAGE_CONTENT_TYPES, EndpointLoader
from explainops.io.registries import load_pyfunc, registered_version

logger = logging.getLogger(__name__)


def endpoint_model(
    config: AnalysisConfig,
    dataset_type: str,
    url: str,
    attribute: int | str | None,
    **settings: Any,
) -> LoadedModel:
    """The ``predictor`` section's endpoint (``settings``: headers and request limits).

    ``attribute`` (the probability's index or JMESPath) is explained; without it, a JMESPath
    ``predictor.label`` (a regressor's ``score``, say) is.
    """
    predictor = config.predictor_or_default
    content_type = predictor.content_type or dataset_type
    options: dict[str, Any] = {}
    if content_type in IMAGE_CONTENT_TYPES and predictor.accept_type is None:
        options["accept_type"] = "application/json"  # Clarify's default for images
    if predictor.content_template is not None:
        options["content_template"] = predictor.content_template
    if content_type == "application/json":  # Clarify ignores it for other content types
        options["record_template"] = predictor.record_template
    if attribute is None and predictor.explained_label is not None:
        options["label_attribute"] = predictor.explained_label
        logger.info("analysis config predictor.label: %r explained", predictor.explained_label)
    try:
        loader = EndpointLoader.model_validate(
            dict(
                url=url,
                content_type=content_type,
                accept_type=options.pop("accept_type", predictor.accept_type),
                probability_attribute=attribute,
                label_headers=None,
                **settings,
                **options,
            )
        )
    except pydantic.ValidationError as error:
        raise ConfigError(f"predictor: {validation_message(error)}") from error
    logger.info("load endpoint %s (%s)", mask_url(url), loader.content_type)
    return loader.load(None)


def registered_model(uri: str, tracking_uri: str, attribute: int | str | None) -> LoadedModel:
    """An MLflow model explained in process (``models:/`` URIs resolved in the registry)."""
    version = registered_version(uri, tracking_uri)
    model_uri = version.uri if version else uri
    logger.info("load %s", model_uri)
    return select_output(load_pyfunc(model_uri, version), attribute, uri)


def labelled(model: LoadedModel, label_headers: list[str] | None) -> LoadedModel:
    """``model`` with its outputs named as Clarify names them (see ``label_names``)."""

    def names(preview: pd.DataFrame) -> tuple[str, ...]:
        return label_names(label_headers, model.predict(preview.head(2)).shape[1])

    return dataclasses.replace(model, output_names=names)


def select_output(model: LoadedModel, attribute: int | str | None, uri: str) -> LoadedModel:
    """Explain only the output column ``attribute`` (index or name) of an in-process model."""
    if attribute is None:
        return model

    def column(outputs: np.ndarray, names: tuple[str, ...] | None) -> int:
        if isinstance(attribute, int):
            index = attribute
        elif names is not None and attribute in names:
            index = names.index(attribute)
        else:
            raise ConfigError(
                f"{uri}: probability attribute {attribute!r} is not an output; "
                f"outputs: {list(names) if names else outputs.shape[1]}"
            )
        if not 0 <= index < outputs.shape[1]:
            raise ConfigError(
                f"{uri}: probability attribute {attribute} is out of range: the model has "
                f"{outputs.shape[1]} outputs"
            )
        return index

    chosen: list[int] = []

    def predict(frame: pd.DataFrame) -> np.ndarray:
        outputs = model.predict(frame)
        if not chosen:
            chosen.append(column(outputs, model.output_names(frame.head(2))))
        return outputs[:, chosen[0] : chosen[0] + 1]

    return dataclasses.replace(model, predict=predict, output_names=lambda frame: None, native=None)


def label_names(label_headers: list[str] | None, n_outputs: int) -> tuple[str, ...]:
    """Names of the explained outputs: ``label_headers`` when they fit, else label0, label1, ..."""
    if label_headers is None:
        return default_output_names(n_outputs)
    if len(label_headers) == n_outputs:
        return tuple(label_headers)
    if n_outputs == 1 and len(label_headers) == 2:
        # One score for a binary label: the probability of the positive (second) label.
        return (label_headers[1],)
    raise ConfigError(
        f"predictor.label_headers names {len(label_headers)} labels {label_headers} but the "
        f"model returns {n_outputs} score(s)"
    )
