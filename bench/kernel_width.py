"""Kernel SHAP's overhead over the model as the rows get wider: 30, 100 and 300 features.

For the cheapest model there is (a bare LogisticRegression, ~30 ns a row at 30 features), the
explainer's time beside the pure model time on as many rows, and beside the floor that writing
those masked rows sets (copying as many bytes in the same batches). 50 explained rows, 10
baseline rows, the default budget (2d + 2048 coalitions), after a warm-up call. The explainer, the
model alone and the bare write are timed back to back in each of 9 rounds: the times printed are
the best of the rounds, the ratios the medians of the rounds' ratios. For the default estimator
(``stratified``, with its single-index control) and for ``stratified_plain`` (the same strata
without it).

Run: ``.venv/bin/python bench/kernel_width.py`` (about a minute).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from explainops.explainers import KernelExplainer
from explainops.explainers.coalitions import DEFAULT_BATCH_SIZE
from explainops.explainers.kernel import default_num_samples

PAIRS = 9
N_EXPLAINED, N_BACKGROUND = 50, 10
ESTIMATORS = ("stratified", "stratified_plain")


@dataclass(frozen=True)
class Width:
    """One width's figures: best times, and the medians of the back-to-back ratios."""

    n_rows: int  # the model rows of one explanation
    explain_s: float
    model_s: float
    write_s: float
    over_model: float  # median of explain / model
    over_write: float  # median of (explain - model) / write


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(n_features: int, estimator: str) -> Width:
    """The explainer, the model alone and the bare write at ``n_features``, back to back.

    Each of :data:`PAIRS` rounds times the three within a second or so, and the ratios are
    taken round by round (this machine's timings move by up to 2x from minute to minute).
    """
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
    explains, models, writes = [], [], []
    for _ in range(PAIRS):
        explains.append(timed(lambda: explainer.explain(predict, samples)))
        models.append(timed(lambda: [predict(batch) for _ in range(calls)]))
        writes.append(timed(lambda: [np.copyto(target_rows, batch) for _ in range(calls)]))
    explain, alone, write = np.array(explains), np.array(models), np.array(writes)
    return Width(
        n_rows,
        float(explain.min()),
        float(alone.min()),
        float(write.min()),
        float(np.median(explain / alone)),
        float(np.median((explain - alone) / write)),
    )


def main() -> None:
    print(
        f"{'estimator':<17} {'d':>4} {'model rows':>11} {'explain_s':>10} {'model_s':>8} "
        f"{'write_s':>8} {'explain/model':>14} {'(explain-model)/write':>22}"
    )
    for estimator in ESTIMATORS:
        for n_features in (30, 100, 300):
            width = measure(n_features, estimator)
            print(
                f"{estimator:<17} {n_features:>4} {width.n_rows:>11,} {width.explain_s:>10.3f} "
                f"{width.model_s:>8.3f} {width.write_s:>8.3f} {width.over_model:>14.2f} "
                f"{width.over_write:>22.2f}"
            )


if __name__ == "__main__":
    main()
