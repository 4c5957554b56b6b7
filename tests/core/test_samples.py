"""The validating pass over the samples: non-finite values and duplicate ids are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explainops.core.samples import first_batch, scan_samples
from explainops.core.schemas import ColumnSchema, InputSchema
from explainops.errors import InputError
from explainops.io.datasets import CsvReader, ParquetReader

SCHEMA = InputSchema(columns={"a": ColumnSchema(), "b": ColumnSchema(dtype="integer")})


def _csv(tmp_path: Path, text: str) -> CsvReader:
    path = tmp_path / "samples.csv"
    path.write_text(text)
    return CsvReader(path=str(path), batch_size=2, id_column="id")


@pytest.mark.parametrize("schema", [SCHEMA, None], ids=["schema", "no-schema"])
def test_infinite_values_are_violations_naming_row_and_column(tmp_path: Path, schema) -> None:
    # given samples with inf and -inf (pandas reads both from CSV)
    reader = _csv(tmp_path, "id,a,b\nx,1.5,1\ny,inf,2\nz,0.5,3\nw,-inf,4\n")
    # when scanned, then both are reported at once, by row and column
    with pytest.raises(InputError) as raised:
        scan_samples(reader, schema, seed=0)
    message = str(raised.value)
    assert "2 schema violation(s)" in message, message
    assert "row 1, column 'a': expected a finite number, got inf" in message, message
    assert "row 3, column 'a': expected a finite number, got -inf" in message, message


def test_duplicate_ids_are_refused_with_their_rows(tmp_path: Path) -> None:
    # given ids that repeat across batches
    reader = _csv(tmp_path, "id,a,b\nx,1,1\ny,2,2\nz,3,3\nx,4,4\ny,5,5\nx,6,6\n")
    # when scanned
    with pytest.raises(InputError) as raised:
        scan_samples(reader, SCHEMA, seed=0)
    # then the duplicated ids are named with every row they are on
    message = str(raised.value)
    assert "id_column 'id' must identify each sample once; 2 id(s) repeat" in message, message
    assert "'x' (rows 0, 3, 5)" in message and "'y' (rows 1, 4)" in message, message


def test_unique_integer_ids_pass_and_hash_collisions_are_not_duplicates(tmp_path: Path) -> None:
    # given 10,000 distinct integer ids in a Parquet file
    path = tmp_path / "samples.parquet"
    frame = pd.DataFrame({"id": np.arange(10_000), "a": 1.0, "b": 2})
    frame.to_parquet(path)
    # when scanned, then they are accepted
    scan = scan_samples(ParquetReader(path=str(path), id_column="id"), SCHEMA, seed=0)
    assert scan.n_rows == 10_000, "every row scanned"


def test_first_batch_is_validated(tmp_path: Path) -> None:
    reader = _csv(tmp_path, "id,a,b\nx,1,1\ny,oops,2\n")
    with pytest.raises(InputError, match=r"row 1, column 'a': expected float64"):
        first_batch(reader, SCHEMA)


def test_the_first_batch_check_refuses_repeated_ids_too(tmp_path: Path) -> None:
    reader = _csv(tmp_path, "id,a,b\nx,1,1\nx,2,2\n")
    with pytest.raises(InputError, match=r"1 id\(s\) repeat: 'x' \(rows 0, 1\)"):
        first_batch(reader, SCHEMA)
