"""Train the text classifier of the Clarify text walk-through, register it as clarify_text@Champion.

TF-IDF + logistic regression on the reviews bundled in demo/data/reviews.csv (see
explainops.testing.text_models); its pyfunc takes a DataFrame with a ``text`` column of raw
strings and returns both classes' probabilities. Also writes the walk-through's data set,
outputs/clarify/text/reviews.csv (40 reviews and their labels). Run from the repository root.
"""

from __future__ import annotations

from pathlib import Path

from registration import register_classifier

from explainops.testing.text_models import TEXT_COLUMN, review_classifier

ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = "clarify_text"


def main() -> None:
    """Train, register, and write the data set the walk-through explains."""
    model, corpus = review_classifier(ROOT / "demo" / "data" / "reviews.csv")
    register_classifier(model, corpus[[TEXT_COLUMN]], MODEL_NAME, "Champion")
    dataset = ROOT / "outputs" / "clarify" / "text" / "reviews.csv"
    dataset.parent.mkdir(parents=True, exist_ok=True)
    corpus.sample(40, random_state=0)[[TEXT_COLUMN, "label"]].to_csv(dataset, index=False)
    print(f"wrote {dataset}")


if __name__ == "__main__":
    main()
