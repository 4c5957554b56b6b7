"""Kernel SHAP's overhead over the model as the rows get wider: 30, 100 and 300 features.

For the cheapest model there is (a bare LogisticRegression, ~30 ns a row at 30 features), the
explainer's time beside the pure model time on as many rows, and beside the floor that writing
those masked rows sets (copying as many bytes in the same batches). 50 explained rows, 10
baseline rows, the default budget (2d + 2048 coalitions), after a warm-up call; best of 5. For
the default estimator (``stratified``, with its single-index control) and for
``stratified_plain`` (the same strata without it).

Run: ``.venv/bin/python bench/kernel_width.py`` (about a minute).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from sklearn.linear_model import LogisticRegression

from explainops.explainers import KernelExplainer
from explainops.explainers.coalitions import DEFAULT_BATCH_SIZE
from explainops.explainers.kernel import default_num_samples

REPEATS = 5
N_EXPLAINED, N_BACKGROUND = 50, 10
ESTIMATORS = ("stratified", "stratified_plain")


def best(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(n_features: int, estimator: str) -> tuple[int, float, float, float]:
    """(model rows, explain s, model s, write s) for ``n_features`` features."""
    rng = np.random.default_rng(0)
    data = rng.normal(size=(2000, n_features))
    target = (data[:, 0] + rng.normal(size=2000) > 0).astype(int)
    model = LogisticRegression(max_iter=200).fit(data, target)

    def predict(rows: np.ndarray) -> np.ndarray:
        return model.predict_proba(rows)[:, 1]

    explainer = KernelExplainer(data[:N_BACKGROUND], seed=0, estimator=estimator)  # type: ignore[arg-type]
    samples = data[100 : 100 + N_EXPLAINED]
    explainer.explain(predict, samples[:2])  # warm-up: numba's cache, the design
    n_rows = N_EXPLAINED * default_num_samples(n_features) * N_BACKGROUND
    calls = -(-n_rows // DEFAULT_BATCH_SIZE)
    batch = rng.normal(size=(DEFAULT_BATCH_SIZE, n_features))
    target_rows = np.empty_like(batch)
    explain_s = best(lambda: explainer.explain(predict, samples))
    model_s = best(lambda: [predict(batch) for _ in range(calls)])
    write_s = best(lambda: [np.copyto(target_rows, batch) for _ in range(calls)])
    return n_rows, explain_s, model_s, write_s


def main() -> None:
    print(
        f"{'estimator':<17} {'d':>4} {'model rows':>11} {'explain_s':>10} {'model_s':>8} "
        f"{'write_s':>8} {'explain/model':>14} {'(explain-model)/write':>22}"
    )
    for estimator in ESTIMATORS:
        for n_features in (30, 100, 300):
            n_rows, explain_s, model_s, write_s = measure(n_features, estimator)
            print(
                f"{estimator:<17} {n_features:>4} {n_rows:>11,} {explain_s:>10.3f} "
                f"{model_s:>8.3f} {write_s:>8.3f} {explain_s / model_s:>14.2f} "
                f"{(explain_s - model_s) / write_s:>22.2f}"
            )


if __name__ == "__main__":
    main()
