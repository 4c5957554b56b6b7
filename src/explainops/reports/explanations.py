"""The report of explained samples: a summary, then each label's figures.

Per label: importance, beeswarm, dependence, waterfalls and partial dependence.

Used by ``ExplanationsJob`` and by ``ClarifyJob`` (whose analysis.json and local values hold the
same content), and by ``explainops report`` from their output files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from explainops.reports import figures
from explainops.reports.document import FigureSpec, Report, Section, Table
from explainops.reports.importance import GlobalImportance
from explainops.reports.sampling import LabelRows, SampledRows

DEPENDENCE_PLOTS = 3
TOP_FEATURES_LISTED = 10


def anchor(*parts: str) -> str:
    """An HTML id from words: ``importance-class_0``."""
    return "-".join(re.sub(r"[^A-Za-z0-9_]+", "_", part).strip("_") or "x" for part in parts)


def explanations_report(
    *,
    title: str,
    kind: str,
    summary: Sequence[tuple[str, Any]],
    importance: Sequence[GlobalImportance],
    rows: dict[str, LabelRows],
    n_samples: int,
    agg_method: str,
    partial_dependence: Sequence[dict[str, Any]] = (),
    pdp_labels: Sequence[str] = (),
    source: dict[str, Any] | None = None,
) -> Report:
    """The report's sections, label by label.

    Args:
        title: the page title.
        kind: ``explanations`` or ``clarify``.
        summary: (what, value) rows about the run.
        importance: the global attributions per label.
        rows: per label, the sampled rows and waterfall rows (``RowSampler.rows``); a label
            without rows gets its importance section only.
        n_samples: how many samples were explained (the sample's size is said against it).
        agg_method: how the local values were aggregated into the global importance.
        partial_dependence: Clarify-style ``explanations.pdp`` records.
        pdp_labels: the outputs the records' ``model_predictions`` are listed for.
        source: how to build the report again from files (for the notebook).

    """
    sections: list[Section] = []
    for entry in importance:
        label_rows = rows.get(entry.label)
        sections.append(_importance_section(entry, agg_method, n_samples))
        if label_rows is not None and len(label_rows.points):
            sections.append(_beeswarm_section(entry, label_rows.points, n_samples))
            sections.append(_dependence_section(entry, label_rows.points))
        if label_rows is not None and label_rows.waterfalls:
            sections.append(_waterfall_section(entry, label_rows.waterfalls))
        if partial_dependence:
            sections.append(_pdp_section(entry.label, partial_dependence, pdp_labels))
    if not importance and partial_dependence:
        labels = _output_names(partial_dependence, pdp_labels)
        sections.extend(_pdp_section(label, partial_dependence, labels) for label in labels)
    return Report(
        title=title,
        kind=kind,
        summary=Table.of(("", ""), summary, anchor="summary"),
        sections=tuple(sections),
        source=source or {},
    )


def _output_names(records: Sequence[dict[str, Any]], names: Sequence[str]) -> list[str]:
    """The outputs partial dependence records hold: ``names`` if they fit, else label0, ..."""
    counts = [len(r["model_predictions"]) for r in records if "model_predictions" in r]
    n_outputs = counts[0] if counts else 1
    return list(names) if len(names) == n_outputs else [f"label{i}" for i in range(n_outputs)]


def _importance_section(entry: GlobalImportance, agg_method: str, n_samples: int) -> Section:
    ranked = entry.ranked()
    has_native = entry.native is not None
    columns = ("rank", "feature", f"SHAP importance ({agg_method})")
    table = Table.of(
        columns + (("model's own importance",) if has_native else ()),
        [row if has_native else row[:3] for row in ranked[:TOP_FEATURES_LISTED]],
        anchor=anchor("top", entry.label),
    )
    note = f"Aggregated ({agg_method}) over all {n_samples} explained samples."
    if has_native:
        note += " Beside it, the model's own importance (feature_importances_ or coef_)."
    return Section(
        anchor=anchor("importance", entry.label),
        title=f"{entry.label}: global importance",
        notes=(note,),
        tables=(table,),
        figures=(
            FigureSpec(
                anchor("importance", entry.label, "figure"),
                f"Global importance of each feature for {entry.label}",
                lambda: figures.importance_bars(
                    entry.feature_names,
                    entry.importance,
                    native=entry.native,
                    agg_method=agg_method,
                ),
            ),
        ),
    )


def _sample_note(points: SampledRows, n_samples: int) -> str:
    if len(points) < n_samples:
        return (
            f"A uniform random sample of {len(points)} of the {n_samples} explained samples "
            "(each dot is one sample)."
        )
    return f"All {n_samples} explained samples (each dot is one sample)."


def _beeswarm_section(entry: GlobalImportance, points: SampledRows, n_samples: int) -> Section:
    names = entry.feature_names
    colour = (
        "Colour: the feature's value, low (blue) to high (red)."
        if points.features is not None
        else "Grey: the samples' input values were not available to colour the dots."
    )
    return Section(
        anchor=anchor("beeswarm", entry.label),
        title=f"{entry.label}: SHAP values of each sample",
        notes=(_sample_note(points, n_samples), colour),
        figures=(
            FigureSpec(
                anchor("beeswarm", entry.label, "figure"),
                f"Beeswarm of the SHAP values for {entry.label}",
                lambda: figures.beeswarm(
                    names,
                    points.values(names),
                    points.features[list(names)] if points.features is not None else None,
                ),
            ),
        ),
    )


def _dependence_section(entry: GlobalImportance, points: SampledRows) -> Section:
    top = [feature for _, feature, _, _ in entry.ranked()[:DEPENDENCE_PLOTS]]
    specs = []
    for feature in top:
        feature_values = (
            points.features[feature].to_numpy()
            if points.features is not None and feature in points.features
            else None
        )
        shap_values = points.frame[feature].to_numpy(dtype=np.float64)
        specs.append(
            FigureSpec(
                anchor("dependence", entry.label, feature),
                f"SHAP value of {feature} against its value ({entry.label})",
                partial(
                    figures.dependence, feature, feature_values, shap_values, label=entry.label
                ),
            )
        )
    return Section(
        anchor=anchor("dependence", entry.label),
        title=f"{entry.label}: dependence on the top features",
        notes=(f"The {len(top)} features of largest importance, on the same sample of rows.",),
        figures=tuple(specs),
    )


def _waterfall_section(
    entry: GlobalImportance, waterfalls: Sequence[tuple[str, SampledRows]]
) -> Section:
    specs = []
    for why, row in waterfalls:
        record = row.frame.iloc[0]
        sample_id = record["sample_id"]
        feature_values = (
            list(row.features.iloc[0][list(entry.feature_names)])
            if row.features is not None
            else None
        )
        specs.append(
            FigureSpec(
                anchor("waterfall", entry.label, str(sample_id)),
                f"Sample {sample_id} ({why}: {float(record['prediction']):.4g})",
                partial(
                    figures.waterfall,
                    entry.feature_names,
                    row.values(entry.feature_names)[0],
                    base_value=float(record["base_value"]),
                    prediction=float(record["prediction"]),
                    feature_values=feature_values,
                ),
            )
        )
    return Section(
        anchor=anchor("waterfalls", entry.label),
        title=f"{entry.label}: how single predictions are made",
        notes=(
            "Each bar is a feature's SHAP value: from the base value E[f(X)] to the sample's "
            "prediction f(x). The samples of largest and smallest prediction, then those listed "
            "in the configuration.",
        ),
        figures=tuple(specs),
    )


def _pdp_section(
    label: str, records: Sequence[dict[str, Any]], pdp_labels: Sequence[str]
) -> Section:
    output = list(pdp_labels).index(label) if label in pdp_labels else 0
    specs, failed = [], []
    for record in records:
        feature = str(record["feature_name"])
        if "error" in record:
            failed.append(f"{feature}: {record['error']}")
            continue
        predictions = np.asarray(record["model_predictions"], dtype=np.float64)
        average = predictions[output] if predictions.ndim == 2 else predictions
        distribution = record.get("data_distribution")
        specs.append(
            FigureSpec(
                anchor("pdp", label, feature),
                f"Partial dependence of {label} on {feature}",
                partial(
                    figures.partial_dependence,
                    feature,
                    record["feature_values"],
                    average,
                    label=label,
                    data_type=str(record.get("data_type", "numerical")),
                    data_distribution=np.asarray(distribution, dtype=np.float64)
                    if distribution
                    else None,
                ),
            )
        )
    notes = ["The model's mean prediction over the data set as each feature is set to each value."]
    notes += [f"Not computed: {line}" for line in failed]
    return Section(
        anchor=anchor("pdp", label),
        title=f"{label}: partial dependence",
        notes=tuple(notes),
        figures=tuple(specs),
    )
