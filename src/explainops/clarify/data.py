"""Read a Clarify data set as Clarify does: its type, its columns, and the SHAP baseline rows.

CSV with or without a header row (the first row is a header when it matches ``headers`` or has a
non-numeric field), JSON Lines with a ``features`` JMESPath, Parquet.
"""

from __future__ import annotations

import json
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
from explainops.core.samples import SampleScan
from explainops.errors import ConfigError, InputError
from explainops.io.datasets import CsvReader, JsonLinesReader, ParquetReader, Reader, format_of

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
