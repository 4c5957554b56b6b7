"""Models and data shared by the explainer tests: small, seeded, and trained for real."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression

N_FEATURES = 6


@dataclass(frozen=True)
class Interacting:
    """A 10-feature model with 2- and 3-way interactions, its rows, baseline and exact values."""

    predict: Any
    baseline: np.ndarray
    samples: np.ndarray
    exact: np.ndarray

    def __iter__(self) -> Any:
        """Unpacks as (predict, baseline, samples, exact)."""
        return iter((self.predict, self.baseline, self.samples, self.exact))


def interacting_problem() -> Interacting:
    """tanh of a linear score plus x0 x1 - x2 x3 x4: 10 rows against 5 baseline rows."""
    from explainops.explainers import ExactExplainer

    rng = np.random.default_rng(3)
    weights = rng.normal(size=10)

    def predict(rows: np.ndarray) -> np.ndarray:
        return (
            np.tanh(rows @ weights) + rows[:, 0] * rows[:, 1] - rows[:, 2] * rows[:, 3] * rows[:, 4]
        )

    baseline, samples = rng.normal(size=(5, 10)), rng.normal(size=(10, 10))
    exact = ExactExplainer(baseline).explain(predict, samples).values
    return Interacting(predict, baseline, samples, exact)


@dataclass(frozen=True)
class Case:
    """A trained model, the function whose output is explained, and data to explain."""

    name: str
    model: Any
    predict: Any
    samples: np.ndarray
    baseline: np.ndarray
    weights: np.ndarray | None


@pytest.fixture(scope="session")
def regression_data() -> tuple[np.ndarray, np.ndarray]:
    return make_regression(n_samples=300, n_features=N_FEATURES, noise=0.5, random_state=0)


@pytest.fixture(scope="session")
def classification_data() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(
        n_samples=300, n_features=N_FEATURES, n_informative=4, random_state=0
    )


def baselines(data: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """A single-row baseline and a ten-row baseline with unequal weights."""
    rng = np.random.default_rng(7)
    return {
        "one row": (data[:1], None),
        "ten weighted rows": (data[10:20], rng.uniform(0.1, 3.0, size=10)),
    }


@pytest.fixture(scope="session")
def linear_model(regression_data: tuple[np.ndarray, np.ndarray]) -> LinearRegression:
    features, target = regression_data
    return LinearRegression().fit(features, target)


@pytest.fixture(scope="session")
def logistic_model(classification_data: tuple[np.ndarray, np.ndarray]) -> LogisticRegression:
    features, target = classification_data
    return LogisticRegression().fit(features, target)


@pytest.fixture(scope="session")
def boosted_model(classification_data: tuple[np.ndarray, np.ndarray]) -> GradientBoostingClassifier:
    features, target = classification_data
    return GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0).fit(
        features, target
    )


@pytest.fixture(scope="session")
def forest_model(regression_data: tuple[np.ndarray, np.ndarray]) -> RandomForestRegressor:
    features, target = regression_data
    return RandomForestRegressor(n_estimators=15, max_depth=6, random_state=0).fit(features, target)
