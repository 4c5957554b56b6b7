"""Text as features: a text split into units (tokens, sentences, paragraphs) that can be masked.

Each unit of a text column is a feature of its row. Splitting uses spaCy's rule-based pipelines
(``spacy.blank(language)``: its tokenizer, and the ``sentencizer`` for sentences), nothing
trained and nothing downloaded; paragraphs are the runs of text between blank lines. A masked
unit is replaced by the baseline string (Clarify's convention, e.g. ``"[MASK]"``) and everything
between units (spaces, line breaks) is kept as it was, so a coalition with every unit kept is
the text itself.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from explainops.errors import ConfigError

Granularity = Literal["token", "sentence", "paragraph"]
GRANULARITIES: tuple[str, ...] = ("token", "sentence", "paragraph")

# Clarify's text_config.language: names and ISO 639-1 codes (and spaCy's multi-language "xx").
LANGUAGES: dict[str, str] = {
    "chinese": "zh",
    "danish": "da",
    "dutch": "nl",
    "english": "en",
    "french": "fr",
    "german": "de",
    "greek": "el",
    "italian": "it",
    "japanese": "ja",
    "lithuanian": "lt",
    "macedonian": "mk",
    "norwegian bokmål": "nb",
    "polish": "pl",
    "portuguese": "pt",
    "romanian": "ro",
    "russian": "ru",
    "spanish": "es",
    "afrikaans": "af",
    "albanian": "sq",
    "arabic": "ar",
    "armenian": "hy",
    "basque": "eu",
    "bengali": "bn",
    "bulgarian": "bg",
    "catalan": "ca",
    "croatian": "hr",
    "czech": "cs",
    "estonian": "et",
    "finnish": "fi",
    "gujarati": "gu",
    "hebrew": "he",
    "hindi": "hi",
    "hungarian": "hu",
    "icelandic": "is",
    "indonesian": "id",
    "irish": "ga",
    "kannada": "kn",
    "kyrgyz": "ky",
    "latvian": "lv",
    "ligurian": "lij",
    "luxembourgish": "lb",
    "malayalam": "ml",
    "marathi": "mr",
    "nepali": "ne",
    "persian": "fa",
    "sanskrit": "sa",
    "serbian": "sr",
    "setswana": "tn",
    "sinhala": "si",
    "slovak": "sk",
    "slovenian": "sl",
    "swedish": "sv",
    "tagalog": "tl",
    "tamil": "ta",
    "tatar": "tt",
    "telugu": "te",
    "thai": "th",
    "turkish": "tr",
    "ukrainian": "uk",
    "urdu": "ur",
    "yoruba": "yo",
    "multi-language": "xx",
}
# Languages whose spaCy tokenizer needs a package of its own (a word segmenter).
_SEGMENTER_PACKAGES = {"ja": "sudachipy", "th": "pythainlp", "ko": "natto-py", "vi": "pyvi"}
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_LOCK = threading.Lock()


def language_code(language: str) -> str:
    """The ISO code of a Clarify ``language`` (a name or a code, any case).

    Raises:
        ConfigError: not a language Clarify accepts.

    """
    key = language.strip().lower()
    if key in LANGUAGES:
        return LANGUAGES[key]
    if key in LANGUAGES.values():
        return key
    raise ConfigError(
        f"text_config.language: {language!r} is not a language Clarify accepts; give a name or "
        "ISO code such as 'english'/'en', 'german'/'de' or 'multi-language'/'xx'"
    )


@lru_cache(maxsize=16)
def _pipeline(code: str, sentences: bool) -> Any:
    import spacy

    try:
        nlp = spacy.blank(code)
    except ImportError as error:
        package = _SEGMENTER_PACKAGES.get(code, str(error.name or "its word segmenter"))
        raise ConfigError(
            f"text_config.language: {code!r} needs the package {package} for its tokenizer; "
            f"install it (pip install {package})"
        ) from error
    if sentences:
        nlp.add_pipe("sentencizer")
    return nlp


@dataclass(frozen=True)
class Segmenter:
    """Splits texts into units of one granularity, for one language."""

    granularity: Granularity
    language: str = "english"

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise ConfigError(
                f"text_config.granularity: {self.granularity!r}; expected one of "
                f"{', '.join(GRANULARITIES)}"
            )
        if self.granularity != "paragraph":
            language_code(self.language)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) character offsets of the units of ``text``, in order, never empty."""
        if self.granularity == "paragraph":
            return _paragraphs(text)
        nlp = _pipeline(language_code(self.language), self.granularity == "sentence")
        with _LOCK:  # spaCy pipelines are not documented as thread-safe
            doc = nlp(text)
        if self.granularity == "token":
            return [(t.idx, t.idx + len(t)) for t in doc if not t.is_space]
        spans = []
        for sentence in doc.sents:
            start, end = sentence.start_char, sentence.end_char
            stripped = text[start:end].strip()
            if stripped:
                offset = text.index(stripped, start)
                spans.append((offset, offset + len(stripped)))
        return spans

    def split(self, text: str) -> SegmentedText:
        """``text`` and its units."""
        return SegmentedText(text, tuple(self.spans(text)))


def _paragraphs(text: str) -> list[tuple[int, int]]:
    spans = []
    start = 0
    for match in [*_PARAGRAPH_BREAK.finditer(text), None]:
        end = match.start() if match is not None else len(text)
        piece = text[start:end]
        stripped = piece.strip()
        if stripped:
            offset = start + piece.index(stripped)
            spans.append((offset, offset + len(stripped)))
        if match is not None:
            start = match.end()
    return spans


@dataclass(frozen=True)
class SegmentedText:
    """A text and the (start, end) offsets of its units."""

    text: str
    spans: tuple[tuple[int, int], ...]

    @property
    def units(self) -> list[str]:
        """The units' texts."""
        return [self.text[start:end] for start, end in self.spans]

    def masked(self, keep: npt.NDArray[np.bool_], mask: str) -> list[str]:
        """One text per coalition row of ``keep`` (c, n): masked units replaced by ``mask``."""
        gaps = [self.text[: self.spans[0][0]]] if self.spans else [self.text]
        for (_, end), (start, _) in zip(self.spans, self.spans[1:], strict=False):
            gaps.append(self.text[end:start])
        if self.spans:
            gaps.append(self.text[self.spans[-1][1] :])
        units = self.units
        texts = []
        for row in keep.tolist():
            parts = [gaps[0]]
            for unit, kept, gap in zip(units, row, gaps[1:], strict=True):
                parts.append(unit if kept else mask)
                parts.append(gap)
            texts.append("".join(parts))
        return texts


@dataclass(frozen=True)
class TextRow:
    """One row of a table with text columns: its tabular features, then each text's units.

    The features of the game are the tabular columns (masked by the baseline row's values) and
    the units of each text column (masked by the baseline's string for that column), in that
    order: ``feature_names`` tells which.
    """

    row: pd.DataFrame  # the row, one line, every column the model takes
    tabular: tuple[str, ...]
    texts: tuple[tuple[str, SegmentedText], ...]  # (column, its segmented text)
    baseline: pd.DataFrame  # one line: tabular values and, for text columns, the mask string

    @property
    def n_units(self) -> int:
        """Tabular features plus units of every text."""
        return len(self.tabular) + sum(len(text.spans) for _, text in self.texts)

    def unit_table(self) -> pd.DataFrame:
        """One line a feature: ``feature`` (column), ``unit`` (index in its text), ``text``."""
        records: list[tuple[str, int, str]] = [(name, -1, "") for name in self.tabular]
        for column, text in self.texts:
            records += [(column, index, unit) for index, unit in enumerate(text.units)]
        return pd.DataFrame(records, columns=["feature", "unit", "text"])

    def masked(self, keep: npt.NDArray[np.bool_]) -> pd.DataFrame:
        """The rows of the coalitions ``keep`` (c, n_units) as the model takes them."""
        n = keep.shape[0]
        frame = pd.DataFrame(
            {column: np.repeat(self.row[column].to_numpy(), n) for column in self.row.columns}
        )
        for position, column in enumerate(self.tabular):
            value = self.baseline[column].iloc[0]
            frame.loc[~keep[:, position], column] = value
        start = len(self.tabular)
        for column, text in self.texts:
            stop = start + len(text.spans)
            mask = str(self.baseline[column].iloc[0])
            frame[column] = text.masked(keep[:, start:stop], mask)
            start = stop
        return frame


def text_rows(
    frame: pd.DataFrame,
    text_columns: Sequence[str],
    baseline: pd.DataFrame,
    segmenter: Segmenter,
) -> list[TextRow]:
    """Every row of ``frame`` split for explanation (see :class:`TextRow`)."""
    tabular = tuple(column for column in frame.columns if column not in text_columns)
    rows = []
    for position in range(len(frame)):
        row = frame.iloc[position : position + 1].reset_index(drop=True)
        texts = tuple(
            (column, segmenter.split("" if pd.isna(value) else str(value)))
            for column in text_columns
            for value in [row[column].iloc[0]]
        )
        rows.append(TextRow(row, tabular, texts, baseline))
    return rows
