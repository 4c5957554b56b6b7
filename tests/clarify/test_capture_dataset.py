"""`explainops clarify` on endpoint capture files: what the Explainability Monitor explains.

A capture folder given as ``--dataset`` is read as the requests it captured; its analysis.json must
equal the one of the same rows in a CSV data set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from explainops.cli import EXIT_OK
from explainops.testing.model_server import ModelServer

from ..io.test_capture import capture_record, csv_body, json_lines_body
from ..jobs.test_clarify import FEATURES, SEED_CSV_CONFIG, clarify, csv_server, seed_model

__all__ = ["csv_server", "seed_model"]  # fixtures used by name


def write_capture(root: Path, rows: np.ndarray) -> None:
    """Two hourly capture files: CSV requests (one base64), then JSON Lines requests."""
    hours = {13: rows[:5], 14: rows[5:]}
    for hour, part in hours.items():
        folder = root / "AllTraffic" / "2026" / "01" / "05" / f"{hour:02d}"
        folder.mkdir(parents=True)
        lines = []
        for number, start in enumerate(range(0, len(part), 2)):
            chunk = part[start : start + 2]
            time = f"2026-01-05T{hour:02d}:{number:02d}:00Z"
            if hour == 13:
                body, content_type = csv_body(chunk), "text/csv"
            else:
                body, content_type = json_lines_body(chunk), "application/jsonlines"
            lines.append(
                capture_record(
                    content_type, body, f"e{hour}-{number}", time, base64_encoded=number == 1
                )
            )
        (folder / "30-000-abc.jsonl").write_text("\n".join(lines) + "\n")


def test_a_capture_folder_explains_like_the_same_rows_from_a_csv(
    tmp_path: Path, csv_server: ModelServer
) -> None:
    # given 12 rows captured at an endpoint (CSV and JSON Lines requests, some base64) and the
    # same rows as a header-less CSV
    rows = np.random.default_rng(3).random((12, 3))
    write_capture(tmp_path / "capture", rows)
    pd.DataFrame(rows).to_csv(tmp_path / "rows.csv", header=False, index=False)
    config = json.loads(SEED_CSV_CONFIG)
    config["features"] = "features"  # the JSON Lines requests' features, as FeaturesAttribute
    config["methods"]["shap"]["save_local_shap_values"] = True
    (tmp_path / "config.json").write_text(json.dumps(config))

    # when both are explained through the endpoint
    def run(dataset: Path, output: str) -> tuple[dict[str, Any], pd.DataFrame]:
        code = clarify(
            "--config", str(tmp_path / "config.json"), "--dataset", str(dataset),
            "--output", str(tmp_path / output), "--endpoint", csv_server.url,
            "--probability-attribute", "1",
        )  # fmt: skip
        assert code == EXIT_OK, f"{output}: the run succeeds"
        analysis = json.loads((tmp_path / output / "analysis.json").read_text())
        local = pd.read_csv(tmp_path / output / "explanations_shap" / "out.csv")
        return analysis["explanations"], local

    from_capture, local_capture = run(tmp_path / "capture", "from_capture")
    from_csv, local_csv = run(tmp_path / "rows.csv", "from_csv")

    # then the global and local values are the same (same rows, same seed, same batches: the
    # endpoint computes each row alone, so only the floats' text round trip could differ)
    shap_capture = from_capture["kernel_shap"]["label0"]
    shap_csv = from_csv["kernel_shap"]["label0"]
    assert list(shap_capture["global_shap_values"]) == FEATURES, "the headers name the features"
    for feature in FEATURES:
        assert shap_capture["global_shap_values"][feature] == pytest.approx(
            shap_csv["global_shap_values"][feature], rel=1e-12
        ), f"global value of {feature}"
    assert len(local_capture) == 12, "one local row per captured row"
    np.testing.assert_allclose(
        local_capture.to_numpy(), local_csv.to_numpy(), rtol=1e-12, err_msg="local values"
    )
