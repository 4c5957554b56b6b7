"""Readers and writers on ``s3://``, against a real S3-compatible server on 127.0.0.1 (moto)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explainops.drift.history import append_history, read_history
from explainops.errors import InputError, WriteError
from explainops.io.datasets import (
    FILE_FORMATS,
    ParquetWriter,
    atomic_file,
    check_output_path,
    read_json,
    reader_for_path,
    write_json,
    writer_for_path,
)

from ..s3_server import S3Bucket

EXTENSIONS = [known.extensions[0] for known in FILE_FORMATS]


def table(rows: int = 25) -> pd.DataFrame:
    generator = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "sample_id": [f"s{index}" for index in range(rows)],
            "alcohol": generator.normal(13.0, 1.0, rows),
            "ash": generator.normal(2.4, 0.3, rows),
        }
    )


@pytest.mark.parametrize("extension", EXTENSIONS)
def test_a_data_set_on_s3_reads_as_the_same_file_does_locally(
    tmp_path: Path, s3_bucket: S3Bucket, extension: str
) -> None:
    # given the same table as a local file and as an object
    local = tmp_path / f"samples{extension}"
    writer_for_path(str(local)).write(table())
    uri = s3_bucket.upload(local, f"data/samples{extension}")
    # when both are read in batches of 10
    from_s3 = list(reader_for_path(uri, batch_size=10).batches())
    from_disk = list(reader_for_path(str(local), batch_size=10).batches())
    # then the batches are the same
    assert [len(batch) for batch in from_s3] == [10, 10, 5], "the object is read in batches"
    for remote, disk in zip(from_s3, from_disk, strict=True):
        pd.testing.assert_frame_equal(remote, disk, obj="a batch read from S3")


def test_a_missing_object_is_an_input_error_naming_the_uri(s3_bucket: S3Bucket) -> None:
    # given a key nothing was stored at
    uri = s3_bucket.uri("data/absent.csv")
    # when it is read
    with pytest.raises(InputError) as raised:
        reader_for_path(uri).read()
    # then the error names it
    assert str(raised.value) == f"{uri}: file not found", "one line naming the URI"


@pytest.mark.parametrize("extension", EXTENSIONS)
def test_every_table_format_writes_to_s3_the_bytes_it_writes_locally(
    tmp_path: Path, s3_bucket: S3Bucket, extension: str
) -> None:
    # given a table written in two batches to a local file and to an object
    uri = s3_bucket.uri(f"out/deeper/table{extension}")
    local = tmp_path / f"table{extension}"
    for path in (uri, str(local)):
        with writer_for_path(path).open() as sink:
            sink.write(table().iloc[:10])
            sink.write(table().iloc[10:])
    # then the object holds the local file's bytes, and nothing else was stored
    assert s3_bucket.body(f"out/deeper/table{extension}") == local.read_bytes(), (
        "the object's bytes are the local file's"
    )
    assert s3_bucket.object_keys() == [f"out/deeper/table{extension}"], (
        "no temporary object is left"
    )


def test_a_json_document_round_trips_through_s3(s3_bucket: S3Bucket) -> None:
    # given a document with a NaN
    uri = s3_bucket.uri("baseline/analysis.json")
    # when it is written and read back
    write_json(uri, {"version": "1.0", "ndcg": float("nan"), "values": [1.5, 2]})
    # then it reads back, NaN as null
    assert read_json(uri, "document") == {"version": "1.0", "ndcg": None, "values": [1.5, 2]}, (
        "the document round trips"
    )


@pytest.mark.parametrize("extension", EXTENSIONS)
def test_a_write_failing_midway_leaves_no_object_and_keeps_the_previous_one(
    s3_bucket: S3Bucket, extension: str
) -> None:
    # given a good output on S3, and a key with no object yet
    good = s3_bucket.uri(f"out/samples{extension}")
    writer_for_path(good).write(table(5))
    before = s3_bucket.body(f"out/samples{extension}")
    fresh = s3_bucket.uri(f"out/new/samples{extension}")
    # when a run writes a first batch to each, then fails (as an explainer failing on the
    # second batch does)
    for uri in (good, fresh):
        with pytest.raises(RuntimeError, match="batch 2"), writer_for_path(uri).open() as sink:
            sink.write(table())
            raise RuntimeError("the model failed on batch 2")
    # then the previous object is byte-identical, and no other object or upload was left
    assert s3_bucket.body(f"out/samples{extension}") == before, "the good object is untouched"
    assert s3_bucket.object_keys() == [f"out/samples{extension}"], "no partial or temporary object"
    assert s3_bucket.multipart_uploads() == [], "no upload was started"


def test_without_credentials_a_read_is_an_input_error_naming_the_uri(
    s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an object, and an environment without AWS credentials
    uri = s3_bucket.upload(Path(__file__), "data/samples.csv")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    # when it is read
    with pytest.raises(InputError) as raised:
        reader_for_path(uri).read()
    # then the error names the URI and the reason
    assert str(raised.value) == f"{uri}: cannot read as CSV: Unable to locate credentials", (
        "botocore's error, one line naming the URI"
    )


def test_an_upload_that_fails_is_a_write_error_naming_the_uri(s3_bucket: S3Bucket) -> None:
    # given an output whose bucket disappears while the run writes it
    uri = s3_bucket.uri("out/models.csv")
    # when the complete file is uploaded
    with pytest.raises(WriteError) as raised, atomic_file(uri) as handle:
        handle.write("label,feature\n")
        s3_bucket.client.delete_bucket(Bucket=s3_bucket.name)
    # then the failure names the output
    assert str(raised.value).startswith(f"{uri}: cannot upload: "), "one line naming the URI"
    s3_bucket.client.create_bucket(Bucket=s3_bucket.name)  # for the fixture's clean-up


def test_outputs_are_checked_on_s3_before_any_work(s3_bucket: S3Bucket) -> None:
    # given a folder of objects, a missing bucket and a key under prefixes that do not exist
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key="out/part-1.parquet", Body=b"x")
    folder = s3_bucket.uri("out")
    missing_bucket = "s3://no-such-bucket-explainops/out.csv"
    deep = s3_bucket.uri("a/b/c/out.csv")
    # when they are checked
    with pytest.raises(WriteError) as as_folder:
        check_output_path(folder)
    with pytest.raises(WriteError) as as_missing:
        check_output_path(missing_bucket)
    check_output_path(deep)
    # then a folder and a missing bucket are refused, a deep key is fine, nothing is written
    assert "objects are stored under it (a folder)" in str(as_folder.value), (
        "a prefix holding objects is a folder, refused as a local folder is"
    )
    assert str(as_missing.value) == (
        f"{missing_bucket}: cannot write: bucket 'no-such-bucket-explainops' does not exist "
        "(or these credentials cannot see it)"
    ), "a missing bucket is named, never created"
    assert s3_bucket.object_keys() == ["out/part-1.parquet"], "checking writes nothing"


def test_a_drift_history_folder_on_s3_gets_one_object_per_run(s3_bucket: S3Bucket) -> None:
    # given a history folder on S3
    history = s3_bucket.uri("monitor/history/")
    first = pd.DataFrame({"window_time": ["2026-01-02"], "label": ["label0"], "ndcg": [0.8]})
    second = pd.DataFrame({"window_time": ["2026-01-01"], "label": ["label0"], "ndcg": [0.95]})
    # when two runs append their rows
    append_history(history, first, "2026-01-02")
    append_history(history, second, "2026-01-01")
    # then each added an object of its own, and the history is their union by window time
    keys = s3_bucket.object_keys()
    assert len(keys) == 2 and all(key.startswith("monitor/history/") for key in keys), (
        f"one Parquet object per run, got {keys}"
    )
    assert list(read_history(history)["ndcg"]) == [0.95, 0.8], "the union, sorted by window"


@pytest.fixture
def without_s3fs(monkeypatch: pytest.MonkeyPatch) -> None:
    """An environment where ``import s3fs`` fails, as without the ``s3`` extra."""
    # fsspec imports an implementation once, then keeps its class (``fsspec.registry`` is the
    # read-only view of the module's ``_registry``).
    monkeypatch.setitem(sys.modules, "s3fs", None)
    monkeypatch.delitem(importlib.import_module("fsspec.registry")._registry, "s3", raising=False)


def test_without_s3fs_an_s3_input_says_which_extra_to_install(without_s3fs: None) -> None:
    # given no s3fs
    uri = "s3://bucket/samples.csv"
    # when an s3:// data set, or a JSON document, is read
    with pytest.raises(InputError) as reading:
        reader_for_path(uri).read()
    with pytest.raises(InputError) as document:
        read_json("s3://bucket/baseline.json", "baseline file")
    # then one line names the URI and the install
    assert str(reading.value) == (f"{uri}: s3:// URIs need s3fs: pip install 'explainops[s3]'"), (
        "the data set's error says what to install"
    )
    assert "pip install 'explainops[s3]'" in str(document.value), "so does the document's"


def test_without_s3fs_an_s3_output_is_a_write_error_saying_which_extra(
    without_s3fs: None,
) -> None:
    # given no s3fs
    uri = "s3://bucket/out/models.parquet"
    # when an s3:// output is checked or written
    with pytest.raises(WriteError) as checking:
        check_output_path(uri)
    with pytest.raises(WriteError) as writing:
        ParquetWriter(path=uri).write(table())
    # then both say what to install
    for raised in (checking, writing):
        assert str(raised.value) == (
            f"{uri}: s3:// URIs need s3fs: pip install 'explainops[s3]'"
        ), "one line naming the URI and the install"
