"""Set up the demo: samples, a trained model, and its registration as ``wine@Champion``.

Writes samples from scikit-learn's bundled wine data, trains a random forest, and registers it
as model ``wine`` with alias ``Champion`` in the embedded SQLite registry.

Run from the repository root (``make demo`` does): each run registers a new version and moves the
alias to it, so running it twice works.
"""

from __future__ import annotations

from registration import ROOT, register_classifier
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier

SAMPLES = ROOT / "data" / "demo" / "wine_samples.csv"
MODEL_NAME = "wine"


def main() -> None:
    """Write the samples, train, register, and point the Champion alias at the new version."""
    features, target = load_wine(return_X_y=True, as_frame=True)
    features.columns = [column.replace("/", "_") for column in features.columns]
    SAMPLES.parent.mkdir(parents=True, exist_ok=True)
    samples = features.sample(n=60, random_state=1)
    samples.insert(0, "wine_id", [f"wine-{index:03d}" for index in samples.index])
    samples.to_csv(SAMPLES, index=False)

    model = RandomForestClassifier(n_estimators=50, max_depth=5, random_state=0).fit(
        features, target
    )
    register_classifier(model, features, MODEL_NAME, "Champion")
    print(f"wrote {len(samples)} samples to {SAMPLES.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
