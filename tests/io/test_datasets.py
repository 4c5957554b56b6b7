from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from explainops.errors import InputError, WriteError
from explainops.io.datasets import (
    CsvReader,
    CsvWriter,
    JsonLinesReader,
    JsonLinesWriter,
    JsonReader,
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


@pytest.mark.parametrize(
    ("document", "features", "missing"),
    [
        (
            {"data": [{"features": [1, 2]}, {"target": 1}, {"features": [3, 4]}]},
            "data[*].features",
            2,
        ),
        ({"batch": {"data": [{"f": [1, 2]}, {"f": [3, 4]}, {}]}}, "batch.data[*].f", 3),
        ({"data": [[1, 2], None, [3, 4]]}, "data[*]", 2),
        ({"data": [{"f": {"p": 1, "q": 2}}, {"g": 1}, {"f": {"p": 3, "q": 4}}]}, "data[*].f", 2),
    ],
    ids=["list-rows", "nested-path", "null-row", "object-rows"],
)
def test_json_document_record_without_features_is_named_not_skipped(
    tmp_path: Path, document: dict[str, Any], features: str, missing: int
) -> None:
    # given a JSON document in which one record has no features (JMESPath's projection would
    # drop it, and every later record would take the row before it)
    path = tmp_path / "data.json"
    path.write_text(json.dumps(document))
    reader = JsonReader(path=str(path), features=features, headers=["p", "q"])
    # when it is read, then the error names the file, the record and what was expected
    with pytest.raises(InputError) as raised:
        reader.read()
    expected = f"{path}: record {missing}: no feature list or object at {features!r}"
    assert str(raised.value) == expected, str(raised.value)


def test_json_document_filter_keeps_its_records_in_order(tmp_path: Path) -> None:
    # given a document whose features a filter selects: the records it leaves out have none
    path = tmp_path / "data.json"
    records = [
        {"use": True, "features": [1, 2]},
        {"use": False},
        {"use": True, "features": [3, 4]},
        {"use": True, "features": [5, 6]},
    ]
    path.write_text(json.dumps({"data": records}))
    # when it is read
    frame = JsonReader(path=str(path), features="data[?use].features", headers=["p", "q"]).read()
    # then the records the filter keeps are the rows, in order, and the others are no error
    assert frame.to_dict("list") == {"p": [1, 3, 5], "q": [2, 4, 6]}, frame


def test_csv_ids_are_kept_as_written(tmp_path: Path) -> None:
    # given ids that a number would change: leading zeros, and 1 beside 01
    path = tmp_path / "rows.csv"
    path.write_text("id,a\n001,1.5\n002,2.5\n1,3.5\n01,4.5\n10,5.5\n")
    # when read with the id column, with a header row and with headers
    with_header = CsvReader(path=str(path), id_column="id").read()
    path.write_text("001,1.5\n002,2.5\n1,3.5\n01,4.5\n10,5.5\n")
    with_headers = CsvReader(path=str(path), headers=["id", "a"], id_column="id").read()
    # then the ids are the text written, every one distinct, and the features still numbers
    for frame in (with_header, with_headers):
        assert list(frame["id"]) == ["001", "002", "1", "01", "10"], list(frame["id"])
        assert list(frame["a"]) == [1.5, 2.5, 3.5, 4.5, 5.5], "features are numbers"


def test_parquet_and_json_lines_ids_keep_their_types(tmp_path: Path) -> None:
    # given integer ids typed as integers in Parquet and in JSON Lines
    pd.DataFrame({"id": [1, 2], "a": [1.5, 2.5]}).to_parquet(tmp_path / "rows.parquet")
    (tmp_path / "rows.jsonl").write_text('{"id": 1, "a": 1.5}\n{"id": "01", "a": 2.5}\n')
    # when read with the id column
    parquet = ParquetReader(path=str(tmp_path / "rows.parquet"), id_column="id").read()
    lines = JsonLinesReader(path=str(tmp_path / "rows.jsonl"), id_column="id").read()
    # then each id keeps the type it has in the file
    assert parquet["id"].tolist() == [1, 2], "Parquet integers stay integers"
    assert lines["id"].tolist() == [1, "01"], "JSON numbers stay numbers, strings strings"


def test_json_lines_writer_round_trips_floats_bit_for_bit(tmp_path: Path) -> None:
    # given floats of every magnitude, tiny (Kernel SHAP values of a model near 0) to huge
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [
            [1e-12, 2.853e-12, 1.41e-13, 5e-324, 2.2250738585072014e-308, -0.0, 0.1, 1 / 3],
            [1e300, -1.7976931348623157e308, 123456789.12345679, 2.0**53 + 2],
            rng.normal(size=200) * 10.0 ** rng.integers(-300, 300, size=200),
        ]
    )
    frame = pd.DataFrame({"sample_id": range(len(values)), "label": "label0", "value": values})
    path = tmp_path / "samples.jsonl"
    # when written in two batches (and NaN and infinities in a file of their own)
    with JsonLinesWriter(path=str(path)).open() as sink:
        sink.write(frame.iloc[:100])
        sink.write(frame.iloc[100:])
    JsonLinesWriter(path=str(tmp_path / "special.jsonl")).write(
        pd.DataFrame({"value": [np.nan, np.inf, -np.inf, 1e-12]})
    )
    # then every float reads back as the same double, bit for bit
    back = JsonLinesReader(path=str(path)).read()
    assert np.array_equal(back["value"].to_numpy().view(np.uint64), values.view(np.uint64)), (
        "the same 64 bits"
    )
    assert back["sample_id"].tolist() == list(range(len(values))), "integers as integers"
    assert set(back["label"]) == {"label0"}, "strings as strings"
    # and NaN and infinities are null, as JSON has no other way to write them
    special = [json.loads(line) for line in (tmp_path / "special.jsonl").read_text().splitlines()]
    assert special == [{"value": None}] * 3 + [{"value": 1e-12}], special
