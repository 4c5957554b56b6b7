"""Read a Clarify data set as Clarify does: its type, its columns, and the SHAP baseline rows.

CSV with or without a header row (the first row is a header when it matches ``headers`` or has a
non-numeric field), JSON Lines with a ``features`` JMESPath, Parquet.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast, get_args

import fsspec
import jmespath
import pandas as pd

from explainops.clarify.analysis_config import AnalysisConfig, DatasetType
from explainops.core.explainer_settings import KernelExplainerSettings
from explainops.core.pipeline import (
    Background,
    checked_background,
    numeric_as_float,
    resolve_background,
)
from explainops.core.samples import SampleScan, SampleSource
from explainops.errors import ConfigError, InputError
from explainops.io.datasets import CsvReader, JsonLinesReader, ParquetReader, Reader, format_of

logger = logging.getLogger(__name__)

BASELINE_FIELD = "methods.shap.baseline"


def dataset_type_of(path: str, chosen: DatasetType | None) -> DatasetType:
    """``chosen``, else the type the file's extension names (CSV when it names none)."""
    if chosen is not None:
        return chosen
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
    """The reader of a data set (or baseline file) of ``dataset_type``."""
    if dataset_type == "application/jsonlines":
        features = features_attribute or config.features
        if features is None:
            raise ConfigError(
                "JSON Lines data sets need the features' JMESPath: set 'features' in the "
                "analysis config or pass --features-attribute"
            )
        return JsonLinesReader(
            path=path, features=features, headers=config.headers, batch_size=batch_size
        )
    if dataset_type == "application/x-parquet":
        return ParquetReader(path=path, batch_size=batch_size)
    return CsvReader(
        path=path, headers=csv_column_names(path, config.headers), batch_size=batch_size
    )


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


def non_feature_columns(config: AnalysisConfig, columns: list[str]) -> dict[str, str]:
    """The data set's columns that are not features, as Clarify removes them: ``{column: why}``.

    ``label``, ``excluded_columns``, ``joinsource_name_or_index`` and ``predicted_label`` name a
    column (a header) or give its index. One that names no column is a configuration error.
    """
    named: dict[str, list[int | str | None]] = {
        "label": [config.label],
        "excluded_columns": list(config.excluded_columns or []),
        "joinsource_name_or_index": [config.joinsource_name_or_index],
        "predicted_label": [config.predicted_label],
    }
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

    In JSON Lines data sets the features come from their own JMESPath, so nothing is removed.
    """
    reader = dataset_reader(
        config, dataset_type, path, features_attribute=features_attribute, batch_size=batch_size
    )
    if dataset_type == "application/jsonlines":
        return reader
    first = next(reader.batches(), None)
    if first is None:
        return reader
    removed = non_feature_columns(config, [str(column) for column in first.columns])
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
        reader = dataset_reader(
            config,
            dataset_type,
            baseline,
            features_attribute=features_attribute,
            batch_size=batch_size,
        )
        frame = reader.read()
        frame = frame.drop(columns=[column for column in frame.columns if column not in features])
    else:
        frame = baseline_frame(baseline, features, features_attribute or config.features)
    return checked_background(frame, features, dtypes, None, BASELINE_FIELD)


def csv_column_names(path: str, headers: list[str] | None) -> list[str] | None:
    """Column names to give a CSV data set, or None when its first row is a header row.

    A first row equal to ``headers``, or with any non-numeric field, is a header row.
    """
    try:
        with fsspec.open(path, "rt", encoding="utf-8") as handle:
            first = handle.readline()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read: {error}") from error
    fields = [field.strip().strip('"') for field in first.strip().split(",")]
    if not first.strip():
        raise InputError(f"{path}: empty data set")
    if headers is not None and fields == headers:
        return None
    numeric = all(_is_number(field) for field in fields)
    if not numeric:
        if headers is not None:
            raise InputError(
                f"{path}: the first row {fields} looks like a header row but differs from the "
                f"analysis config's headers {headers}"
            )
        return None
    if headers is None:
        return [f"column_{index}" for index in range(len(fields))]
    if len(headers) != len(fields):
        raise InputError(
            f"{path}: rows have {len(fields)} columns, the analysis config's headers name "
            f"{len(headers)} ({', '.join(headers)})"
        )
    return headers


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


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
