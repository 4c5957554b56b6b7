"""A first pass over the samples: validate every batch and keep a uniform sample for baselines."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from explainops.errors import InputError
from explainops.io.datasets import Reader
from explainops.io.schemas import InputSchema, Violation, raise_for_violations, validate_batch

# Rows kept (uniformly at random) for the k-means baseline summary and model previews.
RESERVOIR_SIZE = 20_000


@dataclass(frozen=True)
class SampleScan:
    """What one validating pass learned about the samples."""

    n_rows: int
    feature_names: list[str]
    reservoir: pd.DataFrame


def feature_columns(
    batch: pd.DataFrame, schema: InputSchema | None, id_column: str | None
) -> list[str]:
    """The explained columns: the schema's, else every column but the id column."""
    if schema is not None:
        return schema.feature_names
    return [column for column in batch.columns if column != id_column]


def validated_batches(reader: Reader, schema: InputSchema | None) -> Iterator[pd.DataFrame]:
    """The reader's batches, coerced to the schema (callers validated them with scan_samples)."""
    extra = {reader.id_column} if reader.id_column else set()
    for batch in reader.batches():
        if schema is not None:
            batch, violations = validate_batch(batch, schema, extra)
            raise_for_violations(reader.path, violations, len(violations))
        yield batch


def scan_samples(reader: Reader, schema: InputSchema | None, seed: int) -> SampleScan:
    """Validate every batch, collecting all violations, and keep a uniform reservoir of rows.

    Raises InputError listing the violations (column, row, reason) or when there are no rows.
    """
    rng = np.random.default_rng(seed)
    extra = {reader.id_column} if reader.id_column else set()
    violations: list[Violation] = []
    n_rows, features = 0, None
    reservoir, keys = pd.DataFrame(), np.empty(0)
    for batch in reader.batches():
        if reader.id_column is not None and reader.id_column not in batch.columns:
            raise InputError(
                f"{reader.path}: id_column {reader.id_column!r} not found; "
                f"columns: {list(batch.columns)}"
            )
        if schema is not None:
            batch, found = validate_batch(batch, schema, extra)
            violations.extend(found)
        features = features or feature_columns(batch, schema, reader.id_column)
        n_rows += len(batch)
        # Keep the rows with the smallest random keys: a uniform sample of every row seen so far.
        batch_keys = rng.random(len(batch))
        reservoir = pd.concat([reservoir, batch]) if len(reservoir) else batch
        keys = np.concatenate([keys, batch_keys])
        if len(reservoir) > RESERVOIR_SIZE:
            keep = np.sort(np.argpartition(keys, RESERVOIR_SIZE)[:RESERVOIR_SIZE])
            reservoir, keys = reservoir.iloc[keep], keys[keep]
    raise_for_violations(reader.path, violations, len(violations))
    if n_rows == 0 or features is None:
        raise InputError(f"{reader.path}: no rows to explain")
    return SampleScan(n_rows, features, reservoir)
