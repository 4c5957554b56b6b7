"""Set up the drift demo: reference data, a window, and a swapped model.

From scikit-learn's bundled wine data (the data the demo's ``wine`` Champion was trained on):

* ``data/demo/wine_reference.csv``: 120 rows, the baseline's reference data;
* ``data/demo/wine_window.csv``: the other 58 rows, a window from the same distribution;
* a new version of ``wine`` with alias ``Challenger``: a forest retrained while the feed of the
  Champion's strongest features (``proline``, ``flavanoids``, ``color_intensity``) was broken
  (shuffled rows), so it leans on other features. Promoted without review, it is the drift the
  monitor must catch.

Run from the repository root (``make demo-drift`` does), after ``demo/register_model.py``.
"""

from __future__ import annotations

import numpy as np
from registration import ROOT, register_classifier
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier

DATA = ROOT / "data" / "demo"
BROKEN_FEATURES = ["proline", "flavanoids", "color_intensity"]


def main() -> None:
    """Write the reference data and the window; register the swapped model as Challenger."""
    features, target = load_wine(return_X_y=True, as_frame=True)
    features.columns = [column.replace("/", "_") for column in features.columns]
    with_ids = features.assign(wine_id=[f"wine-{index:03d}" for index in features.index])
    with_ids = with_ids[["wine_id", *features.columns]]
    shuffled = with_ids.sample(frac=1.0, random_state=7)
    DATA.mkdir(parents=True, exist_ok=True)
    for name, frame in (
        ("wine_reference.csv", shuffled.iloc[:120]),
        ("wine_window.csv", shuffled.iloc[120:]),
    ):
        frame.to_csv(DATA / name, index=False)
        print(f"wrote {len(frame)} rows to {(DATA / name).relative_to(ROOT)}")

    rng = np.random.default_rng(0)
    broken = features.copy()
    for column in BROKEN_FEATURES:
        broken[column] = rng.permutation(broken[column].to_numpy())
    challenger = RandomForestClassifier(n_estimators=50, max_depth=5, random_state=0).fit(
        broken, target
    )
    register_classifier(challenger, features, "wine", "Challenger")


if __name__ == "__main__":
    main()
