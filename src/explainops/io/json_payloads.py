"""SageMaker Clarify's ``application/json`` model I/O: request bodies from templates, scores back.

A request is ``content_template`` with ``$records`` replaced by the JSON list of the request's
records (or ``$record`` by its one record: then every request holds one row) and
``$feature_names`` by the list of feature names. Each record is ``record_template`` with
``$features`` replaced by the row's values as a JSON list (and ``$feature_names`` by the names),
``$features_kvp`` by the object ``{name: value}``, or each ``"${name}"`` (the quotes are part of
the placeholder) by that feature's value. Numbers are written round-trip exact and missing values
as ``null``; records are built column by column (Arrow), not row by row.

A response is one JSON document; a JMESPath (e.g. ``predictions[*].score``) finds the scores of
a request's records in it, or the score(s) of its one record.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jmespath
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from explainops.errors import ConfigError, EndpointError

FloatArray = npt.NDArray[np.float64]

RECORD = "$record"
RECORDS = "$records"
FEATURES = "$features"
FEATURE_NAMES = "$feature_names"
FEATURES_KVP = "$features_kvp"
# Longer names first: "$records" is not "$record" followed by "s".
PLACEHOLDER = re.compile(
    r"\$(?:records|record|features_kvp|feature_names|features)(?![A-Za-z0-9_])"
    r'|"\$\{(?P<name>[^}"]*)\}"'
)
# Separators of json.dumps: Clarify's documented inputs read {"A": 0, "B": 1}.
ITEM_SEPARATOR = ", "
KEY_SEPARATOR = ": "
QUOTED_LENGTH = 80


@dataclass(frozen=True)
class Named:
    """A ``"${name}"`` placeholder: the value of feature ``name``."""

    name: str


Piece = str | Named  # literal text, a placeholder ("$features", ...) or a named feature
PLACEHOLDERS = frozenset({RECORD, RECORDS, FEATURES, FEATURE_NAMES, FEATURES_KVP})


def _is_placeholder(piece: Piece) -> bool:
    # Literal text never equals a placeholder: _pieces splits every placeholder out of it.
    return isinstance(piece, Named) or piece in PLACEHOLDERS


def _pieces(template: str) -> list[Piece]:
    """``template`` as literal text and placeholders, in order."""
    pieces: list[Piece] = []
    position = 0
    for match in PLACEHOLDER.finditer(template):
        if match.start() > position:
            pieces.append(template[position : match.start()])
        name = match.group("name")
        pieces.append(Named(name) if name is not None else match.group(0))
        position = match.end()
    if position < len(template):
        pieces.append(template[position:])
    return pieces


@dataclass(frozen=True)
class JsonTemplates:
    """A parsed ``content_template`` and ``record_template`` (see the module docstring).

    Attributes:
        content: the content template's literal text and placeholders.
        record: the record template's literal text and placeholders.

    """

    content: tuple[Piece, ...]
    record: tuple[Piece, ...]

    @property
    def single_record(self) -> bool:
        """True when the content template holds ``$record``: one row per request."""
        return RECORD in self.content

    def encode(self, rows: pd.DataFrame) -> bytes:
        """The request body of ``rows`` (one row when ``single_record``)."""
        names = [str(column) for column in rows.columns]
        records = self._records(rows, names)
        parts: list[str] = []
        for piece in self.content:
            if not _is_placeholder(piece):
                parts.append(str(piece))
            elif piece == RECORDS:
                parts.append("[" + ITEM_SEPARATOR.join(records) + "]")
            elif piece == RECORD:
                if len(records) != 1:
                    raise ValueError(f"$record takes one row per request, got {len(records)}")
                parts.append(records[0])
            else:  # $feature_names
                parts.append(json.dumps(names))
        return "".join(parts).encode()

    def _records(self, rows: pd.DataFrame, names: list[str]) -> list[str]:
        """Each row's record text, built column by column."""
        named = {piece.name for piece in self.record if isinstance(piece, Named)}
        if named:
            check_named_features(named, names)
        cells = dict(zip(names, _cell_texts(rows), strict=True))
        arguments: list[Any] = []
        for piece in self.record:
            if not _is_placeholder(piece):
                arguments.append(str(piece))
            elif isinstance(piece, Named):
                arguments.append(cells[piece.name])
            elif piece == FEATURE_NAMES:
                arguments.append(json.dumps(names))
            elif piece == FEATURES:
                arguments += _interleaved([cells[name] for name in names], "[", "]", None)
            else:  # $features_kvp
                keys = [json.dumps(name) + KEY_SEPARATOR for name in names]
                arguments += _interleaved([cells[name] for name in names], "{", "}", keys)
        joined = pc.binary_join_element_wise(*_merged(arguments), "")
        texts: list[str] = joined.to_pylist()
        return texts


def _interleaved(
    columns: list[pa.Array], opening: str, closing: str, keys: list[str] | None
) -> list[Any]:
    """``[a, b]`` or ``{"A": a, "B": b}`` as literal pieces between the columns."""
    arguments: list[Any] = []
    for index, column in enumerate(columns):
        separator = opening if index == 0 else ITEM_SEPARATOR
        arguments.append(separator + (keys[index] if keys is not None else ""))
        arguments.append(column)
    arguments.append(closing if columns else opening + closing)
    return arguments


def _merged(arguments: list[Any]) -> list[Any]:
    """Adjacent literal strings joined (fewer arguments for Arrow), as Arrow scalars."""
    merged: list[Any] = []
    for argument in arguments:
        if isinstance(argument, str) and merged and isinstance(merged[-1], str):
            merged[-1] += argument
        else:
            merged.append(argument)
    return [pa.scalar(item, pa.string()) if isinstance(item, str) else item for item in merged]


def _cell_texts(rows: pd.DataFrame) -> list[pa.Array]:
    """Each column's values as JSON texts: numbers round-trip exact, missing values ``null``."""
    texts = []
    for _, column in rows.items():
        if pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_numeric_dtype(column.dtype):
            # from_pandas: NaN and pd.NA are nulls; Arrow writes the shortest round-trip float.
            values = pa.Array.from_pandas(column)
            text = pc.cast(values, pa.string())
            if pa.types.is_floating(values.type):
                text = pc.if_else(pc.is_finite(values), text, pa.scalar(None, pa.string()))
                # Arrow writes -0.0 as "-0", which JSON readers take for the integer 0.
                text = pc.if_else(pc.equal(text, "-0"), pa.scalar("-0.0"), text)
            texts.append(pc.fill_null(text, "null"))
        else:
            texts.append(
                pa.array([json.dumps(_json_value(value)) for value in column.tolist()], pa.string())
            )
    return texts


def _json_value(value: Any) -> Any:
    """NaN, infinities and pandas' missing values as None (JSON null); numpy scalars as Python."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def check_named_features(named: set[str], features: Sequence[str]) -> None:
    """Every feature has its ``"${name}"`` placeholder, and every placeholder names a feature."""
    unknown = sorted(named - set(features))
    if unknown:
        raise ConfigError(
            f'record_template: "${{{unknown[0]}}}" names no feature; features: {list(features)}'
        )
    missing = [name for name in features if name not in named]
    if missing:
        raise ConfigError(
            f"record_template: no placeholder for feature(s) {missing}; give one "
            f'"${{name}}" per feature (or use $features or $features_kvp)'
        )


def parse_templates(content_template: str | None, record_template: str | None) -> JsonTemplates:
    """Parse and check the two templates; raises ValueError saying which one is wrong and why."""
    if content_template is None or record_template is None:
        raise ValueError(
            "application/json requests need content_template and record_template, e.g. "
            'content_template "$records" and record_template "$features_kvp"'
        )
    content = _pieces(content_template)
    record = _pieces(record_template)
    _check_content(content_template, [piece for piece in content if _is_placeholder(piece)])
    _check_record(record_template, [piece for piece in record if _is_placeholder(piece)])
    return JsonTemplates(tuple(content), tuple(record))


def _check_content(template: str, found: list[Piece]) -> None:
    records = [piece for piece in found if piece in (RECORD, RECORDS)]
    others = sorted({str(p) for p in found if p not in (RECORD, RECORDS, FEATURE_NAMES)})
    if others:
        raise ValueError(
            f"content_template: {others[0]} belongs in record_template; content_template "
            f"takes $records or $record, and $feature_names, got {template!r}"
        )
    if len(records) != 1:
        raise ValueError(
            f"content_template must contain $records (a list of records) or $record (one "
            f"record per request) exactly once, got {template!r}"
        )


def _check_record(template: str, found: list[Piece]) -> None:
    kinds = [str(piece) for piece in found if not isinstance(piece, Named)]
    named = [piece for piece in found if isinstance(piece, Named)]
    if RECORD in kinds or RECORDS in kinds:
        raise ValueError("record_template: $record and $records belong in content_template")
    if FEATURES_KVP in kinds:
        if len(found) != 1:
            raise ValueError(
                f"record_template must contain $features_kvp alone (exactly once), got {template!r}"
            )
        return
    if FEATURES in kinds:
        if kinds.count(FEATURES) != 1 or named:
            raise ValueError(
                "record_template must contain $features exactly once (and optionally "
                f'$feature_names), without "${{name}}" placeholders, got {template!r}'
            )
        return
    if not named:
        raise ValueError(
            'record_template must contain $features, $features_kvp or one "${name}" '
            f"placeholder per feature, got {template!r}"
        )
    names = [piece.name for piece in named]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f'record_template: "${{{repeated[0]}}}" appears more than once')


# --- responses ------------------------------------------------------------------------------


def decode_json_scores(
    content: bytes,
    attribute: int | str | None,
    n_rows: int,
    single_record: bool,
    where: str,
) -> FloatArray:
    """Scores (n_rows, n_outputs) from one JSON response document; any mismatch an EndpointError.

    ``attribute``: a JMESPath into the document (for a batch it should find one value per
    record, e.g. ``predictions[*].score``; a path that finds nothing in a list of records is
    applied to each record), a column index into each record's list of scores, or None (the
    document is the scores). ``single_record``: the request held one record (``$record``), so
    the document is that record's answer.
    """
    try:
        document = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise EndpointError(f"{where}: response is not JSON: {_quoted(content)}") from None
    path = jmespath.compile(attribute) if isinstance(attribute, str) else None
    if single_record:
        value = path.search(document) if path is not None else document
        if isinstance(attribute, int):
            value = _indexed(value, attribute, where, 1)
        if value is None:
            raise EndpointError(f"{where}: response has no {attribute!r}: {_quoted(content)}")
        return np.asarray([_scores(value, attribute, where, 1)], dtype=np.float64)
    found = path.search(document) if path is not None else document
    if found is None and path is not None and isinstance(document, list):
        found = [path.search(record) for record in document]
    if not isinstance(found, list):
        at = f" at {attribute!r}" if isinstance(attribute, str) else ""
        got = "nothing" if found is None else f"{type(found).__name__} {_quoted(found)}"
        raise EndpointError(f"{where}: expected a list of {n_rows} records' scores{at}, got {got}")
    if len(found) != n_rows:
        raise EndpointError(f"{where}: response has {len(found)} records, expected {n_rows}")
    if isinstance(attribute, int):
        found = [_indexed(value, attribute, where, n) for n, value in enumerate(found, start=1)]
    rows = [_scores(value, attribute, where, n) for n, value in enumerate(found, start=1)]
    if len({len(row) for row in rows}) > 1:
        raise EndpointError(f"{where}: response records have different numbers of scores")
    return np.asarray(rows, dtype=np.float64).reshape(n_rows, -1)


def _indexed(value: Any, index: int, where: str, number: int) -> Any:
    if not isinstance(value, list) or index >= len(value):
        raise EndpointError(
            f"{where}: response record {number} has no score {index} (probability_attribute): "
            f"{_quoted(value)}"
        )
    return value[index]


def _scores(value: Any, attribute: int | str | None, where: str, number: int) -> list[float]:
    """A record's score(s): a number or a list of numbers."""
    values = value if isinstance(value, list) else [value]
    if values and all(type(item) in (int, float) for item in values):
        return [float(item) for item in values]
    if value is None:
        problem = f"has no {attribute!r}"
    else:
        hint = "" if attribute is not None else " (set probability_attribute)"
        problem = f"is not a number or a list of numbers{hint}: {_quoted(value)}"
    raise EndpointError(f"{where}: response record {number} {problem}")


def _quoted(value: Any) -> str:
    text = (
        value.decode("utf-8", errors="replace") if isinstance(value, bytes) else json.dumps(value)
    )
    return " ".join(text.split())[:QUOTED_LENGTH]
