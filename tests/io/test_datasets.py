from __future__ import annotations

import json

import pandas as pd
import pytest

from explainops.errors import InputError, WriteError
from explainops.io.datasets import (
    CsvReader,
    CsvWriter,
    JsonLinesReader,
    JsonLinesWriter,
    ParquetReader,
    ParquetWriter,
)


def test_headerless_csv_batches_keep_row_positions_and_stop_at_limit(tmp_path) -> None:
    (tmp_path / "rows.csv").write_text("".join(f"{index}, {index * 2}\n" for index in range(10)))
    reader = CsvReader(path=str(tmp_path / "rows.csv"), headers=["a", "b"], batch_size=3, limit=7)
    batches = list(reader.batches())
    assert [len(batch) for batch in batches] == [3, 3, 1], "batches of 3, cut at the limit"
    assert list(pd.concat(batches).index) == list(range(7)), "index = position in the file"
    assert list(batches[1]["b"]) == [6, 8, 10], "header-less columns are named by headers"


def test_parquet_reader_reads_in_batches(tmp_path) -> None:
    frame = pd.DataFrame({"x": range(25), "y": [float(value) for value in range(25)]})
    frame.to_parquet(tmp_path / "rows.parquet")
    batches = list(ParquetReader(path=str(tmp_path / "rows.parquet"), batch_size=10).batches())
    assert [len(batch) for batch in batches] == [10, 10, 5], "batches of batch_size rows"
    # Exact: the values are read back as written, nothing is computed on them.
    pd.testing.assert_frame_equal(pd.concat(batches), frame, obj="all rows, in order")


def test_json_lines_features_path_and_record_errors(tmp_path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"features": [1, 2], "id": "a"}\n\n{"features": [3, 4], "id": "b"}\n')
    frame = JsonLinesReader(
        path=str(path), features="features", headers=["p", "q"], id_column="id"
    ).read()
    assert frame.to_dict("list") == {"p": [1, 3], "q": [2, 4], "id": ["a", "b"]}, "features and ids"
    path.write_text('{"features": [1, 2]}\n{"features": [1, 2\n')
    with pytest.raises(InputError, match=r"rows.jsonl: line 2: invalid JSON"):
        JsonLinesReader(path=str(path), features="features").read()
    path.write_text('{"features": [1, 2]}\n{"other": 1}\n')
    with pytest.raises(InputError, match=r"line 2: no feature list or object at 'features'"):
        JsonLinesReader(path=str(path), features="features").read()


def test_unreadable_parquet_names_the_file(tmp_path) -> None:
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(InputError, match=r"bad.parquet: cannot read as Parquet"):
        ParquetReader(path=str(tmp_path / "bad.parquet")).read()


@pytest.mark.parametrize("writer_class", [CsvWriter, ParquetWriter, JsonLinesWriter])
def test_writers_append_batches_and_publish_atomically(tmp_path, writer_class) -> None:
    # given an existing good output
    target = tmp_path / "out" / "table.data"
    target.parent.mkdir()
    target.write_text("good")
    writer = writer_class(path=str(target))
    # when a run fails after writing a batch
    with pytest.raises(RuntimeError), writer.open() as sink:
        sink.write(pd.DataFrame({"a": [1.0]}))
        raise RuntimeError("explaining failed")
    # then the good output is untouched and no temporary file is left
    assert target.read_text() == "good", "a failed run never replaces a good output"
    assert [path.name for path in target.parent.iterdir()] == ["table.data"], (
        "no temporary file left"
    )
    # and when a run succeeds, all batches are published together
    with writer.open() as sink:
        sink.write(pd.DataFrame({"a": [1.0, 2.0]}))
        sink.write(pd.DataFrame({"a": [3.0]}))
    reader = {
        CsvWriter: pd.read_csv,
        ParquetWriter: pd.read_parquet,
        JsonLinesWriter: lambda p: pd.read_json(p, lines=True),
    }
    # Exact: small integers written and read back, nothing computed.
    assert list(reader[writer_class](target)["a"]) == [1.0, 2.0, 3.0], "every batch, in order"


def test_unwritable_destination_is_a_write_error(tmp_path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match=r"file/sub/out.csv: cannot write"):
        CsvWriter(path=str(tmp_path / "file" / "sub" / "out.csv")).write(pd.DataFrame({"a": [1]}))


def test_json_lines_writer_keeps_full_precision(tmp_path) -> None:
    JsonLinesWriter(path=str(tmp_path / "o.jsonl")).write(pd.DataFrame({"a": [0.1234567890123456]}))
    assert abs(json.loads((tmp_path / "o.jsonl").read_text())["a"] - 0.1234567890123456) < 1e-15, (
        "15 digits"
    )


def test_a_csv_whose_first_batch_is_empty_has_one_header(tmp_path) -> None:
    # given a CSV writer fed a batch of no rows, then two batches of rows
    path = tmp_path / "out.csv"
    with CsvWriter(path=str(path)).open() as sink:
        sink.write(pd.DataFrame({"a": pd.Series([], dtype=float), "b": pd.Series([], dtype=str)}))
        sink.write(pd.DataFrame({"a": [1.5], "b": ["x"]}))
        sink.write(pd.DataFrame({"a": [2.5], "b": ["y"]}))
    # then the header is written once, above every row
    assert path.read_text().splitlines() == ["a,b", "1.5,x", "2.5,y"]
