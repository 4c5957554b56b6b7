"""A real HTTP model server on 127.0.0.1 that speaks SageMaker Clarify's content types.

It serves any ``predict(frame) -> (n, k) scores`` function (a fitted scikit-learn model's
``predict_proba``) at ``POST /invocations``, reading ``text/csv``, ``application/jsonlines``,
``application/json`` and ``application/x-parquet`` request bodies and answering ``text/csv`` or
``application/jsonlines`` exactly like the examples of Clarify's documentation
(``1,0.5385257417814224`` and ``{"predicted_label": 1, "probability": 0.5385257417814224}``), or
``application/json``: ``{"predictions": [{"label": 1, "score": 0.5385...}, ...]}`` for a request
of records, ``{"label": 1, "score": 0.5385...}`` for a request of one record (add ``"scores"``,
every class's, for more than two classes).

The rows of a JSON request are found as Clarify's templates write them: a list of records, an
object holding one (``{"instances": [...], "feature_names": [...]}``; or name it with
``json_records``), or one record alone. A record is a list of the feature values, an object keyed
by the feature names, or an object holding such a list under ``features_key``.

Floats are written round-trip exact: a client reads back every bit the model computed. (A model
can round differently in the last bit for other batch shapes, so scores of rows sent in other
batches than a local call's agree with it to about 1e-16, not always bit for bit.)

Faults (error statuses, delays, short, garbage, mistyped or truncated responses, dropped
connections) can be switched on at run time, from the test thread, while client threads are
talking to the server, either for every request or as a schedule of one fault per request.

Usage::

    with ModelServer(model.predict_proba, list(frame.columns)) as server:
        server.fail_first(2, status=503)
        ...  # POST to server.url
        assert server.requests == 3
        server.schedule([429, None, "truncate", "drop"])  # the next four requests' faults
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import jmespath
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pyarrow_csv

Predict = Callable[[pd.DataFrame], np.ndarray | list[Any]]  # a list: documents=True
CsvLayout = Literal["label_probability", "scores"]
# One request's fault in a schedule: an HTTP status to answer, a stall (no answer until the
# client gives up), a dropped connection (closed without an answer), a truncated body, or None.
ScheduledFault = int | Literal["stall", "drop", "truncate"] | None

CSV = "text/csv"
NPY = "application/x-npy"
# Image requests: the model's single feature (its image column) gets the image's bytes.
IMAGE_TYPES = ("image/jpeg", "image/png", NPY)
JSON_LINES = "application/jsonlines"
JSON = "application/json"
PARQUET = "application/x-parquet"
REQUEST_TYPES = (CSV, JSON_LINES, JSON, PARQUET, *IMAGE_TYPES)
RESPONSE_TYPES = (CSV, JSON_LINES, JSON)
GARBAGE = b"<html>oops</html>"
HTML_PAGE = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


class RequestRejectedError(Exception):
    """A request the server answers with a 4xx status and this message as its text body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ReceivedRequest:
    """What one POST carried: its headers, its body (unless not kept) and how many rows it held."""

    content_type: str
    accept: str
    headers: dict[str, str]
    n_rows: int
    client_port: int  # the same port on several requests means a kept-alive connection
    body: bytes = field(repr=False)


@dataclass
class Faults:
    """The misbehaviour currently switched on; read and changed under the server's lock."""

    fail_remaining: int = 0
    fail_forever: bool = False
    fail_status: int = 500  # in a snapshot taken for one request: 0 = do not fail it
    delay_s: float = 0.0
    short: bool = False
    garbage: bool = False
    wrong_content_type: bool = False
    truncate: bool = False
    drop: bool = False


class ModelServer:
    """A ThreadingHTTPServer on 127.0.0.1 (a free port) that serves ``predict`` at /invocations.

    Args:
        predict: maps a DataFrame with columns ``feature_names`` to an (n, k) array of scores
            (a 1-D result is read as k = 1).
        feature_names: the model's features, in the order CSV and JSON list rows carry them.
        features_key: the key of each JSON Lines request record that holds the features (a list
            in feature order, or an object of name -> value); in JSON requests, a key of each
            record that may hold them.
        json_records: a JMESPath of the list of records in JSON requests (default: found as the
            module docstring says).
        default_accept: the response type when ``Accept`` is absent or ``*/*``.
        csv_layout: ``"label_probability"`` writes ``label,probability`` per row (binary: the
            positive-class probability; more classes: the predicted label's), ``"scores"``
            writes all k scores.
        labels: the label of each score column (e.g. ``model.classes_``); default 0 .. k-1.
        keep_bodies: keep each request's body in ``received`` (turn off for large benchmarks).
        text_columns: features that hold text: CSV and JSON Lines rows then carry strings there
            (quoted as CSV quotes them) and numbers elsewhere.
        documents: ``predict`` returns one JSON document per row (an object detector's
            ``{"prediction": [...]}``), answered as it is: the document for a request of one
            image or record, a JSON list of them otherwise.
        port: the port on 127.0.0.1 (default: any free port).

    """

    def __init__(
        self,
        predict: Predict,
        feature_names: Sequence[str],
        *,
        features_key: str = "features",
        json_records: str | None = None,
        default_accept: str = CSV,
        csv_layout: CsvLayout = "label_probability",
        labels: Sequence[Any] | None = None,
        keep_bodies: bool = True,
        text_columns: Sequence[str] = (),
        documents: bool = False,
        port: int = 0,
    ) -> None:
        if default_accept not in RESPONSE_TYPES:
            raise ValueError(f"default_accept must be one of {RESPONSE_TYPES}: {default_accept}")
        if csv_layout not in ("label_probability", "scores"):
            raise ValueError(f"csv_layout must be label_probability or scores: {csv_layout}")
        self.predict = predict
        self.feature_names = list(feature_names)
        self.features_key = features_key
        self.json_records = jmespath.compile(json_records) if json_records else None
        self.default_accept = default_accept
        self.csv_layout = csv_layout
        self.labels = None if labels is None else [_plain(label) for label in labels]
        self.keep_bodies = keep_bodies
        self.text_columns = tuple(text_columns)
        self.documents = documents
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._faults = Faults()
        self._schedule: deque[ScheduledFault] = deque()
        self._stall_s = 0.0
        self._requests = 0
        self._received: list[ReceivedRequest] = []
        self._connections: set[socket.socket] = set()
        self._http = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._thread = threading.Thread(
            # A short poll interval lets close() return at once instead of after up to 0.5 s.
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="model-server",
            daemon=True,
        )
        port = self._http.server_address[1]
        self.url = f"http://127.0.0.1:{port}/invocations"
        self.ping_url = f"http://127.0.0.1:{port}/ping"

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> ModelServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        """Serve in a daemon thread until ``close``."""
        self._thread.start()

    def close(self) -> None:
        """Stop serving, wake delayed handlers, drop kept-alive connections, join the thread."""
        self._closing.set()
        if self._thread.is_alive():
            self._http.shutdown()
        self._http.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    # -- what was received -------------------------------------------------------------------

    @property
    def requests(self) -> int:
        """How many requests reached /invocations, whatever they were answered."""
        with self._lock:
            return self._requests

    @property
    def rows_received(self) -> list[int]:
        """Rows per parsed request, in arrival order (requests failed on purpose included)."""
        with self._lock:
            return [received.n_rows for received in self._received]

    @property
    def received(self) -> list[ReceivedRequest]:
        """Every parsed request, in arrival order (requests failed on purpose included)."""
        with self._lock:
            return list(self._received)

    # -- faults ------------------------------------------------------------------------------

    def fail_first(self, n: int, status: int = 500) -> None:
        """Answer the next ``n`` requests with ``status`` (e.g. 500, 503, 429), then normally."""
        with self._lock:
            self._faults.fail_remaining = n
            self._faults.fail_status = status

    def fail_always(self, status: int = 500) -> None:
        """Answer every request with ``status`` until ``reset``."""
        with self._lock:
            self._faults.fail_forever = True
            self._faults.fail_status = status

    def delay(self, seconds: float) -> None:
        """Sleep ``seconds`` before answering each request (to trip client timeouts)."""
        with self._lock:
            self._faults.delay_s = seconds

    def short_response(self) -> None:
        """Drop the last row of every response."""
        with self._lock:
            self._faults.short = True

    def garbage(self) -> None:
        """Answer 200 with the expected Content-Type and the body ``<html>oops</html>``."""
        with self._lock:
            self._faults.garbage = True

    def wrong_content_type(self) -> None:
        """Answer 200 with ``Content-Type: text/html`` and an HTML page."""
        with self._lock:
            self._faults.wrong_content_type = True

    def truncated_response(self) -> None:
        """Send half of every body under the whole body's Content-Length, then hang up.

        What a client sees when a proxy or load balancer cuts a response short.
        """
        with self._lock:
            self._faults.truncate = True

    def drop_connection(self) -> None:
        """Read every request, then close the connection without answering."""
        with self._lock:
            self._faults.drop = True

    def schedule(self, faults: Iterable[ScheduledFault], stall_s: float = 60.0) -> None:
        """Give the next requests, in arrival order, one fault each (None: answer normally).

        Args:
            faults: per request, an HTTP status (e.g. 503, 429), ``"stall"`` (answer only after
                ``stall_s`` seconds or at ``close``), ``"drop"`` (close the connection without an
                answer), ``"truncate"`` (a body cut short, see ``truncated_response``) or None.
            stall_s: how long a stalled request waits before it is answered.

        """
        planned = list(faults)
        for fault in planned:
            if not (fault is None or fault in ("stall", "drop", "truncate") or _is_status(fault)):
                raise ValueError(
                    f"unknown fault {fault!r}: an HTTP error status, stall, drop or truncate"
                )
        with self._lock:
            self._schedule.extend(planned)
            self._stall_s = stall_s

    @property
    def scheduled(self) -> int:
        """Scheduled faults (and None entries) not yet given to a request."""
        with self._lock:
            return len(self._schedule)

    def reset(self) -> None:
        """Switch every fault off and clear the schedule (the counters are kept)."""
        with self._lock:
            self._faults = Faults()
            self._schedule.clear()

    # -- serving -----------------------------------------------------------------------------

    def _record(self, request: ReceivedRequest) -> Faults:
        """Count a parsed request and return the faults that apply to it."""
        with self._lock:
            self._received.append(request)
            failing = self._faults.fail_forever or self._faults.fail_remaining > 0
            self._faults.fail_remaining = max(self._faults.fail_remaining - 1, 0)
            faults = replace(self._faults, fail_status=self._faults.fail_status if failing else 0)
            planned = self._schedule.popleft() if self._schedule else None
            stall_s = self._stall_s
        if planned == "stall":
            return replace(faults, delay_s=max(faults.delay_s, stall_s))
        if planned == "drop":
            return replace(faults, drop=True)
        if planned == "truncate":
            return replace(faults, truncate=True)
        if planned is not None:
            return replace(faults, fail_status=planned)
        return faults

    def _count(self) -> None:
        with self._lock:
            self._requests += 1

    def _track(self, connection: socket.socket, is_open: bool) -> None:
        with self._lock:
            if is_open:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _wait(self, seconds: float) -> None:
        """Sleep, but wake at once when the server closes."""
        if seconds > 0:
            self._closing.wait(seconds)

    def read_frame(self, content_type: str, body: bytes) -> pd.DataFrame:
        """Parse a request body into a DataFrame with the feature columns, in order."""
        return self.read_request(content_type, body)[0]

    def read_request(self, content_type: str, body: bytes) -> tuple[pd.DataFrame, bool]:
        """The request's rows, and whether it was one JSON record (answered by one object)."""
        single = False
        if content_type in IMAGE_TYPES:
            return self._image_frame(content_type, body)
        if self.text_columns and content_type in (CSV, JSON_LINES):
            return self._text_frame(content_type, body), False
        if content_type == CSV:
            rows = _csv_rows(body)
        elif content_type == JSON:
            rows, single = _json_rows(
                body, self.json_records, self.features_key, self.feature_names
            )
        elif content_type == JSON_LINES:
            rows = _json_lines_rows(body, self.features_key, self.feature_names)
        elif content_type == PARQUET:
            return _parquet_frame(body, self.feature_names), False
        else:
            raise RequestRejectedError(
                415, f"unsupported Content-Type {content_type!r}: use {REQUEST_TYPES}"
            )
        if len(rows) == 0:
            raise RequestRejectedError(400, "the request holds no rows")
        widths = {len(row) for row in rows}
        if widths != {len(self.feature_names)}:
            raise RequestRejectedError(
                400, f"rows have {sorted(widths)} values, expected {len(self.feature_names)}"
            )
        return pd.DataFrame(np.array(rows, dtype=float), columns=self.feature_names), single

    def _image_frame(self, content_type: str, body: bytes) -> tuple[pd.DataFrame, bool]:
        """One image (JPEG, PNG), or an .npy batch of them, as the model's ``image`` column."""
        if not body:
            raise RequestRejectedError(400, "the request holds no image")
        column = self.feature_names[0]
        if content_type != NPY:
            return pd.DataFrame({column: [body]}), True
        try:
            array = np.load(io.BytesIO(body), allow_pickle=False)
        except ValueError as error:
            raise RequestRejectedError(400, f"not an .npy array: {error}") from error
        images = [array] if array.ndim == 3 else list(array)
        encoded = []
        for image in images:
            buffer = io.BytesIO()
            np.save(buffer, image, allow_pickle=False)
            encoded.append(buffer.getvalue())
        return pd.DataFrame({column: encoded}), array.ndim == 3

    def _text_frame(self, content_type: str, body: bytes) -> pd.DataFrame:
        """Rows with text columns (strings) beside numeric ones, from CSV or JSON Lines."""
        try:
            text = body.decode()
            if content_type == CSV:
                rows = [row for row in csv.reader(io.StringIO(text)) if row]
            else:
                rows = []
                for line in text.splitlines():
                    if line.strip():
                        features = json.loads(line)[self.features_key]
                        if isinstance(features, dict):
                            features = [features[name] for name in self.feature_names]
                        rows.append(features)
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, csv.Error) as error:
            raise RequestRejectedError(
                400, f"{content_type} body is not rows: {error!r}"
            ) from error
        if not rows:
            raise RequestRejectedError(400, "the request holds no rows")
        widths = {len(row) for row in rows}
        if widths != {len(self.feature_names)}:
            raise RequestRejectedError(
                400, f"rows have {sorted(widths)} values, expected {len(self.feature_names)}"
            )
        frame = pd.DataFrame(rows, columns=self.feature_names, dtype=object)
        for column in self.feature_names:
            if column not in self.text_columns:
                try:
                    frame[column] = frame[column].astype(float)
                except ValueError as error:
                    raise RequestRejectedError(400, f"column {column!r}: {error}") from error
            else:
                frame[column] = frame[column].astype(str)
        return frame

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's (n, k) scores for a frame."""
        scores = np.asarray(self.predict(frame), dtype=float)
        return scores.reshape(len(frame), -1)

    def write_response(self, accept: str, scores: np.ndarray, single_record: bool = False) -> bytes:
        """One line per row in the ``accept`` type, floats written round-trip exact.

        ``application/json``: one document, ``{"predictions": [...]}``, or the one record's
        object when ``single_record`` (and one row is answered).
        """
        labels, probabilities = self._labels_and_probabilities(scores)
        if accept == JSON:
            answers = []
            for row, label, probability in zip(scores, labels, probabilities, strict=True):
                answer: dict[str, Any] = {"label": label, "score": probability}
                if scores.shape[1] > 2:
                    answer["scores"] = [float(score) for score in row]
                answers.append(answer)
            if single_record and len(answers) == 1:
                return json.dumps(answers[0]).encode()
            return json.dumps({"predictions": answers}).encode()
        if accept == JSON_LINES:
            records = []
            for row, label, probability in zip(scores, labels, probabilities, strict=True):
                record: dict[str, Any] = {"predicted_label": label, "probability": probability}
                if scores.shape[1] > 2:
                    record["probabilities"] = [float(score) for score in row]
                records.append(json.dumps(record))
            lines = records
        elif self.csv_layout == "scores":
            lines = [",".join(repr(float(score)) for score in row) for row in scores]
        else:
            lines = [
                f"{label},{probability!r}"
                for label, probability in zip(labels, probabilities, strict=True)
            ]
        return "".join(line + "\n" for line in lines).encode()

    def _labels_and_probabilities(self, scores: np.ndarray) -> tuple[list[Any], list[float]]:
        """Predicted label and the probability Clarify reads for it, per row.

        One column: the positive-class probability, label 1 from 0.5 on. Two columns: the
        positive (second) column, as in Clarify's binary examples. More: the predicted label's.
        """
        n_outputs = scores.shape[1]
        if n_outputs == 1:
            indices = (scores[:, 0] >= 0.5).astype(int)
            probabilities = scores[:, 0]
        else:
            indices = np.argmax(scores, axis=1)
            probabilities = scores[:, 1] if n_outputs == 2 else scores.max(axis=1)
        names = self.labels if self.labels is not None else list(range(max(n_outputs, 2)))
        return [names[index] for index in indices], [float(p) for p in probabilities]


def _handler_for(server: ModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: every answer carries a Content-Length
        # Headers and body leave in separate writes: without TCP_NODELAY, Nagle's algorithm
        # holds the body until the client's delayed ACK (tens of milliseconds per request).
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            server._track(self.connection, is_open=True)

        def finish(self) -> None:
            server._track(self.connection, is_open=False)
            with contextlib.suppress(OSError):  # the client went away (e.g. timed out)
                super().finish()

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if _path(self.path) == "/ping":
                self.answer(200, b"", "text/plain")
            else:
                self.answer(404, f"no such path {self.path}".encode(), "text/plain")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if _path(self.path) != "/invocations":  # a query string is ignored
                self.answer(404, f"no such path {self.path}".encode(), "text/plain")
                return
            server._count()
            content_type = _media_type(self.headers.get("Content-Type", ""))
            try:
                accept = _negotiate(self.headers.get("Accept", ""), server.default_accept)
                frame, single_record = server.read_request(content_type, body)
            except RequestRejectedError as error:
                self.answer(error.status, str(error).encode(), "text/plain")
                return
            faults = server._record(
                ReceivedRequest(
                    content_type=content_type,
                    accept=accept,
                    headers=dict(self.headers.items()),
                    n_rows=len(frame),
                    client_port=self.client_address[1],
                    body=body if server.keep_bodies else b"",
                )
            )
            server._wait(faults.delay_s)
            if faults.drop:
                self.close_connection = True  # finish() closes the socket: no status line
                return
            if faults.fail_status:
                extra = {"Retry-After": "0"} if faults.fail_status == 429 else {}
                message = f"injected failure {faults.fail_status}".encode()
                self.answer(faults.fail_status, message, "text/plain", extra)
                return
            if faults.wrong_content_type:
                self.answer(200, HTML_PAGE, "text/html")
                return
            if faults.garbage:
                self.answer(200, GARBAGE, accept)
                return
            if server.documents:
                try:
                    answers = list(server.predict(frame))
                except Exception as error:  # the model's own failure, as a real server says
                    self.answer(500, f"model failed: {error!r}".encode(), "text/plain")
                    return
                if faults.short:
                    answers = answers[:-1]
                document = answers[0] if single_record and len(answers) == 1 else answers
                body = json.dumps(document).encode()
                self.answer(200, body, JSON, sent_bytes=len(body) // 2 if faults.truncate else None)
                return
            try:
                scores = server.scores(frame)
            except Exception as error:  # the model's own failure, answered like a real server
                self.answer(500, f"model failed: {error!r}".encode(), "text/plain")
                return
            if faults.short:
                scores = scores[:-1]
            if content_type in IMAGE_TYPES and accept == JSON:
                # image classifiers answer their class probabilities, as a list
                listed = scores.tolist()
                body = json.dumps(listed[0] if single_record else listed).encode()
            else:
                body = server.write_response(accept, scores, single_record)
            if faults.truncate:
                self.answer(200, body, accept, sent_bytes=len(body) // 2)
                return
            self.answer(200, body, accept)

        def answer(
            self,
            status: int,
            body: bytes,
            content_type: str,
            extra_headers: dict[str, str] | None = None,
            sent_bytes: int | None = None,
        ) -> None:
            """Send ``body`` (only its first ``sent_bytes``, then hang up, when given)."""
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (extra_headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body if sent_bytes is None else body[:sent_bytes])
            except OSError:
                self.close_connection = True  # the client timed out and hung up
            if sent_bytes is not None:
                self.close_connection = True  # the rest never comes: the client sees EOF

    return Handler


def _is_status(fault: object) -> bool:
    return isinstance(fault, int) and not isinstance(fault, bool) and 400 <= fault <= 599


def _plain(value: Any) -> Any:
    """A numpy scalar label as the Python value json.dumps and str write plainly."""
    return value.item() if isinstance(value, np.generic) else value


def _path(target: str) -> str:
    """The path of a request target: ``/invocations?token=x`` -> ``/invocations``."""
    return target.split("?", 1)[0]


def _media_type(header: str) -> str:
    """``text/csv; charset=utf-8`` -> ``text/csv``."""
    return header.split(";", 1)[0].strip().lower()


def _negotiate(accept_header: str, default: str) -> str:
    """The first supported type the client accepts, the default for none or ``*/*``."""
    accepted = [_media_type(part) for part in accept_header.split(",") if part.strip()]
    if not accepted:
        return default
    for media_type in accepted:
        if media_type in RESPONSE_TYPES:
            return media_type
        if media_type in ("*/*", "text/*", "application/*"):
            return default
    raise RequestRejectedError(406, f"cannot answer Accept {accept_header!r}: use {RESPONSE_TYPES}")


def _csv_rows(body: bytes) -> np.ndarray | list[list[float]]:
    """Rows of floats; Arrow's parser (exact, fast) first, a plain one for what it refuses."""
    try:
        table = pyarrow_csv.read_csv(
            io.BytesIO(body),
            read_options=pyarrow_csv.ReadOptions(autogenerate_column_names=True),
        )
        return (
            np.column_stack([column.to_numpy().astype(float) for column in table.columns])
            if table.num_rows
            else []
        )
    except (pa.ArrowException, ValueError, TypeError):
        pass
    try:
        return [
            [float(value) for value in line.split(",")]
            for line in body.decode().splitlines()
            if line.strip()
        ]
    except (UnicodeDecodeError, ValueError) as error:
        raise RequestRejectedError(400, f"text/csv body is not rows of floats: {error}") from error


def _json_lines_rows(
    body: bytes, key: str, feature_names: list[str]
) -> np.ndarray | list[list[float]]:
    lines = [line for line in body.split(b"\n") if line.strip()]
    try:  # well-formed records of float lists: parsed in one go
        records = json.loads(b"[" + b",".join(lines) + b"]")
        rows_fast = np.array([record[key] for record in records], dtype=float)
        if rows_fast.ndim == 2:
            return rows_fast
    except (ValueError, KeyError, TypeError):
        pass
    rows = []
    for number, line in enumerate(body.decode(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            features = record[key]
            if isinstance(features, dict):
                features = [features[name] for name in feature_names]
            rows.append([float(value) for value in features])
        except (ValueError, KeyError, TypeError) as error:
            raise RequestRejectedError(
                400, f"JSON Lines record {number} has no float list at {key!r}: {error!r}"
            ) from error
    return rows


def _json_rows(
    body: bytes, records_path: Any, key: str, feature_names: list[str]
) -> tuple[list[list[float]], bool]:
    """A JSON request's rows, and whether it was one record alone."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestRejectedError(400, f"application/json body is not JSON: {error}") from error
    single = False
    if records_path is not None:
        records = records_path.search(document)
    elif isinstance(document, list):
        records = document
    elif _is_record(document, key, feature_names):
        records, single = [document], True
    else:
        found = [value for value in document.values() if _is_record_list(value)]
        records = found[0] if found else None
    if not isinstance(records, list):
        raise RequestRejectedError(
            400, "application/json body holds no list of records nor one record"
        )
    rows = []
    for number, record in enumerate(records, start=1):
        values = _record_values(record, key, feature_names)
        if values is None:
            raise RequestRejectedError(
                400, f"JSON record {number} is neither a list of values nor an object of features"
            )
        try:
            rows.append([np.nan if value is None else float(value) for value in values])
        except (TypeError, ValueError) as error:
            raise RequestRejectedError(400, f"JSON record {number}: {error}") from error
    return rows, single


def _is_record(document: Any, key: str, feature_names: list[str]) -> bool:
    """A dict that is one record: keyed by the feature names, or holding a flat list at ``key``."""
    if not isinstance(document, dict):
        return False
    if all(name in document for name in feature_names):
        return True
    held = document.get(key)
    return isinstance(held, list) and not any(isinstance(item, list | dict) for item in held)


def _is_record_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], list | dict)


def _record_values(record: Any, key: str, feature_names: list[str]) -> list[Any] | None:
    if isinstance(record, list):
        return record
    if isinstance(record, dict):
        if all(name in record for name in feature_names):
            return [record[name] for name in feature_names]
        if isinstance(record.get(key), list):
            values: list[Any] = record[key]
            return values
    return None


def _parquet_frame(body: bytes, feature_names: list[str]) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(io.BytesIO(body))
    except Exception as error:  # pyarrow raises several types for a broken file
        raise RequestRejectedError(400, f"body is not a Parquet file: {error}") from error
    missing = [name for name in feature_names if name not in frame.columns]
    if missing:
        raise RequestRejectedError(400, f"Parquet body lacks the feature columns {missing}")
    if frame.empty:
        raise RequestRejectedError(400, "the request holds no rows")
    # Rebuilt from one C-ordered float block, like the CSV and JSON Lines paths: a frame of
    # separate Parquet columns can make BLAS round differently in the last bit.
    return pd.DataFrame(frame[feature_names].to_numpy(dtype=float), columns=feature_names)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve an MLflow model until interrupted (``python -m explainops.testing.model_server``)."""
    import argparse
    import time

    import mlflow

    from explainops.io.registries import default_tracking_uri, load_pyfunc

    parser = argparse.ArgumentParser(
        prog="python -m explainops.testing.model_server",
        description="Serve an MLflow model on 127.0.0.1 like a SageMaker endpoint.",
    )
    parser.add_argument(
        "--model", required=True, help="MLflow model URI, e.g. models:/name@Champion"
    )
    parser.add_argument(
        "--tracking-uri", default=default_tracking_uri(), help="MLflow tracking URI"
    )
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument(
        "--accept", choices=RESPONSE_TYPES, default=CSV, help="default response type"
    )
    parser.add_argument(
        "--csv-layout", choices=["label_probability", "scores"], default="label_probability"
    )
    parser.add_argument(
        "--documents",
        action="store_true",
        help="answer the model's whole JSON documents (an object detector's boxes)",
    )
    arguments = parser.parse_args(argv)
    mlflow.set_tracking_uri(arguments.tracking_uri)
    mlflow.set_registry_uri(arguments.tracking_uri)
    signature = mlflow.models.get_model_info(arguments.model).signature
    if signature is None:
        parser.error(f"{arguments.model} has no signature: its feature names are unknown")
    model = load_pyfunc(arguments.model)
    text_columns = [
        spec.name
        for spec in signature.inputs.inputs
        if str(getattr(spec, "type", "")).lower().endswith("string")
    ]
    assert model.answers is not None  # a pyfunc's answers are always at hand
    server = ModelServer(
        model.answers if arguments.documents else model.predict,
        signature.inputs.input_names(),
        text_columns=text_columns,
        default_accept=arguments.accept,
        csv_layout=arguments.csv_layout,
        keep_bodies=False,
        documents=arguments.documents,
        port=arguments.port,
    )
    with server:
        print(f"serving {arguments.model} at {server.url} (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
