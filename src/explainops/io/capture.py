"""SageMaker endpoint data capture as a data set: the requests an endpoint received.

A capture file is JSON Lines, one record per request::

    {"captureData": {
       "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                         "data": "0.58,0.66,0.31", "encoding": "CSV"},
       "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT",
                          "data": "0.54", "encoding": "CSV"}},
     "eventMetadata": {"eventId": "8f45e35c-...", "inferenceTime": "2026-01-05T13:36:30Z"},
     "eventVersion": "0"}

``data`` is the request body as text (``encoding`` ``CSV`` or ``JSON``) or base64 (``BASE64``,
what SageMaker writes for content types it was not told are text); ``observedContentType`` says
how to parse it: ``text/csv`` (one or many rows, no header), ``application/jsonlines`` (one
record a line, the features found by a JMESPath, Clarify's ``FeaturesAttribute``) or
``application/json`` (one document: the JMESPath finds one record's features or a list of them).
SageMaker writes the files under ``<prefix>/<endpoint>/<variant>/YYYY/MM/DD/HH/``, named so that
their paths sort in time order: a folder or prefix of them reads as one data set, file after
file in path order. The endpoint's outputs are not read: the model is explained again.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jmespath
import pandas as pd
from jmespath.exceptions import JMESPathError

from explainops.errors import InputError
from explainops.io.datasets import Reader
from explainops.io.storage import filesystem_of, open_file

CAPTURE_SUFFIX = ".jsonl"
CSV_TYPE, JSON_LINES_TYPE, JSON_TYPE = "text/csv", "application/jsonlines", "application/json"
# Spellings of the JSON Lines media type seen in the wild.
JSON_LINES_ALIASES = frozenset({JSON_LINES_TYPE, "application/jsonl", "application/x-jsonlines"})


class CaptureReader(Reader):
    """The requests captured from a SageMaker endpoint (its data-capture files), as rows.

    Args:
        path: a capture file, a folder of them (read recursively), or a prefix of their paths
            (``s3://bucket/capture/my-endpoint/AllTraffic/2026/01/``); local or fsspec URI.
        headers: names of the features (default column_0, column_1, ...); JSON objects name
            their own.
        features_attribute: JMESPath to the features in each JSON Lines or JSON request record
            (Clarify's ``FeaturesAttribute``, e.g. ``features``); required for JSON requests.
        id_column: the column filled with each row's id, ``<eventId>:<row>`` (the row's position
            within its request, from 0), so every explanation traces back to a captured request;
            None: no id column (rows are numbered).
        time_column: when set, a column of that name holds each row's ``inferenceTime`` (UTC),
            to cut windows by (``AttributionDriftJob``'s ``windows``).

    """

    KIND: Literal["CaptureReader"] = "CaptureReader"
    headers: list[str] | None = None
    features_attribute: str | None = None
    id_column: str | None = "sample_id"
    time_column: str | None = None

    @property
    def _format(self) -> str:
        return "SageMaker data capture"

    def capture_files(self) -> list[str]:
        """The capture files ``path`` names, in path order (time order for SageMaker's layout)."""
        filesystem, root = filesystem_of(self.path)
        if filesystem.isfile(root):
            found = [root]
        elif filesystem.isdir(root):
            found = filesystem.find(root)
        else:  # a prefix: the files of its folder whose paths start with it
            parent = root.rsplit("/", 1)[0] if "/" in root else ""
            found = [name for name in filesystem.find(parent) if name.startswith(root)]
        files = sorted(
            name
            for name in found
            if name.endswith(CAPTURE_SUFFIX) and "/." not in name[len(root.rstrip("/")) :]
        )
        if not files:
            raise InputError(f"{self.path}: no capture files (*{CAPTURE_SUFFIX}) found")
        # An object store lists keys without their protocol: give it back to open them.
        return (
            [filesystem.unstrip_protocol(name) for name in files] if "://" in self.path else files
        )

    def _raw_batches(self) -> Iterator[pd.DataFrame]:
        try:
            features = (
                jmespath.compile(self.features_attribute) if self.features_attribute else None
            )
        except JMESPathError as error:
            raise InputError(
                f"features_attribute: {self.features_attribute!r} is not a valid JMESPath"
            ) from error
        parser = _RequestParser(self.headers, features, self.features_attribute)
        pending = _PendingRows()
        for path in self.capture_files():
            with open_file(path, "rt", encoding="utf-8") as handle:
                for line_number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    where = f"{path}: line {line_number}"
                    request = _captured_request(line, where, need_time=bool(self.time_column))
                    rows = parser.rows(request, where)
                    pending.add(rows, request, where)
                    while len(pending) >= self.batch_size:
                        yield self._frame(pending.take(self.batch_size), parser)
        if len(pending):
            yield self._frame(pending.take(len(pending)), parser)

    def _frame(self, rows: _Rows, parser: _RequestParser) -> pd.DataFrame:
        """One batch: the features (numbers parsed as CSV readers do), then id and time."""
        frame = parser.frame(rows.values, rows.wheres)
        if self.id_column is not None:
            frame[self.id_column] = rows.ids
        if self.time_column is not None:
            try:
                frame[self.time_column] = pd.to_datetime(rows.times, utc=True, format="ISO8601")
            except (ValueError, TypeError):
                for time, where in zip(rows.times, rows.wheres, strict=True):
                    try:
                        pd.Timestamp(time)
                    except (ValueError, TypeError):
                        raise InputError(
                            f"{where}: eventMetadata.inferenceTime {time!r} is not an ISO 8601 time"
                        ) from None
                raise
        return frame


@dataclass(frozen=True)
class CapturedRequest:
    """One captured request: its body as text, how to parse it, its id and time."""

    content_type: str
    body: str
    event_id: str
    inference_time: str | None


def _captured_request(line: str, where: str, *, need_time: bool) -> CapturedRequest:
    """The request a capture record holds, its body decoded; InputError naming ``where``."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(f"{where}: invalid JSON: {error.msg}") from error
    capture = record.get("captureData") if isinstance(record, dict) else None
    request = capture.get("endpointInput") if isinstance(capture, dict) else None
    if not isinstance(request, dict):
        raise InputError(
            f"{where}: no captureData.endpointInput; expected a SageMaker data-capture record "
            "of a request (capture the endpoint's input: CaptureMode Input)"
        )
    data, encoding = request.get("data"), str(request.get("encoding", "")).upper()
    content_type = str(request.get("observedContentType", "")).split(";")[0].strip().lower()
    if not isinstance(data, str):
        raise InputError(f"{where}: captureData.endpointInput.data is missing or not text")
    if encoding == "BASE64":
        try:
            data = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise InputError(f"{where}: endpointInput.data is not base64 of UTF-8 text") from error
    elif encoding not in ("CSV", "JSON"):
        raise InputError(
            f"{where}: endpointInput.encoding {request.get('encoding')!r}; "
            "expected CSV, JSON or BASE64"
        )
    metadata = record.get("eventMetadata") or {}
    event_id = metadata.get("eventId") if isinstance(metadata, dict) else None
    time = metadata.get("inferenceTime") if isinstance(metadata, dict) else None
    if not isinstance(event_id, str) or not event_id:
        raise InputError(f"{where}: eventMetadata.eventId is missing")
    if need_time and not isinstance(time, str):
        raise InputError(f"{where}: eventMetadata.inferenceTime is missing")
    return CapturedRequest(content_type, data, event_id, time)


@dataclass
class _Rows:
    """Rows of features (lists or objects), with each row's id, time and record."""

    values: list[Any] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    times: list[str] = field(default_factory=list)
    wheres: list[str] = field(default_factory=list)


class _PendingRows:
    """Rows read and not yet yielded in a batch."""

    def __init__(self) -> None:
        self.rows = _Rows()

    def __len__(self) -> int:
        return len(self.rows.values)

    def add(self, values: list[Any], request: CapturedRequest, where: str) -> None:
        rows = self.rows
        rows.values.extend(values)
        rows.ids.extend(f"{request.event_id}:{offset}" for offset in range(len(values)))
        rows.times.extend([request.inference_time or ""] * len(values))
        rows.wheres.extend([where] * len(values))

    def take(self, count: int) -> _Rows:
        rows = self.rows
        taken = _Rows(
            rows.values[:count], rows.ids[:count], rows.times[:count], rows.wheres[:count]
        )
        self.rows = _Rows(
            rows.values[count:], rows.ids[count:], rows.times[count:], rows.wheres[count:]
        )
        return taken


class _RequestParser:
    """Turns request bodies into rows of features, and rows into a frame."""

    def __init__(self, headers: list[str] | None, features: Any, attribute: str | None) -> None:
        self.headers = headers
        self.features = features
        self.attribute = attribute

    def rows(self, request: CapturedRequest, where: str) -> list[Any]:
        """The rows of one request body, per its content type."""
        if request.content_type == CSV_TYPE:
            return [
                row for row in csv.reader(request.body.splitlines(), skipinitialspace=True) if row
            ]
        if request.content_type in JSON_LINES_ALIASES:
            return [
                self._found(self._json(line, where), where, one_record=True)
                for line in request.body.splitlines()
                if line.strip()
            ]
        if request.content_type == JSON_TYPE:
            found = self._found(self._json(request.body, where), where, one_record=False)
            return found if _is_list_of_records(found) else [found]
        raise InputError(
            f"{where}: observedContentType {request.content_type!r} of the request; expected "
            f"{CSV_TYPE}, {JSON_LINES_TYPE} or {JSON_TYPE}"
        )

    def frame(self, values: list[Any], wheres: list[str]) -> pd.DataFrame:
        """The rows as a frame; every list row must have as many values as there are names."""
        if values and all(isinstance(row, dict) for row in values):
            return pd.DataFrame(values)
        width = len(self.headers) if self.headers else len(values[0]) if values else 0
        names = self.headers or [f"column_{index}" for index in range(width)]
        for row, where in zip(values, wheres, strict=True):
            if not isinstance(row, list) or len(row) != len(names):
                shown = json.dumps(row)[:60] if not isinstance(row, list) else len(row)
                raise InputError(
                    f"{where}: a request row has {shown} values, expected {len(names)} "
                    f"({', '.join(names)})"
                )
        frame = pd.DataFrame(values, columns=names)
        # CSV fields are text: numbers become numbers, as a CSV reader would parse them.
        for name in names:
            if not pd.api.types.is_numeric_dtype(frame[name]):
                with contextlib.suppress(ValueError, TypeError):  # not numbers: kept as text
                    frame[name] = pd.to_numeric(frame[name])
        return frame

    def _json(self, text: str, where: str) -> Any:
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError(f"{where}: the request is not valid JSON: {error.msg}") from error

    def _found(self, record: Any, where: str, *, one_record: bool) -> Any:
        if self.features is None:
            raise InputError(
                f"{where}: a JSON request needs features_attribute (the JMESPath to its "
                "features, Clarify's FeaturesAttribute)"
            )
        found = self.features.search(record)
        if isinstance(found, dict) or (
            isinstance(found, list) and (not one_record or not _is_list_of_records(found))
        ):
            return found
        raise InputError(
            f"{where}: no feature list or object at features_attribute {self.attribute!r}"
        )


def _is_list_of_records(found: Any) -> bool:
    return isinstance(found, list) and bool(found) and isinstance(found[0], list | dict)


def is_capture(path: str) -> bool:
    """Whether ``path`` (file, folder or prefix) holds data-capture files.

    For a caller that accepts both (Clarify's ``--dataset``): true when the first capture file's
    first record has ``captureData``; false for a plain data set or anything unreadable.
    """
    if "://" not in path and not (Path(path).is_dir() or path.endswith(CAPTURE_SUFFIX)):
        return False  # a local data file (or a missing one): never list its folder
    try:
        first = CaptureReader(path=path).capture_files()[0]
        with open_file(first, "rt", encoding="utf-8") as handle:
            line = next((line for line in handle if line.strip()), "")
        record = json.loads(line)
    except (InputError, OSError, ValueError):
        return False
    return isinstance(record, dict) and "captureData" in record


def capture_reader(
    path: str,
    *,
    headers: list[str] | None,
    features_attribute: str | None,
    batch_size: int,
) -> CaptureReader:
    """The reader of a capture data set as Clarify names its fields (headers, features).

    Rows are numbered (no id column), as in any Clarify data set.
    """
    return CaptureReader(
        path=path,
        headers=headers,
        features_attribute=features_attribute,
        batch_size=batch_size,
        id_column=None,
    )
