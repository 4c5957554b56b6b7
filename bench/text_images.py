"""Benchmark text and image explanations: speed, model evaluations per row, accuracy vs exact.

What it measures (one run prints everything):

* Text, the review classifier of the text walk-through (TF-IDF + logistic regression on
  demo/data/reviews.csv), token granularity, "[MASK]" baseline:
  - rows per second and model evaluations (and model calls) per explained row for 40 reviews
    at the default budget (min(2n + 2048, 2^n - 2)) and at 1,000 coalitions, with the time
    spent inside the model beside the total;
  - accuracy on 6 reviews of 13-15 tokens against their exact Shapley values (every one of the
    2^n coalitions enumerated: independent of the estimator judged): RMSE of ours at 200 and
    1,000 coalitions and of shap's ``PermutationExplainer`` over the same tokens and the same
    masked texts (an ``Independent`` masker whose one background row masks every token;
    ``max_evals`` the same budget), 3 seeds, side by side in this run, with the times.
* Images, the digit classifier of the image walk-through (48 x 48 RGB, 20 SLIC segments asked):
  images per second and model evaluations per image at 500 coalitions and at the default
  budget, with the model's share of the time.
* Object detection, the digit detector of the detection walk-through (64 x 64 sheets of one or
  two digits, 20 SLIC segments asked, up to 3 objects, context 1 and 0.5): images and objects
  per second and model evaluations per image at 300 coalitions and at the default budget.

Run it with ``.venv/bin/python bench/text_images.py`` (part of ``make bench``); about half a
minute on 2 cores.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from explainops.clarify.detection import detector, explain_objects
from explainops.core.images import SegmentedImage, baseline_image, encode_image, slic_segments
from explainops.core.model import LoadedModel
from explainops.core.text import Segmenter, text_rows
from explainops.explainers.units import UnitsExplainer
from explainops.testing.detector import detect_bytes, digit_scene, train_digit_detector
from explainops.testing.image_models import (
    DIGITS,
    digit_dataset,
    predict_bytes,
    train_digit_classifier,
)
from explainops.testing.text_models import review_classifier

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "demo" / "data" / "reviews.csv"
MASK = "[MASK]"
SEEDS = (0, 1, 2)


class TimedModel:
    """The model, counting calls and rows and the seconds spent in it."""

    def __init__(self, predict: Any) -> None:
        self.predict = predict
        self.calls = 0
        self.rows = 0
        self.seconds = 0.0

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        started = time.perf_counter()
        result = np.asarray(self.predict(frame))
        self.seconds += time.perf_counter() - started
        self.calls += 1
        self.rows += len(frame)
        return result


def text_speed(model: Any, texts: list[str], num_samples: int | None) -> str:
    frame = pd.DataFrame({"text": texts})
    baseline = pd.DataFrame({"text": [MASK]})
    timed = TimedModel(model.predict_proba)
    started = time.perf_counter()
    rows = text_rows(frame, ["text"], baseline, Segmenter("token", "english"))
    explanations = UnitsExplainer(num_samples=num_samples).explain(
        lambda batches: timed(pd.concat(batches, ignore_index=True)), rows
    )
    total = time.perf_counter() - started
    units = np.mean([row.n_units for row in rows])
    exact = sum(e.exact for e in explanations)
    budget = "default" if num_samples is None else str(num_samples)
    return (
        f"| {budget} | {len(texts)} | {units:.1f} | {exact} | {len(texts) / total:.1f} | "
        f"{timed.rows / len(texts):.0f} | {timed.calls / len(texts):.2f} | {total:.2f} | "
        f"{timed.seconds:.2f} | {total / timed.seconds:.2f} |"
    )


def exact_text_values(model: Any, tokens: list[Any]) -> np.ndarray:
    n = len(tokens)
    coalitions = [c for size in range(n + 1) for c in itertools.combinations(range(n), size)]

    def text_of(coalition: tuple[int, ...]) -> str:
        kept = set(coalition)
        return "".join(
            (t.text if i in kept else MASK) + t.whitespace_ for i, t in enumerate(tokens)
        )

    outputs = model.predict_proba(pd.DataFrame({"text": [text_of(c) for c in coalitions]}))[:, 1]
    value = dict(zip(coalitions, outputs, strict=True))
    phi = np.zeros(n)
    for i in range(n):
        for coalition in coalitions:
            if i not in coalition:
                weight = math.factorial(len(coalition)) * math.factorial(n - len(coalition) - 1)
                phi[i] += (
                    weight
                    / math.factorial(n)
                    * (value[tuple(sorted((*coalition, i)))] - value[coalition])
                )
    return phi


def shap_permutation_values(model: Any, tokens: list[Any], budget: int, seed: int) -> np.ndarray:
    """shap's permutation estimate of the positive class over the same tokens and masked texts."""
    import shap

    words = [t.text for t in tokens]
    spaces = [t.whitespace_ for t in tokens]

    def positive(masks: np.ndarray) -> np.ndarray:
        joined = [
            "".join(
                (w if keep else MASK) + s for w, keep, s in zip(words, row, spaces, strict=True)
            )
            for row in np.asarray(masks, dtype=bool)
        ]
        return model.predict_proba(pd.DataFrame({"text": joined}))[:, 1]

    # The players are the tokens: an Independent masker of one background row of zeros (every
    # token masked) explaining a row of ones (every token kept).
    masker = shap.maskers.Independent(np.zeros((1, len(words))))
    explainer = shap.explainers.Permutation(positive, masker, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = explainer(np.ones((1, len(words))), max_evals=budget)
    return np.asarray(result.values[0])


def text_accuracy(model: Any, texts: list[str]) -> list[str]:
    import spacy

    nlp = spacy.blank("en")
    docs = [[t for t in nlp(text) if not t.is_space] for text in texts]
    exact = [exact_text_values(model, tokens) for tokens in docs]
    shap_permutation_values(model, docs[0], 200, 0)  # warm-up: shap's first call compiles
    lines = []
    for budget in (200, 1000):
        ours_errors, ours_time = [], 0.0
        for seed in SEEDS:
            started = time.perf_counter()
            rows = text_rows(
                pd.DataFrame({"text": texts}),
                ["text"],
                pd.DataFrame({"text": [MASK]}),
                Segmenter("token", "english"),
            )
            explanations = UnitsExplainer(num_samples=budget, seed=seed).explain(
                lambda batches: model.predict_proba(pd.concat(batches, ignore_index=True)), rows
            )
            ours_time += time.perf_counter() - started
            ours_errors += [e.values[1] - x for e, x in zip(explanations, exact, strict=True)]
        shap_errors, shap_time = [], 0.0
        for seed in SEEDS:
            for tokens, truth in zip(docs, exact, strict=True):
                started = time.perf_counter()
                values = shap_permutation_values(model, tokens, budget, seed)
                shap_time += time.perf_counter() - started
                shap_errors.append(values - truth)
        ours = float(np.sqrt(np.mean(np.concatenate(ours_errors) ** 2)))
        theirs = float(np.sqrt(np.mean(np.concatenate(shap_errors) ** 2)))
        lines.append(
            f"| {budget} | {ours:.2e} | {theirs:.2e} | {theirs / ours:.2f} | "
            f"{ours_time / len(SEEDS):.2f} | {shap_time / len(SEEDS):.2f} |"
        )
    return lines


def image_speed(num_samples: int | None, n_images: int = 6) -> str:
    model = train_digit_classifier()
    pictures, _ = digit_dataset(DIGITS)
    timed = TimedModel(lambda frame: predict_bytes(model, frame))
    started = time.perf_counter()
    segments_count, evaluations = [], 0
    for picture in pictures[:n_images]:
        segments = slic_segments(picture, 20, 5.0)
        segmented = SegmentedImage(picture, segments, baseline_image(None, picture.shape, 0))
        segments_count.append(segmented.n_units)

        def evaluate(batches: Any) -> np.ndarray:
            encoded = [encode_image(image, "png") for batch in batches for image in batch]
            return timed(pd.DataFrame({"image": encoded}))

        [explanation] = UnitsExplainer(num_samples=num_samples).explain(evaluate, [segmented])
        evaluations += explanation.evaluations
    total = time.perf_counter() - started
    budget = "default" if num_samples is None else str(num_samples)
    return (
        f"| {budget} | {n_images} | {np.mean(segments_count):.1f} | {n_images / total:.2f} | "
        f"{evaluations / n_images:.0f} | {timed.calls / n_images:.2f} | {total:.2f} | "
        f"{timed.seconds:.2f} | {total / timed.seconds:.2f} |"
    )


# The detection walk-through's sheets: (digit, which drawing, top row, left column) per digit.
SHEETS = (
    [(7, 3, 6, 8), (0, 3, 34, 36)],
    [(1, 4, 8, 34), (7, 8, 36, 6)],
    [(0, 9, 20, 20)],
    [(1, 12, 4, 4), (0, 12, 36, 36)],
)


def detection_speed(num_samples: int | None, context: float) -> str:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    network = train_digit_detector()
    timed = TimedModel(lambda frame: detect_bytes(network, frame))
    model = LoadedModel(timed, lambda frame: None, None, None, lambda frame: list(timed(frame)))
    started = time.perf_counter()
    evaluations, objects = 0, 0
    for sheet in SHEETS:
        pixels = [bunch.images[np.flatnonzero(bunch.target == d)[k]] for d, k, _, _ in sheet]
        image = digit_scene(pixels, [(row, column) for _, _, row, column in sheet])
        segments = slic_segments(image, 20, 5.0)
        segmented = SegmentedImage(image, segments, baseline_image(None, image.shape, 0))
        detected = explain_objects(
            UnitsExplainer(num_samples=num_samples),
            detector(model, "png", "sheet"),
            segmented,
            max_objects=3,
            iou_threshold=0.5,
            context=context,
            class_names=None,
        )
        evaluations += detected.explanation.evaluations
        objects += len(detected.objects)
    total = time.perf_counter() - started
    n_images = len(SHEETS)
    budget = "default" if num_samples is None else str(num_samples)
    return (
        f"| {budget} | {context:g} | {n_images} | {objects} | {n_images / total:.2f} | "
        f"{objects / total:.2f} | {evaluations / n_images:.0f} | {total:.2f} | "
        f"{timed.seconds:.2f} | {total / timed.seconds:.2f} |"
    )


def main() -> None:
    model, corpus = review_classifier(CORPUS)
    texts = corpus.sample(40, random_state=0)["text"].tolist()
    # Warm-up: the model's first call, and spaCy's pipeline (loaded once, then cached).
    model.predict_proba(pd.DataFrame({"text": texts[:2]}))
    text_rows(
        pd.DataFrame({"text": texts[:2]}),
        ["text"],
        pd.DataFrame({"text": [MASK]}),
        Segmenter("token", "english"),
    )
    print("## Text: 40 reviews, token granularity\n")
    print(
        "| budget | rows | units a row | rows exact | rows/s | evaluations a row | model calls a "
        "row | total s | model s | total / model |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for num_samples in (None, 1000):
        print(text_speed(model, texts, num_samples))
    import spacy

    nlp = spacy.blank("en")
    sized = [t for t in corpus["text"] if 13 <= sum(not x.is_space for x in nlp(t)) <= 15][:6]
    print("\n## Text accuracy: 6 reviews of 13-15 tokens, against exact Shapley values\n")
    print("| budget | RMSE ours | RMSE shap Permutation | shap / ours | ours s | shap s |")
    print("|---|---|---|---|---|---|")
    for line in text_accuracy(model, sized):
        print(line)
    print("\n## Images: 48 x 48 digits, 20 SLIC segments asked, white-noise baseline, PNG\n")
    print(
        "| budget | images | segments | images/s | evaluations an image | model calls an image | "
        "total s | model s | total / model |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for num_samples in (500, None):
        print(image_speed(num_samples))
    print("\n## Object detection: 64 x 64 sheets, 20 SLIC segments asked, up to 3 objects, PNG\n")
    print(
        "| budget | context | images | objects | images/s | objects/s | evaluations an image | "
        "total s | model s | total / model |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for num_samples, context in ((300, 1.0), (None, 1.0), (300, 0.5)):
        print(detection_speed(num_samples, context))


if __name__ == "__main__":
    main()
