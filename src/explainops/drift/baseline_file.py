"""The attribution baseline file: what a drift window is compared with, and explained like.

Clarify's analysis.json shape (``explanations.kernel_shap.<label>.{global_shap_values,
expected_value}``), so tools that read Clarify's baselines read it, plus, under ``explainops``,
everything a later window must be explained with to be comparable: the explainer config, the
background rows and weights actually used, the model and its resolved version, the features and
labels, and a fingerprint of the data.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
import pandas as pd
import pydantic

from explainops.core.explainer_settings import ExplainerKind, ExplainerSettings
from explainops.core.pipeline import (
    Background,
    DatasetAttributions,
    checked_background,
    numeric_as_float,
)
from explainops.core.samples import SampleScan
from explainops.errors import InputError
from explainops.io.datasets import read_json
from explainops.io.registries import ModelVersion
from explainops.io.storage import open_file
from explainops.version import __version__

logger = logging.getLogger(__name__)

BASELINE_FORMAT = "explainops.attribution-baseline/1"
METHOD_KEY = "kernel_shap"  # Clarify's key, kept whatever the explainer, so tools read it
_EXPLAINER_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(
    Annotated[ExplainerKind, pydantic.Field(discriminator="KIND")]
)


@dataclass(frozen=True)
class AttributionBaseline:
    """A baseline file, read back and checked."""

    path: str
    attributions: dict[str, dict[str, float]]
    features: list[str]
    labels: list[str]
    explainer: ExplainerSettings
    background: pd.DataFrame
    background_weights: np.ndarray
    model: str
    version: int | None

    @classmethod
    def read(cls, path: str) -> AttributionBaseline:
        """Read and check a baseline file; InputError naming what is missing or wrong."""
        return cls.of_document(path, read_json(path, "baseline file"))

    @classmethod
    def of_document(cls, path: str, document: Any) -> AttributionBaseline:
        """A baseline file's document, as ``read`` checks it (``path``: where it is, or goes)."""
        try:
            return cls._parse(path, document)
        except (KeyError, TypeError, ValueError) as error:
            detail = (
                f"missing {error}" if isinstance(error, KeyError) else " ".join(str(error).split())
            )
            raise InputError(
                f"{path}: not an explainops attribution baseline ({detail}); "
                "write one with AttributionBaselineJob"
            ) from error

    @classmethod
    def _parse(cls, path: str, document: dict[str, Any]) -> AttributionBaseline:
        details = document["explainops"]
        if details["format"] != BASELINE_FORMAT:
            raise ValueError(f"format {details['format']!r}, expected {BASELINE_FORMAT!r}")
        explanations = document["explanations"][METHOD_KEY]
        attributions = {
            str(label): {
                str(name): float(value) for name, value in entry["global_shap_values"].items()
            }
            for label, entry in explanations.items()
        }
        features = [str(name) for name in details["features"]]
        for label, values in attributions.items():
            if list(values) != features:
                raise ValueError(f"label {label}: global_shap_values do not list the features")
        background = details["background"]
        return cls(
            path=path,
            attributions=attributions,
            features=features,
            labels=list(attributions),
            explainer=_EXPLAINER_ADAPTER.validate_python(details["explainer"]),
            background=pd.DataFrame(background["rows"], columns=features),
            background_weights=np.asarray(background["weights"], dtype=np.float64),
            model=str(details["model"]["name"]),
            version=details["model"]["version"],
        )

    def check_model(self, name: str, version: int | None, allow_change: bool) -> None:
        """Refuse another model than the baseline's, unless ``allow_change`` (then warn)."""
        if name != self.model:
            message = f"{self.path}: the baseline was made for model {self.model!r}, "
            if not allow_change:
                raise InputError(message + f"not {name!r}; set allow_model_change: true to compare")
            logger.warning("%sexplaining %r (allow_model_change)", message, name)
        elif version is not None and self.version not in (None, version):
            logger.info(
                "the baseline was made with version %s, explaining version %s",
                self.version,
                version,
            )

    def background_for(self, scan: SampleScan, source: str) -> Background:
        """The background rows a window is explained against: the baseline's, checked."""
        if scan.feature_names != self.features:
            raise InputError(
                f"{source}: features {scan.feature_names} differ from the baseline's "
                f"{self.features} ({self.path})"
            )
        frame, _ = checked_background(
            self.background,
            self.features,
            numeric_as_float(scan.reservoir[self.features]).dtypes.to_dict(),
            None,
            f"{self.path}: background",
        )
        return frame, self.background_weights


def baseline_document(
    attributions: DatasetAttributions,
    explainer: ExplainerSettings,
    *,
    model: str,
    version: ModelVersion | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The baseline file: analysis.json's shape plus what a comparable window needs."""
    background = attributions.background
    return {
        "version": "1.0",
        "explanations": {
            METHOD_KEY: {
                label: {"global_shap_values": values, "expected_value": float(expected)}
                for (label, values), expected in zip(
                    attributions.by_output().items(), attributions.expected_values, strict=True
                )
            }
        },
        "explainops": {
            "format": BASELINE_FORMAT,
            "explainops_version": __version__,
            "created_at": datetime.now(UTC).isoformat(),
            "model": {
                "name": model,
                "version": version.version if version else None,
                "alias": version.alias if version else None,
            },
            "explainer": explainer.model_dump(mode="json") | {"baseline": None},
            "explainer_used": attributions.explainer,
            "agg_method": explainer.agg_method,
            "features": list(attributions.feature_names),
            "labels": list(attributions.output_names),
            "background": {
                "rows": background.to_numpy().tolist(),
                "weights": attributions.background_weights.tolist(),
            },
            "data": data,
            "max_additivity_error": attributions.max_additivity_error,
        },
    }


def file_fingerprint(path: str) -> str:
    """``sha256:<hex>`` of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open_file(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"
