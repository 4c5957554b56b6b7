"""A small real text classifier for tests, benchmarks and the demo: TF-IDF + logistic regression.

Trained on a labelled corpus of reviews that ships with the repository (``demo/data/reviews.csv``:
320 short reviews, English with some German, French and Spanish, ``label`` 1 positive and 0
negative). The pipeline takes a DataFrame with a ``text`` column of raw strings, so it can be
registered in MLflow as a pyfunc model of raw text and served over HTTP unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

TEXT_COLUMN = "text"


def review_classifier(corpus: str | Path) -> tuple[Any, pd.DataFrame]:
    """The fitted pipeline (``predict_proba`` of raw text) and the corpus it was fitted on."""
    from sklearn.compose import make_column_transformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    frame = pd.read_csv(corpus)
    pipeline = make_pipeline(
        make_column_transformer(
            (TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), TEXT_COLUMN)
        ),
        LogisticRegression(C=10.0, max_iter=1000),
    )
    pipeline.fit(frame[[TEXT_COLUMN]], frame["label"])
    return pipeline, frame
