"""``explainops report``: a report drawn again from a finished run's output files."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from explainops.errors import ConfigError
from explainops.io.datasets import reader_for_path
from explainops.reports.output import ReportOutput
from explainops.reports.sources import build_report, detect_source

logger = logging.getLogger(__name__)


def report_from_outputs(
    paths: Sequence[str],
    output: ReportOutput,
    *,
    samples: str | None = None,
    id_column: str | None = None,
) -> dict[str, str]:
    """Write the report of the outputs at ``paths``; nothing is explained again.

    Args:
        paths: a sample-explanations table (with the model-explanations table and a partial
            dependence file), or Clarify's ``analysis.json`` (``explanations_shap/out.csv`` beside
            it is found), or a drift baseline file with its history.
        output: where the report goes and which rows it draws.
        samples: the explained input samples, to colour the plots by the features' values.
        id_column: the samples' id column (as the run was configured).

    Returns:
        The files written, by name.

    """
    source = detect_source(paths, title=output.title)
    if samples is not None:
        if source["kind"] == "drift":
            raise ConfigError("--samples: a drift report draws no samples; remove it")
        reader = reader_for_path(samples, id_column=id_column)
        source["inputs"] = reader.model_dump(mode="json")
    source["options"] = output.options()
    logger.info("report on %s (%s)", ", ".join(paths), source["kind"])
    return output.write(build_report(source))
