"""A ``Report`` written as one self-contained HTML page, a PDF, and a notebook that redraws it.

The page inlines every figure as SVG (scatter layers as embedded PNG) and its CSS; it has no
script and a Content-Security-Policy that lets nothing load, so it works offline and never calls
home. The PDF is matplotlib's (one page a figure, after the section's text); the notebook is
nbformat's and draws the report again from the run's output files when it is executed.

``render`` draws each figure once for both the page and the PDF, and lays it out once: the PDF's
page keeps the page's layout and adds a band above it for the section's title and the caption.
"""

from __future__ import annotations

import contextlib
import io
import logging
import pprint
import re
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jinja2
import markupsafe
import matplotlib
import nbformat
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from explainops.reports.document import FigureSpec, Report, Section
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
    """The figure as inline SVG markup: text kept as text, no date, no external reference.

    A figure with a layout engine (constrained layout) already fits its canvas; one laid out by
    hand is cropped to what it draws.
    """
    buffer = io.StringIO()
    crop = "tight" if figure.get_layout_engine() is None else None
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "explainops"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches=crop)
    return _SVG_START.sub("", buffer.getvalue(), count=1)


@dataclass(frozen=True)
class Rendered:
    """A report's page and PDF, each None when it was not asked for."""

    html: str | None
    pdf: bytes | None


def render(report: Report, *, html: bool = True, pdf: bool = True) -> Rendered:
    """The report as an HTML page and a PDF, each figure drawn and laid out once for both."""
    sections = []
    pdf_buffer = io.BytesIO()
    with contextlib.ExitStack() as stack:
        pages = None
        if pdf:
            pages = stack.enter_context(PdfPages(pdf_buffer, metadata=_pdf_metadata(report)))
            _summary_page(pages, report)
        for section in report.sections:
            if pages is not None and (section.notes or section.tables):
                _text_page(pages, section.title, _section_lines(section))
            figures = []
            for spec in section.figures:
                figure = spec.draw()
                if html:
                    figures.append(_page_figure(spec, figure))
                if pages is not None:
                    _figure_page(pages, figure, f"{section.title}\n{spec.caption}", laid_out=html)
            sections.append({**_page_section(section), "figures": figures})
    return Rendered(
        html=_page(report, sections) if html else None,
        pdf=pdf_buffer.getvalue() if pdf else None,
    )


def _page_section(section: Section) -> dict[str, Any]:
    return {
        "anchor": section.anchor,
        "title": section.title,
        "notes": section.notes,
        "tables": section.tables,
        "highlight": HIGHLIGHTED,
    }


def _page_figure(spec: FigureSpec, figure: Figure) -> dict[str, Any]:
    return {
        "anchor": spec.anchor,
        "caption": spec.caption,
        "wide": figure.get_figwidth() > 5,
        "markup": markupsafe.Markup(figure_svg(figure)),
    }


def _page(report: Report, sections: list[dict[str, Any]]) -> str:
    return _ENVIRONMENT.get_template("report.html.j2").render(
        report=report,
        sections=sections,
        subtitle=_subtitle(report),
        version=__version__,
        written_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def render_html(report: Report) -> str:
    """The report as one HTML page."""
    return render(report, pdf=False).html or ""


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


def _summary_page(pdf: PdfPages, report: Report) -> None:
    summary = _table_lines(("", ""), report.summary.rows)[2:]
    contents = ["", "Sections:"] + [f"  {s.title}" for s in report.sections]
    _text_page(pdf, report.title, ["Summary", "", *summary, *contents])


# The heading band above a figure on its PDF page: 9 pt lines, and a margin above and below.
_HEADING_POINTS = 9
_HEADING_LINE_INCHES = _HEADING_POINTS * 1.25 / 72
_HEADING_MARGIN_INCHES = 0.08
# About as many 9 pt characters as fit in an inch of DejaVu Sans.
_HEADING_CHARS_PER_INCH = 13


def _figure_page(pdf: PdfPages, figure: Figure, heading: str, *, laid_out: bool) -> None:
    """The figure on a page of its own, under a band with ``heading`` wrapped to its width.

    The figure keeps the layout it has (computed now when ``laid_out`` is False): the page is
    taller by the band, and every axes keeps its place and size in inches below it.
    """
    engine = figure.get_layout_engine()
    if engine is not None:
        if not laid_out:
            engine.execute(figure)
        figure.set_layout_engine("none")
    width, height = figure.get_size_inches()
    per_line = max(20, int(width * _HEADING_CHARS_PER_INCH))
    lines = [part for line in heading.splitlines() for part in textwrap.wrap(line, per_line)]
    band = 2 * _HEADING_MARGIN_INCHES + _HEADING_LINE_INCHES * max(1, len(lines))
    scale = height / (height + band)
    for axes in figure.axes:
        box = axes.get_position(original=True)
        axes.set_position((box.x0, box.y0 * scale, box.width, box.height * scale))
    figure.set_size_inches(width, height + band)
    figure.text(
        0.5,
        1 - _HEADING_MARGIN_INCHES / (height + band),
        "\n".join(lines),
        fontsize=_HEADING_POINTS,
        ha="center",
        va="top",
        linespacing=1.25,
    )
    pdf.savefig(figure)


def pdf_bytes(report: Report) -> bytes:
    """The report as a PDF: the summary page, then each section's text and figures."""
    return render(report, html=False).pdf or b""


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
