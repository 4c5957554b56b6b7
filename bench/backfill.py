"""Benchmark a drift backfill: 60 daily windows of 500 rows in one run, and what windows cost.

Registers a StandardScaler + LogisticRegression pipeline (breast_cancer, its first 8 features)
in a throw-away SQLite MLflow registry, records an attribution baseline on 200 reference rows
(Exact Shapley values against a 10-row k-means background), and writes 60 days x 500 rows of
traffic drawn from the other rows, with a time column; from day 40 on, the feed of the
baseline's three strongest features is broken upstream (stuck at their reference means), as a
changed upstream (or model) would make the Champion rely on other features.

It then times, in this process, after a warm-up run:

* the backfill: ``AttributionDriftJob`` with ``windows: {time_column: ts, every: 1d}`` over the
  30,000 rows: 60 windows compared, 120 history rows, one violations file, one notification;
* the same 30,000 rows as one window (no ``windows``, the file without its time column): the
  same reading, validation, model and explaining, one comparison;
* the explainer alone: ``ExactExplainer.explain`` on the 30,000 rows (in the pipeline's batches
  of 10,000) with the pyfunc model, no reading or validation.

Each run is timed REPEATS times, alternating, and the best is kept (the machine's speed varies
more than the difference measured).

The per-window overhead is the backfill's time minus the one-window run's, over 60. It prints
the days whose NDCG fell below 0.9 (expected: 40 to 59).

Run it with ``.venv/bin/python bench/backfill.py`` (part of ``make bench``); about a minute on
2 cores.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

DAYS, ROWS_PER_DAY, SWAP_DAY, REFERENCE_ROWS = 60, 500, 40, 200
REPEATS = 2
FIRST_DAY = pd.Timestamp("2026-01-01", tz="UTC")


def register_model(folder: Path) -> tuple[str, pd.DataFrame]:
    """Register ``cancer`` (scaled logistic regression); return the registry URI and data."""
    import mlflow
    import mlflow.sklearn
    import skops.io
    from mlflow.models import infer_signature
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    features = features.iloc[:, :8]
    features.columns = [column.replace(" ", "_") for column in features.columns]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(features, target)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("backfill", artifact_location=(folder / "a").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="skops",
            skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model)),
            signature=infer_signature(features, model.predict_proba(features)),
            pyfunc_predict_fn="predict_proba",
            pip_requirements=["scikit-learn"],
            registered_model_name="cancer",
        )
    mlflow.MlflowClient().set_registered_model_alias("cancer", "Champion", "1")
    return uri, features


def write_traffic(folder: Path, features: pd.DataFrame, top3: list[str]) -> Path:
    """60 days x 500 rows with a ``ts`` column; the top-3 features stuck from day 40."""
    rng = np.random.default_rng(0)
    pool = features.iloc[REFERENCE_ROWS:]
    stuck = features.iloc[:REFERENCE_ROWS][top3].mean()
    days = []
    for day in range(DAYS):
        rows = pool.iloc[rng.integers(0, len(pool), ROWS_PER_DAY)].reset_index(drop=True)
        if day >= SWAP_DAY:
            rows = rows.assign(**stuck.to_dict())
        seconds = np.sort(rng.integers(0, 86_400, ROWS_PER_DAY))
        stamps = FIRST_DAY + pd.Timedelta(days=day) + pd.to_timedelta(seconds, unit="s")
        days.append(rows.assign(ts=stamps.strftime("%Y-%m-%dT%H:%M:%SZ")))
    path = folder / "traffic.csv"
    pd.concat(days, ignore_index=True).to_csv(path, index=False)
    return path


def drift_config(folder: Path, uri: str, data: Path, name: str, windows: bool) -> dict[str, Any]:
    job: dict[str, Any] = {
        "KIND": "AttributionDriftJob",
        "inputs_samples": {"KIND": "CsvReader", "path": str(data)},
        "registry": {"name": "cancer", "tracking_uri": uri},
        "baseline_path": str(folder / "baseline.json"),
        "violations_path": str(folder / name / "constraint_violations.json"),
        "history_path": str(folder / name / "history.parquet"),
    }
    if windows:
        job["windows"] = {"time_column": "ts", "every": "1d"}
    else:
        job["window_id"] = "all"
    return {"job": job}


def timed(config: dict[str, Any]) -> float:
    import explainops

    started = time.perf_counter()
    explainops.run(config)
    return time.perf_counter() - started


def main() -> None:
    import logging

    import explainops
    from explainops.drift.baseline_file import AttributionBaseline
    from explainops.drift.history import read_history
    from explainops.explainers import ExactExplainer
    from explainops.io.loaders import CustomLoader
    from explainops.io.registries import Registry

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        uri, features = register_model(folder)
        reference = folder / "reference.csv"
        features.iloc[:REFERENCE_ROWS].to_csv(reference, index=False)
        explainops.run(
            {
                "job": {
                    "KIND": "AttributionBaselineJob",
                    "inputs_samples": {"KIND": "CsvReader", "path": str(reference)},
                    "registry": {"name": "cancer", "tracking_uri": uri},
                    "explainer": {"KIND": "AutoExplainer", "num_clusters": 10},
                    "baseline_path": str(folder / "baseline.json"),
                }
            }
        )
        baseline = AttributionBaseline.read(str(folder / "baseline.json"))
        label1 = baseline.attributions["label1"]
        top3 = sorted(label1, key=lambda feature: -label1[feature])[:3]
        data = write_traffic(folder, features, top3)
        rows = DAYS * ROWS_PER_DAY

        # warm-up: imports, the registry's first lookups, the model's first load
        warm = folder / "warm.csv"
        pd.read_csv(data).head(500).to_csv(warm, index=False)
        timed(drift_config(folder, uri, warm, "warm", windows=True))

        untimed = folder / "traffic_untimed.csv"
        pd.read_csv(data).drop(columns="ts").to_csv(untimed, index=False)
        backfills, one_windows = [], []
        for repeat in range(REPEATS):
            one_windows.append(timed(drift_config(folder, uri, untimed, f"one{repeat}", False)))
            backfills.append(timed(drift_config(folder, uri, data, f"backfill{repeat}", True)))
        print("backfill runs:", [round(value, 2) for value in backfills])
        print("one-window runs:", [round(value, 2) for value in one_windows])
        backfill, one_window = min(backfills), min(one_windows)

        version = Registry(name="cancer", tracking_uri=uri).resolve("Champion")
        model = CustomLoader().load(version)
        background, weights = baseline.background, baseline.background_weights
        samples = pd.read_csv(data).drop(columns="ts").astype(np.float64)
        explainer = ExactExplainer(baseline=background, baseline_weights=weights)
        explaining = float("inf")
        for _ in range(REPEATS):  # in the pipeline's batches of 10,000 rows
            started = time.perf_counter()
            for start in range(0, rows, 10_000):
                explainer.explain(model.predict, samples.iloc[start : start + 10_000])
            explaining = min(explaining, time.perf_counter() - started)

        history = read_history(str(folder / "backfill0" / "history.parquet"))
        worst = history.groupby("window_id", sort=False)["ndcg"].max()
        drifted = [index for index, value in enumerate(worst) if value < 0.9]
        overhead = backfill - one_window
        print(f"backfill: {DAYS} daily windows x {ROWS_PER_DAY} rows = {rows} rows, 8 features,")
        print(f"  Exact Shapley values against {len(background)} background rows")
        print(
            f"backfill run (60 windows):       {backfill:7.2f} s  ({rows / backfill:,.0f} rows/s)"
        )
        print(f"same rows as one window:         {one_window:7.2f} s")
        print(f"explainer alone (no I/O):        {explaining:7.2f} s")
        print(
            f"per-window overhead:             {overhead / DAYS * 1000:7.1f} ms a window "
            f"({overhead:+.2f} s in all, {overhead / backfill:+.1%} of the run)"
        )
        print(f"explaining's share of the run:   {explaining / backfill:7.1%}")
        print(
            f"windows with NDCG < 0.9: days {drifted[0]}..{drifted[-1]} ({len(drifted)} windows)"
            if drifted
            else "windows with NDCG < 0.9: none"
        )
        print(
            "violations: "
            + str(
                len(
                    json.loads((folder / "backfill0" / "constraint_violations.json").read_text())[
                        "violations"
                    ]
                )
            )
        )


if __name__ == "__main__":
    main()
