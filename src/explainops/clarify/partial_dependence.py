"""``methods.pdp``: which features Clarify plots, and their partial dependence on the data set."""

from __future__ import annotations

import logging

from explainops.clarify.analysis_config import AnalysisConfig, PdpMethod
from explainops.core.model import LoadedModel
from explainops.core.partial_dependence import (
    PartialDependence,
    dataset_partial_dependence,
    select_features,
)
from explainops.core.pipeline import DatasetAttributions
from explainops.core.samples import (
    SampleSource,
    feature_columns,
    first_batch,
    scan_samples,
)

logger = logging.getLogger(__name__)

FEATURES_FIELD = "methods.pdp.features"


def dataset_features(reader: SampleSource) -> list[str]:
    """The data set's features, from its first batch."""
    return feature_columns(first_batch(reader, None), None, reader.id_column)


def pdp_features(
    pdp: PdpMethod, feature_names: list[str], attributions: DatasetAttributions | None
) -> list[str]:
    """``features`` (names or indexes), else the ``top_k_features`` of the SHAP ranking.

    The ranking is the first label's global SHAP values, largest first.

    Raises:
        ConfigError: a feature that is not one, naming ``methods.pdp.features``.

    """
    ranking = attributions.importance[0].tolist() if attributions is not None else None
    return select_features(pdp.features, feature_names, ranking, pdp.top_k_features, FEATURES_FIELD)


def check_pdp_features(config: AnalysisConfig, reader: SampleSource) -> None:
    """Refuse a ``methods.pdp.features`` entry that is no feature, before any model call."""
    pdp = config.methods.pdp
    if pdp is not None and pdp.features is not None:
        pdp_features(pdp, dataset_features(reader), None)


def clarify_partial_dependence(
    pdp: PdpMethod,
    reader: SampleSource,
    model: LoadedModel,
    attributions: DatasetAttributions | None,
) -> tuple[list[PartialDependence], int]:
    """The partial dependence of the model on each ``methods.pdp`` feature, and the data set's rows.

    Without ``attributions`` (a PDP-only config) the data set is first validated, every batch,
    as the SHAP pipeline does.
    """
    if attributions is None:
        scan = scan_samples(reader, None, seed=0)
        feature_names, n_samples = scan.feature_names, scan.n_rows
    else:
        feature_names, n_samples = list(attributions.feature_names), attributions.n_samples
    features = pdp_features(pdp, feature_names, attributions)
    logger.info(
        "partial dependence of %s (grid_resolution %d)", ", ".join(features), pdp.grid_resolution
    )
    results = dataset_partial_dependence(
        reader, None, model.predict, feature_names, features, grid_resolution=pdp.grid_resolution
    )
    for result in results:
        if result.error is not None:
            logger.warning("partial dependence of %s: %s", result.feature_name, result.error)
    return results, n_samples
