"""A ``Report`` written as one self-contained HTML page, a PDF, and a notebook that redraws it.

The page inlines every figure as SVG (scatter layers as embedded PNG) and its CSS; it has no
script and a Content-Security-Policy that lets nothing load, so it works offline and never calls
home. The PDF is matplotlib's (one page a figure, after the section's text); the notebook is
nbformat's and draws the report again from the run's output files when it is executed.
"""

from __future__ import annotations

import io
import logging
import pprint
import re
import textwrap
from datetime import UTC, datetime
from typing import Any

import jinja2
import markupsafe
import matplotlib
import nbformat
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from explainops.reports.document import Report, Section
from explainops.version import __version__

logger = logging.getLogger(__name__)

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("explainops.reports", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    trim_blocks=False,
)
# The XML prolog and DOCTYPE matplotlib writes before <svg> are not allowed inside HTML.
_SVG_START = re.compile(r"^.*?(?=<svg)", re.DOTALL)
# Figures whose captions say which cells to mark (a drifted window's verdict).
HIGHLIGHTED = frozenset({"drift", "DRIFT"})


def figure_svg(figure: Figure) -> str:
    """The figure as inline SVG markup: text kept as text, no date, no external reference."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "explainops"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return _SVG_START.sub("", buffer.getvalue(), count=1)


def render_html(report: Report) -> str:
    """The report as one HTML page."""
    sections = [
        {
            "anchor": section.anchor,
            "title": section.title,
            "notes": section.notes,
            "tables": section.tables,
            "highlight": HIGHLIGHTED,
            "figures": [
                {
                    "anchor": spec.anchor,
                    "caption": spec.caption,
                    "wide": figure.get_figwidth() > 5,
                    "markup": markupsafe.Markup(figure_svg(figure)),
                }
                for spec in section.figures
                for figure in (spec.draw(),)
            ],
        }
        for section in report.sections
    ]
    return _ENVIRONMENT.get_template("report.html.j2").render(
        report=report,
        sections=sections,
        subtitle=_subtitle(report),
        version=__version__,
        written_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def _subtitle(report: Report) -> str:
    what = {"explanations": "Explanations", "clarify": "Clarify analysis", "drift": "Drift"}
    return f"{what.get(report.kind, report.kind)} report · {len(report.sections)} sections"


def _text_page(pdf: PdfPages, title: str, lines: list[str]) -> None:
    """A page of text: a heading, then wrapped lines (monospaced tables keep their columns)."""
    per_page = 52
    chunks = [lines[i : i + per_page] for i in range(0, max(1, len(lines)), per_page)]
    for number, chunk in enumerate(chunks):
        page = Figure(figsize=(8.27, 11.69))  # A4
        page.text(0.07, 0.95, title + (" (continued)" if number else ""), fontsize=15, va="top")
        page.text(
            0.07, 0.91, "\n".join(chunk), fontsize=8.5, va="top", family="monospace", wrap=False
        )
        pdf.savefig(page)


def _table_lines(columns: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> list[str]:
    cells = [list(columns), *[list(row) for row in rows]]
    widths = [min(48, max(len(row[i]) for row in cells)) for i in range(len(columns))]
    lines = []
    for number, row in enumerate(cells):
        lines.append(
            "  ".join(cell[:48].ljust(width) for cell, width in zip(row, widths, strict=True))
        )
        if number == 0 and any(columns):
            lines.append("  ".join("-" * width for width in widths))
    return lines


def _section_lines(section: Section) -> list[str]:
    lines: list[str] = []
    for note in section.notes:
        lines.extend(textwrap.wrap(note, 100) or [""])
    for table in section.tables:
        lines.append("")
        lines.extend(_table_lines(table.columns, table.rows))
    return lines


def pdf_bytes(report: Report) -> bytes:
    """The report as a PDF: the summary page, then each section's text and figures."""
    buffer = io.BytesIO()
    with PdfPages(buffer, metadata=_pdf_metadata(report)) as pdf:
        summary = _table_lines(("", ""), report.summary.rows)[2:]
        contents = ["", "Sections:"] + [f"  {s.title}" for s in report.sections]
        _text_page(pdf, report.title, ["Summary", "", *summary, *contents])
        for section in report.sections:
            if section.notes or section.tables:
                _text_page(pdf, section.title, _section_lines(section))
            for spec in section.figures:
                figure = spec.draw()
                figure.suptitle(f"{section.title}\n{spec.caption}", fontsize=9, ha="center")
                pdf.savefig(figure)
    return buffer.getvalue()


def _pdf_metadata(report: Report) -> dict[str, Any]:
    return {"Title": report.title, "Creator": f"explainops {__version__}", "CreationDate": None}


def notebook(report: Report, source: dict[str, Any] | None = None) -> nbformat.NotebookNode:
    """A notebook that reads the run's outputs and draws each section again, top to bottom.

    ``source`` is the report's source as the notebook should read it (paths relative to its
    folder); by default the report's own.
    """
    cells = [
        nbformat.v4.new_markdown_cell(
            f"# {report.title}\n\nThis notebook draws the report again from the run's output "
            "files (paths relative to this notebook's folder). Run it top to bottom; edit "
            "`source` to point at other outputs."
        ),
        nbformat.v4.new_code_cell(
            "from explainops.reports import build_report\n\n"
            f"source = {_python_literal(report.source if source is None else source)}\n"
            "report = build_report(source)\n"
            "report.summary.to_frame()"
        ),
    ]
    for section in report.sections:
        cells.append(nbformat.v4.new_markdown_cell(f"## {section.title}"))
        cells.append(nbformat.v4.new_code_cell(f"report.show({section.anchor!r})"))
    document = nbformat.v4.new_notebook(cells=cells)
    document.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return document


def _python_literal(value: Any) -> str:
    """A JSON-safe value as Python source."""
    return pprint.pformat(value, sort_dicts=True, width=88)


def notebook_text(report: Report, source: dict[str, Any] | None = None) -> str:
    """The notebook as the text of an ``.ipynb`` file."""
    return str(nbformat.writes(notebook(report, source)))
