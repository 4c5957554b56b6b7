"""Reports people look at: one self-contained HTML page, a PDF and a notebook for every job.

``Report`` is what a report holds; ``render`` writes it; ``sources.build_report`` draws it again
from a run's output files (the notebook and ``explainops report`` do).
"""

from explainops.reports.document import FigureSpec, Report, Section, Table
from explainops.reports.output import ReportOutput
from explainops.reports.sources import build_report, detect_source

__all__ = [
    "FigureSpec",
    "Report",
    "ReportOutput",
    "Section",
    "Table",
    "build_report",
    "detect_source",
]
