"""Read a Clarify data set as Clarify does: its type, its columns, and the SHAP baseline rows.

CSV with or without a header row (``csv_column_names``: with ``headers`` the first row is a header
row when it equals them; without, when its fields and the second row's say so, and a row they
cannot place is refused), JSON Lines with a ``features`` JMESPath into each record, JSON with a
``features`` JMESPath into the whole document, Parquet.

In CSV and Parquet data sets, ``label``, ``predicted_label``, ``excluded_columns`` and
``joinsource_name_or_index`` name columns that are not features. In JSON Lines and JSON data sets
the features come from their own JMESPath, so ``label`` and ``predicted_label`` are JMESPaths
(into each record, or into the document for one value per record) that must find something but
remove nothing; ``excluded_columns`` and ``joinsource_name_or_index`` name feature columns.
``headers`` of JSON data sets name the features, followed (Clarify's convention) by the label's
and the predicted label's names when those are set.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

import jmespath
import pandas as pd
from jmespath.exceptions import JMESPathError

from explainops.clarify.analysis_config import (
    IMAGE_DATASET,
    AnalysisConfig,
    ConfigDatasetType,
    DatasetType,
)
from explainops.core.explainer_settings import KernelExplainerSettings
from explainops.core.pipeline import (
    Background,
    checked_background,
    numeric_as_float,
    resolve_background,
)
from explainops.core.samples import SampleScan, SampleSource
from explainops.errors import ConfigError, InputError
from explainops.io.capture import CaptureReader, capture_reader, is_capture
from explainops.io.datasets import (
    CsvReader,
    JsonLinesReader,
    JsonReader,
    ParquetReader,
    Reader,
    format_of,
    read_json,
    search_by_record,
)
from explainops.io.storage import open_file, storage_errors

logger = logging.getLogger(__name__)

BASELINE_FIELD = "methods.shap.baseline"
JSON_TYPES = ("application/jsonlines", "application/json")
# Clarify's fields of JSON data sets that are JMESPaths to values, not feature columns.
JMESPATH_FIELDS = ("label", "predicted_label")
# The names Clarify gives the columns of a CSV data set without headers or a header row.
PLACEHOLDER_NAME = re.compile(r"column_\d+")


def dataset_type_of(path: str, chosen: ConfigDatasetType | None) -> DatasetType:
    """``chosen``, else the type the file's extension names (CSV when it names none)."""
    if chosen == IMAGE_DATASET:
        raise ConfigError(f"{path}: application/x-image data sets need methods.shap.image_config")
    if chosen is not None:
        return cast(DatasetType, chosen)
    found = format_of(path)
    media_type = found.media_type if found is not None else "text/csv"
    assert media_type in get_args(DatasetType), media_type
    return cast(DatasetType, media_type)


def dataset_reader(
    config: AnalysisConfig,
    dataset_type: DatasetType,
    path: str,
    *,
    features_attribute: str | None,
    batch_size: int,
) -> Reader:
    """The reader of a data set (or baseline file) of ``dataset_type``.

    A file, folder or prefix of endpoint data-capture files (what the Explainability Monitor
    explains) is read as the requests they captured, whatever ``dataset_type`` says.
    """
    if is_capture(path):
        return capture_reader(
            path,
            headers=config.headers,
            features_attribute=features_attribute or config.features,
            batch_size=batch_size,
        )
    if dataset_type in JSON_TYPES:
        features = json_features_path(config, dataset_type, features_attribute)
        headers = json_feature_headers(config, dataset_type, path, features)
        if dataset_type == "application/json":
            return JsonReader(path=path, features=features, headers=headers, batch_size=batch_size)
        return JsonLinesReader(path=path, features=features, headers=headers, batch_size=batch_size)
    if dataset_type == "application/x-parquet":
        return ParquetReader(path=path, batch_size=batch_size)
    return CsvReader(path=path, headers=csv_column_names(path, config), batch_size=batch_size)


def json_features_path(
    config: AnalysisConfig, dataset_type: DatasetType, features_attribute: str | None
) -> str:
    """The features' JMESPath of a JSON Lines or JSON data set (``--features-attribute`` first)."""
    features = features_attribute or config.features
    if features is None:
        name = "JSON Lines" if dataset_type == "application/jsonlines" else "JSON"
        raise ConfigError(
            f"{name} data sets need the features' JMESPath: set 'features' in the analysis "
            "config or pass --features-attribute"
        )
    try:
        jmespath.compile(features)
    except JMESPathError as error:
        raise ConfigError(f"features: {features!r} is not a valid JMESPath") from error
    return features


def json_feature_headers(
    config: AnalysisConfig, dataset_type: DatasetType, path: str, features: str
) -> list[str] | None:
    """``headers`` without the label's and predicted label's names that may follow the features.

    Clarify's convention for JSON data sets: features, then the label's name (when ``label`` is
    set), then the predicted label's. The names are dropped when there are that many more headers
    than features in the first record.
    """
    headers = config.headers
    extra = sum(getattr(config, field) is not None for field in JMESPATH_FIELDS)
    if headers is None or extra == 0:
        return headers
    first = _first_features(dataset_type, path, features)
    if isinstance(first, list) and len(headers) == len(first) + extra:
        return headers[: len(first)]
    return headers


def _first_features(dataset_type: DatasetType, path: str, features: str) -> Any:
    """The first record's features (a list or an object), or None when there is none."""
    expression = jmespath.compile(features)
    if dataset_type == "application/json":
        found = expression.search(read_json(path, "JSON data set"))
        return found[0] if isinstance(found, list) and found else None
    record = _first_record(path)
    return expression.search(record) if record is not None else None


def _first_record(path: str) -> Any:
    """The first record of a JSON Lines file, or None (errors are the reader's to report)."""
    try:
        with open_file(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    return json.loads(line)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return None


def check_json_label_paths(config: AnalysisConfig, dataset_type: DatasetType, path: str) -> None:
    """``label`` and ``predicted_label`` of a JSON Lines or JSON data set find their values.

    JSON Lines: in the first record. JSON: one value per record in the document. A path that
    finds nothing is a configuration error.
    """
    references = {field: getattr(config, field) for field in JMESPATH_FIELDS}
    references = {field: value for field, value in references.items() if value is not None}
    if not references:
        return
    if dataset_type == "application/json":
        document = read_json(path, "JSON data set")
        # every record counts, one without features too (the reader names it)
        features = jmespath.compile(json_features_path(config, dataset_type, None))
        records = search_by_record(features.parsed, document)
        n_records = len(records) if isinstance(records, list) else None
    else:
        document = _first_record(path)
        n_records = None
    where = "the document" if dataset_type == "application/json" else "the first record"
    for field, reference in references.items():
        if not isinstance(reference, str):
            raise ConfigError(
                f"{field}: {reference!r} is an index; in JSON Lines and JSON data sets it is a "
                "JMESPath into the records (e.g. 'label')"
            )
        try:
            found = jmespath.search(reference, document)
        except JMESPathError as error:
            raise ConfigError(f"{field}: {reference!r} is not a valid JMESPath") from error
        if found is None or found == []:
            raise ConfigError(f"{field}: {reference!r} finds nothing in {where} of {path}")
        if n_records is not None and (not isinstance(found, list) or len(found) != n_records):
            count = len(found) if isinstance(found, list) else 1
            raise InputError(
                f"{path}: {field} {reference!r} finds {count} value(s), expected one per record "
                f"({n_records})"
            )
        logger.info("analysis config %s: %r found in %s, not a feature", field, reference, where)


@dataclass(frozen=True)
class WithoutColumns:
    """A data set with some columns removed from every batch (the label, excluded columns, ...).

    Attributes:
        reader: the data set.
        columns: the columns to remove.

    """

    reader: Reader
    columns: tuple[str, ...]

    @property
    def path(self) -> str:
        """The data set's path."""
        return self.reader.path

    @property
    def id_column(self) -> str | None:
        """Clarify data sets have no id column: rows are named by position."""
        return self.reader.id_column

    def batches(self) -> Iterator[pd.DataFrame]:
        """The reader's batches without the removed columns."""
        for batch in self.reader.batches():
            yield batch.drop(columns=list(self.columns))


def format_name(samples: SampleSource, dataset_type: DatasetType) -> str:
    """What the data set was read as, for the log: its type, or endpoint data capture."""
    reader = samples.reader if isinstance(samples, WithoutColumns) else samples
    return "SageMaker endpoint data capture" if isinstance(reader, CaptureReader) else dataset_type


def non_feature_columns(
    config: AnalysisConfig, columns: list[str], *, json_records: bool = False
) -> dict[str, str]:
    """The data set's columns that are not features, as Clarify removes them: ``{column: why}``.

    ``label``, ``excluded_columns``, ``joinsource_name_or_index`` and ``predicted_label`` name a
    column (a header) or give its index. One that names no column is a configuration error.
    With ``json_records`` (JSON Lines and JSON data sets, whose columns are the features),
    ``label`` and ``predicted_label`` are JMESPaths (``check_json_label_paths``), not columns.
    """
    named: dict[str, list[int | str | None]] = {
        "label": [config.label],
        "excluded_columns": list(config.excluded_columns or []),
        "joinsource_name_or_index": [config.joinsource_name_or_index],
        "predicted_label": [config.predicted_label],
    }
    if json_records:
        for field in JMESPATH_FIELDS:
            del named[field]
    removed: dict[str, str] = {}
    for field, references in named.items():
        for reference in references:
            if reference is None:
                continue
            removed[_column(reference, columns, field)] = field
    return removed


def _column(reference: int | str, columns: list[str], field: str) -> str:
    if isinstance(reference, int):
        if not 0 <= reference < len(columns):
            raise ConfigError(
                f"{field}: index {reference} is out of range: the data set has "
                f"{len(columns)} columns (0 to {len(columns) - 1})"
            )
        return columns[reference]
    if reference not in columns:
        raise ConfigError(f"{field}: no column {reference!r} in the data set; columns: {columns}")
    return reference


def clarify_samples(
    config: AnalysisConfig,
    dataset_type: DatasetType,
    path: str,
    *,
    features_attribute: str | None,
    batch_size: int,
) -> SampleSource:
    """The data set's features: its rows without the label and the other non-feature columns.

    In JSON Lines and JSON data sets the features come from their own JMESPath: the label and
    predicted label are checked to exist, and only excluded (or join) feature columns are removed.
    """
    reader = dataset_reader(
        config, dataset_type, path, features_attribute=features_attribute, batch_size=batch_size
    )
    json_records = dataset_type in JSON_TYPES
    if json_records:
        check_json_label_paths(config, dataset_type, path)
    first = next(reader.batches(), None)
    if first is None:
        return reader
    columns = [str(column) for column in first.columns]
    removed = non_feature_columns(config, columns, json_records=json_records)
    for column, field in removed.items():
        logger.info("analysis config %s: column %r is not a feature, removed", field, column)
    return WithoutColumns(reader, tuple(removed)) if removed else reader


def shap_background(
    config: AnalysisConfig,
    dataset_type: DatasetType,
    settings: KernelExplainerSettings,
    scan: SampleScan,
    *,
    features_attribute: str | None,
    batch_size: int,
) -> Background:
    """``methods.shap.baseline``: rows, a file of rows, or a k-means summary of the data set."""
    features = scan.feature_names
    dtypes = numeric_as_float(scan.reservoir[features]).dtypes.to_dict()
    baseline = config.shap.baseline
    if baseline is None:
        return resolve_background(settings, scan, None)
    if isinstance(baseline, str):
        try:
            frame = dataset_reader(
                config,
                dataset_type,
                baseline,
                features_attribute=features_attribute,
                batch_size=batch_size,
            ).read()
        except InputError as error:
            raise InputError(f"{BASELINE_FIELD}: {error}") from error
        frame = frame.drop(columns=[column for column in frame.columns if column not in features])
    elif dataset_type == "application/json":
        frame = json_baseline_frame(
            baseline, features, json_features_path(config, dataset_type, features_attribute)
        )
    else:
        if isinstance(baseline, dict):
            raise ConfigError(
                f"{BASELINE_FIELD}: a list of rows or a file, not an object, for {dataset_type} "
                "data sets"
            )
        frame = baseline_frame(baseline, features, features_attribute or config.features)
    return checked_background(frame, features, dtypes, None, BASELINE_FIELD)


def csv_column_names(path: str, config: AnalysisConfig) -> list[str] | None:
    """Column names to give a CSV data set, or None when its first row is a header row.

    With ``headers``, the first row is a header row when it equals them and data otherwise, as
    in Clarify (whose CSV data sets carry no header row when ``headers`` is given); a first row
    that looks like a header (names above numbers, no number of its own) but differs from them
    is refused rather than read as data. Without ``headers`` (Clarify then takes the header row's
    names, else ``column_0``, ``column_1``, ...) see ``_is_header_row``: a row it cannot place is
    refused, never guessed, so no data row is ever taken as names and no header row as data.
    """
    rows = _first_rows(path)
    headers = config.headers
    if headers is None:
        if _is_header_row(path, rows, _names_in(config)):
            return None
        return [f"column_{index}" for index in range(len(rows.fields))]
    if rows.fields == headers:
        return None
    if rows.names_above_numbers and not rows.has_numbers:
        raise InputError(
            f"{path}: the first row {rows.fields} looks like a header row (names above numbers) "
            f"but differs from the analysis config's headers {headers}: make them equal, or "
            "remove the row"
        )
    if len(headers) != len(rows.fields):
        raise InputError(
            f"{path}: rows have {len(rows.fields)} columns, the analysis config's headers name "
            f"{len(headers)} ({', '.join(headers)})"
        )
    return headers


FieldKind = Literal["number", "text", "missing"]


@dataclass(frozen=True)
class FirstRows:
    """The first row of a CSV file, and what its fields and the second row's are.

    Attributes:
        fields: the first row's fields, as written (surrounding spaces removed).
        kinds: each field's kind: a number, text, or missing (empty, ``NA``, ... as the reader
            reads them).
        below: the second row's kinds, or None when the file has one row.

    """

    fields: list[str]
    kinds: list[FieldKind]
    below: list[FieldKind] | None

    @property
    def has_numbers(self) -> bool:
        """Whether a field of the first row is a number (a header row's are names)."""
        return "number" in self.kinds

    @property
    def has_text(self) -> bool:
        """Whether a field of the first row is text (data rows of numbers have none)."""
        return "text" in self.kinds

    @property
    def names_above_numbers(self) -> bool:
        """Whether a column holds text in the first row and a number in the second."""
        below = self.below or []
        return any(
            kind == "text" and under == "number"
            for kind, under in zip(self.kinds, below, strict=False)
        )


def _is_header_row(path: str, rows: FirstRows, names: list[str]) -> bool:
    """Whether the first row of a CSV data set without ``headers`` is a header row.

    It is when it holds every column name the config gives (``label``, ``excluded_columns``,
    ...), or when it has no number and some column has a number below its text. It is data when
    it has no text, or has numbers and every text of it sits above text (a string column). Any
    other row (all text over text, or numbers beside a text above a number) is refused.
    """
    if names and all(name in rows.fields for name in names):
        return True
    if not rows.has_text:
        return False
    if rows.names_above_numbers and not rows.has_numbers:
        return True
    if rows.has_numbers and not rows.names_above_numbers:
        return False
    raise InputError(
        f"{path}: cannot tell whether the first row {rows.fields} is a header row or data; "
        "give the columns' names in the analysis config's headers (a first row equal to them "
        "is a header row, any other row is data)"
    )


def _names_in(config: AnalysisConfig) -> list[str]:
    """The column names the config refers to, other than Clarify's ``column_0``, ``column_1``..."""
    pdp = config.methods.pdp
    references: list[int | str | None] = [
        config.label,
        *(config.excluded_columns or []),
        config.joinsource_name_or_index,
        config.predicted_label,
        *(pdp.features or [] if pdp is not None else []),
    ]
    return [
        reference
        for reference in references
        if isinstance(reference, str) and not PLACEHOLDER_NAME.fullmatch(reference)
    ]


def _first_rows(path: str) -> FirstRows:
    """The first two rows of a CSV file, read as ``CsvReader`` reads them."""
    options: dict[str, Any] = {
        "header": None,
        "dtype": str,
        "skipinitialspace": True,
        "index_col": False,
    }
    try:
        with open_file(path, "rt", encoding="utf-8") as handle:
            raw = pd.read_csv(handle, nrows=2, na_filter=False, **options)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty data set") from None
    except pd.errors.ParserError as error:
        raise InputError(f"{path}: cannot read the first two rows: {str(error).strip()}") from error
    except storage_errors(OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read: {error}") from error
    # Which fields the reader takes as missing (pandas' NA strings): the two rows read again
    # with its default NA handling, from memory.
    missing = pd.read_csv(io.StringIO(raw.to_csv(header=False, index=False)), **options).isna()
    kinds = [
        [
            _kind(str(value), bool(absent))
            for value, absent in zip(raw.iloc[row], missing.iloc[row], strict=True)
        ]
        for row in range(len(raw))
    ]
    return FirstRows(
        fields=[str(value).strip() for value in raw.iloc[0]],
        kinds=kinds[0],
        below=kinds[1] if len(kinds) > 1 else None,
    )


def _kind(field: str, missing: bool) -> FieldKind:
    if missing or not field.strip():
        return "missing"
    try:
        float(field)
    except ValueError:
        return "text"
    # float() reads "1_000"; pandas does not.
    return "text" if "_" in field else "number"


def json_baseline_frame(
    baseline: list[Any] | dict[str, Any], features: list[str], features_path: str
) -> pd.DataFrame:
    """A JSON data set's inline baseline: a document like the data set's, or a list of rows."""
    found = jmespath.search(features_path, baseline)
    rows = found if isinstance(found, list) else baseline
    if not isinstance(rows, list):
        raise ConfigError(
            f"{BASELINE_FIELD}: features {features_path!r} finds no rows in the baseline document"
        )
    return baseline_frame(rows, features, None)


def baseline_frame(rows: list[Any], features: list[str], features_path: str | None) -> pd.DataFrame:
    """Baseline rows given in the data set's format: lists of values or JSON Lines records."""
    path = jmespath.compile(features_path) if features_path else None
    values: list[Any] = []
    for number, row in enumerate(rows, start=1):
        if isinstance(row, dict) and path is not None:
            row = path.search(row)
        if isinstance(row, dict):
            values.append([row.get(feature) for feature in features])
            continue
        if not isinstance(row, list) or len(row) != len(features):
            raise InputError(
                f"{BASELINE_FIELD}: row {number} is {json.dumps(row)[:80]}, expected "
                f"{len(features)} values ({', '.join(features)})"
            )
        values.append(row)
    return pd.DataFrame(values, columns=features)
