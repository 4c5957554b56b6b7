"""Benchmark explainops at scale: 1M rows x 20 features, LocalEngine vs DaskEngine.

Generates a synthetic binary-classification data set (Parquet, 50k-row row groups) and registers
two models in a throw-away SQLite MLflow registry:

* a LightGBM classifier (100 trees of depth <= 6), explained by TreeExplainer on its margin
  against a 5-row k-means baseline;
* a StandardScaler + LogisticRegression pipeline, explained through its pyfunc
  ``predict_proba`` by KernelExplainer (42 coalitions per row, a one-row k-means baseline).

It runs the ExplanationsJob on all rows with LocalEngine limited to one thread, with LocalEngine
on every core (numba and BLAS use them all), and with a DaskEngine LocalCluster of 2 workers x 1
thread. Each job runs in its own process and reports wall time, rows/s and the driver's peak RSS
(the Dask workers are separate processes). The speed-up is LocalEngine's (every core) wall time
over DaskEngine's; the outputs of both engines are compared value by value.

Run it with ``.venv/bin/python bench/scale.py`` (``--rows`` to change the size); it takes
several minutes on 2 cores. Part of ``make bench``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from explainops.engines import thread_limits

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

N_FEATURES = 20
ROW_GROUP = 50_000
BATCH_SIZE = 50_000


def make_data(folder: Path, n_rows: int) -> tuple[Path, pd.DataFrame, np.ndarray]:
    """Write n_rows x 20 features to Parquet; return the path and a training subset."""
    rng = np.random.default_rng(0)
    columns = [f"x{index:02d}" for index in range(N_FEATURES)]
    weights = rng.normal(size=N_FEATURES)
    path = folder / "samples.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    for start in range(0, n_rows, ROW_GROUP):
        size = min(ROW_GROUP, n_rows - start)
        frame = pd.DataFrame(rng.normal(size=(size, N_FEATURES)), columns=columns)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()
    train = pd.DataFrame(rng.normal(size=(100_000, N_FEATURES)), columns=columns)
    logits = train.to_numpy() @ weights + 0.5 * train["x00"] * train["x01"]
    target = (logits + rng.logistic(size=len(train)) > 0).astype(int).to_numpy()
    return path, train, target


def register_models(folder: Path, train: pd.DataFrame, target: np.ndarray) -> str:
    """Register ``trees`` (LightGBM) and ``linear`` (logistic pipeline); return the URI."""
    import lightgbm
    import mlflow
    import mlflow.lightgbm
    import mlflow.sklearn
    import skops.io
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("scale", artifact_location=(folder / "art").as_uri())
    trees = lightgbm.LGBMClassifier(n_estimators=100, max_depth=6, verbose=-1).fit(train, target)
    linear = make_pipeline(StandardScaler(), LogisticRegression()).fit(train, target)
    with mlflow.start_run(experiment_id=experiment):
        mlflow.lightgbm.log_model(
            trees,
            name="trees",
            signature=infer_signature(train, trees.predict_proba(train)),
            registered_model_name="trees",
        )
        mlflow.sklearn.log_model(
            linear,
            name="linear",
            serialization_format="skops",
            skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(linear)),
            signature=infer_signature(train, linear.predict_proba(train)),
            pyfunc_predict_fn="predict_proba",
            registered_model_name="linear",
        )
    client = mlflow.MlflowClient()
    for name in ("trees", "linear"):
        client.set_registered_model_alias(name, "Champion", "1")
    return uri


def job_yaml(folder: Path, data: Path, uri: str, model: str, engine: str, workers: int) -> Path:
    """An ExplanationsJob for ``model`` on ``engine``."""
    if model == "trees":
        loader = "{KIND: BuiltinLoader, model_output: raw}"
        explainer = "{KIND: TreeExplainer, num_clusters: 5}"
    else:
        loader = "{KIND: CustomLoader}"
        explainer = "{KIND: KernelExplainer, num_samples: 42, num_clusters: 1}"
    engine_yaml = (
        "{KIND: LocalEngine}"
        if engine == "local"
        else f"{{KIND: DaskEngine, n_workers: {workers}, threads_per_worker: 1}}"
    )
    out = folder / f"{model}-{engine}"
    path = folder / f"{model}-{engine}.yaml"
    path.write_text(
        "job:\n  KIND: ExplanationsJob\n"
        f"  inputs_samples: {{KIND: ParquetReader, path: {data}, batch_size: {BATCH_SIZE}}}\n"
        f"  models_explanations: {{KIND: CsvWriter, path: {out}/models.csv}}\n"
        f"  samples_explanations: {{KIND: ParquetWriter, path: {out}/samples.parquet}}\n"
        f"  registry: {{name: {model}, tracking_uri: '{uri}'}}\n"
        f"  loader: {loader}\n  explainer: {explainer}\n  engine: {engine_yaml}\n"
    )
    return path


def run_job(config: Path, one_thread: bool = False) -> tuple[float, float]:
    """(wall seconds, driver peak RSS MiB) of the job in a fresh process."""
    started = time.perf_counter()
    result = subprocess.run(
        env=os.environ | thread_limits(1) if one_thread else None,
        args=[
            sys.executable,
            "-m",
            "explainops.testing.peak_memory",
            "--log-level",
            "WARNING",
            "run",
            "--no-progress",
            str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{config.name} failed:\n{result.stderr[-3000:]}")
    peak = next(line for line in result.stdout.splitlines() if line.startswith("PEAK_MIB"))
    return wall, float(peak.split()[1])


def max_difference(folder: Path, model: str) -> float:
    """Largest |local - dask| over every SHAP value, base value and prediction."""
    local = pd.read_parquet(folder / f"{model}-local" / "samples.parquet")
    dask = pd.read_parquet(folder / f"{model}-dask" / "samples.parquet")
    assert list(local["sample_id"]) == list(dask["sample_id"]), "rows differ in order"
    numeric: Any = local.select_dtypes("number").columns.drop("sample_id")
    return float(np.abs(local[numeric].to_numpy() - dask[numeric].to_numpy()).max())


def main() -> None:
    """Generate, register, run the four jobs, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="explainops-scale-") as name:
        folder = Path(name)
        started = time.perf_counter()
        data, train, target = make_data(folder, arguments.rows)
        uri = register_models(folder, train, target)
        print(
            f"{arguments.rows:,} rows x {N_FEATURES} features (Parquet, "
            f"{data.stat().st_size / 2**20:.0f} MiB), batch_size {BATCH_SIZE:,}; "
            f"{os.cpu_count()} CPUs; set-up {time.perf_counter() - started:.0f} s\n"
        )
        header = (
            f"{'model':<32} {'engine':<24} {'wall_s':>7} {'rows/s':>9} {'peak_rss_mib':>12} "
            f"{'speed-up':>8} {'max|local-dask|':>15}"
        )
        print(header)
        print("-" * len(header))
        for model, description in (
            ("trees", "LightGBM 100x depth 6 (Tree)"),
            ("linear", "logistic pipeline (Kernel 42)"),
        ):
            walls = {}
            for engine in ("local-1", "local", "dask"):
                config = job_yaml(folder, data, uri, model, engine.split("-")[0], arguments.workers)
                wall, peak = run_job(config, one_thread=engine == "local-1")
                walls[engine] = wall
                label = {
                    "local-1": "LocalEngine, 1 thread",
                    "local": f"LocalEngine, {os.cpu_count()} threads",
                    "dask": f"DaskEngine {arguments.workers}x1 thread",
                }[engine]
                speed_up = f"{walls['local'] / wall:8.2f}" if engine == "dask" else f"{'-':>8}"
                difference = (
                    f"{max_difference(folder, model):15.1e}" if engine == "dask" else f"{'-':>15}"
                )
                print(
                    f"{description:<32} {label:<24} {wall:7.1f} {arguments.rows / wall:9.0f} "
                    f"{peak:12.0f} {speed_up} {difference}",
                    flush=True,
                )
            print(
                f"{'':<32} Dask speed-up over one thread: {walls['local-1'] / walls['dask']:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
