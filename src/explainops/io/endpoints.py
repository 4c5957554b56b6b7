"""A model served over HTTP, spoken to in SageMaker Clarify's content types.

CSV, JSON Lines, JSON (``content_template`` and ``record_template``, see
``explainops.io.json_payloads``) and Parquet requests; CSV, JSON Lines and JSON responses.
Rows go to the endpoint in requests of ``rows_per_request`` rows, up to ``max_concurrency`` at a
time, and come back in input order. Every response is checked against its request: a wrong number of
rows, an unparsable body or a missing attribute is an ``EndpointError`` naming the request batch,
never a silently shifted row. 5xx, 429, timeouts, dropped connections and truncated or broken
responses are retried with exponential backoff.

Every error is one line: the endpoint (scheme, host, port and path: never its user-info or query,
nor a header value), the request batch, the samples whose rows it held, and what went wrong.
"""

from __future__ import annotations

import http.client
import io
import itertools
import json
import logging
import math
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlsplit

import jmespath
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pydantic
import requests
import urllib3.exceptions
from jmespath.exceptions import JMESPathError

from explainops.core.component import Component
from explainops.core.model import LoadedModel
from explainops.errors import ConfigError, EndpointError
from explainops.explainers.coalitions import MODEL_CALL_ROWS, ModelCallRows, describe_labels
from explainops.io.json_payloads import JsonTemplates, decode_json_scores, parse_templates
from explainops.io.registries import Loader, ModelVersion

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
ContentType = Literal[
    "text/csv",
    "application/jsonlines",
    "application/json",
    "application/x-parquet",
    "image/jpeg",
    "image/png",
    "application/x-npy",
]
# Image requests: the frame's one column holds each image's bytes. A JPEG or PNG request holds
# one image (its bytes are the body, the answer is its scores); an .npy request holds a batch,
# one (n, h, w, 3) array.
IMAGE_CONTENT_TYPES = ("image/jpeg", "image/png", "application/x-npy")
SINGLE_IMAGE_TYPES = ("image/jpeg", "image/png")
AcceptType = Literal["text/csv", "application/jsonlines", "application/json"]
JSON = "application/json"
JSON_LINES = "application/jsonlines"
DEFAULT_JSON_LINES_TEMPLATE = '{"features":$features}'

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF_S = 30.0
# Characters of an error response's body quoted in the error.
SNIPPET_LENGTH = 120
# Sample labels listed in an error before "and N more".
# Shorter header or query values (e.g. "1") are not masked in quoted response bodies.
MIN_MASKED_LENGTH = 4
MASK = "***"
FEATURES_PLACEHOLDER = "$features"
SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Media types servers commonly answer for the accept types we ask for.
ANSWERED_TYPES = {
    "text/csv": {"text/csv", "text/plain", "application/csv"},
    "application/jsonlines": {
        "application/jsonlines",
        "application/x-jsonlines",
        "application/jsonl",
        "application/json",
        "text/plain",
    },
    "application/json": {"application/json", "text/json", "text/plain"},
}


T = TypeVar("T")


class RequestLimits(Component):
    """How rows go to an endpoint: request size, concurrency, patience.

    Args:
        rows_per_request: rows per request (``batch_size`` is accepted too).
        max_concurrency: requests in flight at once.
        timeout_s: seconds to wait for a response.
        max_retries: retries of a request after a 5xx, 429, timeout, dropped connection or
            truncated response.
        backoff_s: first retry delay, doubled at each retry (a ``Retry-After`` header wins).

    """

    rows_per_request: Annotated[
        int,
        pydantic.Field(
            ge=1, validation_alias=pydantic.AliasChoices("rows_per_request", "batch_size")
        ),
    ] = 1000
    max_concurrency: Annotated[int, pydantic.Field(ge=1, le=256)] = 4
    timeout_s: Annotated[float, pydantic.Field(gt=0)] = 30.0
    max_retries: Annotated[int, pydantic.Field(ge=0)] = 3
    backoff_s: Annotated[float, pydantic.Field(ge=0)] = 0.5


class EndpointLoader(Loader, RequestLimits):
    """A model behind an HTTP endpoint (SageMaker-style ``POST`` of rows, scores back).

    Args:
        url: the endpoint's invocation URL.
        content_type: request format: ``text/csv`` (rows without header),
            ``application/jsonlines`` (one ``content_template`` per row),
            ``application/json`` (one JSON document per request, from ``content_template`` and
            ``record_template``) or ``application/x-parquet`` (a Parquet file with the feature
            columns).
        accept_type: response format, ``text/csv``, ``application/jsonlines`` or
            ``application/json`` (default: the content type, or ``text/csv`` for Parquet).
        content_template: JSON Lines: the template of each row, ``$features`` becomes the row's
            values (default ``{"features":$features}``). JSON (required): the template of each
            request, with ``$records`` (the JSON list of the request's records) or ``$record``
            (one record: every request then holds one row, whatever ``rows_per_request`` says),
            and optionally ``$feature_names`` (the list of feature names).
        record_template: JSON only (required): the template of each record, with ``$features``
            (the row's values as a JSON list; optionally ``$feature_names`` too),
            ``$features_kvp`` (an object ``{name: value}``), or one ``"${name}"`` placeholder per
            feature (quotes included; every feature once, no other names).
        probability_attribute: which part of each response to explain: a column index for CSV
            responses (or into each record's list of scores in JSON), a JMESPath for JSON Lines
            records (e.g. ``probability``) and JSON documents (e.g. ``predictions[*].score`` for
            a batch, ``score`` for one record). Unset, the whole CSV row (or the JSON value) is
            the scores.
        label_attribute: JSON Lines and JSON responses: a JMESPath of the predicted label (or a
            regressor's prediction), explained when ``probability_attribute`` is unset (Clarify's
            ``predictor.label``).
        label_headers: names of the explained outputs.
        headers: extra request headers (use ``${oc.env:NAME}`` in YAML for secrets).
        headers_from_env: request headers read from environment variables at load time,
            ``{header name: variable name}``, e.g. ``{Authorization: ENDPOINT_TOKEN}``.

    and ``RequestLimits``' fields.

    """

    KIND: Literal["EndpointLoader"] = "EndpointLoader"
    url: Annotated[str, pydantic.Field(pattern=r"^https?://")]
    content_type: ContentType = "text/csv"
    accept_type: AcceptType | None = None
    content_template: str | None = None
    record_template: str | None = None
    probability_attribute: int | str | None = None
    label_attribute: str | None = None
    label_headers: list[str] | None = None
    headers: dict[str, str] = pydantic.Field(default_factory=dict)
    headers_from_env: dict[str, str] = pydantic.Field(default_factory=dict)

    @pydantic.model_validator(mode="after")
    def _check(self) -> EndpointLoader:
        if self.content_type == JSON_LINES and (
            self.request_template.count(FEATURES_PLACEHOLDER) != 1
        ):
            raise ValueError(
                f"content_template must contain {FEATURES_PLACEHOLDER} exactly once, "
                f"got {self.request_template!r}"
            )
        if self.content_type == JSON:
            parse_templates(self.content_template, self.record_template)
        elif self.record_template is not None:
            raise ValueError(
                f"record_template is only used with application/json requests, not "
                f"{self.content_type}"
            )
        if self.label_attribute is not None:
            if self.response_type == "text/csv":
                raise ValueError(
                    "label_attribute is a JMESPath into JSON responses; for text/csv responses "
                    "select the column with probability_attribute"
                )
            try:
                jmespath.compile(self.label_attribute)
            except JMESPathError as error:
                raise ValueError(
                    f"label_attribute {self.label_attribute!r} is not a JMESPath"
                ) from error
        if isinstance(self.probability_attribute, str):
            if self.response_type == "text/csv":
                raise ValueError(
                    "probability_attribute must be a column index for text/csv responses, "
                    f"got {self.probability_attribute!r}"
                )
            try:
                jmespath.compile(self.probability_attribute)
            except JMESPathError as error:
                raise ValueError(
                    f"probability_attribute {self.probability_attribute!r} is not a JMESPath"
                ) from error
        elif isinstance(self.probability_attribute, int) and self.probability_attribute < 0:
            raise ValueError("probability_attribute must be a column index >= 0")
        return self

    @property
    def response_type(self) -> AcceptType:
        """The response format asked for."""
        if self.accept_type is not None:
            return self.accept_type
        if self.content_type in (JSON_LINES, JSON):
            return self.content_type  # type: ignore[return-value]
        if self.content_type in IMAGE_CONTENT_TYPES:
            return "application/json"  # Clarify's default for images
        return "text/csv"

    @property
    def request_template(self) -> str:
        """``content_template``, or JSON Lines' default ``{"features":$features}``."""
        if self.content_template is not None:
            return self.content_template
        return DEFAULT_JSON_LINES_TEMPLATE if self.content_type == JSON_LINES else ""

    @property
    def json_templates(self) -> JsonTemplates | None:
        """The parsed templates of ``application/json`` requests, else None."""
        if self.content_type != JSON:
            return None
        return parse_templates(self.content_template, self.record_template)

    @property
    def explained_attribute(self) -> int | str | None:
        """What is explained: ``probability_attribute``, else ``label_attribute``."""
        if self.probability_attribute is not None:
            return self.probability_attribute
        return self.label_attribute

    def load(self, version: ModelVersion | None) -> LoadedModel:
        """A model whose predictions come from the endpoint."""
        if self.model_output != "probability":
            raise ConfigError(
                "loader.model_output: an endpoint is explained through what it answers; "
                "select the output with probability_attribute"
            )
        client = EndpointClient(self, self._request_headers())
        templates = self.json_templates
        if templates is not None and templates.single_record:
            logger.info(
                "%s: content_template has $record: one row per request (rows_per_request %d "
                "does not apply)",
                display_url(self.url),
                self.rows_per_request,
            )
        names = tuple(self.label_headers) if self.label_headers else None
        return LoadedModel(client.predict, lambda frame: names, None, version, client.answers)

    def _request_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {"Content-Type": self.content_type, "Accept": self.response_type}
        headers |= self.headers
        for header, variable in self.headers_from_env.items():
            value = os.environ.get(variable)
            if value is None:
                raise ConfigError(
                    f"loader.headers_from_env.{header}: environment variable {variable} is not set"
                )
            headers[header] = value
        for header, value in headers.items():
            try:
                requests.utils.check_header_validity((header, value))
            except requests.exceptions.InvalidHeader:
                # requests' message quotes the value, which is often a secret: name the header only.
                source = "headers_from_env" if header in self.headers_from_env else "headers"
                raise ConfigError(
                    f"loader.{source}.{header}: the value has leading whitespace or a line break"
                ) from None
        return headers


@dataclass(frozen=True)
class RequestBatch:
    """One request's rows, its number and where it stands, for errors (``url: request batch``)."""

    number: int
    rows: pd.DataFrame
    where: str


class AttemptError(Exception):
    """One attempt at a request failed: what went wrong in a few words, and whether to retry."""

    def __init__(self, problem: str, transient: bool, retry_after_s: float | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.transient = transient
        self.retry_after_s = retry_after_s


class EndpointClient:
    """Sends rows to an endpoint in concurrent requests and parses the answers in order."""

    def __init__(self, settings: EndpointLoader, headers: dict[str, str]) -> None:
        self.settings = settings
        self.headers = headers
        self.display_url = display_url(settings.url)
        self._masked = masked_values(settings.url, headers)
        self._templates = settings.json_templates
        self._single = (
            self._templates is not None and self._templates.single_record
        ) or settings.content_type in SINGLE_IMAGE_TYPES
        self._rows_per_request = 1 if self._single else settings.rows_per_request
        self._batch_numbers = itertools.count(1)
        self._local = threading.local()
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # Sessions, locks and threads stay behind when the model is shipped to another process.
        return {"settings": self.settings, "headers": self.headers}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["settings"], state["headers"])  # type: ignore[misc]

    def predict(self, frame: pd.DataFrame) -> FloatArray:
        """Scores of every row of ``frame``, shape (n_rows, n_outputs), in row order."""
        parts = self._each_request(frame, self._score)
        widths = {part.shape[1] for part in parts}
        if len(widths) > 1:
            raise EndpointError(
                f"{self.display_url}: responses have different numbers of scores {sorted(widths)}"
            )
        return np.concatenate(parts) if parts else np.empty((0, 0))

    def answers(self, frame: pd.DataFrame) -> list[Any]:
        """Each row's whole JSON answer (an object detector's document), in row order.

        A request of one row (one image, or one ``$record``) is answered by that row's document;
        a request of several by a JSON list of them, or an object holding that list under
        ``predictions``.
        """
        return [answer for part in self._each_request(frame, self._documents) for answer in part]

    def _each_request(self, frame: pd.DataFrame, send: Callable[[RequestBatch], T]) -> list[T]:
        """``send`` applied to each request's batch of rows (concurrently where allowed)."""
        size = self._rows_per_request
        # Read here: the pool's threads do not see this thread's context.
        call = MODEL_CALL_ROWS.get()
        batches = []
        for start in range(0, len(frame), size):
            stop = min(start + size, len(frame))
            number = next(self._batch_numbers)
            origin = describe_rows(frame, call, start, stop)
            where = f"{self.display_url}: request batch {number} ({origin})"
            batches.append(RequestBatch(number, frame.iloc[start:stop], where))
        if len(batches) == 1 or self.settings.max_concurrency == 1:
            return [send(batch) for batch in batches]
        return list(self._pool().map(send, batches))

    def _body(self, batch: RequestBatch) -> bytes:
        """The request body of a batch of rows: the JSON templates', or the content type's."""
        if self._templates is not None:
            return self._templates.encode(batch.rows)
        return encode_rows(batch.rows, self.settings.content_type, self.settings.request_template)

    def _documents(self, batch: RequestBatch) -> list[Any]:
        _, content = self._post(self._body(batch), batch.where)
        try:
            document = json.loads(content)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise EndpointError(
                f"{batch.where}: response is not JSON: {snippet(content, self._masked)}"
            ) from None
        n_rows = len(batch.rows)
        if self._single and n_rows == 1:
            return [document]
        if isinstance(document, dict) and isinstance(document.get("predictions"), list):
            document = document["predictions"]
        elif isinstance(document, dict) and n_rows == 1:  # one row's own document
            return [document]
        if not isinstance(document, list) or len(document) != n_rows:
            got = f"{len(document)} answers" if isinstance(document, list) else "one document"
            raise EndpointError(f"{batch.where}: response has {got}, expected {n_rows}")
        return document

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    self.settings.max_concurrency, thread_name_prefix="explainops-endpoint"
                )
            return self._executor

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    def _score(self, batch: RequestBatch) -> FloatArray:
        settings = self.settings
        response, content = self._post(self._body(batch), batch.where)
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        expected = self.settings.response_type
        if media_type and media_type not in ANSWERED_TYPES[expected]:
            raise EndpointError(
                f"{batch.where}: response Content-Type {media_type!r}, expected {expected!r}"
            )
        single = self._single
        try:
            return decode_scores(
                content,
                expected,
                settings.explained_attribute,
                len(batch.rows),
                batch.where,
                single_record=single,
            )
        except EndpointError as error:  # it may quote the body, and the body may echo a secret
            raise EndpointError(masked_text(str(error), self._masked)) from None

    def _post(self, body: bytes, where: str) -> tuple[requests.Response, bytes]:
        """The response and its whole body, after retrying transient faults with backoff."""
        settings = self.settings
        attempts = settings.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(body)
            except AttemptError as failed:
                if not failed.transient:
                    raise EndpointError(f"{where}: {failed.problem}") from None
                if attempt == attempts:
                    raise EndpointError(
                        f"{where}: {failed.problem} "
                        f"(after {attempts} attempt{'s' * (attempts > 1)})"
                    ) from None
                delay = failed.retry_after_s
                wait = min(
                    delay if delay is not None else settings.backoff_s * 2 ** (attempt - 1),
                    MAX_BACKOFF_S,
                )
                logger.warning(
                    "%s: %s (attempt %d of %d); retrying in %.2fs",
                    where,
                    failed.problem,
                    attempt,
                    attempts,
                    wait,
                )
                time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, body: bytes) -> tuple[requests.Response, bytes]:
        """One POST, its body read to the end; raises AttemptError saying what went wrong."""
        timeout = self.settings.timeout_s
        try:
            response = self._session().post(
                self.settings.url, data=body, headers=self.headers, timeout=timeout
            )
            # A body read lazily breaks here, not in post(): read it inside the retry loop.
            content = response.content
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
            urllib3.exceptions.HTTPError,
            http.client.HTTPException,
            OSError,
        ) as error:
            raise AttemptError(transport_problem(error, timeout), transient=True) from None
        except requests.RequestException as error:
            # Not a fault of the moment (an invalid URL, too many redirects): not retried. Its
            # text quotes the whole URL, query included: only its type is named.
            raise AttemptError(f"request failed ({type(error).__name__})", False) from None
        declared = declared_length(response)
        if declared is not None and len(content) < declared:
            raise AttemptError(truncated(len(content), declared), transient=True)
        if response.status_code < 300:
            return response, content
        problem = (
            f"HTTP {response.status_code} {response.reason or ''}".rstrip()
            + f": {snippet(content, self._masked)}"
        )
        if response.status_code not in RETRIED_STATUSES:
            raise AttemptError(problem, transient=False)
        raise AttemptError(problem, transient=True, retry_after_s=_retry_after(response))


def display_url(url: str) -> str:
    """``scheme://host:port/path`` of ``url``: its user-info and query can hold secrets."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the endpoint"
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{f':{port}' if port is not None else ''}{parts.path}"


def masked_values(url: str, headers: dict[str, str]) -> list[str]:
    """Values never to quote (a response body may echo them): headers, user-info, query values."""
    values = [
        value for name, value in headers.items() if name.lower() not in ("content-type", "accept")
    ]
    # "Bearer <token>": the token alone, too.
    values += [value.split(None, 1)[1] for value in values if len(value.split(None, 1)) == 2]
    try:
        parts = urlsplit(url)
        values += [parts.username or "", parts.password or ""]
        values += [value for _, value in parse_qsl(parts.query)]
    except ValueError:
        pass
    found = {value for value in values if len(value) >= MIN_MASKED_LENGTH}
    return sorted(found, key=len, reverse=True)


def describe_rows(frame: pd.DataFrame, call: ModelCallRows | None, start: int, stop: int) -> str:
    """Which samples rows [start, stop) of ``frame`` hold, e.g. ``sample rows 100-149``.

    In an explainer's model call the rows are masked rows of samples: ``call`` names them. Any
    other frame is taken as samples labelled by its index (row positions in explainops' jobs).
    """
    if call is None:
        values = list(frame.index[start:stop])
    else:
        labels = call.samples_of(start, stop)
        if labels is None:
            return call.baseline_rows(start, stop)
        values = labels.tolist()
    noun = "sample row" if len(values) == 1 else "sample rows"
    return f"{noun} {describe_labels(values)}"


def transport_problem(error: BaseException, timeout_s: float) -> str:
    """What broke, in a few words, from requests' and urllib3's nested exceptions."""
    causes = list(_causes(error))
    for cause in causes:
        if isinstance(cause, urllib3.exceptions.IncompleteRead):
            return truncated(cause.partial, cause.partial + cause.expected)
        if isinstance(cause, http.client.IncompleteRead):
            got = len(cause.partial)
            return truncated(got, got + cause.expected) if cause.expected else "response truncated"
    timeouts = f"no response within {timeout_s:g}s"
    kinds: list[tuple[type[BaseException] | tuple[type[BaseException], ...], str]] = [
        # Before the timeouts: urllib3's NewConnectionError is a ConnectTimeoutError too.
        (ConnectionRefusedError, "connection refused"),
        (ConnectionResetError, "connection reset"),
        (http.client.RemoteDisconnected, "connection closed without a response"),
        ((ConnectionAbortedError, BrokenPipeError), "connection closed"),
        ((urllib3.exceptions.NameResolutionError, socket.gaierror), "host not found"),
        (requests.ConnectTimeout, f"no connection within {timeout_s:g}s"),
        ((urllib3.exceptions.ReadTimeoutError, TimeoutError, requests.Timeout), timeouts),
        ((ssl.SSLError, requests.exceptions.SSLError), "TLS handshake or certificate failed"),
        (requests.exceptions.ContentDecodingError, "response body could not be decoded"),
        (requests.exceptions.ChunkedEncodingError, "response broken off"),
        (urllib3.exceptions.ProtocolError, "connection broken"),
    ]
    for kind, problem in kinds:
        if any(isinstance(cause, kind) for cause in causes):
            return problem
    reasons = [cause.strerror for cause in causes if isinstance(cause, OSError) and cause.strerror]
    return f"connection failed ({reasons[0] if reasons else type(error).__name__})"


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception nested in it (arguments, causes, urllib3's ``reason``)."""
    pending, seen = [error], set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [*current.args, current.__cause__, current.__context__]
        linked.append(getattr(current, "reason", None))
        pending.extend(item for item in linked if isinstance(item, BaseException))


def truncated(got: int, expected: int) -> str:
    """The words for a body that ended short."""
    return f"response truncated (got {got} of {expected} bytes)"


def declared_length(response: requests.Response) -> int | None:
    """The body length the response announced, when the body read should have it exactly."""
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        return None  # Content-Length counts the encoded bytes
    try:
        return int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None


def encode_rows(
    rows: pd.DataFrame,
    content_type: ContentType,
    template: str,
    record_template: str | None = None,
) -> bytes:
    """The request body of ``rows`` in ``content_type`` (numbers written round-trip exact).

    ``template``: JSON Lines' per-row template, or JSON's ``content_template`` (then
    ``record_template`` too).
    """
    if content_type == JSON:
        return parse_templates(template, record_template).encode(rows)
    if content_type in SINGLE_IMAGE_TYPES:
        return bytes(rows.to_numpy()[0, 0])
    if content_type == "application/x-npy":
        buffer = io.BytesIO()
        images = [np.load(io.BytesIO(bytes(data)), allow_pickle=False) for data in rows.iloc[:, 0]]
        np.save(buffer, np.stack(images), allow_pickle=False)
        return buffer.getvalue()
    if content_type == "application/x-parquet":
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), buffer)
        return buffer.getvalue()
    numeric = _finite_numbers(rows)
    if content_type == "text/csv":
        return _csv_lines(rows) if numeric else rows.to_csv(header=False, index=False).encode()
    prefix, suffix = template.split(FEATURES_PLACEHOLDER)
    if numeric:
        # A CSV line of finite numbers, in brackets, is the row's JSON list.
        start, end = (prefix + "[").encode(), ("]" + suffix + "\n").encode()
        return b"".join(start + line + end for line in _csv_lines(rows).splitlines())
    # Missing values (NaN) go as JSON null: NaN is not JSON.
    lines = (
        prefix + json.dumps([_json_value(value) for value in values]) + suffix
        for values in rows.to_numpy().tolist()
    )
    return ("\n".join(lines) + "\n").encode()


def _json_value(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _finite_numbers(rows: pd.DataFrame) -> bool:
    return all(pd.api.types.is_numeric_dtype(dtype) for dtype in rows.dtypes) and bool(
        np.isfinite(rows.to_numpy(dtype=np.float64)).all()
    )


def _csv_lines(rows: pd.DataFrame) -> bytes:
    """Header-less CSV of numeric rows, written by Arrow (shortest round-trip floats, fast)."""
    buffer = io.BytesIO()
    table = pa.Table.from_pandas(rows, preserve_index=False)
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False))
    return buffer.getvalue()


def decode_scores(
    content: bytes,
    accept_type: AcceptType,
    attribute: int | str | None,
    n_rows: int,
    where: str,
    *,
    single_record: bool = False,
) -> FloatArray:
    """Parse a response into (n_rows, n_outputs) scores; any mismatch is an EndpointError.

    ``single_record``: a JSON request of one record (``$record``), answered by one JSON value.
    A score that is not a finite number (``nan``, ``inf``) is an error too.
    """
    scores = _scores(content, accept_type, attribute, n_rows, where, single_record)
    if not np.isfinite(scores).all():
        row, column = (int(index) for index in np.argwhere(~np.isfinite(scores))[0])
        which = "the score" if scores.shape[1] == 1 else f"score {column + 1} of {scores.shape[1]}"
        raise EndpointError(
            f"{where}: response row {row + 1}: {which} is {scores[row, column]}, "
            "expected a finite number"
        )
    return scores


def _scores(
    content: bytes,
    accept_type: AcceptType,
    attribute: int | str | None,
    n_rows: int,
    where: str,
    single_record: bool,
) -> FloatArray:
    if accept_type == JSON:
        return decode_json_scores(content, attribute, n_rows, single_record, where)
    fast = (
        _fast_csv_scores(content, attribute, n_rows)
        if accept_type == "text/csv"
        else _fast_json_scores(content, attribute, n_rows)
    )
    if fast is not None:
        return fast
    # The careful path: slower, and says exactly which row is wrong and how.
    try:
        text = content.decode()
    except UnicodeDecodeError as error:
        raise EndpointError(f"{where}: response is not UTF-8 text") from error
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != n_rows:
        raise EndpointError(f"{where}: response has {len(lines)} rows, expected {n_rows}")
    parse: Callable[[str, int], list[float]]
    if accept_type == "text/csv":
        parse = _csv_parser(attribute, where)
    else:
        parse = _json_parser(attribute, where)
    scores = [parse(line, number) for number, line in enumerate(lines, start=1)]
    widths = {len(row) for row in scores}
    if len(widths) != 1:
        raise EndpointError(f"{where}: response rows have different numbers of scores")
    return np.asarray(scores, dtype=np.float64)


def _fast_csv_scores(content: bytes, attribute: int | str | None, n_rows: int) -> FloatArray | None:
    """Scores parsed by Arrow when the body is plain numeric CSV of the right shape, else None."""
    try:
        table = pa_csv.read_csv(
            # Clarify's examples put a space after the comma ("1, 0.5385"): Arrow reads no
            # padded numbers.
            io.BytesIO(content.replace(b", ", b",")),
            # One thread: a response is small, and Arrow's own thread pool, started from many
            # request threads, has aborted the process at exit ("terminate called without an
            # active exception") after a failed parse.
            read_options=pa_csv.ReadOptions(autogenerate_column_names=True, use_threads=False),
            parse_options=pa_csv.ParseOptions(newlines_in_values=False),
        )
    except (pa.ArrowException, ValueError):
        return None
    columns = table.columns
    if isinstance(attribute, int):
        columns = columns[attribute : attribute + 1]
    if table.num_rows != n_rows or not columns:
        return None
    if not all(pa.types.is_integer(c.type) or pa.types.is_floating(c.type) for c in columns):
        return None
    if any(column.null_count for column in columns):
        return None
    return np.column_stack([column.to_numpy().astype(np.float64) for column in columns])


def _fast_json_scores(
    content: bytes, attribute: int | str | None, n_rows: int
) -> FloatArray | None:
    """Scores of JSON Lines parsed in one go when every record is well formed, else None."""
    lines = [line for line in content.split(b"\n") if line.strip()]
    if len(lines) != n_rows:
        return None
    try:
        records = json.loads(b"[" + b",".join(lines) + b"]")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if isinstance(attribute, str):
        if SIMPLE_KEY.fullmatch(attribute) and all(isinstance(r, dict) for r in records):
            values = [record.get(attribute) for record in records]
        else:
            path = jmespath.compile(attribute)
            values = [path.search(record) for record in records]
    else:
        values = records
    if any(value is None or isinstance(value, bool | dict) for value in values):
        return None
    try:
        scores = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if scores.ndim == 1:
        scores = scores.reshape(-1, 1)
    if isinstance(attribute, int):
        if scores.ndim != 2 or attribute >= scores.shape[1]:
            return None
        scores = scores[:, attribute : attribute + 1]
    return scores if scores.ndim == 2 else None


def _csv_parser(attribute: int | str | None, where: str) -> Callable[[str, int], list[float]]:
    def parse(line: str, number: int) -> list[float]:
        fields = [field.strip() for field in line.split(",")]
        if isinstance(attribute, int):
            if attribute >= len(fields):
                raise EndpointError(
                    f"{where}: response row {number} has {len(fields)} columns, "
                    f"no column {attribute} (probability_attribute)"
                )
            fields = [fields[attribute]]
        return [_number(field, where, number) for field in fields]

    return parse


def _json_parser(attribute: int | str | None, where: str) -> Callable[[str, int], list[float]]:
    path = jmespath.compile(attribute) if isinstance(attribute, str) else None

    def parse(line: str, number: int) -> list[float]:
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise EndpointError(
                f"{where}: response row {number} is not JSON: {line[:80]!r}"
            ) from error
        value = path.search(record) if path is not None else record
        if isinstance(attribute, int) and isinstance(value, list):
            value = value[attribute] if attribute < len(value) else None
        if value is None:
            raise EndpointError(
                f"{where}: response row {number} has no {attribute!r}: {line[:80]!r}"
            )
        values = value if isinstance(value, list) else [value]
        if isinstance(value, dict) or not all(
            isinstance(item, int | float) and not isinstance(item, bool) for item in values
        ):
            hint = "" if attribute is not None else " (set probability_attribute)"
            raise EndpointError(
                f"{where}: response row {number}: expected a number or a list of numbers"
                f"{hint}, got {json.dumps(value)[:80]}"
            )
        return [float(item) for item in values]

    return parse


def _number(field: str, where: str, number: int) -> float:
    try:
        return float(field)
    except ValueError:
        raise EndpointError(
            f"{where}: response row {number}: {field[:40]!r} is not a number"
        ) from None


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def snippet(content: bytes, masked: list[str]) -> str:
    """The start of an error body on one line, with ``masked`` values shown as ``***``."""
    text = " ".join(content[: 8 * SNIPPET_LENGTH].decode("utf-8", errors="replace").split())
    return masked_text(text, masked)[:SNIPPET_LENGTH] or "(empty body)"


def masked_text(text: str, masked: list[str]) -> str:
    """``text`` with each of the ``masked`` values (longest first) shown as ``***``."""
    for value in masked:
        text = text.replace(value, MASK)
    return text
