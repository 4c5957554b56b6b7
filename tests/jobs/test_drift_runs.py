"""Drift runs as a scheduler starts them: overlapping on one history, failing on a violation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from explainops.cli import EXIT_FAILED, EXIT_OK, main
from explainops.drift.history import read_history

from ..conftest import Receiver, RegistryFixture
from .test_drift import DriftSetup

EXPLAINOPS = str(Path(sys.executable).with_name("explainops"))


@pytest.fixture
def setup(tmp_path: Path, test_registry: RegistryFixture) -> DriftSetup:
    """A recorded baseline for the registry's cancer model."""
    drift = DriftSetup(tmp_path, test_registry)
    assert main(["run", str(drift.baseline_config())]) == EXIT_OK, "the baseline job must succeed"
    return drift


RUNS = 3


@pytest.mark.slow
def test_overlapping_drift_runs_keep_every_window(setup: DriftSetup) -> None:
    # given three windows monitored at the same time into one history file (an hourly run and
    # a backfill overlapping; tests/drift/test_history.py races twelve appends in both layouts)
    path = str(setup.folder / "monitor" / "shared-history.parquet")
    configs = []
    for number in range(RUNS):
        window = setup.registry.cancer.iloc[200 + 50 * number : 250 + 50 * number]
        config = setup.window_config(window, f"w{number}")
        config.write_text(
            config.read_text().replace(f"history_path: {setup.history}", f"history_path: {path}")
        )
        configs.append(config)
    environment = os.environ | {"MLFLOW_DISABLE_TELEMETRY": "true"}
    # when they run in three processes at once
    runs = [
        subprocess.Popen(
            [EXPLAINOPS, "run", "--no-progress", str(config)],
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
            cwd=setup.folder,
        )
        for config in configs
    ]
    errors = [run.communicate(timeout=300)[1] for run in runs]
    # then every run succeeded and the history holds every window, both labels each
    assert [run.returncode for run in runs] == [EXIT_OK] * RUNS, errors
    table = read_history(path)
    assert sorted(table["window_id"]) == sorted(f"w{n}" for n in range(RUNS) for _ in range(2)), (
        f"no window lost: {table['window_id'].tolist()}"
    )


def test_fail_on_violation_notifies_once_with_the_drift(
    setup: DriftSetup, webhook_receiver: Receiver
) -> None:
    # given a window whose top features are stuck, monitored with fail_on_violation
    stuck = setup.broken_feed(setup.registry.cancer.iloc[300:400], setup.top_features(3))
    alerts = f"{{KIND: WebhookAlerter, url: '{webhook_receiver.url}'}}"
    config = setup.window_config(stuck, "stuck", alerts=alerts, fail_on_violation="true")
    # when it runs
    assert main(["run", str(config)]) == EXIT_FAILED, "fail_on_violation fails the run"
    # then one notification says it failed, and why, with the drift's figures
    assert len(webhook_receiver.bodies) == 1, [body["text"] for body in webhook_receiver.bodies]
    body = webhook_receiver.bodies[0]
    assert body["status"] == "failed", body["text"]
    assert body["metrics"]["verdict"] == "drift in label0, label1", body["metrics"]
    assert "fail_on_violation" in body["error"], body["error"]
    assert set(body["metrics"]["ndcg"]) == {"label0", "label1"}, "NDCGs notified"
    # and the window's results were written before failing
    assert len(pd.read_parquet(setup.history)) == 2, "history appended"
