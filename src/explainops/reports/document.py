"""What a report holds, whatever it is written as: a summary, then sections of tables and figures.

The HTML page, the PDF and the notebook are three renderings of one ``Report``; a report also
carries its ``source`` (where the outputs it was drawn from are, and the options), so the notebook
and ``explainops report`` can draw it again from the files alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class Table:
    """A small table of text: the summary, a top-features list, a verdict per label."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    anchor: str = ""

    @classmethod
    def of(cls, columns: Sequence[str], rows: Sequence[Sequence[Any]], anchor: str = "") -> Table:
        """A table of ``rows`` under ``columns``; each cell as text (floats to 6 significant)."""
        return cls(
            tuple(columns), tuple(tuple(cell_text(cell) for cell in row) for row in rows), anchor
        )

    def to_frame(self) -> pd.DataFrame:
        """The table as a DataFrame of strings (as a notebook shows it)."""
        return pd.DataFrame(list(self.rows), columns=list(self.columns))


def cell_text(value: Any) -> str:
    """A value as a report shows it: floats to 6 significant digits, None as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@dataclass(frozen=True)
class FigureSpec:
    """A figure of the report: drawn on demand, so a report costs nothing until it is written."""

    anchor: str
    caption: str
    draw: Callable[[], Figure]


@dataclass(frozen=True)
class Section:
    """A titled part of the report: notes (sentences), tables, then figures."""

    anchor: str
    title: str
    notes: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    figures: tuple[FigureSpec, ...] = ()


@dataclass(frozen=True)
class Report:
    """A whole report.

    Attributes:
        title: the page's title.
        kind: what it reports on (``explanations``, ``clarify``, ``drift``).
        summary: the run in a table of (what, value) rows.
        sections: in reading order.
        source: the outputs and options it was built from (JSON-safe), for the notebook.

    """

    title: str
    kind: str
    summary: Table
    sections: tuple[Section, ...]
    source: dict[str, Any] = field(default_factory=dict)

    def section(self, anchor: str) -> Section:
        """The section with this anchor (KeyError naming the anchors there are)."""
        for section in self.sections:
            if section.anchor == anchor:
                return section
        raise KeyError(f"no section {anchor!r}; sections: {[s.anchor for s in self.sections]}")

    def show(self, anchor: str) -> None:
        """Display a section's tables and figures in a notebook (IPython's ``display``).

        Figures are drawn by matplotlib and shown as PNG images, whatever the notebook's backend.
        """
        import io

        from IPython.display import Image, display

        section = self.section(anchor)
        for note in section.notes:
            print(note)
        for table in section.tables:
            display(table.to_frame())  # type: ignore[no-untyped-call]
        for spec in section.figures:
            buffer = io.BytesIO()
            spec.draw().savefig(buffer, format="png", dpi=100, bbox_inches="tight")
            display(Image(data=buffer.getvalue(), format="png"))  # type: ignore[no-untyped-call]
