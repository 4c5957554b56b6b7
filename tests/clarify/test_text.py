"""Clarify's text_config: each text's units explained, in process and behind an endpoint.

The model is a real TF-IDF + logistic regression pipeline trained on the reviews that ship with
the repository and registered in the session's SQLite registry; the brute force below builds the
masked texts from spaCy's tokens itself and enumerates every coalition.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import spacy

from explainops.testing.model_server import ModelServer
from explainops.testing.text_models import review_classifier
from tests.clarify.cli import assert_report_drawn_again, run
from tests.conftest import RegistryFixture, log_sklearn_model

CORPUS = Path(__file__).resolve().parents[2] / "demo" / "data" / "reviews.csv"
SHORT = [
    "Great phone, love it.",
    "Terrible service and slow delivery.",
    "Not bad at all!",
    "It broke after two days; refund please.",
    "Excellent.",
    "Das Hotel war sehr gut.",
]


@pytest.fixture(scope="module")
def reviews(test_registry: RegistryFixture) -> Any:
    """The review classifier, registered as reviews/1."""
    model, corpus = review_classifier(CORPUS)
    log_sklearn_model("reviews", model, corpus[["text"]], "predict_proba")
    return model


def config(tmp_path: Path, text_config: dict[str, Any], **shap: Any) -> Path:
    path = tmp_path / "analysis_config.json"
    document = {
        "dataset_type": "text/csv",
        "headers": ["text", "label"],
        "label": "label",
        "predictor": {"label_headers": ["negative", "positive"]},
        "methods": {
            "shap": {
                "baseline": [["[MASK]"]],
                "save_local_shap_values": True,
                "text_config": text_config,
                **shap,
            }
        },
    }
    path.write_text(json.dumps(document))
    return path


def dataset(tmp_path: Path, texts: list[str]) -> Path:
    path = tmp_path / "reviews.csv"
    pd.DataFrame({"text": texts, "label": [1] * len(texts)}).to_csv(path, index=False)
    return path


def in_process(registry: RegistryFixture) -> list[str]:
    return ["--model", "models:/reviews/1", "--tracking-uri", registry.tracking_uri]


def brute_force(model: Any, text: str, mask: str) -> np.ndarray:
    """(2, n) Shapley values over the text's tokens, every coalition enumerated."""
    tokens = [token for token in spacy.blank("en")(text) if not token.is_space]
    n = len(tokens)

    def masked(coalition: tuple[int, ...]) -> str:
        return "".join(
            (token.text if i in coalition else mask) + token.whitespace_
            for i, token in enumerate(tokens)
        )

    coalitions = [c for size in range(n + 1) for c in itertools.combinations(range(n), size)]
    outputs = model.predict_proba(pd.DataFrame({"text": [masked(c) for c in coalitions]}))
    value = dict(zip(coalitions, outputs, strict=True))
    phi = np.zeros((2, n))
    for i in range(n):
        for coalition in coalitions:
            if i in coalition:
                continue
            weight = math.factorial(len(coalition)) * math.factorial(n - len(coalition) - 1)
            joined = tuple(sorted((*coalition, i)))
            phi[:, i] += weight / math.factorial(n) * (value[joined] - value[coalition])
    return phi


def local_values(output: Path) -> list[np.ndarray]:
    """Per row, the (labels, units) values of out.jsonl's single text feature."""
    rows = []
    for line in (output / "explanations_shap" / "out.jsonl").read_text().splitlines():
        [feature] = json.loads(line)["explanations"]
        rows.append(np.array([unit["attribution"] for unit in feature["attributions"]]).T)
    return rows


def test_short_texts_are_exact_shapley_values_and_add_up(
    reviews: Any, test_registry: RegistryFixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = [
        "--config",
        str(config(tmp_path, {"granularity": "token", "language": "english"})),
        "--dataset",
        str(dataset(tmp_path, SHORT)),
        "--output",
        str(tmp_path / "out"),
    ]
    code, err = run(capsys, [*common, *in_process(test_registry)])
    assert code == 0, err
    values = local_values(tmp_path / "out")
    for text, phi in zip(SHORT, values, strict=True):
        expected = brute_force(reviews, text, "[MASK]")
        assert phi.shape == expected.shape and phi.shape[1] <= 10
        # The same probabilities enter both sums, in another order: equal to rounding.
        np.testing.assert_allclose(phi, expected, rtol=0, atol=1e-12)
        full = reviews.predict_proba(pd.DataFrame({"text": [text]}))[0]
        n = phi.shape[1]
        empty = reviews.predict_proba(pd.DataFrame({"text": [" ".join(["[MASK]"] * n)]}))[0]
        assert np.max(np.abs(phi.sum(axis=1) - (full - empty))) < 1e-9
    record = json.loads((tmp_path / "out" / "explanations_shap" / "out.jsonl").open().readline())
    [feature] = record["explanations"]
    assert feature["feature_name"] == "text" and feature["data_type"] == "free_text"
    assert [unit["description"] for unit in feature["attributions"]][:2] == [
        {"partial_text": "Great", "start_idx": 0},
        {"partial_text": "phone", "start_idx": 6},
    ]
    analysis = json.loads((tmp_path / "out" / "analysis.json").read_text())
    positive = analysis["explanations"]["kernel_shap"]["positive"]
    assert set(positive) == {"global_shap_values", "expected_value", "global_top_shap_text"}
    top = positive["global_top_shap_text"]["text"]
    assert list(top.values()) == sorted(top.values(), reverse=True)
    # mean |value| over a unit's occurrences: "Great" occurs once, in the first text
    assert top["Great"] == pytest.approx(abs(values[0][1, 0]), abs=1e-15)
    units = pd.read_parquet(tmp_path / "out" / "explanations_shap" / "units.parquet")
    assert list(units.columns) == ["sample", "label", "feature", "unit", "text", "start", "value"]
    assert len(units) == 2 * sum(v.shape[1] for v in values)
    # out.csv holds out.jsonl's attributions, a line per unit, a column per label (floats
    # written round-trip: equal to the bit)
    table = pd.read_csv(tmp_path / "out" / "explanations_shap" / "out.csv", keep_default_na=False)
    assert list(table.columns) == [
        "row",
        "feature_name",
        "data_type",
        "partial_text",
        "start_idx",
        "negative",
        "positive",
    ]
    for row, phi in enumerate(values):
        lines = table[table["row"] == row]
        np.testing.assert_array_equal(lines[["negative", "positive"]].to_numpy().T, phi)
    assert table.loc[0, "partial_text"] == "Great" and table.loc[1, "start_idx"] == 6
    assert set(table["data_type"]) == {"free_text"}


def test_explainops_report_draws_a_text_analysis_again(
    reviews: Any, test_registry: RegistryFixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a text analysis that wrote its report
    path = config(tmp_path, {"granularity": "token", "language": "english"})
    document = json.loads(path.read_text())
    document["methods"]["report"] = {"name": "report", "title": "Reviews"}
    path.write_text(json.dumps(document))
    output = tmp_path / "out"
    arguments = ["--config", str(path), "--dataset", str(dataset(tmp_path, SHORT))]
    code, err = run(capsys, [*arguments, "--output", str(output), *in_process(test_registry)])
    assert code == 0, err
    # when explainops report is given its analysis.json
    page = assert_report_drawn_again(output, tmp_path / "again", capsys)
    # then the page is the text report, with the texts' tokens
    assert "Clarify text explainability report" in page, "drawn as a text analysis"
    assert "Great" in page and "phone" in page, "the tokens are shown"


def test_endpoint_equals_in_process(
    reviews: Any, test_registry: RegistryFixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = pd.read_csv(CORPUS)
    texts = corpus["text"].iloc[::40].tolist()  # 8 reviews, some of 20+ tokens: sampled
    common = [
        "--config",
        str(
            config(
                tmp_path,
                {"granularity": "token", "language": "multi-language", "max_top_tokens": 5},
                num_samples=300,
                seed=3,
            )
        ),
        "--dataset",
        str(dataset(tmp_path, texts)),
    ]
    code, err = run(
        capsys, [*common, "--output", str(tmp_path / "local"), *in_process(test_registry)]
    )
    assert code == 0, err
    with ModelServer(
        reviews.predict_proba, ["text"], text_columns=["text"], csv_layout="scores"
    ) as server:
        code, err = run(
            capsys, [*common, "--output", str(tmp_path / "remote"), "--endpoint", server.url]
        )
        assert code == 0, err
        assert server.requests > 1
    local, remote = local_values(tmp_path / "local"), local_values(tmp_path / "remote")
    assert any(phi.shape[1] > 11 for phi in local)  # some rows were sampled, not enumerated
    for one, other in zip(local, remote, strict=True):
        # Probabilities travel as round-trip floats but are computed on other batches.
        np.testing.assert_allclose(one, other, rtol=0, atol=1e-9)
    analysis = json.loads((tmp_path / "local" / "analysis.json").read_text())
    assert (
        len(analysis["explanations"]["kernel_shap"]["negative"]["global_top_shap_text"]["text"])
        == 5
    )


@pytest.mark.parametrize(
    ("granularity", "language", "units"),
    [
        ("sentence", "english", [["It is great.", "I love it!"], ["Bad.", "Very bad."]]),
        ("sentence", "xx", [["Sehr gut.", "Très bien."], ["Malo.", "Muy malo."]]),
        ("paragraph", "en", [["It is great. I love it!"], ["Bad. Very bad."]]),
    ],
)
def test_sentences_and_paragraphs(
    reviews: Any,
    test_registry: RegistryFixture,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    granularity: str,
    language: str,
    units: list[list[str]],
) -> None:
    separator = "\n\n" if granularity == "paragraph" else " "
    texts = [separator.join(row) for row in units]
    if granularity == "paragraph":
        texts = ["It is great. I love it!\n\nThanks.", "Bad. Very bad.\n\nNo."]
        units = [[*row, extra] for row, extra in zip(units, ["Thanks.", "No."], strict=True)]
    common = [
        "--config",
        str(config(tmp_path, {"granularity": granularity, "language": language})),
        "--dataset",
        str(dataset(tmp_path, texts)),
        "--output",
        str(tmp_path / "out"),
    ]
    code, err = run(capsys, [*common, *in_process(test_registry)])
    assert code == 0, err
    lines = (tmp_path / "out" / "explanations_shap" / "out.jsonl").read_text().splitlines()
    for line, expected in zip(lines, units, strict=True):
        attributions = json.loads(line)["explanations"][0]["attributions"]
        assert [unit["description"]["partial_text"] for unit in attributions] == expected


def test_a_tabular_column_beside_the_text_is_a_feature(tmp_path: Path) -> None:
    from sklearn.compose import make_column_transformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from explainops.core.text import Segmenter, text_rows
    from explainops.explainers.units import UnitsExplainer

    corpus = pd.read_csv(CORPUS)
    corpus["stars"] = corpus["label"] * 3 + 1 + (np.arange(len(corpus)) % 2)
    model = make_pipeline(
        make_column_transformer((TfidfVectorizer(), "text"), ("passthrough", ["stars"])),
        LogisticRegression(max_iter=1000),
    ).fit(corpus[["stars", "text"]], corpus["label"])
    frame = pd.DataFrame({"stars": [5.0], "text": ["Slow but works."]})
    baseline = pd.DataFrame({"stars": [3.0], "text": ["<UNK>"]})
    [row] = text_rows(frame, ["text"], baseline, Segmenter("token", "en"))
    [explanation] = UnitsExplainer().explain(
        lambda batches: model.predict_proba(pd.concat(batches, ignore_index=True)), [row]
    )

    tokens = ["Slow", "but", "works", "."]

    def game(coalition: tuple[int, ...]) -> np.ndarray:
        stars = 5.0 if 0 in coalition else 3.0
        words = [t if i + 1 in coalition else "<UNK>" for i, t in enumerate(tokens)]
        text = f"{words[0]} {words[1]} {words[2]}{words[3]}"
        return model.predict_proba(pd.DataFrame({"stars": [stars], "text": [text]}))[0]

    from tests.explainers.brute_force import shapley_values_of_game

    np.testing.assert_allclose(explanation.values, shapley_values_of_game(game, 5), atol=1e-12)
    # and out.csv gives the tabular column a line of its own, with no text and no start
    from explainops.clarify.text import local_text_table

    table = local_text_table([row], [explanation], [0], ["no", "yes"])
    assert table["feature_name"].tolist() == ["stars", "text", "text", "text", "text"]
    assert table["data_type"].tolist() == ["numerical", *["free_text"] * 4]
    assert table["partial_text"].tolist()[1:] == tokens and table["partial_text"].isna()[0]
    assert table["start_idx"].tolist()[1:] == [0, 5, 9, 14] and table["start_idx"].isna()[0]
    np.testing.assert_array_equal(table[["no", "yes"]].to_numpy().T, explanation.values)


@pytest.mark.parametrize(
    ("text_config", "shap", "message"),
    [
        ({"granularity": "token", "language": "klingon"}, {}, "'klingon' is not a language"),
        ({"granularity": "word", "language": "en"}, {}, "granularity"),
        ({"granularity": "token", "language": "en"}, {"baseline": [[1.5]]}, "must be the string"),
        ({"granularity": "token"}, {}, "language"),
    ],
)
def test_bad_text_configs_are_one_line_errors(
    reviews: Any,
    test_registry: RegistryFixture,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text_config: dict[str, Any],
    shap: dict[str, Any],
    message: str,
) -> None:
    common = [
        "--config",
        str(config(tmp_path, text_config, **shap)),
        "--dataset",
        str(dataset(tmp_path, SHORT)),
        "--output",
        str(tmp_path / "out"),
    ]
    code, err = run(capsys, [*common, *in_process(test_registry)])
    assert code != 0
    error_lines = [line for line in err.splitlines() if line.startswith("error")]
    assert len(error_lines) == 1 and message in error_lines[0], err
    assert not (tmp_path / "out" / "analysis.json").exists()
