"""Readers that stream samples in batches, and writers that publish their output atomically."""

from __future__ import annotations

import abc
import contextlib
import csv
import json
import math
import os
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Annotated, Any, Literal

import jmespath
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pydantic
from jmespath.exceptions import JMESPathError
from jmespath.visitor import TreeInterpreter

from explainops.core.component import Component, PathText
from explainops.errors import ExplainOpsError, InputError, WriteError
from explainops.io.storage import filesystem_of, is_local, open_file, storage_errors

DEFAULT_BATCH_SIZE = 10_000


# --- readers --------------------------------------------------------------------------------


class Reader(Component, abc.ABC):
    """Reads rows from a local path or fsspec URI, ``batch_size`` rows at a time.

    Args:
        path: local path or fsspec URI of the file.
        limit: read at most this many rows.
        batch_size: rows per batch; memory is bounded by it, not by the file's size.
        id_column: column holding each sample's id (else the row's position is its id).

    """

    KIND: str
    path: PathText
    limit: Annotated[int, pydantic.Field(ge=1)] | None = None
    batch_size: Annotated[int, pydantic.Field(ge=1)] = DEFAULT_BATCH_SIZE
    id_column: str | None = None

    def batches(self) -> Iterator[pd.DataFrame]:
        """Yield the rows in batches with a RangeIndex of row positions, stopping at ``limit``."""
        position = 0
        try:
            for batch in self._raw_batches():
                if self.limit is not None:
                    batch = batch.iloc[: self.limit - position]
                if batch.empty:
                    continue
                batch.index = pd.RangeIndex(position, position + len(batch))
                position += len(batch)
                yield batch
                if self.limit is not None and position >= self.limit:
                    return
        except FileNotFoundError as error:
            raise InputError(f"{self.path}: file not found") from error
        except InputError:
            raise
        except storage_errors(ValueError, OSError, pa.ArrowException, UnicodeDecodeError) as error:
            detail = " ".join(str(error).split())
            raise InputError(f"{self.path}: cannot read as {self._format}: {detail}") from error

    def read(self) -> pd.DataFrame:
        """All rows (up to ``limit``) in one DataFrame."""
        batches = list(self.batches())
        if not batches:
            raise InputError(f"{self.path}: no rows")
        return pd.concat(batches)

    @property
    @abc.abstractmethod
    def _format(self) -> str: ...

    @abc.abstractmethod
    def _raw_batches(self) -> Iterator[pd.DataFrame]: ...


class CsvReader(Reader):
    """CSV with a header row, or without one when ``headers`` names the columns.

    Ids are read as text, as written: CSV has no types, and a guessed number would turn ``001``
    into 1 (and make ``1`` and ``01`` the same id).
    """

    KIND: Literal["CsvReader"] = "CsvReader"
    headers: list[str] | None = None
    separator: str = ","

    @property
    def _format(self) -> str:
        return "CSV"

    def _raw_batches(self) -> Iterator[pd.DataFrame]:
        options: dict[str, Any] = {"sep": self.separator, "chunksize": self.batch_size}
        if self.headers is not None:
            options |= {"header": None, "names": self.headers}
        if self.id_column is not None:
            options["dtype"] = {self.id_column: str}
        # index_col=False: a row with more fields than the header is an error, never a row
        # silently shifted into the index.
        with (
            open_file(self.path, "rt", encoding="utf-8") as handle,
            pd.read_csv(handle, skipinitialspace=True, index_col=False, **options) as chunks,
        ):
            while True:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", pd.errors.ParserWarning)
                    try:
                        chunk = next(chunks)
                    except StopIteration:
                        return
                    except pd.errors.ParserWarning as warning:
                        raise InputError(
                            f"{self.path}: rows have more fields than the header's "
                            f"{len(self.headers) if self.headers else 'columns'}"
                            f"{self._first_long_row()}"
                        ) from warning
                yield chunk

    def _first_long_row(self) -> str:
        """Where the first row with more fields than the header is (``: line 7 has 4 ...``)."""
        with open_file(self.path, "rt", encoding="utf-8", newline="") as handle:
            rows = csv.reader(handle, delimiter=self.separator, skipinitialspace=True)
            expected = len(self.headers) if self.headers is not None else None
            for fields in rows:
                if expected is None:
                    expected = len(fields)
                elif len(fields) > expected:
                    return f": line {rows.line_num} has {len(fields)} fields, expected {expected}"
        return ""


class ParquetReader(Reader):
    """Apache Parquet, decoded batch by batch: memory is bounded by the batch, not the row group."""

    KIND: Literal["ParquetReader"] = "ParquetReader"

    @property
    def _format(self) -> str:
        return "Parquet"

    def _raw_batches(self) -> Iterator[pd.DataFrame]:
        # Memory bounded by the batch, not the file (docs/benchmarks.md): pyarrow's default
        # pre_buffer reads every row group before the first batch; a read buffer holds a page
        # of each column rather than its whole chunk, so one huge row group (pandas writes up
        # to 1Mi rows in one) is not held whole either; one decoding thread, because arrow's
        # per-thread allocator caches each keep freed pages.
        with (
            open_file(self.path, "rb") as handle,
            pq.ParquetFile(handle, pre_buffer=False, buffer_size=64 * 1024) as file,
        ):
            for batch in file.iter_batches(batch_size=self.batch_size, use_threads=False):
                yield batch.to_pandas()


class JsonLinesReader(Reader):
    """JSON Lines: one JSON record a line.

    Args:
        features: JMESPath to the features in each record (e.g. ``features``), a list or an
            object; without it each record's top-level fields are the columns.
        headers: names of the features when they are a list (default column_0, column_1, ...).

    """

    KIND: Literal["JsonLinesReader"] = "JsonLinesReader"
    features: str | None = None
    headers: list[str] | None = None

    @property
    def _format(self) -> str:
        return "JSON Lines"

    def _raw_batches(self) -> Iterator[pd.DataFrame]:
        try:
            features = jmespath.compile(self.features) if self.features else None
        except JMESPathError as error:
            raise InputError(f"features: {self.features!r} is not a valid JMESPath") from error
        rows: list[dict[str, Any]] = []
        with open_file(self.path, "rt", encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                rows.append(self._row(line, line_number, features))
                if len(rows) == self.batch_size:
                    yield pd.DataFrame(rows)
                    rows = []
        if rows:
            yield pd.DataFrame(rows)

    def _row(self, line: str, line_number: int, features: Any) -> dict[str, Any]:
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(
                f"{self.path}: line {line_number}: invalid JSON: {error.msg}"
            ) from error
        if features is None:
            if not isinstance(record, dict):
                raise InputError(f"{self.path}: line {line_number}: expected a JSON object")
            return record
        found = features.search(record)
        if isinstance(found, dict):
            row = dict(found)
        elif isinstance(found, list):
            names = self.headers or [f"column_{index}" for index in range(len(found))]
            if len(names) != len(found):
                raise InputError(
                    f"{self.path}: line {line_number}: {len(found)} features, "
                    f"expected {len(names)} ({', '.join(names)})"
                )
            row = dict(zip(names, found, strict=True))
        else:
            raise InputError(
                f"{self.path}: line {line_number}: no feature list or object at {self.features!r}"
            )
        if self.id_column is not None and isinstance(record, dict):
            row[self.id_column] = record.get(self.id_column)
        return row


class JsonReader(Reader):
    """One JSON document holding every record (Clarify's ``application/json`` data sets).

    Not streamed: a JSON document has no record boundaries to read by, so it is parsed whole
    (memory grows with the file) and then yielded ``batch_size`` rows at a time. Use JSON Lines
    for data sets larger than memory.

    Args:
        features: JMESPath into the document that gives the records' features: a list of lists
            (a 2-D matrix, one row per record, named by ``headers``) or a list of objects (their
            keys are the columns), e.g. ``data[*].features``. A record in which it finds nothing
            is an error naming the record, never a row skipped.
        headers: names of the features when the rows are lists (default column_0, column_1, ...).

    """

    KIND: Literal["JsonReader"] = "JsonReader"
    features: str
    headers: list[str] | None = None

    @property
    def _format(self) -> str:
        return "JSON"

    def _raw_batches(self) -> Iterator[pd.DataFrame]:
        try:
            features = jmespath.compile(self.features)
        except JMESPathError as error:
            raise InputError(f"features: {self.features!r} is not a valid JMESPath") from error
        document = read_json(self.path, "JSON data set")
        frame = self.records(search_by_record(features.parsed, document))
        for start in range(0, len(frame), self.batch_size):
            yield frame.iloc[start : start + self.batch_size]

    def records(self, found: Any) -> pd.DataFrame:
        """The frame of what the ``features`` JMESPath found: a list of lists or of objects.

        ``found`` is one entry per record (``search_by_record``): a None is a record without
        features, refused by its position rather than dropped (which would shift later rows).
        """
        if not isinstance(found, list) or not all(
            row is None or isinstance(row, list | dict) for row in found
        ):
            got = "nothing" if found is None else json.dumps(found)[:60]
            raise InputError(
                f"{self.path}: features {self.features!r} finds {got}; expected a list of "
                "records' features (lists of values or objects)"
            )
        for number, row in enumerate(found, start=1):
            if row is None:
                raise InputError(
                    f"{self.path}: record {number}: no feature list or object at {self.features!r}"
                )
        if found and all(isinstance(row, dict) for row in found):
            return pd.DataFrame(found)
        width = len(found[0]) if found else 0
        names = self.headers or [f"column_{index}" for index in range(width)]
        for number, row in enumerate(found, start=1):
            if not isinstance(row, list) or len(row) != len(names):
                raise InputError(
                    f"{self.path}: record {number}: {json.dumps(row)[:60]} is not a list of "
                    f"{len(names)} features ({', '.join(names)})"
                )
        return pd.DataFrame(found, columns=names)


# ReaderKind, the union configurations select readers from, is in explainops.io.readers.

_PROJECTIONS = ("projection", "value_projection", "filter_projection")


def search_by_record(parsed: dict[str, Any], document: Any) -> Any:
    """What a parsed JMESPath finds in ``document``, with a None for each record that has nothing.

    As ``jmespath.search``, except for the outermost projection (``data[*]`` in
    ``data[*].features``): JMESPath drops the records in which its right-hand side finds nothing,
    which would move every later record up a row; here each record it iterates over (those a
    filter keeps) gives one entry, None when it has nothing. ``parsed`` is a compiled
    expression's ``parsed`` tree.
    """
    interpreter = TreeInterpreter()
    kind, children = parsed["type"], parsed["children"]
    if kind in ("subexpression", "pipe"):  # each child applies to what the previous one found
        for child in children[:-1]:
            document = interpreter.visit(child, document)
        return search_by_record(children[-1], document)
    if kind not in _PROJECTIONS:
        return interpreter.visit(parsed, document)
    records = interpreter.visit(children[0], document)
    if kind == "value_projection":
        records = list(records.values()) if isinstance(records, dict) else None
    if not isinstance(records, list):
        return None
    if kind == "filter_projection":
        kept = (interpreter.visit(children[2], record) for record in records)
        records = [record for record, keep in zip(records, kept, strict=True) if _is_true(keep)]
    return [interpreter.visit(children[1], record) for record in records]


def _is_true(value: Any) -> bool:
    """JMESPath's truth: everything but null, false and empty strings, lists and objects."""
    return not (value is None or value is False or value in ("", [], {}))


def read_json(path: str, what: str, error: type[ExplainOpsError] = InputError) -> Any:
    """The JSON document at ``path`` (local path or fsspec URI), describing itself as ``what``.

    Raises ``error`` with one line naming the file: not found, unreadable, or invalid JSON (with
    the line and column).
    """
    try:
        with open_file(path, "rt", error, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except storage_errors(OSError, UnicodeDecodeError) as problem:
        raise error(f"{path}: cannot read the {what}: {problem}") from problem
    except json.JSONDecodeError as problem:
        raise error(
            f"{path}: the {what} is not valid JSON (line {problem.lineno} column "
            f"{problem.colno}: {problem.msg})"
        ) from problem


# --- writers --------------------------------------------------------------------------------


class Sink(abc.ABC):
    """An output being written batch by batch to a temporary file."""

    def __init__(self, handle: IO[Any]) -> None:
        self.handle = handle
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        """Append a batch of rows."""
        self._write(frame)
        self.rows += len(frame)

    @abc.abstractmethod
    def _write(self, frame: pd.DataFrame) -> None: ...

    def close(self) -> None:  # noqa: B027 - an optional hook: most formats need no footer
        """Finish the file's content (footers)."""

    def abort(self) -> None:  # noqa: B027 - an optional hook: most formats hold no resources
        """Release what an unfinished file holds (its temporary file is deleted anyway)."""


def check_output_path(path: str) -> None:
    """Raise WriteError unless a file can be published at ``path``; writes nothing.

    ``path`` must not be a folder, each of its existing parents must be a folder, and the nearest
    existing one must be writable (missing folders are created when the output is written).

    On an object store (``s3://``) ``path`` names an object: its bucket must exist and the key
    must not be a "folder" (a prefix other objects are stored under, refused as a local folder
    is, so that a configuration means the same on both); keys need no parent folders.
    """
    filesystem, target = filesystem_of(path, WriteError)
    if not is_local(filesystem):
        _check_object_path(path, filesystem, target)
        return
    if filesystem.isdir(target):
        raise WriteError(f"{path}: cannot write: it is a folder; expected the path of a file")
    folder = os.path.dirname(target)
    while folder and not filesystem.exists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    if folder and filesystem.exists(folder) and not filesystem.isdir(folder):
        raise WriteError(f"{path}: cannot write: {folder} is a file, not a folder")
    if folder:
        if not os.access(folder, os.W_OK | os.X_OK):
            raise WriteError(f"{path}: cannot write: folder {folder} is not writable")
        if folder != os.path.dirname(target):  # folders to create: try one, leave nothing
            try:
                os.rmdir(tempfile.mkdtemp(prefix=".explainops-check-", dir=folder))
            except OSError as error:
                raise WriteError(
                    f"{path}: cannot write: cannot create a folder in {folder}: "
                    f"{error.strerror or error}"
                ) from error


def _check_object_path(path: str, filesystem: Any, target: str) -> None:
    bucket, _, key = target.partition("/")
    if not key or target.endswith("/"):
        raise WriteError(
            f"{path}: cannot write: expected the URI of an object (s3://bucket/key), not a folder"
        )
    try:
        if bucket and not filesystem.exists(bucket):
            raise WriteError(
                f"{path}: cannot write: bucket {bucket!r} does not exist (or these credentials "
                "cannot see it)"
            )
        is_folder = filesystem.isdir(target)
    except WriteError:
        raise
    except Exception as error:  # botocore and s3fs raise many types (credentials, network)
        raise WriteError(f"{path}: cannot check the output: {_one_line(error)}") from error
    if is_folder:
        raise WriteError(
            f"{path}: cannot write: objects are stored under it (a folder); expected the URI "
            "of a file"
        )


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _missing_folders(filesystem: Any, folder: str) -> list[str]:
    """The folders ``makedirs(folder)`` would create, deepest first."""
    missing = []
    while folder and not filesystem.exists(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return missing


@contextlib.contextmanager
def atomic_file(path: str, mode: str = "w") -> Iterator[IO[Any]]:
    """Yield a file whose content is published at ``path`` only once it is complete.

    ``path`` is a local path or fsspec URI. A failed run never leaves a partial file nor replaces
    a good one. Locally the file is a temporary one next to ``path``, renamed over it on success
    (removing, on failure, the folders it created); on an object store, where a rename is a copy
    and a delete and a temporary object would be visible, it is a local temporary file uploaded
    in one put once complete (a multipart upload appears only when it completes).
    """
    check_output_path(path)
    filesystem, target = filesystem_of(path, WriteError)
    encoding = None if "b" in mode else "utf-8"
    if not is_local(filesystem):
        with _uploaded_on_success(path, filesystem, target, mode, encoding) as handle:
            yield handle
        return
    folder, name = os.path.split(target)
    temporary = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.tmp")
    created = _missing_folders(filesystem, folder)
    try:
        if folder:
            filesystem.makedirs(folder, exist_ok=True)
        handle = filesystem.open(temporary, mode, **({"encoding": encoding} if encoding else {}))
    except OSError as error:
        _remove_folders(filesystem, created)
        raise WriteError(f"{path}: cannot write: {error.strerror or error}") from error
    try:
        with handle:
            yield handle
        if filesystem.isdir(target):  # made a folder while we wrote: never move a file into it
            raise WriteError(f"{path}: cannot write: it is a folder; expected the path of a file")
        try:
            filesystem.mv(temporary, target)
        except OSError as error:
            raise WriteError(f"{path}: cannot publish: {error.strerror or error}") from error
    except BaseException:
        with contextlib.suppress(OSError):
            filesystem.rm(temporary)
        _remove_folders(filesystem, created)
        raise


@contextlib.contextmanager
def _uploaded_on_success(
    path: str, filesystem: Any, target: str, mode: str, encoding: str | None
) -> Iterator[IO[Any]]:
    """Yield a local temporary file; upload it to ``target`` once closed without an error."""
    with tempfile.TemporaryDirectory(prefix="explainops-upload-") as folder:
        local = os.path.join(folder, os.path.basename(target))
        try:
            handle = open(local, mode, encoding=encoding)  # noqa: SIM115 - closed below
        except OSError as error:
            raise WriteError(
                f"{path}: cannot write the local copy {local}: {error.strerror or error}"
            ) from error
        with handle:
            yield handle
        try:
            filesystem.put_file(local, target)
        except Exception as error:  # botocore and s3fs raise many types (credentials, network)
            raise WriteError(f"{path}: cannot upload: {_one_line(error)}") from error


def _remove_folders(filesystem: Any, folders: list[str]) -> None:
    """Remove ``folders`` (deepest first) where they are still empty."""
    for folder in folders:
        with contextlib.suppress(OSError):
            if not filesystem.ls(folder):
                filesystem.rmdir(folder)


def write_json(path: str, document: Any) -> None:
    """Write ``document`` as indented JSON to ``path``, atomically; NaN and infinities as null."""
    try:
        text = json.dumps(json_safe(document), indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as error:
        raise WriteError(f"{path}: cannot write as JSON: {error}") from error
    with atomic_file(path, "w") as handle:
        handle.write(text)


def json_safe(node: Any) -> Any:
    """``node`` with non-finite floats as None and numpy scalars and arrays as Python values."""
    if isinstance(node, dict):
        return {str(key): json_safe(value) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [json_safe(item) for item in node]
    if isinstance(node, np.ndarray):
        return json_safe(node.tolist())
    if isinstance(node, np.generic):
        node = node.item()
    if isinstance(node, float) and not math.isfinite(node):
        return None
    return node


class Writer(Component, abc.ABC):
    """Writes a table to ``path`` (local path or fsspec URI), atomically.

    Rows go to a temporary file (``atomic_file``), published at ``path`` only once every batch
    is written: a failed run never leaves a partial file nor replaces a good one.
    """

    KIND: str
    path: PathText

    @contextlib.contextmanager
    def open(self) -> Iterator[Sink]:
        """Yield a sink for batches; publish on success, discard on any error."""
        with atomic_file(self.path, self._mode) as handle:
            sink = self._sink(handle)
            try:
                yield sink
            except BaseException:
                sink.abort()
                raise
            sink.close()

    def write(self, frame: pd.DataFrame) -> None:
        """Write one whole table."""
        with self.open() as sink:
            sink.write(frame)

    @property
    def _mode(self) -> str:
        return "wb"

    @abc.abstractmethod
    def _sink(self, handle: IO[Any]) -> Sink: ...


class _CsvSink(Sink):
    header_written = False

    def _write(self, frame: pd.DataFrame) -> None:
        # once: a first batch of no rows writes the header, and the next must not again
        frame.to_csv(self.handle, header=not self.header_written, index=False)
        self.header_written = True


class CsvWriter(Writer):
    """CSV with a header row."""

    KIND: Literal["CsvWriter"] = "CsvWriter"

    @property
    def _mode(self) -> str:
        return "w"

    def _sink(self, handle: IO[Any]) -> Sink:
        return _CsvSink(handle)


class _ParquetSink(Sink):
    def __init__(self, handle: IO[Any]) -> None:
        super().__init__(handle)
        self.writer: pq.ParquetWriter | None = None

    def _write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.handle, table.schema)
        self.writer.write_table(table.cast(self.writer.schema))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def abort(self) -> None:
        # Closed now, while its file is open: left to the garbage collector, pyarrow would
        # write the footer into a closed file.
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close()


class ParquetWriter(Writer):
    """Apache Parquet, one row group per batch."""

    KIND: Literal["ParquetWriter"] = "ParquetWriter"

    def _sink(self, handle: IO[Any]) -> Sink:
        return _ParquetSink(handle)


class _JsonLinesSink(Sink):
    def _write(self, frame: pd.DataFrame) -> None:
        if len(frame) == 0:
            return
        fields = [_json_fields(frame, position) for position in range(frame.shape[1])]
        if not fields:
            self.handle.write("{}\n" * len(frame))
            return
        self.handle.write("".join("{" + ",".join(row) + "}\n" for row in zip(*fields, strict=True)))


def _json_fields(frame: pd.DataFrame, position: int) -> list[str]:
    """The ``"name":value`` text of one column in each row, floats exactly.

    pandas writes floats with at most 15 decimal places (1e-12 keeps one significant digit);
    here a float is its shortest text that reads back as the same double (Python's repr), NaN
    and infinities null as pandas writes them. Other columns are pandas' text.
    """
    column = frame.iloc[:, position]
    if not pd.api.types.is_float_dtype(column.dtype):
        text = frame.iloc[:, [position]].to_json(orient="records", lines=True)
        return [line[1:-1] for line in text.rstrip("\n").split("\n")]  # {"name":value}
    key = json.dumps(str(frame.columns[position])) + ":"
    values = column.to_numpy(dtype=np.float64, na_value=np.nan).tolist()
    return [key + (repr(value) if math.isfinite(value) else "null") for value in values]


class JsonLinesWriter(Writer):
    """JSON Lines, one record a row."""

    KIND: Literal["JsonLinesWriter"] = "JsonLinesWriter"

    @property
    def _mode(self) -> str:
        return "w"

    def _sink(self, handle: IO[Any]) -> Sink:
        return _JsonLinesSink(handle)


WriterKind = CsvWriter | ParquetWriter | JsonLinesWriter


# --- the file formats ---------------------------------------------------------------------


@dataclass(frozen=True)
class FileFormat:
    """One file format: how it is named, recognised, read and written.

    Attributes:
        name: for messages (``CSV``).
        media_type: its media type, as Clarify's ``dataset_type`` names it.
        extensions: file name endings that select it, lower case.
        reader: its Reader class.
        writer: its Writer class.

    """

    name: str
    media_type: str
    extensions: tuple[str, ...]
    reader: type[CsvReader] | type[ParquetReader] | type[JsonLinesReader]
    writer: type[CsvWriter] | type[ParquetWriter] | type[JsonLinesWriter]


# Every format explainops reads and writes: readers, writers, Clarify's data sets and the drift
# history all choose from this one list.
FILE_FORMATS = (
    FileFormat("CSV", "text/csv", (".csv", ".txt"), CsvReader, CsvWriter),
    FileFormat(
        "Parquet", "application/x-parquet", (".parquet", ".pq"), ParquetReader, ParquetWriter
    ),
    FileFormat(
        "JSON Lines",
        "application/jsonlines",
        (".jsonl", ".jsonlines", ".json"),
        JsonLinesReader,
        JsonLinesWriter,
    ),
)


def format_of(path: str) -> FileFormat | None:
    """The format a path's extension names, or None."""
    lowered = path.lower()
    return next((known for known in FILE_FORMATS if lowered.endswith(known.extensions)), None)


def format_for_media_type(media_type: str) -> FileFormat:
    """The format of a media type (``text/csv``, ``application/x-parquet``, ...)."""
    for known in FILE_FORMATS:
        if known.media_type == media_type:
            return known
    raise InputError(
        f"unknown media type {media_type!r}; expected one of "
        f"{', '.join(known.media_type for known in FILE_FORMATS)}"
    )


def _known_extensions() -> str:
    return ", ".join(known.extensions[0] for known in FILE_FORMATS)


def reader_for_path(path: str, **options: Any) -> Reader:
    """A reader chosen by the file's extension."""
    found = format_of(path)
    if found is None:
        raise InputError(f"{path}: unknown file type; expected {_known_extensions()}")
    return found.reader(path=path, **options)


def writer_for_path(path: str) -> Writer:
    """A writer chosen by the file's extension."""
    found = format_of(path)
    if found is None:
        raise WriteError(f"{path}: unknown file type; expected {_known_extensions()}")
    return found.writer(path=path)


def read_table(path: str) -> pd.DataFrame:
    """The whole table at ``path``, in the format its extension names (a baseline file)."""
    return reader_for_path(path).read()
