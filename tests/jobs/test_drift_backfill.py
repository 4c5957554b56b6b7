"""Drift backfill: a long history cut into windows by time, compared and recorded in one run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explainops.cli import EXIT_FAILED, EXIT_INVALID_CONFIG, EXIT_OK, main
from explainops.drift.history import read_history

from ..conftest import Receiver, RegistryFixture
from ..drift.slow_ndcg import slow_ndcg
from ..io.test_capture import capture_record, csv_body
from .test_drift import DriftSetup

DAYS, ROWS_PER_DAY, SWAP_DAY = 60, 500, 40
FIRST_DAY = pd.Timestamp("2026-01-01", tz="UTC")


def day_id(day: int) -> str:
    return (FIRST_DAY + pd.Timedelta(days=day)).strftime("%Y-%m-%d")


def traffic(setup: DriftSetup) -> tuple[pd.DataFrame, pd.DataFrame]:
    """60 days of 500 rows drawn from the cancer data, in shuffled order; from day 40 the feed
    of the baseline's three strongest features is broken upstream (stuck at one value), so the
    Champion relies on other features. Returns the table with its ``ts`` column, and day 40."""
    rng = np.random.default_rng(7)
    pool = setup.registry.cancer.iloc[200:]
    days = []
    for day in range(DAYS):
        rows = pool.iloc[rng.integers(0, len(pool), ROWS_PER_DAY)].reset_index(drop=True)
        if day >= SWAP_DAY:
            rows = setup.broken_feed(rows, setup.top_features(3))
        seconds = np.sort(rng.integers(0, 86_400, ROWS_PER_DAY))
        stamps = FIRST_DAY + pd.Timedelta(days=day) + pd.to_timedelta(seconds, unit="s")
        days.append(rows.assign(ts=stamps.strftime("%Y-%m-%dT%H:%M:%SZ")))
    history = pd.concat(days, ignore_index=True)
    shuffled = history.iloc[rng.permutation(len(history))].reset_index(drop=True)
    return shuffled, days[SWAP_DAY].drop(columns="ts")


def backfill_config(setup: DriftSetup, data: Path, windows: str, **extra: str) -> Path:
    lines = "".join(f"  {key}: {value}\n" for key, value in extra.items())
    path = setup.folder / "backfill.yaml"
    path.write_text(
        "job:\n  KIND: AttributionDriftJob\n"
        + setup.model_yaml().replace("{path}", str(data))
        + f"  baseline_path: {setup.baseline}\n"
        + f"  violations_path: {setup.violations}\n"
        + f"  history_path: {setup.history}\n"
        + f"  windows: {windows}\n"
        + lines
    )
    return path


@pytest.fixture
def setup(tmp_path: Path, test_registry: RegistryFixture) -> DriftSetup:
    """A recorded baseline for the registry's cancer model (Exact Shapley values)."""
    drift = DriftSetup(tmp_path, test_registry)
    assert main(["run", str(drift.baseline_config())]) == EXIT_OK, "the baseline job must succeed"
    return drift


def test_sixty_daily_windows_show_the_drift_from_day_forty_on(
    setup: DriftSetup, webhook_receiver: Receiver
) -> None:
    # given 60 days of traffic, 500 rows a day, shuffled, whose upstream broke on day 40
    history_rows, day_forty = traffic(setup)
    data = setup.folder / "traffic.csv"
    history_rows.to_csv(data, index=False)
    alerts = f"{{KIND: WebhookAlerter, url: '{webhook_receiver.url}'}}"
    config = backfill_config(setup, data, "{time_column: ts, every: 1d}", alerts=alerts)

    # when one backfill run checks it
    assert main(["run", str(config)]) == EXIT_OK, "a drift is a result, not a crash"

    # then the history has one row per day and label, and drifts exactly from day 40 on
    history = read_history(str(setup.history))
    assert len(history) == DAYS * 2, f"60 windows x 2 labels, got {len(history)}"
    assert list(history["window_id"]) == [day_id(day) for day in range(DAYS) for _ in range(2)], (
        "windows in time order, named by their day"
    )
    assert history["n_samples"].tolist() == [ROWS_PER_DAY] * (DAYS * 2), "500 rows a window"
    drifting = history.groupby("window_id", sort=False)["ndcg"].max() < 0.9
    assert list(drifting) == [day >= SWAP_DAY for day in range(DAYS)], (
        f"NDCG < 0.9 for both labels exactly from day 40: {history['ndcg'].round(3).tolist()}"
    )
    assert history["window_time"].iloc[0] == "2026-01-01T00:00:00+00:00", "window start"

    # and day 40's NDCG is Clarify's formula on that day alone, recorded by a run of its own
    baseline = setup.attributions()
    alone = setup.window_attributions(day_forty, "day40")
    recorded = history[history["window_id"] == day_id(SWAP_DAY)].set_index("label")["ndcg"]
    for label in ("label0", "label1"):
        assert recorded[label] == pytest.approx(
            slow_ndcg(baseline[label], alone[label]), abs=1e-9
        ), f"day 40 {label}: backfill window vs the same rows explained alone"

    # and one violations file names each drifted window's labels
    violations = json.loads(setup.violations.read_text())["violations"]
    assert sorted({entry["window_id"] for entry in violations}) == [
        day_id(day) for day in range(SWAP_DAY, DAYS)
    ], "the 20 drifted windows"
    assert len(violations) == (DAYS - SWAP_DAY) * 2, "two labels per drifted window"
    first = violations[0]
    assert first["constraint_check_type"] == "feature_attribution_drift_check", "Clarify schema"
    assert (first["window_start"], first["window_end"]) == (
        "2026-02-10T00:00:00+00:00",
        "2026-02-11T00:00:00+00:00",
    ), "day 40 is 2026-02-10"

    # and one notification summarises the windows
    assert len(webhook_receiver.bodies) == 1, "one notification for the whole backfill"
    metrics = webhook_receiver.bodies[0]["metrics"]
    assert metrics["verdict"] == "drift in 20 of 60 windows (label0, label1)", metrics
    assert metrics["first_drift"] == "2026-02-10", metrics
    assert metrics["drifted_windows"] == [day_id(day) for day in range(SWAP_DAY, DAYS)], metrics
    assert (metrics["windows_skipped"], metrics["windows_without_rows"]) == (0, 0), metrics
    assert webhook_receiver.bodies[0]["n_samples"] == DAYS * ROWS_PER_DAY, "every row explained"


def test_hourly_windows_of_captured_traffic_by_capture_time(setup: DriftSetup) -> None:
    # given capture files of three hours, the last with a broken feed, and a sparse fourth hour
    rng = np.random.default_rng(3)
    pool = setup.registry.cancer.iloc[200:]
    folder = setup.folder / "capture" / "my-endpoint" / "AllTraffic" / "2026" / "01" / "05"
    for hour, size in ((10, 60), (11, 60), (12, 60), (14, 2)):
        rows = pool.iloc[rng.integers(0, len(pool), size)]
        if hour >= 12:
            rows = setup.broken_feed(rows, setup.top_features(3))
        lines = [
            capture_record(
                "text/csv",
                csv_body(rows.iloc[start : start + 3].to_numpy()),
                f"e{hour}-{start}",
                f"2026-01-05T{hour}:{start // 3:02d}:00Z",
                base64_encoded=start % 2 == 1,
            )
            for start in range(0, size, 3)
        ]
        (folder / str(hour)).mkdir(parents=True)
        (folder / str(hour) / "00-00-000-abc.jsonl").write_text("\n".join(lines) + "\n")
    reader = (
        f"{{KIND: CaptureReader, path: {setup.folder / 'capture'}, "
        f"headers: {json.dumps(setup.features)}}}"
    )
    config = backfill_config(setup, setup.folder, "{every: 1h, min_samples: 10}")
    config.write_text(
        config.read_text().replace(f"{{KIND: CsvReader, path: {setup.folder}}}", reader)
    )

    # when a backfill cuts it by the capture time
    assert main(["run", str(config)]) == EXIT_OK, "the backfill succeeds"

    # then hours 10-12 are recorded (12 drifting), hour 14 is skipped, hour 13 had no traffic
    history = read_history(str(setup.history))
    assert list(dict.fromkeys(history["window_id"])) == [
        "2026-01-05T10:00Z",
        "2026-01-05T11:00Z",
        "2026-01-05T12:00Z",
    ], "hourly windows named by their start; the 2-row hour is skipped"
    verdicts = history.groupby("window_id", sort=False)["verdict"].agg(set).tolist()
    assert verdicts == [{"ok"}, {"ok"}, {"drift"}], "the broken hour drifts"


def test_fail_on_violation_fails_the_backfill_after_writing_everything(
    setup: DriftSetup, webhook_receiver: Receiver
) -> None:
    # given three days, the last with a broken feed
    rows, _ = traffic(setup)
    three_days = rows[rows["ts"] < "2026-01-04"].copy()
    three_days.loc[three_days["ts"] >= "2026-01-03", setup.top_features(3)] = [
        setup.baseline_row[setup.features.index(name)] for name in setup.top_features(3)
    ]
    data = setup.folder / "three_days.csv"
    three_days.to_csv(data, index=False)
    alerts = f"{{KIND: WebhookAlerter, url: '{webhook_receiver.url}'}}"
    config = backfill_config(
        setup, data, "{time_column: ts, every: 1d}", alerts=alerts, fail_on_violation="true"
    )
    # when it runs, then it fails, having written the history, and notified once
    assert main(["run", str(config)]) == EXIT_FAILED, "fail_on_violation fails the run"
    assert len(read_history(str(setup.history))) == 6, "three windows recorded before failing"
    assert len(webhook_receiver.bodies) == 1, [body["text"] for body in webhook_receiver.bodies]
    body = webhook_receiver.bodies[0]
    assert body["status"] == "failed", body["text"]
    assert "1 of 3 windows (2026-01-03)" in body["error"], body["error"]


def _three_days(setup: DriftSetup) -> Path:
    rows, _ = traffic(setup)
    data = setup.folder / "three_days.csv"
    rows[rows["ts"] < "2026-01-04"].to_csv(data, index=False)
    return data


def test_a_backfill_that_records_no_window_claims_no_history(
    setup: DriftSetup, webhook_receiver: Receiver
) -> None:
    # given three days of 500 rows, windows of at least 1,000 rows, a report, and no history yet
    alerts = f"{{KIND: WebhookAlerter, url: '{webhook_receiver.url}'}}"
    report = setup.folder / "monitor" / "report.html"
    config = backfill_config(
        setup,
        _three_days(setup),
        "{time_column: ts, every: 1d, min_samples: 1000}",
        alerts=alerts,
        report=f"{{path: {report}, formats: [html]}}",
    )
    # when it runs
    assert main(["run", str(config)]) == EXIT_OK, "skipped windows are a result, not a crash"
    # then it writes an empty verdict and its report, but no history: no window was recorded
    violations = json.loads(setup.violations.read_text())
    assert violations == {"version": "1.0", "violations": []}, violations
    assert report.exists(), "the report is written"
    assert not setup.history.exists(), "no history file for no rows"
    # and the notification names only the files written
    body = webhook_receiver.bodies[0]
    assert body["metrics"]["windows_skipped"] == 3, body["metrics"]
    assert sorted(body["outputs"]) == ["report_html", "violations"], body["outputs"]


def test_a_backfill_into_a_history_of_other_columns_leaves_the_violations_file(
    setup: DriftSetup, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the violations file of an earlier backfill, and a history table of other columns
    setup.violations.parent.mkdir(parents=True, exist_ok=True)
    setup.violations.write_text('{"version": "1.0", "violations": ["PREVIOUS GOOD RESULT"]}\n')
    before = setup.violations.read_bytes()
    pd.DataFrame({"a": [1], "b": [2]}).to_parquet(setup.history)
    config = backfill_config(setup, _three_days(setup), "{time_column: ts, every: 1d}")
    # when it runs, then it fails with one line naming the history, and replaces nothing
    assert main(["run", str(config)]) == EXIT_FAILED, "an unusable history fails the backfill"
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"error: {setup.history}: the history has columns ['a', 'b']"), error
    assert setup.violations.read_bytes() == before, "the previous violations file is kept"


def test_bad_times_are_an_input_error_naming_the_rows(
    setup: DriftSetup, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a table whose second row has no valid time
    rows = setup.registry.cancer.iloc[200:203].assign(
        ts=["2026-01-01T00:00:00Z", "soon", "2026-01-01T01:00:00Z"]
    )
    data = setup.folder / "bad.csv"
    rows.to_csv(data, index=False)
    config = backfill_config(setup, data, "{time_column: ts, every: 1d}")
    # when run, then it fails naming the column and the row, and writes nothing
    assert main(["run", str(config)]) == EXIT_FAILED, "bad times fail the run"
    error = capsys.readouterr().err
    assert "time_column 'ts': 1 row(s) without a valid time (row 1: 'soon')" in error, error
    assert not setup.history.exists(), "no history written"


def test_windows_need_a_time_column_unless_reading_capture(
    setup: DriftSetup, capsys: pytest.CaptureFixture[str]
) -> None:
    # given windows without a time column on a CSV reader
    config = backfill_config(setup, setup.folder / "reference.csv", "{every: 1d}")
    # when validated, then the configuration is refused naming the field
    assert main(["run", str(config)]) == EXIT_INVALID_CONFIG, "invalid configuration"
    assert "windows.time_column: required unless inputs_samples is a CaptureReader" in (
        capsys.readouterr().err
    ), "the message names the field"


@pytest.mark.slow
def test_the_example_backfill_finds_the_broken_feed_from_day_ten(tmp_path: Path) -> None:
    # given a copy of the repository's demo, confs and examples
    root = Path(__file__).resolve().parents[2]
    for name in ("demo", "confs", "examples"):
        shutil.copytree(root / name, tmp_path / name)
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])
    # when the walk-through of docs/drift.md runs, in the copy's own registry (mlflow exports
    # the suite's registry URIs to the environment: a subprocess must not inherit them)
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("MLFLOW_")
    }
    done = subprocess.run(
        ["examples/drift/backfill.sh"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # then its history drifts in class_0 and class_1 exactly from 2026-01-11 on
    history = pd.read_csv(tmp_path / "outputs" / "drift" / "backfill" / "history.csv")
    drifted = sorted(set(history.loc[history["verdict"] == "drift", "window_id"]))
    assert drifted == [f"2026-01-{day}" for day in range(11, 15)], drifted
    assert len(history) == 14 * 3, "14 days x 3 labels"
