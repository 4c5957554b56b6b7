"""Text units: spaCy's rule-based segmentation by granularity and language, and masking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainops.core.text import Segmenter, language_code, text_rows
from explainops.errors import ConfigError


@pytest.mark.parametrize(
    ("language", "text", "units"),
    [
        (
            "english",
            "I don't like it, really.",
            ["I", "do", "n't", "like", "it", ",", "really", "."],
        ),
        ("en", "Great  phone!\nWorks.", ["Great", "phone", "!", "Works", "."]),
        ("german", "Das Hotel war nicht gut.", ["Das", "Hotel", "war", "nicht", "gut", "."]),
        ("fr", "C'est l'hôtel idéal.", ["C'", "est", "l'", "hôtel", "idéal", "."]),
        ("spanish", "¡Me encanta!", ["¡", "Me", "encanta", "!"]),
        ("multi-language", "Gut, très bien.", ["Gut", ",", "très", "bien", "."]),
    ],
)
def test_tokens_by_language(language: str, text: str, units: list[str]) -> None:
    assert Segmenter("token", language).split(text).units == units


def test_sentences_and_paragraphs() -> None:
    text = "First one. Second one!\n\n  Next paragraph here. And more?\n \nLast."
    assert Segmenter("sentence", "en").split(text).units == [
        "First one.",
        "Second one!",
        "Next paragraph here.",
        "And more?",
        "Last.",
    ]
    assert Segmenter("paragraph").split(text).units == [
        "First one. Second one!",
        "Next paragraph here. And more?",
        "Last.",
    ]
    assert Segmenter("sentence", "xx").split("Ein Satz. Noch einer.").units == [
        "Ein Satz.",
        "Noch einer.",
    ]


def test_masking_keeps_everything_between_units() -> None:
    text = Segmenter("token", "en").split("  Not bad,\tat all. ")
    keep = np.array([[True] * 6, [False] * 6, [False, True, True, False, True, True]])
    assert text.masked(keep, "[MASK]") == [
        "  Not bad,\tat all. ",
        "  [MASK] [MASK][MASK]\t[MASK] [MASK][MASK] ",
        "  [MASK] bad,\t[MASK] all. ",
    ]


def test_empty_text_has_no_units() -> None:
    text = Segmenter("token", "en").split("   ")
    assert text.units == []
    assert text.masked(np.zeros((2, 0), np.bool_), "x") == ["   ", "   "]


def test_rows_with_tabular_columns_mask_both() -> None:
    frame = pd.DataFrame({"stars": [4.0], "review": ["Good value"], "title": ["Nice"]})
    baseline = pd.DataFrame({"stars": [3.0], "review": ["<unk>"], "title": ["_"]})
    [row] = text_rows(frame, ["review", "title"], baseline, Segmenter("token", "en"))
    assert row.n_units == 4
    assert row.unit_table().to_dict("list") == {
        "feature": ["stars", "review", "review", "title"],
        "unit": [-1, 0, 1, 0],
        "text": ["", "Good", "value", "Nice"],
    }
    masked = row.masked(np.array([[True, False, True, True], [False, True, False, False]]))
    assert masked.to_dict("list") == {
        "stars": [4.0, 3.0],
        "review": ["<unk> value", "Good <unk>"],
        "title": ["Nice", "_"],
    }


def test_language_names_and_codes() -> None:
    assert language_code("English") == "en"
    assert language_code("norwegian bokmål") == "nb"
    assert language_code("xx") == "xx"
    with pytest.raises(ConfigError, match="'klingon' is not a language Clarify accepts"):
        language_code("klingon")
    with pytest.raises(ConfigError, match="granularity: 'word'"):
        Segmenter("word", "en")  # type: ignore[arg-type]
