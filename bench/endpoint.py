"""Benchmark the endpoint path: Kernel SHAP through HTTP vs the same model in process.

A scikit-learn pipeline (StandardScaler + LogisticRegression on breast_cancer, 30 features), and
a 100-tree gradient boosting classifier, each
served by ``explainops.testing.model_server`` in a separate process on 127.0.0.1, and explained
by ``KernelExplainer`` (10 background rows, 200 coalitions per row) through ``EndpointLoader``
in CSV and JSON Lines, at several request sizes and concurrencies, and in process. It prints,
side by side in one run: explained rows/s, model rows/s (masked rows sent to the model), the
wall time and the overhead of the endpoint path over the in-process path, and the largest
difference between the endpoint's and the in-process SHAP values. ``client_cpu_s`` is the CPU
time of the explaining process alone (row building, request encoding, response parsing): the
rest of the endpoint's wall time is the server's (parsing, predicting, answering) and HTTP.

Run it with ``.venv/bin/python bench/endpoint.py`` (part of ``make bench``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from explainops.explainers import KernelExplainer
from explainops.io.endpoints import EndpointLoader

N_BACKGROUND = 10
N_EXPLAINED = 100
NUM_SAMPLES = 200
REPEATS = 3
# (content type, accept type, probability attribute, rows per request, concurrency)
SETTINGS: list[tuple[str, str, int | str, int, int]] = [
    ("text/csv", "text/csv", 1, 1_000, 1),
    ("text/csv", "text/csv", 1, 1_000, 4),
    ("text/csv", "text/csv", 1, 10_000, 2),
    ("application/jsonlines", "application/jsonlines", "probability", 10_000, 2),
]
MODELS = ("logistic pipeline", "gradient boosting")

SERVER_SCRIPT = """
import sys
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from explainops.testing.model_server import ModelServer

from sklearn.ensemble import GradientBoostingClassifier

x, y = load_breast_cancer(return_X_y=True, as_frame=True)
if sys.argv[1] == "logistic pipeline":
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
else:
    model = GradientBoostingClassifier(n_estimators=100, random_state=0).fit(x, y)
with ModelServer(model.predict_proba, list(x.columns), keep_bodies=False) as server:
    print(server.url, flush=True)
    sys.stdin.read()
"""


@contextmanager
def served_model(name: str) -> Iterator[str]:
    """Start the model server in its own process; yield its URL."""
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT, name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)


def best_time(function: Any) -> tuple[float, float, Any]:
    """Best wall time of REPEATS calls, this process's CPU time in that call, the last result."""
    best, cpu, result = float("inf"), 0.0, None
    for _ in range(REPEATS):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = function()
        wall = time.perf_counter() - started
        if wall < best:
            best, cpu = wall, time.process_time() - started_cpu
    return best, cpu, result


def fitted_model(name: str, x: pd.DataFrame, y: pd.Series) -> Any:
    """The benchmarked model, fitted exactly as the server process fits it."""
    if name == "logistic pipeline":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    return GradientBoostingClassifier(n_estimators=100, random_state=0).fit(x, y)


def main() -> None:
    """Print the comparison table."""
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    background = x.iloc[:N_BACKGROUND]
    rows = x.iloc[100 : 100 + N_EXPLAINED]
    explainer = KernelExplainer(background, num_samples=NUM_SAMPLES, seed=0)
    model_rows = N_EXPLAINED * NUM_SAMPLES * N_BACKGROUND + N_EXPLAINED + N_BACKGROUND
    print(
        f"breast_cancer, 30 features; {N_EXPLAINED} rows explained, {N_BACKGROUND} background "
        f"rows, {NUM_SAMPLES} coalitions: {model_rows:,} model rows; best of {REPEATS}; "
        "server in a separate process on 127.0.0.1\n"
    )
    header = (
        f"{'model':<18} {'path':<30} {'rows/req':>8} {'conc':>4} {'wall_s':>7} "
        f"{'expl_rows/s':>11} {'model_rows/s':>12} {'overhead':>8} {'client_cpu_s':>12} "
        f"{'max|diff|':>9}"
    )
    print(header)
    print("-" * len(header))
    for name in MODELS:
        model = fitted_model(name, x, y)

        def in_process(frame: pd.DataFrame, model: Any = model) -> np.ndarray:
            return np.asarray(model.predict_proba(frame)[:, 1:], dtype=np.float64)

        explainer.explain(in_process, rows.head(2))
        local_s, local_cpu, local = best_time(lambda: explainer.explain(in_process, rows))
        print(
            f"{name:<18} {'in process':<30} {'-':>8} {'-':>4} {local_s:7.3f} "
            f"{N_EXPLAINED / local_s:11.0f} {model_rows / local_s:12.0f} {1.0:8.2f} "
            f"{local_cpu:12.3f} {'-':>9}"
        )
        with served_model(name) as url:
            for content_type, accept_type, attribute, batch_size, concurrency in SETTINGS:
                endpoint = EndpointLoader(
                    url=url,
                    content_type=content_type,  # type: ignore[arg-type]
                    accept_type=accept_type,  # type: ignore[arg-type]
                    probability_attribute=attribute,
                    batch_size=batch_size,
                    max_concurrency=concurrency,
                ).load(None)
                explainer.explain(endpoint.predict, rows.head(2))
                remote_s, remote_cpu, remote = best_time(
                    lambda predict=endpoint.predict: explainer.explain(predict, rows)
                )
                difference = float(np.max(np.abs(remote.values - local.values)))
                path = f"endpoint {content_type}"
                print(
                    f"{name:<18} {path:<30} {batch_size:>8} {concurrency:>4} {remote_s:7.3f} "
                    f"{N_EXPLAINED / remote_s:11.0f} {model_rows / remote_s:12.0f} "
                    f"{remote_s / local_s:8.2f} {remote_cpu:12.3f} {difference:9.1e}"
                )


if __name__ == "__main__":
    main()
