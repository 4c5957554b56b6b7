"""A report written as HTML, PDF and notebook: a small report built by hand, and a real one
drawn by ``explainops report`` from the outputs of a linear model explained in closed form.

The page is parsed back (html.parser), the PDF rendered page by page with poppler's
``pdftoppm`` and the notebook executed by nbclient after its folder was moved.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pydantic
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from nbclient import NotebookClient
from PIL import Image
from scipy import stats
from sklearn.linear_model import LinearRegression

from explainops.reports import figures, render, text
from explainops.reports.document import FigureSpec, Report, Section, Table
from explainops.reports.output import ReportFormat, ReportOutput
from explainops.reports.rebuild import report_from_outputs

FEATURES = ["age", "bmi", "bp", "s1"]
# Input order age, bmi, bp, s1; importance order s1, bmi, bp, age (coefficient x spread).
COEFFICIENTS = np.array([0.1, -1.0, 0.5, 3.0])
SPREADS = np.array([1.0, 2.0, 3.0, 4.0])
N_ROWS = 200
CSS_URL = re.compile(r"url\(\s*['\"]?\s*([^'\")\s]*)", re.IGNORECASE)


# --- reading the page back ------------------------------------------------------------------


class Page(HTMLParser):
    """What a test reads of a page: element ids, links, meta tags and tables of text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.links: list[tuple[str, str]] = []
        self.metas: list[dict[str, str]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._sections: list[str] = []
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if "id" in attributes:
            self.ids.append(attributes["id"])
        for name, value in attributes.items():
            if name.endswith(("src", "href")):
                self.links.append((name, value))
        if tag == "meta":
            self.metas.append(attributes)
        elif tag == "section":
            self._sections.append(attributes.get("id", ""))
        elif tag == "table":
            self._table = []
            self.tables[attributes.get("id") or self._sections[-1]] = self._table
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def figure_specs(report: Report) -> list[FigureSpec]:
    return [spec for section in report.sections for spec in section.figures]


def expected_pages(report: Report) -> int:
    """1 summary page, then per section a text page (notes or tables) and a page a figure."""
    return 1 + sum(
        int(bool(section.notes or section.tables)) + len(section.figures)
        for section in report.sections
    )


def pdf_pages(pdf: Path, folder: Path) -> list[Path]:
    """Every page of ``pdf`` rendered to PNG by poppler's pdftoppm, in page order."""
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm is not None, (
        "pdftoppm not found: install Debian's poppler-utils (.ci/run installs it)"
    )
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [pdftoppm, "-r", "30", "-png", str(pdf), str(folder / "page")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return sorted(folder.glob("page-*.png"))


def dark_pixels(png: Path) -> int:
    with Image.open(png) as image:
        grey = np.asarray(image.convert("L"))
    return int((grey < 128).sum())


# --- a report built by hand -----------------------------------------------------------------


@pytest.fixture(scope="module")
def hand_report() -> Report:
    """Three sections: notes, a table and a figure; two figures alone; a note alone."""
    values = np.array([0.75, -0.5, 0.25, 2.0])
    names = ["a", "b", "c", "d"]
    return Report(
        title="Hand-made <report> & co",
        kind="explanations",
        summary=Table.of(("", ""), [("samples", 3), ("max additivity error", 1.23456789e-7)]),
        sections=(
            Section(
                anchor="first",
                title="First: a waterfall",
                notes=("One sample, feature by feature.",),
                tables=(Table.of(("rank", "feature"), [(1, "d"), (2, "a")], anchor="first-top"),),
                figures=(
                    FigureSpec(
                        "first-waterfall",
                        "Sample 7",
                        lambda: figures.waterfall(names, values, base_value=1.0, prediction=3.5),
                    ),
                ),
            ),
            Section(
                anchor="second",
                title="Second: two figures alone",
                figures=(
                    FigureSpec(
                        "second-importance",
                        "Importance",
                        lambda: figures.importance_bars(names, np.abs(values)),
                    ),
                    FigureSpec(
                        "second-ndcg",
                        "NDCG",
                        lambda: figures.ndcg_history(
                            ["w0", "w1", "w2"], {"a": np.array([1.0, 0.8, 0.95])}, threshold=0.9
                        ),
                    ),
                ),
            ),
            Section(anchor="third", title="Third: a note", notes=("Nothing to draw.",)),
        ),
    )


# --- a real report, from a linear model's outputs -------------------------------------------


@dataclass(frozen=True)
class Run:
    """The outputs of a run and the report ``explainops report`` wrote of them."""

    root: Path
    table: pd.DataFrame
    models: pd.DataFrame
    report: Report
    paths: dict[str, str]


def write_run(root: Path, formats: list[ReportFormat]) -> Run:
    """A linear model explained in closed form, its output tables, and their report.

    For a linear model with independent features the SHAP value of feature j is
    w_j (x_j - mean_j) and the base value the mean prediction.
    """
    rng = np.random.default_rng(0)
    inputs = pd.DataFrame(
        rng.normal(size=(N_ROWS, 4)) * SPREADS + [40.0, 25.0, 80.0, 5.0], columns=FEATURES
    )
    target = inputs.to_numpy() @ COEFFICIENTS + rng.normal(scale=0.1, size=N_ROWS)
    model = LinearRegression().fit(inputs, target)
    predictions = model.predict(inputs)
    shap_values = model.coef_ * (inputs.to_numpy() - inputs.to_numpy().mean(axis=0))
    ids = np.arange(N_ROWS) + 500
    table = pd.DataFrame(shap_values, columns=FEATURES)
    table.insert(0, "base_value", predictions.mean())
    table.insert(0, "prediction", predictions)
    table.insert(0, "label", "target")
    table.insert(0, "sample_id", ids)
    importance = np.abs(shap_values).mean(axis=0)
    order = np.argsort(-importance)
    models = pd.DataFrame(
        {
            "label": "target",
            "feature": np.asarray(FEATURES)[order],
            "importance": importance[order],
            "agg_method": "mean_abs",
            "rank": np.arange(1, 5),
            "native_importance": model.coef_[order],
        }
    )
    (root / "outputs").mkdir(parents=True)
    table.to_parquet(root / "outputs" / "samples_explanations.parquet", index=False)
    models.to_csv(root / "outputs" / "models_explanations.csv", index=False)
    inputs.insert(0, "patient", ids)
    inputs.to_csv(root / "inputs.csv", index=False)

    written: list[Report] = []
    original = ReportOutput.write

    def capture(self: ReportOutput, report: Report) -> dict[str, str]:
        written.append(report)
        return original(self, report)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ReportOutput, "write", capture)
        paths = report_from_outputs(
            [
                str(root / "outputs" / "samples_explanations.parquet"),
                str(root / "outputs" / "models_explanations.csv"),
            ],
            ReportOutput(path=str(root / "r" / "report.html"), formats=formats),
            samples=str(root / "inputs.csv"),
            id_column="patient",
        )
    assert len(written) == 1, f"one report written, got {len(written)}"
    return Run(root, table, models, written[0], paths)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return write_run(tmp_path_factory.mktemp("run"), ["html", "pdf", "ipynb"])


@pytest.fixture(params=["hand", "real"])
def page(request: pytest.FixtureRequest) -> tuple[Report, str]:
    """A report and its HTML page: rendered from the hand-made report, or written by a run."""
    if request.param == "hand":
        report = request.getfixturevalue("hand_report")
        return report, render.render_html(report)
    real: Run = request.getfixturevalue("run")
    return real.report, Path(real.paths["report_html"]).read_text(encoding="utf-8")


# --- HTML -----------------------------------------------------------------------------------


def test_the_page_inlines_an_svg_for_every_figure(page: tuple[Report, str]) -> None:
    # given a report and its page
    report, text = page
    parsed = Page(text)
    specs = figure_specs(report)
    # then the page holds one inline <svg> per figure, each inside its figure's element
    assert specs, "the report has figures"
    assert text.count("<svg") == len(specs), f"{text.count('<svg')} svg for {len(specs)} figures"
    missing = [spec.anchor for spec in specs if spec.anchor not in parsed.ids]
    assert not missing, f"figures without their element id: {missing}"


def test_the_page_loads_nothing(page: tuple[Report, str]) -> None:
    # given a report's page
    _, text = page
    parsed = Page(text)
    # then no src/href/url() names http:// or https://: every one is a fragment of the page
    # or inline data, so the page is one file
    remote = [value for _, value in parsed.links if re.search(r"https?://", value, re.I)]
    remote += [url for url in CSS_URL.findall(text) if re.search(r"https?://", url, re.I)]
    assert not remote, f"remote references: {[value[:60] for value in remote]}"
    outside = [
        (name, value[:60]) for name, value in parsed.links if not value.startswith(("#", "data:"))
    ]
    assert not outside, f"links out of the page: {outside}"
    assert parsed.links, "the page has links (its contents, the figures' symbols)"
    elsewhere = [url for url in CSS_URL.findall(text) if not url.startswith(("#", "data:"))]
    assert not elsewhere, f"url() out of the page: {elsewhere[:5]}"
    # and a Content-Security-Policy lets nothing load
    policies = [
        meta.get("content", "")
        for meta in parsed.metas
        if meta.get("http-equiv", "").lower() == "content-security-policy"
    ]
    assert len(policies) == 1, f"one CSP meta expected, got {policies}"
    assert "default-src 'none'" in policies[0], f"CSP does not default to none: {policies[0]}"


def test_every_section_and_link_target_is_an_element_id(page: tuple[Report, str]) -> None:
    # given a report's page
    report, text = page
    parsed = Page(text)
    # then every section and table anchor is an element id, and so is every #link
    anchors = ["summary"] + [section.anchor for section in report.sections]
    anchors += [table.anchor for section in report.sections for table in section.tables]
    missing = [anchor for anchor in anchors if anchor not in parsed.ids]
    assert not missing, f"anchors that are no element id: {missing}"
    targets = [value[1:] for name, value in parsed.links if name == "href" and value[:1] == "#"]
    dangling = [target for target in targets if target not in parsed.ids]
    assert not dangling, f"links to no element: {dangling}"
    nav = [target for target in targets if target in anchors]
    assert nav == anchors[: len(report.sections) + 1], f"the contents list {nav}"


def test_the_hand_made_page_shows_its_tables_escaped(hand_report: Report) -> None:
    # when the hand-made report is rendered
    text = render.render_html(hand_report)
    parsed = Page(text)
    # then the title is escaped, and the tables hold the report's cells
    assert "Hand-made &lt;report&gt; &amp; co" in text, "the title is not escaped"
    assert "<report>" not in text, "raw markup from the title"
    assert parsed.tables["summary"] == [
        ["samples", "3"],
        ["max additivity error", "1.23457e-07"],
    ], f"summary table {parsed.tables['summary']}"
    assert parsed.tables["first-top"] == [["rank", "feature"], ["1", "d"], ["2", "a"]], (
        f"first-top table {parsed.tables['first-top']}"
    )


def test_the_real_summary_matches_the_tables_written(run: Run) -> None:
    # given the page of the run
    parsed = Page(Path(run.paths["report_html"]).read_text(encoding="utf-8"))
    summary = dict((row[0], row[1]) for row in parsed.tables["summary"])
    # then it counts the samples, labels and features of the sample-explanations table
    assert summary["samples"] == str(run.table["sample_id"].nunique()), f"samples {summary}"
    assert summary["labels"] == "target", f"labels {summary}"
    assert summary["features"] == str(len(FEATURES)), f"features {summary}"
    # and its additivity error is the brute-force max over the rows (closed form: ~0)
    brute_force = max(
        abs(row.base_value + sum(getattr(row, name) for name in FEATURES) - row.prediction)
        / max(1.0, abs(row.prediction))
        for row in run.table.itertuples()
    )
    shown = float(summary["max additivity error"])
    assert shown == pytest.approx(brute_force, rel=1e-5, abs=1e-12), (
        f"additivity error shown {shown}, brute force {brute_force}"
    )


def test_the_real_top_features_are_the_model_explanations(run: Run) -> None:
    # given the page of the run and the model-explanations table written
    parsed = Page(Path(run.paths["report_html"]).read_text(encoding="utf-8"))
    header, *rows = parsed.tables["top-target"]
    expected = run.models.sort_values("importance", ascending=False)
    # then the top-features table lists its features by decreasing importance, with the
    # model's own importance (the coefficients) beside
    assert header == ["rank", "feature", "SHAP importance (mean_abs)", "model's own importance"], (
        f"header {header}"
    )
    assert [row[1] for row in rows] == list(expected["feature"]), f"features {rows}"
    top = run.models.loc[run.models["importance"].idxmax(), "feature"]
    assert rows[0][:2] == ["1", top], f"top feature {rows[0]}, expected {top}"
    assert top == "s1", "s1 has the largest coefficient x spread (3 x 4)"
    np.testing.assert_allclose(
        [float(row[2]) for row in rows], expected["importance"], rtol=1e-5, err_msg="importance"
    )
    np.testing.assert_allclose(
        [float(row[3]) for row in rows], expected["native_importance"], rtol=1e-5, err_msg="coef"
    )


def test_the_real_beeswarm_colours_each_feature_by_its_own_values(run: Run) -> None:
    # given the run's beeswarm: the SHAP value of a linear model's feature is w (x - mean),
    # so along a row of dots the feature's value, hence its colour, rises (w > 0) or falls
    # (w < 0) with the dot's x
    spec = run.report.section("beeswarm-target").figures[0]
    axis = spec.draw().axes[0]
    names = [label.get_text() for label in axis.get_yticklabels()]
    for name, dots in zip(names, axis.collections, strict=True):
        colours = dots.get_array()
        assert colours is not None, f"{name}: the inputs were given, the dots are coloured"
        x = np.asarray(dots.get_offsets())[:, 0]
        correlation = stats.spearmanr(x, np.asarray(colours)).statistic
        sign = np.sign(COEFFICIENTS[FEATURES.index(name)])
        # then the colours follow the feature's own values
        assert correlation * sign > 0.99, (
            f"{name}: colour vs SHAP value rank correlation {correlation:.3f}, expected "
            f"{sign:+.0f}: the dots are coloured by another feature's values"
        )


# --- PDF ------------------------------------------------------------------------------------


def test_the_hand_made_pdf_has_a_page_per_text_and_figure(
    hand_report: Report, tmp_path: Path
) -> None:
    # given the hand-made report's PDF
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render.pdf_bytes(hand_report))
    # when each page is rendered
    pages = pdf_pages(pdf, tmp_path / "pages")
    # then 6 pages: summary; first's text and figure; second's 2 figures; third's text
    assert expected_pages(hand_report) == 6, "1 + (1 + 1) + (0 + 2) + (1 + 0)"
    assert len(pages) == 6, f"{len(pages)} pages rendered, expected 6"
    assert dark_pixels(pages[0]) > 100, "the summary page is blank"


class CollectedPages:
    """Stands in for PdfPages: keeps each page's figure instead of writing it."""

    def __init__(self) -> None:
        self.figures: list[Any] = []

    def savefig(self, figure: Any) -> None:
        self.figures.append(figure)


def hand_laid_text() -> Any:
    """A figure laid out by hand whose axes fill it: text units up to its top edge."""
    units = pd.DataFrame(
        {
            "feature": ["review"] * 24,
            "unit": range(24),
            "text": [f"word{index}" for index in range(24)],
            "value": np.linspace(-1.0, 1.0, 24),
        }
    )
    return text.highlighted_text(units)


@pytest.mark.parametrize("drawn_for_the_page_first", [True, False], ids=["html+pdf", "pdf"])
@pytest.mark.parametrize(
    "draw",
    [
        hand_laid_text,
        lambda: figures.beeswarm(
            FEATURES, np.outer(np.linspace(-1, 1, 50), SPREADS), pd.DataFrame(np.ones((50, 4)))
        ),
    ],
    ids=["hand-laid", "constrained"],
)
def test_a_pdf_page_puts_its_heading_above_the_figure_it_keeps(
    draw: Any, drawn_for_the_page_first: bool
) -> None:
    # given a figure, drawn for the HTML page first or not, and its size and axes in inches
    figure = draw()
    if drawn_for_the_page_first:
        render.figure_svg(figure)
    else:
        figure.draw_without_rendering()  # its layout as drawn alone, to compare with
    width, height = figure.get_size_inches()
    inches = [axes.get_position().bounds * np.array([width, height] * 2) for axes in figure.axes]
    heading = "A section's title\nA caption long enough to need wrapping " + "word " * 30
    # when it is put on a PDF page (laid out again only when not drawn before)
    pages = CollectedPages()
    render._figure_page(pages, figure, heading, laid_out=drawn_for_the_page_first)  # type: ignore[arg-type]
    # then the page is the figure's width, taller by a band; each axes keeps its place in inches
    (page,) = pages.figures
    new_width, new_height = page.get_size_inches()
    band = new_height - height
    page.draw_without_rendering()  # as the page draws it (colour bars keep their aspect)
    assert new_width == width, f"page width {new_width} in, figure {width} in"
    assert 0.4 < band < 1.2, f"heading band {band:.2f} in for 4 lines of 9 pt"
    for axes, before in zip(page.axes, inches, strict=True):
        after = axes.get_position().bounds * np.array([width, new_height] * 2)
        # layouts computed again agree to rounding, not bit for bit
        np.testing.assert_allclose(after, before, atol=1e-3, err_msg="an axes moved or resized")
    # and the heading, wrapped inside the page, is above everything the axes draw
    renderer = FigureCanvasAgg(page).get_renderer()
    title = page.texts[-1].get_window_extent(renderer)
    assert len(page.texts[-1].get_text().splitlines()) >= 3, "the long caption was not wrapped"
    assert title.x0 >= 0 and title.x1 <= page.bbox.width, f"heading {title} beyond the page"
    drawn_top = max(axes.get_tightbbox(renderer).y1 for axes in page.axes)
    assert drawn_top <= title.y0, (
        f"the figure reaches {drawn_top:.0f} px, the heading {title.y0:.0f}"
    )


def test_the_real_pdf_renders_every_page(run: Run, tmp_path: Path) -> None:
    # when the run's PDF is rendered page by page
    pages = pdf_pages(Path(run.paths["report_pdf"]), tmp_path / "pages")
    # then it has the summary page, each section's text page and a page per figure
    expected = expected_pages(run.report)
    assert expected == 12, "summary + importance 2 + beeswarm 2 + dependence 4 + waterfalls 3"
    assert len(pages) == expected, f"{len(pages)} pages rendered, expected {expected}"
    assert dark_pixels(pages[0]) > 100, "the summary page is blank"


# --- notebook -------------------------------------------------------------------------------


def test_the_notebook_redraws_the_report_after_its_folder_moved(tmp_path: Path) -> None:
    # given a run's outputs, inputs and notebook, moved together to another folder
    written = write_run(tmp_path / "run", ["ipynb"])
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(tmp_path / "run", moved)
    assert not (tmp_path / "run").exists(), "the run's folder was moved away"
    folder = moved / "r"
    notebook = nbformat.read(folder / "report.ipynb", as_version=4)
    # when the notebook is executed in its new folder
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
    ).execute()
    # then no cell failed or wrote to stderr, and a PNG is displayed per figure of the report
    outputs: list[dict[str, Any]] = [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]
    errors = [output for output in outputs if output["output_type"] == "error"]
    assert not errors, f"cells failed: {[(e['ename'], e['evalue']) for e in errors]}"
    stderr = [output["text"] for output in outputs if output.get("name") == "stderr"]
    assert not stderr, f"cells wrote to stderr: {stderr}"
    images = sum("image/png" in output.get("data", {}) for output in outputs)
    specs = len(figure_specs(written.report))
    assert images >= specs, f"{images} PNG images shown for {specs} figures"


# --- writing ---------------------------------------------------------------------------------


def listing(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden temporary ones too), by relative path: its bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file()
    }


def fail_to_draw(*arguments: Any, **options: Any) -> None:
    raise RuntimeError("the PDF could not be drawn")


def test_a_failed_render_keeps_the_good_report_and_writes_nothing(
    hand_report: Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a good report written as HTML and PDF
    output = ReportOutput(path=str(tmp_path / "out" / "report.html"), formats=["html", "pdf"])
    output.write(hand_report)
    before = listing(tmp_path)
    assert sorted(before) == ["out/report.html", "out/report.pdf"], f"first write: {sorted(before)}"

    # when another report is written and its PDF fails to render
    monkeypatch.setattr(render, "_figure_page", fail_to_draw)
    changed = dataclasses.replace(hand_report, title="Another report")
    with pytest.raises(RuntimeError, match="could not be drawn"):
        output.write(changed)
    # then every file is byte-identical, and no file (not even a temporary one) was added
    after = listing(tmp_path)
    assert sorted(after) == sorted(before), f"files changed: {sorted(set(after) ^ set(before))}"
    assert after == before, "a file's content changed though the write failed"


def test_a_failed_render_creates_no_folder(
    hand_report: Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a report of every format in a folder that does not exist, whose PDF fails
    monkeypatch.setattr(render, "_figure_page", fail_to_draw)
    output = ReportOutput(path=str(tmp_path / "new" / "report.html"))
    # when written
    with pytest.raises(RuntimeError, match="could not be drawn"):
        output.write(hand_report)
    # then nothing was published: not the HTML rendered before the PDF, not the folder
    assert list(tmp_path.iterdir()) == [], f"written: {list(tmp_path.rglob('*'))}"


def test_the_page_and_the_pdf_draw_each_figure_once(hand_report: Report, tmp_path: Path) -> None:
    # given the hand-made report, its figures counting how often they are drawn
    drawn: dict[str, int] = {}

    def counted(spec: FigureSpec) -> FigureSpec:
        def draw() -> Any:
            drawn[spec.anchor] = drawn.get(spec.anchor, 0) + 1
            return spec.draw()

        return dataclasses.replace(spec, draw=draw)

    report = dataclasses.replace(
        hand_report,
        sections=tuple(
            dataclasses.replace(section, figures=tuple(map(counted, section.figures)))
            for section in hand_report.sections
        ),
    )
    # when its page, PDF and notebook are written
    ReportOutput(path=str(tmp_path / "report.html")).write(report)
    # then every figure was drawn once for the page and the PDF together
    assert drawn == {spec.anchor: 1 for spec in figure_specs(hand_report)}, f"drawn {drawn}"


def test_the_path_must_be_the_html_page() -> None:
    # when the report's path is the PDF's
    with pytest.raises(pydantic.ValidationError, match=r"\.html"):
        ReportOutput(path="x.pdf")
    # then it is refused with a message naming .html (checked by match)


def test_the_other_formats_are_written_beside_the_page(tmp_path: Path) -> None:
    # given a page and a notebook
    output = ReportOutput(path=str(tmp_path / "out" / "report.html"), formats=["html", "ipynb"])
    # then the notebook goes beside the page, with its own suffix
    assert output.paths() == {
        "report_html": str(tmp_path / "out" / "report.html"),
        "report_ipynb": str(tmp_path / "out" / "report.ipynb"),
    }, f"paths {output.paths()}"


# --- a large run ----------------------------------------------------------------------------


def test_a_large_run_gives_a_small_page_of_a_uniform_sample(tmp_path: Path) -> None:
    # given 200,000 samples of 2 labels (400,000 rows) and 30 features of random values
    rng = np.random.default_rng(3)
    n_samples, names = 200_000, [f"f{j:02d}" for j in range(30)]
    values = rng.normal(size=(2 * n_samples, 30)).astype(np.float32)
    table = pd.DataFrame(values, columns=names)
    table.insert(0, "base_value", np.float32(0.5))
    table.insert(0, "prediction", (0.5 + values.sum(axis=1)).astype(np.float32))
    table.insert(0, "label", np.tile(["yes", "no"], n_samples))
    table.insert(0, "sample_id", np.repeat(np.arange(n_samples), 2))
    path = tmp_path / "samples_explanations.parquet"
    table.to_parquet(path, index=False)
    # when its page is written
    output = ReportOutput(path=str(tmp_path / "r" / "report.html"), formats=["html"])
    written = report_from_outputs([str(path)], output)
    # then it is under 2 MB and says, for each label, that it draws a sample of 1000
    page = Path(written["report_html"])
    size = page.stat().st_size
    assert size < 2_000_000, f"the page is {size} bytes"
    note = "A uniform random sample of 1000 of the 200000 explained samples"
    assert page.read_text(encoding="utf-8").count(note) == 2, f"{note!r} once per label"
