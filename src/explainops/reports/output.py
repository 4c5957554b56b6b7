"""The ``report:`` output of a job: where the page goes, what it draws, and writing it."""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

import pandas as pd
import pydantic

from explainops.core.component import Component, PathText
from explainops.errors import ConfigError
from explainops.explainers import Explanation
from explainops.io.datasets import atomic_file
from explainops.reports.document import Report
from explainops.reports.sampling import DEFAULT_MAX_POINTS, RowSampler

logger = logging.getLogger(__name__)

ReportFormat = Literal["html", "pdf", "ipynb"]
REPORT_FORMATS: tuple[ReportFormat, ...] = ("html", "pdf", "ipynb")
MAX_POINTS_LIMIT = 20_000


class ReportOutput(Component):
    """A report of the run: one self-contained HTML page, with a PDF and a notebook beside it.

    Args:
        path: the HTML page (``.html``); the PDF and the notebook are written beside it with
            the same name and their own suffix (``report.pdf``, ``report.ipynb``).
        title: the page's title (default: the job's and the model's names).
        formats: which of ``html``, ``pdf`` and ``ipynb`` to write.
        waterfalls: per label, how many samples of largest and of smallest prediction get a
            waterfall plot (0: none but ``sample_ids``).
        sample_ids: samples that get a waterfall too, by id.
        max_points: the most samples the beeswarm and scatter plots draw (a uniform sample).
        seed: the seed of that sample.

    """

    path: PathText
    title: str | None = None
    formats: Annotated[list[ReportFormat], pydantic.Field(min_length=1)] = pydantic.Field(
        default_factory=lambda: list(REPORT_FORMATS)
    )
    waterfalls: Annotated[int, pydantic.Field(ge=0, le=20)] = 1
    sample_ids: list[int | str] = pydantic.Field(default_factory=list)
    max_points: Annotated[int, pydantic.Field(ge=1, le=MAX_POINTS_LIMIT)] = DEFAULT_MAX_POINTS
    seed: int = 0

    @pydantic.field_validator("path")
    @classmethod
    def _check_suffix(cls, path: str) -> str:
        if PurePosixPath(path).suffix.lower() not in (".html", ".htm"):
            raise ValueError(f"{path!r}: the report's path is its HTML page; end it in .html")
        return path

    def paths(self) -> dict[str, str]:
        """Every file written, by output name (``report_html``, ``report_pdf``, ...)."""
        stem = self.path[: -len(PurePosixPath(self.path).suffix)]
        return {
            f"report_{kind}": self.path if kind == "html" else f"{stem}.{kind}"
            for kind in self.formats
        }

    def options(self) -> dict[str, Any]:
        """The row-choosing options, as a report's source keeps them."""
        return {
            "max_points": self.max_points,
            "waterfalls": self.waterfalls,
            "sample_ids": list(self.sample_ids),
            "seed": self.seed,
        }

    def collector(self) -> ReportRows:
        """Collects the rows the report draws from each explained batch."""
        return ReportRows(self)

    def write(self, report: Report) -> dict[str, str]:
        """Render every format, then publish each file atomically; the paths written."""
        return self.publish(self.render(report))

    def render(self, report: Report) -> dict[str, tuple[str, str | bytes]]:
        """Every format's content (with its file mode), by output name; writes nothing.

        A job renders its report before it publishes any output, so that a report that cannot
        be drawn fails the run with every earlier output as it was.
        """
        # matplotlib, Jinja2 and nbformat load only when a report is written.
        from explainops.reports.render import notebook_text, render
        from explainops.reports.sources import rebased

        # the page and the PDF draw each figure once between them
        drawn = render(report, html="html" in self.formats, pdf="pdf" in self.formats)
        contents: dict[str, tuple[str, str | bytes]] = {}
        for name, path in self.paths().items():
            kind = name.removeprefix("report_")
            if kind == "html":
                contents[name] = ("w", drawn.html or "")
            elif kind == "pdf":
                contents[name] = ("wb", drawn.pdf or b"")
            else:
                folder = str(PurePosixPath(path).parent)
                contents[name] = ("w", notebook_text(report, rebased(report.source, folder)))
        return contents

    def publish(self, contents: dict[str, tuple[str, str | bytes]]) -> dict[str, str]:
        """Write what ``render`` gave, each file atomically; the paths written."""
        paths = self.paths()
        for name, (mode, content) in contents.items():
            logger.info("write the report %s", paths[name])
            with atomic_file(paths[name], mode) as handle:
                handle.write(content)
        return {name: paths[name] for name in contents}


class ReportRows:
    """Feeds each batch's explanation to a ``RowSampler``, with the samples' input values."""

    def __init__(self, output: ReportOutput) -> None:
        self.output = output
        self.sampler: RowSampler | None = None

    def add(self, table: pd.DataFrame, explanation: Explanation) -> None:
        """One batch: its sample-explanations table and the explanation it came from."""
        if self.sampler is None:
            self.sampler = RowSampler(explanation.feature_names, **self.output.options())
        features = (
            pd.DataFrame(explanation.data, columns=list(explanation.feature_names))
            if explanation.data is not None
            else None
        )
        self.sampler.add(table, features)

    def require(self) -> RowSampler:
        """The sampler, once some batch was explained."""
        if self.sampler is None:
            raise ConfigError("report: no sample was explained, nothing to report")
        return self.sampler
