"""Reports of a run that has just finished, from what it holds in memory.

Each function returns the same ``Report`` ``build_report`` draws from the run's files, and a
source that lets the notebook do so: the rows drawn are chosen by the same seeded sampler.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from explainops.core.partial_dependence import PartialDependence
from explainops.core.pipeline import DatasetAttributions
from explainops.drift.baseline_file import AttributionBaseline
from explainops.reports.document import Report
from explainops.reports.drift import WindowImportance, drift_report
from explainops.reports.explanations import explanations_report
from explainops.reports.importance import GlobalImportance
from explainops.reports.output import ReportOutput, ReportRows
from explainops.reports.sampling import stderr_text


def run_summary(
    attributions: DatasetAttributions | None,
    *,
    model: str,
    version: int | None = None,
    alias: str | None = None,
    explainer_settings: dict[str, Any] | None = None,
    duration_s: float,
    inputs: str,
    rows: ReportRows | None = None,
    extra: Sequence[tuple[str, Any]] = (),
) -> list[tuple[str, Any]]:
    """The summary table of a run: model, samples, explainer and its settings, figures."""
    summary: list[tuple[str, Any]] = [("model", model)]
    if version is not None:
        summary.append(("model version", version))
    if alias is not None:
        summary.append(("alias", alias))
    summary.append(("samples", inputs))
    if attributions is not None:
        summary += [
            ("samples explained", attributions.n_samples),
            ("labels", ", ".join(attributions.output_names)),
            ("features", len(attributions.feature_names)),
            ("explainer", attributions.explainer),
        ]
        if explainer_settings:
            settings = ", ".join(f"{k}={v}" for k, v in explainer_settings.items() if v is not None)
            summary.append(("explainer settings", settings))
        summary.append(("background rows", len(attributions.background)))
    summary.append(("duration", f"{duration_s:.2f} s"))
    if attributions is not None:
        summary.append(("max additivity error", attributions.max_additivity_error))
    if rows is not None and rows.sampler is not None and rows.sampler.stderr_max is not None:
        summary.append(
            ("largest standard error (Kernel SHAP)", stderr_text(rows.sampler.stderr_max))
        )
    if rows is not None and rows.sampler is not None:
        summary.extend(rows.sampler.budget_summary())
    summary.extend(extra)
    return summary


def explanations_run_report(
    output: ReportOutput,
    rows: ReportRows,
    attributions: DatasetAttributions,
    models_table: pd.DataFrame,
    *,
    title: str,
    summary: list[tuple[str, Any]],
    agg_method: str,
    dependence: list[PartialDependence] | None,
    source: dict[str, Any],
) -> Report:
    """An ``ExplanationsJob``'s report."""
    return explanations_report(
        title=output.title or title,
        kind="explanations",
        summary=summary,
        importance=GlobalImportance.from_table(models_table),
        rows=rows.require().rows(),
        n_samples=attributions.n_samples,
        agg_method=agg_method,
        partial_dependence=[result.as_record() for result in dependence or []],
        pdp_labels=attributions.output_names,
        source=source
        | {"title": output.title or title, "summary": summary, "options": output.options()},
    )


def clarify_run_report(
    output: ReportOutput,
    rows: ReportRows | None,
    analysis: dict[str, Any],
    *,
    title: str,
    summary: list[tuple[str, Any]],
    pdp_labels: Sequence[str],
    source: dict[str, Any],
) -> Report:
    """A Clarify analysis's report, from its analysis.json content and the local values."""
    kernel_shap: dict[str, Any] = analysis["explanations"].get("kernel_shap", {})
    details = analysis.get("explainops", {})
    return explanations_report(
        title=output.title or title,
        kind="clarify",
        summary=summary,
        importance=GlobalImportance.of_kernel_shap(kernel_shap),
        rows=rows.require().rows() if rows is not None and rows.sampler is not None else {},
        n_samples=int(details.get("n_samples", 0)),
        agg_method=str(details.get("agg_method", "mean_abs")),
        partial_dependence=analysis["explanations"].get("pdp", []),
        pdp_labels=pdp_labels,
        source=source
        | {"title": output.title or title, "summary": summary, "options": output.options()},
    )


def drift_run_report(
    output: ReportOutput,
    baseline: AttributionBaseline,
    *,
    title: str,
    summary: list[tuple[str, Any]],
    history: pd.DataFrame | None,
    windows: Sequence[tuple[str, DatasetAttributions]],
    threshold: float | None,
    source: dict[str, Any],
) -> Report:
    """A baseline's or a drift run's report; ``windows`` are the (id, attributions) compared."""
    compared = [
        WindowImportance(window_id, attributions.by_output(), attributions.n_samples)
        for window_id, attributions in windows
    ]
    return drift_report(
        title=output.title or title,
        summary=summary,
        baseline=baseline,
        history=history,
        windows=compared,
        threshold=threshold,
        source=source
        | {
            "title": output.title or title,
            "summary": summary,
            "threshold": threshold,
            "windows": [window.as_record() for window in compared],
        },
    )
