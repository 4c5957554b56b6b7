"""Stage one of the pipeline: validate every batch and keep a uniform sample for baselines.

The samples come from any ``SampleSource`` (the readers of ``explainops.io`` are ones): this
module validates, it does not read files.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from explainops.core.schemas import (
    InputSchema,
    Violation,
    non_finite_violations,
    raise_for_violations,
    validate_batch,
)
from explainops.errors import InputError

# Rows kept (uniformly at random) for the k-means baseline summary and model previews.
RESERVOIR_SIZE = 20_000
# Duplicated ids named in the error message.
MAX_LISTED_DUPLICATES = 5


class SampleSource(Protocol):
    """Where samples come from: ``batches()`` of rows indexed by their position in the data set."""

    @property
    def path(self) -> str:
        """Where the samples are (named in errors)."""

    @property
    def id_column(self) -> str | None:
        """The column holding each sample's id, or None (the row's position is its id)."""

    def batches(self) -> Iterator[pd.DataFrame]:
        """The rows, batch after batch, each indexed by row position."""


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


def checked_batch(
    reader: SampleSource, batch: pd.DataFrame, schema: InputSchema | None
) -> tuple[pd.DataFrame, list[Violation]]:
    """One batch coerced to the schema, with its violations (infinite values count too)."""
    if reader.id_column is not None and reader.id_column not in batch.columns:
        raise InputError(
            f"{reader.path}: id_column {reader.id_column!r} not found; "
            f"columns: {list(batch.columns)}"
        )
    if schema is not None:
        extra = {reader.id_column} if reader.id_column else set()
        return validate_batch(batch, schema, extra)
    return batch, non_finite_violations(batch, feature_columns(batch, None, reader.id_column))


def validated_batches(reader: SampleSource, schema: InputSchema | None) -> Iterator[pd.DataFrame]:
    """The reader's batches, coerced to the schema (callers validated them with scan_samples)."""
    for batch in reader.batches():
        batch, violations = checked_batch(reader, batch, schema)
        raise_for_violations(reader.path, violations, len(violations))
        yield batch


def first_batch(reader: SampleSource, schema: InputSchema | None) -> pd.DataFrame:
    """The first batch, validated: what ``explainops validate`` checks of the samples."""
    for batch in validated_batches(reader, schema):
        if reader.id_column is not None:
            ids = batch[reader.id_column]
            repeated = ids[ids.duplicated(keep=False)]
            rows_of: dict[Any, list[int]] = defaultdict(list)
            _add_rows(rows_of, repeated)
            _raise_for_repeated(reader, rows_of)
        return batch
    raise InputError(f"{reader.path}: no rows to explain")


def scan_samples(reader: SampleSource, schema: InputSchema | None, seed: int) -> SampleScan:
    """Validate every batch, collecting all violations, and keep a uniform reservoir of rows.

    Raises InputError listing the violations (column, row, reason), naming duplicated sample
    ids, or when there are no rows.
    """
    rng = np.random.default_rng(seed)
    violations: list[Violation] = []
    id_hashes: list[npt.NDArray[np.uint64]] = []
    n_rows, features = 0, None
    reservoir, keys = pd.DataFrame(), np.empty(0)
    for batch in reader.batches():
        batch, found = checked_batch(reader, batch, schema)
        violations.extend(found)
        if reader.id_column is not None:
            id_hashes.append(_hashes(batch[reader.id_column]))
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
    if id_hashes:
        _raise_for_duplicate_ids(reader, np.concatenate(id_hashes))
    return SampleScan(n_rows, features, reservoir)


def _hashes(ids: pd.Series) -> npt.NDArray[np.uint64]:
    return np.asarray(pd.util.hash_pandas_object(ids, index=False), dtype=np.uint64)


def _raise_for_duplicate_ids(reader: SampleSource, hashes: npt.NDArray[np.uint64]) -> None:
    """Refuse ids that occur twice, naming the first few and their rows.

    The scan keeps 8 bytes a row (a hash of each id), not the ids; only when two hashes collide
    are the ids read again, to tell a real duplicate from a collision.
    """
    ordered = np.sort(hashes)
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    if repeated.size == 0:
        return
    assert reader.id_column is not None
    rows_of: dict[Any, list[int]] = defaultdict(list)
    for batch in reader.batches():
        ids = batch[reader.id_column]
        suspects = ids[np.isin(_hashes(ids), repeated)]
        _add_rows(rows_of, suspects)
    _raise_for_repeated(reader, rows_of)


def _add_rows(rows_of: dict[Any, list[int]], ids: pd.Series) -> None:
    """Record the row (index) of each id in ``ids``."""
    for row, sample_id in zip(ids.index.tolist(), ids.tolist(), strict=True):
        rows_of[sample_id].append(row)


def _raise_for_repeated(reader: SampleSource, rows_of: dict[Any, list[int]]) -> None:
    """Refuse the ids found on more than one row, naming the first few and their rows."""
    duplicates = {key: rows for key, rows in rows_of.items() if len(rows) > 1}
    if not duplicates:
        return
    listed = "; ".join(
        f"{sample_id!r} (rows {', '.join(map(str, rows))})"
        for sample_id, rows in list(duplicates.items())[:MAX_LISTED_DUPLICATES]
    )
    more = len(duplicates) - MAX_LISTED_DUPLICATES
    raise InputError(
        f"{reader.path}: id_column {reader.id_column!r} must identify each sample once; "
        f"{len(duplicates)} id(s) repeat: {listed}{f' (and {more} more)' if more > 0 else ''}"
    )
