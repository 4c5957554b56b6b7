"""The report of a text explanation: top units per label, and samples as highlighted text.

Drawn from the run's files alone, ``analysis.json`` and the long table of unit values
(``explanations_shap/units.parquet``), so the run, its notebook and ``explainops report`` show the
same report. Each highlighted sample tints every unit by its SHAP value for the label: red
pushes the output up, blue down (shap's colours), the strongest unit of the sample fully tinted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from explainops.reports.document import FigureSpec, Report, Section, Table
from explainops.reports.figures import NEGATIVE, POSITIVE, WIDTH_INCHES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SAMPLES_SHOWN = 8
TOP_UNITS_SHOWN = 15
_CHARS_PER_LINE = 88
_LINE_INCHES = 0.26


def text_report(
    title: str,
    analysis: dict[str, Any],
    units: pd.DataFrame | None,
    *,
    summary: Sequence[tuple[str, Any]],
    source: dict[str, Any],
) -> Report:
    """The report: a summary, then per label its top units, then highlighted samples."""
    kernel_shap: dict[str, Any] = analysis.get("explanations", {}).get("kernel_shap", {})
    sections = []
    for label, entry in kernel_shap.items():
        tops = entry.get("global_top_shap_text", {})
        tables = [
            Table.of(
                ("unit", "global value"),
                list(values.items())[:TOP_UNITS_SHOWN],
                anchor=f"top-{label}-{feature}",
            )
            for feature, values in tops.items()
        ]
        globals_table = Table.of(
            ("feature", "global SHAP value"),
            sorted(entry.get("global_shap_values", {}).items(), key=lambda item: -abs(item[1])),
            anchor=f"global-{label}",
        )
        sections.append(
            Section(
                anchor=f"label-{label}",
                title=f"Label {label}: top units",
                notes=(
                    f"Expected value (every unit masked, mean over rows): "
                    f"{entry.get('expected_value', float('nan')):.6g}.",
                    "A text column's global value aggregates, over rows, the sum of its units' "
                    "values; the top units aggregate each unit's values over its occurrences.",
                ),
                tables=(globals_table, *tables),
            )
        )
    if units is not None and len(units):
        samples = list(dict.fromkeys(units["sample"].tolist()))[:SAMPLES_SHOWN]
        figures = []
        for label in dict.fromkeys(units["label"].tolist()):
            for sample in samples:
                chosen = units[(units["sample"] == sample) & (units["label"] == label)]
                figures.append(
                    FigureSpec(
                        anchor=f"sample-{sample}-{label}",
                        caption=f"Sample {sample}, label {label}: units tinted by SHAP value",
                        draw=_drawer(chosen),
                    )
                )
        sections.append(
            Section(
                anchor="samples",
                title="Samples as highlighted text",
                notes=(
                    f"The first {len(samples)} samples; red units push the label's output up, "
                    "blue ones down, tinted in proportion to the sample's strongest unit.",
                ),
                figures=tuple(figures),
            )
        )
    return Report(
        title=title,
        kind="clarify_text",
        summary=Table.of(("what", "value"), list(summary)),
        sections=tuple(sections),
        source=source,
    )


def _drawer(units: pd.DataFrame) -> Any:
    frame = units.copy()
    return lambda: highlighted_text(frame)


def highlighted_text(units: pd.DataFrame) -> Figure:
    """One sample's units in reading order, each on a tint of its value (feature by feature)."""
    from matplotlib.colors import to_rgb
    from matplotlib.figure import Figure

    scale = float(np.max(np.abs(units["value"]))) if len(units) else 0.0
    scale = scale or 1.0
    lines: list[list[tuple[str, float]]] = [[]]
    width = 0
    for feature, part in units.groupby("feature", sort=False):
        if lines[-1]:
            lines.append([])
            width = 0
        text_units = part[part["unit"] >= 0]
        if text_units.empty:  # a tabular column: one box with its name
            lines[-1].append((f"{feature}", float(part["value"].iloc[0])))
            width = len(str(feature)) + 1
            continue
        lines[-1].append((f"{feature}:", 0.0))
        width = len(str(feature)) + 2
        for text, value in zip(text_units["text"], text_units["value"], strict=True):
            shown = " ".join(str(text).split())
            if width + len(shown) + 1 > _CHARS_PER_LINE and lines[-1]:
                lines.append([])
                width = 0
            lines[-1].append((shown, float(value)))
            width += len(shown) + 1
    figure = Figure(figsize=(WIDTH_INCHES, 0.3 + _LINE_INCHES * len(lines)))
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    axes.set_xlim(0, _CHARS_PER_LINE)
    axes.set_ylim(len(lines) + 0.2, -0.2)
    white = np.ones(3)
    for row, line in enumerate(lines):
        x = 0.5
        for text, value in line:
            strength = min(1.0, abs(value) / scale)
            colour = np.array(to_rgb(POSITIVE if value > 0 else NEGATIVE))
            tint = white + (colour - white) * strength * 0.85
            axes.text(
                x,
                row + 0.5,
                text,
                family="monospace",
                fontsize=8.5,
                va="center",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": tint, "edgecolor": "none"},
            )
            x += len(text) + 1
    return figure
