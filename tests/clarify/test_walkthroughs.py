"""The text and image walk-throughs of docs/clarify.md run as committed and print what it shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import walkthroughs


def run_walkthrough(script: str, tmp_path: Path) -> str:
    """Run examples/clarify/``script`` in a copy of demo/ and examples/; its output."""
    done = walkthroughs.run_walkthrough(script, tmp_path)
    assert done.returncode == 0, f"{script} succeeds: {done.stderr[-3000:]}"
    return done.stdout + done.stderr


def largest_difference(output: str) -> float:
    match = re.search(
        r"in process vs endpoint: largest difference of a \w+'s SHAP value (\S+)", output
    )
    assert match, f"the comparison is printed: {output[-2000:]}"
    return float(match.group(1))


@pytest.mark.slow
def test_the_text_walkthrough_prints_what_the_docs_show(tmp_path: Path) -> None:
    # when examples/clarify/text_walkthrough.sh runs
    output = run_walkthrough("text_walkthrough.sh", tmp_path)
    # then the lines docs/clarify.md quotes are printed, and the outputs it names are written
    assert "explained 40 rows: 39590 model evaluations (989.8 a row), 1 rows exact" in output, (
        "the documented evaluation count, twice (in process and endpoint)"
    )
    assert largest_difference(output) <= 1e-9, "the endpoint's values are the in-process ones"
    top = "top tokens for 'positive': ['Comfortable', 'Great', 'comfortable', 'broke',"
    assert top in output, "the documented top tokens"
    local = tmp_path / "outputs" / "clarify" / "text" / "local"
    for name in ("analysis.json", "explanations_shap/out.jsonl", "explanations_shap/units.parquet"):
        assert (local / name).is_file(), f"{name} is written"
    assert (local / "report.html").is_file(), "the report is written"


@pytest.mark.slow
def test_the_image_walkthrough_prints_what_the_docs_show(tmp_path: Path) -> None:
    # when examples/clarify/image_walkthrough.sh runs
    output = run_walkthrough("image_walkthrough.sh", tmp_path)
    # then the lines docs/clarify.md quotes are printed, and the heat maps are written
    assert "image digit_002_7: 11 segments, 502 model evaluations" in output, "the documented line"
    assert largest_difference(output) <= 1e-9, "the endpoint's values are the in-process ones"
    local = tmp_path / "outputs" / "clarify" / "images" / "local" / "explanations_shap"
    heat_maps = sorted(path.name for path in (local / "heatmaps").glob("*.png"))
    assert len(heat_maps) == 6 * 3, f"one heat map per image and label: {heat_maps}"
    assert len(list(local.glob("*.npz"))) == 6, "one .npz per image"


@pytest.mark.slow
def test_the_detection_walkthrough_prints_what_the_docs_show(tmp_path: Path) -> None:
    # when examples/clarify/detection_walkthrough.sh runs
    output = run_walkthrough("detection_walkthrough.sh", tmp_path)
    # then the lines docs/clarify.md quotes are printed, and a heat map per object is written
    assert "image sheet_1: 19 segments, 2 object(s), 302 model evaluations" in output
    assert "sheet_1: zero_0 (score 1.000), seven_1 (score 0.996)" in output
    assert "sheet_3: zero_0 (score 1.000)" in output
    assert largest_difference(output) <= 1e-9, "the endpoint's values are the in-process ones"
    local = tmp_path / "outputs" / "clarify" / "detection" / "local" / "explanations_shap"
    heat_maps = sorted(path.name for path in (local / "heatmaps").glob("*.png"))
    assert heat_maps == [
        "sheet_1_seven_1.png",
        "sheet_1_zero_0.png",
        "sheet_2_one_0.png",
        "sheet_2_seven_1.png",
        "sheet_3_zero_0.png",
        "sheet_4_one_1.png",
        "sheet_4_zero_0.png",
    ]
    assert (local.parent / "report.html").is_file(), "the report is written"
