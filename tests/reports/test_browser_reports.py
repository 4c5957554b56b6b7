"""Every kind of report, written by a real job, opened in a real headless Chromium.

The page must load with no console error and no request beyond the file itself, show every
section and figure at a non-zero size, not be blank, and show the numbers of the output tables.
Then its PDF renders (pdftoppm) and its notebook executes (nbclient).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient
from playwright.sync_api import Browser

from explainops.cli import EXIT_OK, main

from ..browser import open_page
from ..clarify.images import image_analysis
from ..conftest import RegistryFixture
from ..jobs.test_drift import DriftSetup
from ..jobs.test_drift_backfill import backfill_config

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Run:
    """A job's outputs folder and its report files."""

    folder: Path
    html: Path

    @property
    def pdf(self) -> Path:
        return self.html.with_suffix(".pdf")

    @property
    def notebook(self) -> Path:
        return self.html.with_suffix(".ipynb")


def run(arguments: list[str]) -> None:
    code = main(arguments)
    assert code == EXIT_OK, f"explainops {' '.join(arguments[:1])} must succeed"


@pytest.fixture(scope="module")
def explanations_run(
    tmp_path_factory: pytest.TempPathFactory, test_registry: RegistryFixture
) -> Run:
    """The wine Champion explained on 40 samples, with partial dependence and a report."""
    folder = tmp_path_factory.mktemp("explanations")
    samples = test_registry.wine.iloc[::4].head(40).copy()
    samples.insert(0, "wine_id", [f"w{index}" for index in range(len(samples))])
    samples.to_csv(folder / "samples.csv", index=False)
    config = folder / "job.yaml"
    config.write_text(
        "job:\n  KIND: ExplanationsJob\n"
        f"  inputs_samples: {{KIND: CsvReader, path: {folder / 'samples.csv'}, id_column: wine_id, batch_size: 15}}\n"
        f"  models_explanations: {{KIND: CsvWriter, path: {folder / 'out' / 'models.csv'}}}\n"
        f"  samples_explanations: {{KIND: ParquetWriter, path: {folder / 'out' / 'samples.parquet'}}}\n"
        f"  partial_dependence: {{path: {folder / 'out' / 'pdp.json'}, features: [proline, alcohol]}}\n"
        f"  report: {{path: {folder / 'out' / 'report.html'}, title: Wine report, sample_ids: [w7]}}\n"
        f"  registry: {{name: wine, tracking_uri: '{test_registry.tracking_uri}'}}\n"
        "  loader: {KIND: BuiltinLoader}\n"
        "  labels: [class_0, class_1, class_2]\n"
    )
    run(["run", str(config), "--no-progress"])
    return Run(folder / "out", folder / "out" / "report.html")


@pytest.fixture(scope="module")
def clarify_run(tmp_path_factory: pytest.TempPathFactory, test_registry: RegistryFixture) -> Run:
    """`explainops clarify` with methods.shap, methods.pdp and methods.report (a title)."""
    folder = tmp_path_factory.mktemp("clarify")
    features = list(test_registry.cancer.columns)
    config = {
        "dataset_type": "text/csv",
        "headers": features,
        "methods": {
            "shap": {
                "baseline": test_registry.cancer.iloc[:3].to_numpy().tolist(),
                "num_samples": 200,
                "save_local_shap_values": True,
                "seed": 3,
            },
            "pdp": {"features": features[:2], "grid_resolution": 8},
            "report": {"name": "analysis_report", "title": "Cancer analysis"},
        },
        "predictor": {"model_name": "cancer", "label_headers": ["malignant"]},
    }
    (folder / "analysis_config.json").write_text(json.dumps(config))
    test_registry.cancer.iloc[20:60].to_csv(folder / "cancer.csv", index=False)
    run(
        [
            "clarify",
            "--config",
            str(folder / "analysis_config.json"),
            "--dataset",
            str(folder / "cancer.csv"),
            "--output",
            str(folder / "out"),
            "--model",
            "models:/cancer/1",
            "--tracking-uri",
            test_registry.tracking_uri,
            "--probability-attribute",
            "1",
        ]
    )
    return Run(folder / "out", folder / "out" / "analysis_report.html")


@pytest.fixture(scope="module")
def drift_run(tmp_path_factory: pytest.TempPathFactory, test_registry: RegistryFixture) -> Run:
    """A baseline of the cancer model, then a clean window and a drifting one, with reports."""
    folder = tmp_path_factory.mktemp("drift")
    cancer = test_registry.cancer
    cancer.iloc[:150].to_csv(folder / "reference.csv", index=False)
    row = json.dumps(cancer.iloc[:150].mean().to_numpy().tolist())
    model = f"  registry: {{name: cancer, tracking_uri: '{test_registry.tracking_uri}'}}\n"
    (folder / "baseline.yaml").write_text(
        "job:\n  KIND: AttributionBaselineJob\n"
        + model
        + f"  inputs_samples: {{KIND: CsvReader, path: {folder / 'reference.csv'}}}\n"
        + f"  explainer: {{KIND: AutoExplainer, baseline: [{row}]}}\n"
        + f"  baseline_path: {folder / 'out' / 'baseline.json'}\n"
        + f"  report: {{path: {folder / 'out' / 'baseline_report.html'}}}\n"
    )
    run(["run", str(folder / "baseline.yaml"), "--no-progress"])
    clean = cancer.iloc[150:250]
    # Feeds gone flat at the baseline row's values: the strongest features' SHAP values vanish.
    drifting = clean.copy()
    for column in ("mean_concave_points", "mean_texture", "mean_smoothness", "mean_area"):
        drifting[column] = cancer.iloc[:150][column].mean()
    for window_id, data in (("clean", clean), ("stuck", drifting)):
        data.to_csv(folder / f"{window_id}.csv", index=False)
        (folder / f"{window_id}.yaml").write_text(
            "job:\n  KIND: AttributionDriftJob\n"
            + model
            + f"  inputs_samples: {{KIND: CsvReader, path: {folder / f'{window_id}.csv'}}}\n"
            + f"  baseline_path: {folder / 'out' / 'baseline.json'}\n"
            + f"  violations_path: {folder / 'out' / 'violations.json'}\n"
            + f"  history_path: {folder / 'out' / 'history.csv'}\n"
            + f"  window_id: {window_id}\n"
            + f"  report: {{path: {folder / 'out' / 'report.html'}}}\n"
        )
        run(["run", str(folder / f"{window_id}.yaml"), "--no-progress"])
    return Run(folder / "out", folder / "out" / "report.html")


def check_page(browser: Browser, html: Path, shots: Path) -> dict[str, str]:
    """Open the page; assert it is self-contained, complete and drawn; return its texts."""
    page_html = html.read_text()
    section_ids = re.findall(r'<section id="([^"]+)"', page_html)
    figure_count = page_html.count("<figure ")
    with open_page(browser, html, screenshot_dir=shots) as page:
        section_sizes = page.element_sizes("main > section")
        figure_sizes = page.element_sizes("figure svg")
        texts = {anchor: page.text(f"section#{anchor}") for anchor in section_ids}
    assert page.console_errors == [], f"{html.name}: console errors {page.console_errors}"
    assert page.requests == [], f"{html.name}: requests beyond the file itself {page.requests}"
    assert not page.is_blank(), f"{html.name}: the screenshot {page.screenshot} is blank"
    assert len(section_sizes) == len(section_ids) > 1, "every section is on the page"
    assert all(w > 0 and h > 0 for w, h in section_sizes), f"an empty section: {section_sizes}"
    assert len(figure_sizes) == figure_count > 0, "every figure is an inline SVG"
    assert all(w > 50 and h > 50 for w, h in figure_sizes), f"a figure with no size: {figure_sizes}"
    return texts


def check_pdf(pdf: Path, tmp_path: Path) -> None:
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "pdftoppm (poppler-utils) is missing: .ci/run installs it"
    subprocess.run([pdftoppm, "-r", "30", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) > 2, f"{pdf.name}: a summary page and the sections, got {len(pages)} pages"


def check_notebook(run: Run, tmp_path: Path) -> None:
    """The notebook, moved with the outputs it reads, runs top to bottom and draws figures."""
    moved = tmp_path / "moved"
    shutil.copytree(run.folder.parent, moved)
    notebook = moved / run.notebook.relative_to(run.folder.parent)
    document = nbformat.read(notebook, as_version=4)
    NotebookClient(
        document,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(notebook.parent)}},
    ).execute()
    outputs = [
        output for cell in document.cells if cell.cell_type == "code" for output in cell.outputs
    ]
    assert not [o for o in outputs if o.output_type == "error"], "no cell fails"
    images = sum("image/png" in output.get("data", {}) for output in outputs)
    assert images == run.html.read_text().count("<figure "), "the notebook draws every figure again"


def test_explanations_report(explanations_run: Run, browser: Browser, tmp_path: Path) -> None:
    # given the job's report and its output tables
    models = pd.read_csv(explanations_run.folder / "models.csv")
    samples = pd.read_parquet(explanations_run.folder / "samples.parquet")
    # when it is opened in Chromium
    texts = check_page(browser, explanations_run.html, tmp_path)
    # then each label has its five sections, and the numbers are the tables'
    for label in ("class_0", "class_1", "class_2"):
        for kind in ("importance", "beeswarm", "dependence", "waterfalls", "pdp"):
            assert f"{kind}-{label}" in texts, f"section {kind} of {label}"
        top = models[(models["label"] == label) & (models["rank"] == 1)].iloc[0]
        lines = texts[f"importance-{label}"].splitlines()
        first = next(line for line in lines if line.startswith("1\t"))
        assert top["feature"] in first and f"{top['importance']:.6g}" in first, (
            f"{label}: rank 1 shown as in the model-explanations table: {first!r}"
        )
        largest = samples[samples["label"] == label].nlargest(1, "prediction").iloc[0]
        assert (
            f"Sample {largest['sample_id']} (largest prediction" in texts[f"waterfalls-{label}"]
        ), f"{label}: the waterfall of the largest prediction is that sample's"
        assert (
            "Sample w7 (listed" in texts[f"waterfalls-{label}"] or largest["sample_id"] == "w7"
        ), "the listed sample has a waterfall"
    additivity = (
        samples["base_value"] + samples.iloc[:, 4:].sum(axis=1) - samples["prediction"]
    ).abs()
    summary = texts["summary"]
    assert "samples explained\t40" in summary, "the summary counts the samples"
    shown = float(re.search(r"max additivity error\t(\S+)", summary).group(1))
    assert shown == pytest.approx(additivity.max(), abs=1e-12), "the summary's additivity error"
    assert "All 40 explained samples" in texts["beeswarm-class_0"], "no sampling below max_points"
    check_pdf(explanations_run.pdf, tmp_path)
    check_notebook(explanations_run, tmp_path)


def test_clarify_report(clarify_run: Run, browser: Browser, tmp_path: Path) -> None:
    # given the Clarify analysis and its report named and titled by methods.report
    analysis = json.loads((clarify_run.folder / "analysis.json").read_text())
    values = analysis["explanations"]["kernel_shap"]["malignant"]["global_shap_values"]
    # when it is opened in Chromium
    texts = check_page(browser, clarify_run.html, tmp_path)
    # then it has the SHAP and PDP sections, and the title and global values of analysis.json
    assert "<title>Cancer analysis</title>" in clarify_run.html.read_text(), "methods.report.title"
    top_feature = max(values, key=lambda name: abs(values[name]))
    first = next(
        line for line in texts["importance-malignant"].splitlines() if line.startswith("1\t")
    )
    assert top_feature in first and f"{values[top_feature]:.6g}" in first, (
        f"rank 1 is analysis.json's largest global SHAP value: {first!r}"
    )
    for kind in ("beeswarm", "dependence", "waterfalls", "pdp"):
        assert f"{kind}-malignant" in texts, f"section {kind}"
    assert len(re.findall(r'<figure id="pdp-', clarify_run.html.read_text())) == 2, "two PDP plots"
    check_pdf(clarify_run.pdf, tmp_path)
    check_notebook(clarify_run, tmp_path)


def test_drift_reports(drift_run: Run, browser: Browser, tmp_path: Path) -> None:
    # given the baseline's report and the drifting window's, and the history table
    history = pd.read_csv(drift_run.folder / "history.csv")
    baseline = json.loads((drift_run.folder / "baseline.json").read_text())
    # when both are opened in Chromium
    baseline_texts = check_page(browser, drift_run.folder / "baseline_report.html", tmp_path)
    texts = check_page(browser, drift_run.html, tmp_path)
    # then the baseline's ranking, the window's NDCG and verdict, and the history are shown
    values = baseline["explanations"]["kernel_shap"]["label0"]["global_shap_values"]
    top_feature = max(values, key=lambda name: abs(values[name]))
    assert f"label0\t1\t{top_feature}" in baseline_texts["baseline"], "the baseline's rank 1"
    stuck = history[history["window_id"] == "stuck"].iloc[0]
    assert stuck["verdict"] == "drift", "the stuck feed drifts (the test's premise)"
    assert f"label0\t{stuck['ndcg']:.6f}\t0.9\tdrift" in texts["window-stuck"], (
        "the window's NDCG and verdict as the history records them"
    )
    assert "2 windows in the history, 1 of them drifting" in texts["history"], "the history"
    clean = history[history["window_id"] == "clean"].iloc[0]
    assert clean["verdict"] == "ok" and "clean\tlabel0" not in texts["history"], (
        "only drifting windows are listed"
    )
    check_pdf(drift_run.pdf, tmp_path)
    check_notebook(drift_run, tmp_path)


def test_rebuilt_report_shows_what_the_job_showed(
    explanations_run: Run, browser: Browser, tmp_path: Path
) -> None:
    # given the job's outputs, when `explainops report` draws them again with the inputs
    folder = explanations_run.folder
    code = main(
        [
            "report",
            str(folder / "samples.parquet"),
            str(folder / "models.csv"),
            str(folder / "pdp.json"),
            "-o",
            str(tmp_path / "again" / "report.html"),
            "--samples",
            str(folder.parent / "samples.csv"),
            "--id-column",
            "wine_id",
            "--sample-id",
            "w7",
            "--formats",
            "html",
        ]
    )
    assert code == EXIT_OK, "explainops report must succeed"
    # then the same sections and the same figure captions are shown, and only the HTML is written
    job_texts = check_page(browser, explanations_run.html, tmp_path)
    texts = check_page(browser, tmp_path / "again" / "report.html", tmp_path)
    assert sorted(texts) == sorted(job_texts), "the same sections"
    for anchor in texts:
        if anchor != "summary":
            assert texts[anchor] == job_texts[anchor], f"section {anchor} shows the same"
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == ["report.html"], "html only"


def test_backfill_report_shows_every_window_and_the_drifting_ones(
    tmp_path: Path, test_registry: RegistryFixture, browser: Browser
) -> None:
    # given 20 days of cancer traffic whose strongest features' feed breaks on day 14
    setup = DriftSetup(tmp_path, test_registry)
    run(["run", str(setup.baseline_config()), "--no-progress"])
    rng = np.random.default_rng(3)
    pool = test_registry.cancer.iloc[200:]
    days = []
    for day in range(20):
        rows = pool.iloc[rng.integers(0, len(pool), 60)].reset_index(drop=True)
        if day >= 14:
            rows = setup.broken_feed(rows, setup.top_features(3))
        stamp = pd.Timestamp("2026-03-01", tz="UTC") + pd.Timedelta(days=day, hours=12)
        days.append(rows.assign(ts=stamp.strftime("%Y-%m-%dT%H:%M:%SZ")))
    pd.concat(days, ignore_index=True).to_csv(tmp_path / "traffic.csv", index=False)
    config = backfill_config(
        setup,
        tmp_path / "traffic.csv",
        "{every: 1d, time_column: ts}",
        report=f"{{path: {tmp_path / 'report' / 'backfill.html'}}}",
    )
    # when the backfill runs and its report is opened
    run(["run", str(config), "--no-progress"])
    history = pd.read_parquet(setup.history)
    texts = check_page(browser, tmp_path / "report" / "backfill.html", tmp_path)
    # then the history counts every window, and each drifting one is shown beside the baseline
    drifting = sorted(history.loc[history["verdict"] == "drift", "window_id"].unique())
    assert drifting == [f"2026-03-{day:02d}" for day in range(15, 21)], "days 14-19 drift"
    assert f"20 windows in the history, {len(drifting)} of them drifting" in texts["history"], (
        "the history section counts the windows"
    )
    shown = sorted(
        anchor.removeprefix("window-") for anchor in texts if anchor.startswith("window-")
    )
    assert shown == [window.replace("-", "_") for window in drifting], (
        "the drifting windows (the last among them) are shown beside the baseline"
    )


def test_clarify_text_report(
    test_registry: RegistryFixture, browser: Browser, tmp_path: Path
) -> None:
    # given a text analysis of reviews with methods.report
    from explainops.testing.text_models import review_classifier

    from ..clarify.test_text import CORPUS
    from ..conftest import log_sklearn_model

    model, corpus = review_classifier(CORPUS)
    version = log_sklearn_model("reviews_report", model, corpus[["text"]], "predict_proba")
    folder = tmp_path / "text"
    folder.mkdir()
    corpus.iloc[::64][["text", "label"]].to_csv(folder / "reviews.csv", index=False)
    config = {
        "dataset_type": "text/csv",
        "label": "label",
        "predictor": {"label_headers": ["negative", "positive"]},
        "methods": {
            "shap": {
                "baseline": [["[MASK]"]],
                "num_samples": 200,
                "save_local_shap_values": True,
                "text_config": {"granularity": "token", "language": "english"},
            },
            "report": {"name": "report", "title": "Reviews analysis"},
        },
    }
    (folder / "analysis_config.json").write_text(json.dumps(config))
    output = folder / "out"
    run(
        [
            "clarify",
            "--config",
            str(folder / "analysis_config.json"),
            "--dataset",
            str(folder / "reviews.csv"),
            "--output",
            str(output),
            "--model",
            f"models:/reviews_report/{version}",
            "--tracking-uri",
            test_registry.tracking_uri,
        ]
    )
    text_run = Run(output, output / "report.html")
    # when it is opened in Chromium
    texts = check_page(browser, text_run.html, tmp_path / "shots")
    # then each label lists its top units, and the samples are drawn as highlighted text
    analysis = json.loads((output / "analysis.json").read_text())
    top = analysis["explanations"]["kernel_shap"]["positive"]["global_top_shap_text"]["text"]
    first_unit = next(iter(top))
    assert first_unit in texts["label-positive"], "the top unit of analysis.json is listed"
    assert "samples" in texts
    assert text_run.html.read_text().count('<figure id="sample-') == 2 * 5, "5 samples, 2 labels"
    check_pdf(text_run.pdf, tmp_path)
    check_notebook(text_run, tmp_path)


def clarify_folder_run(
    folder: Path,
    images: dict[str, np.ndarray],
    config: dict[str, Any],
    model: str,
    test_registry: RegistryFixture,
) -> Run:
    """``explainops clarify`` of ``config`` on ``images``, into folder/out.

    ``images`` (name: pixels) are written as PNG files in folder/data first.
    """
    from explainops.core.images import encode_image

    (folder / "data").mkdir(parents=True)
    for name, pixels in images.items():
        (folder / "data" / f"{name}.png").write_bytes(encode_image(pixels, "png"))
    (folder / "analysis_config.json").write_text(json.dumps(config))
    output = folder / "out"
    run(
        [
            "clarify",
            "--config",
            str(folder / "analysis_config.json"),
            "--dataset",
            str(folder / "data"),
            "--output",
            str(output),
            "--model",
            model,
            "--tracking-uri",
            test_registry.tracking_uri,
        ]
    )
    return Run(output, output / "report.html")


def test_clarify_image_report(
    test_registry: RegistryFixture, browser: Browser, tmp_path: Path
) -> None:
    # given an image analysis of three digits with methods.report
    from explainops.testing.image_models import DIGITS, digit_dataset, log_digit_classifier

    version = log_digit_classifier("digits_report")
    pictures, _ = digit_dataset(DIGITS)
    config = image_analysis(
        "IMAGE_CLASSIFICATION", {"num_segments": 12}, "Digits analysis", num_samples=100
    )
    image_run = clarify_folder_run(
        tmp_path / "images",
        {f"digit_{position}": pictures[position] for position in (0, 1, 2)},
        config,
        f"models:/digits_report/{version}",
        test_registry,
    )
    # when it is opened in Chromium
    texts = check_page(browser, image_run.html, tmp_path / "shots")
    # then it lists the images and draws a heat map of each
    for position in (0, 1, 2):
        assert f"digit_{position}.png" in texts["images"]
    assert image_run.html.read_text().count('<figure id="heatmap-') == 3
    check_pdf(image_run.pdf, tmp_path)
    check_notebook(image_run, tmp_path)


def test_clarify_detection_report(
    test_registry: RegistryFixture, browser: Browser, tmp_path: Path
) -> None:
    # given an object detection analysis of a sheet of two digits and a blank sheet
    from sklearn.datasets import load_digits

    from explainops.testing.detector import digit_scene, log_digit_detector

    version = log_digit_detector("detector_report")
    bunch = load_digits()
    digits = [bunch.images[list(bunch.target).index(digit)] for digit in (7, 0)]
    sheets = {"two_digits": digit_scene(digits, [(6, 8), (34, 36)]), "blank": digit_scene([], [])}
    config = image_analysis(
        "OBJECT_DETECTION", {"num_segments": 12}, "Digit detector", num_samples=60
    )
    model = f"models:/detector_report/{version}"
    detection_run = clarify_folder_run(tmp_path / "sheets", sheets, config, model, test_registry)
    # when it is opened in Chromium
    texts = check_page(browser, detection_run.html, tmp_path / "shots")
    # then it lists both sheets, the blank one with no object, and draws the best object's map
    assert "two_digits.png" in texts["images"] and "blank.png" in texts["images"]
    assert "no object detected" in texts["images"]
    assert "seven_" in texts["images"] or "zero_" in texts["images"]
    assert detection_run.html.read_text().count('<figure id="heatmap-') == 1
    check_pdf(detection_run.pdf, tmp_path)
    check_notebook(detection_run, tmp_path)
