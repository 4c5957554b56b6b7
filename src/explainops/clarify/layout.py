"""Clarify's output layout: ``analysis.json`` and the local values in ``explanations_shap/``.

``analysis.json`` holds ``explanations.kernel_shap`` when ``methods.shap`` is configured and
``explanations.pdp`` when ``methods.pdp`` is.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pandas as pd

from explainops.clarify.analysis_config import AnalysisConfig, ShapMethod
from explainops.core.explainer_settings import KernelExplainerSettings
from explainops.core.partial_dependence import PartialDependence
from explainops.core.pipeline import DatasetAttributions
from explainops.core.tables import sample_explanations_table
from explainops.explainers import Explanation
from explainops.io.datasets import CsvWriter
from explainops.version import __version__

logger = logging.getLogger(__name__)

ANALYSIS_FILE = "analysis.json"
LOCAL_VALUES_FILE = "explanations_shap/out.csv"
TEXT_LOCAL_VALUES_FILE = "explanations_shap/out.jsonl"
UNITS_FILE = "explanations_shap/units.parquet"
SEGMENTS_FILE = "explanations_shap/segments.parquet"
DEFAULT_SEED = 0
# methods.report: Clarify writes <name>.html, <name>.pdf and <name>.ipynb.
REPORT_FORMATS = ("html", "pdf", "ipynb")


def image_explanation_path(folder: str, image: str) -> str:
    """Where an image analysis in ``folder`` keeps ``image``'s explanation (a ``.npz``)."""
    return f"{folder.rstrip('/')}/explanations_shap/{image}.npz"


def output_paths(output_dir: str, config: AnalysisConfig) -> dict[str, str]:
    """analysis.json and, when the config saves them, the local values, under ``output_dir``."""
    folder = output_dir.rstrip("/")
    paths = {"analysis": f"{folder}/{ANALYSIS_FILE}"}
    shap = config.methods.shap
    if shap is not None and shap.save_local_shap_values:
        if shap.text_config is not None:  # Clarify writes local text explanations as JSON Lines
            paths["local_values"] = f"{folder}/{TEXT_LOCAL_VALUES_FILE}"
            paths["local_table"] = f"{folder}/{LOCAL_VALUES_FILE}"  # the same, a line a unit
            paths["units"] = f"{folder}/{UNITS_FILE}"
        elif shap.image_config is None:
            paths["local_values"] = f"{folder}/{LOCAL_VALUES_FILE}"
    if shap is not None and shap.image_config is not None:  # always: they are the explanation
        paths["segments"] = f"{folder}/{SEGMENTS_FILE}"
    if config.methods.report is not None:
        name = config.methods.report.name
        paths |= {f"report_{kind}": f"{folder}/{name}.{kind}" for kind in REPORT_FORMATS}
    return paths


def kernel_settings(shap: ShapMethod) -> KernelExplainerSettings:
    """The explainer ``methods.shap`` configures (Kernel SHAP, seed 0 unless set)."""
    return KernelExplainerSettings(
        num_samples=shap.num_samples,
        agg_method=shap.agg_method,
        use_logit=shap.use_logit,
        seed=shap.seed if shap.seed is not None else DEFAULT_SEED,
        num_clusters=shap.num_clusters,
    )


def local_values_table(explanation: Explanation) -> pd.DataFrame:
    """Clarify's local values: one row a sample, columns ``<feature>_<label>``, label by label."""
    n_samples, n_outputs, n_features = explanation.values.shape
    columns = [
        f"{feature}_{label}"
        for label in explanation.output_names
        for feature in explanation.feature_names
    ]
    return pd.DataFrame(
        explanation.values.reshape(n_samples, n_outputs * n_features), columns=columns
    )


def analysis_document(
    config: AnalysisConfig,
    model: str,
    attributions: DatasetAttributions | None = None,
    dependence: list[PartialDependence] | None = None,
    *,
    n_samples: int,
) -> dict[str, Any]:
    """Clarify's analysis.json content, with explainops' run details under ``explainops``.

    ``attributions`` (with ``methods.shap``) become ``explanations.kernel_shap``, ``dependence``
    (with ``methods.pdp``) ``explanations.pdp``; ``n_samples`` is the rows of the data set.
    """
    explanations: dict[str, Any] = {}
    details: dict[str, Any] = {"version": __version__, "model": model}
    if attributions is not None:
        explanations["kernel_shap"] = {
            label: {
                "global_shap_values": values,
                "expected_value": float(expected),
            }
            for (label, values), expected in zip(
                attributions.by_output().items(), attributions.expected_values, strict=True
            )
        }
        settings = kernel_settings(config.shap)
        details |= {
            "explainer": attributions.explainer,
            "agg_method": config.shap.agg_method,
            "num_samples": config.shap.num_samples,
            "use_logit": config.shap.use_logit,
            "seed": settings.seed,
        }
    if dependence is not None:
        explanations["pdp"] = [result.as_record() for result in dependence]
        assert config.methods.pdp is not None
        details["grid_resolution"] = config.methods.pdp.grid_resolution
    details["n_samples"] = n_samples
    if attributions is not None:
        details["max_additivity_error"] = attributions.max_additivity_error
    return {"version": config.version or "1.0", "explanations": explanations, "explainops": details}


@contextlib.contextmanager
def local_values_writer(
    path: str | None, rows: BatchConsumer | None = None
) -> Iterator[Callable[[Explanation, list[Any]], None] | None]:
    """A function writing each batch's local values to ``path`` (None: not saved), atomically.

    ``rows``, when given, is also handed each batch (a report's row sampler).
    """
    if path is None:
        yield None
        return
    logger.info("write local SHAP values to %s", path)
    with CsvWriter(path=path).open() as sink:

        def write(explanation: Explanation, ids: list[Any]) -> None:
            sink.write(local_values_table(explanation))
            if rows is not None:
                rows.add(sample_explanations_table(explanation, ids), explanation)

        yield write


class BatchConsumer(Protocol):
    """Takes each explained batch's sample-explanations table with its explanation."""

    def add(self, table: pd.DataFrame, explanation: Explanation, /) -> None:
        """One batch."""
