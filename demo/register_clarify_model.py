"""Train the model of the Clarify walk-through and register it as ``clarify_seed@Champion``.

A logistic regression on three features named like the seed configs' headers (feature_1 ..
feature_3), trained on synthetic data, registered in the embedded SQLite registry
(./mlruns/mlflow.db) with ``predict_proba`` as its pyfunc output. Run from the repository root;
running it again registers a new version and moves the alias.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from registration import register_classifier
from sklearn.linear_model import LogisticRegression

MODEL_NAME = "clarify_seed"
FEATURES = ["feature_1", "feature_2", "feature_3"]


def main() -> None:
    """Train, register, and point the Champion alias at the new version."""
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.random((500, 3)), columns=FEATURES)
    target = (features.to_numpy() @ [1.5, -2.0, 1.0] + rng.normal(0, 0.2, 500) > 0).astype(int)
    model = LogisticRegression().fit(features, target)
    register_classifier(model, features, MODEL_NAME, "Champion")


if __name__ == "__main__":
    main()
