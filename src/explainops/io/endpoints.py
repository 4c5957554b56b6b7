"""A model served over HTTP, spoken to in SageMaker Clarify's content types.

Rows go to the endpoint in requests of ``batch_size`` rows, up to ``max_concurrency`` at a time,
and come back in input order. Every response is checked against its request: a wrong number of
rows, an unparsable body or a missing attribute is an ``EndpointError`` naming the request batch,
never a silently shifted row. 5xx, 429, timeouts and dropped connections are retried with
exponential backoff.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal

import jmespath
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pydantic
import requests
from jmespath.exceptions import JMESPathError

from explainops.errors import ConfigError, EndpointError
from explainops.io.registries import LoadedModel, Loader, ModelVersion

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
ContentType = Literal["text/csv", "application/jsonlines", "application/x-parquet"]
AcceptType = Literal["text/csv", "application/jsonlines"]

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF_S = 30.0
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
}


class EndpointLoader(Loader):
    """A model behind an HTTP endpoint (SageMaker-style ``POST`` of rows, scores back).

    Args:
        url: the endpoint's invocation URL.
        content_type: request format: ``text/csv`` (rows without header),
            ``application/jsonlines`` (one ``content_template`` per row) or
            ``application/x-parquet`` (a Parquet file with the feature columns).
        accept_type: response format, ``text/csv`` or ``application/jsonlines``
            (default: the content type, or ``text/csv`` for Parquet requests).
        content_template: JSON Lines request template; ``$features`` becomes the row's values.
        probability_attribute: which part of each response row to explain: a column index for
            CSV responses, a JMESPath (e.g. ``probability``) for JSON Lines responses. Unset, the
            whole CSV row (or the JSON value) is the scores.
        label_headers: names of the explained outputs.
        headers: extra request headers (use ``${oc.env:NAME}`` in YAML for secrets).
        headers_from_env: request headers read from environment variables at load time,
            ``{header name: variable name}``, e.g. ``{Authorization: ENDPOINT_TOKEN}``.
        batch_size: rows per request.
        max_concurrency: requests in flight at once.
        timeout_s: seconds to wait for a response.
        max_retries: retries of a request after a 5xx, 429, timeout or dropped connection.
        backoff_s: first retry delay, doubled at each retry (a ``Retry-After`` header wins).

    """

    KIND: Literal["EndpointLoader"] = "EndpointLoader"
    url: Annotated[str, pydantic.Field(pattern=r"^https?://")]
    content_type: ContentType = "text/csv"
    accept_type: AcceptType | None = None
    content_template: str = '{"features":$features}'
    probability_attribute: int | str | None = None
    label_headers: list[str] | None = None
    headers: dict[str, str] = pydantic.Field(default_factory=dict)
    headers_from_env: dict[str, str] = pydantic.Field(default_factory=dict)
    batch_size: Annotated[int, pydantic.Field(ge=1)] = 1000
    max_concurrency: Annotated[int, pydantic.Field(ge=1, le=256)] = 4
    timeout_s: Annotated[float, pydantic.Field(gt=0)] = 30.0
    max_retries: Annotated[int, pydantic.Field(ge=0)] = 3
    backoff_s: Annotated[float, pydantic.Field(ge=0)] = 0.5

    @pydantic.model_validator(mode="after")
    def _check(self) -> EndpointLoader:
        if self.content_type == "application/jsonlines" and (
            self.content_template.count(FEATURES_PLACEHOLDER) != 1
        ):
            raise ValueError(
                f"content_template must contain {FEATURES_PLACEHOLDER} exactly once, "
                f"got {self.content_template!r}"
            )
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
        return (
            "application/jsonlines" if self.content_type == "application/jsonlines" else "text/csv"
        )

    def load(self, version: ModelVersion | None) -> LoadedModel:
        """A model whose predictions come from the endpoint."""
        if self.model_output != "probability":
            raise ConfigError(
                "loader.model_output: an endpoint is explained through what it answers; "
                "select the output with probability_attribute"
            )
        client = EndpointClient(self, self._request_headers())
        names = tuple(self.label_headers) if self.label_headers else None
        return LoadedModel(client.predict, lambda frame: names, None, version)

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
        return headers


class EndpointClient:
    """Sends rows to an endpoint in concurrent requests and parses the answers in order."""

    def __init__(self, settings: EndpointLoader, headers: dict[str, str]) -> None:
        self.settings = settings
        self.headers = headers
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
        size = self.settings.batch_size
        starts = range(0, len(frame), size)
        requests_ = [
            (next(self._batch_numbers), start, frame.iloc[start : start + size]) for start in starts
        ]
        if len(requests_) == 1 or self.settings.max_concurrency == 1:
            parts = [self._score(*request) for request in requests_]
        else:
            parts = list(self._pool().map(lambda request: self._score(*request), requests_))
        widths = {part.shape[1] for part in parts}
        if len(widths) > 1:
            raise EndpointError(
                f"{self.settings.url}: responses have different numbers of scores {sorted(widths)}"
            )
        return np.concatenate(parts) if parts else np.empty((0, 0))

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

    def _score(self, number: int, start: int, rows: pd.DataFrame) -> FloatArray:
        where = (
            f"{self.settings.url}: request batch {number} (rows {start}-{start + len(rows) - 1})"
        )
        body = encode_rows(rows, self.settings.content_type, self.settings.content_template)
        response = self._post(body, where)
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        expected = self.settings.response_type
        if media_type and media_type not in ANSWERED_TYPES[expected]:
            raise EndpointError(
                f"{where}: response Content-Type {media_type!r}, expected {expected!r}"
            )
        return decode_scores(
            response.content, expected, self.settings.probability_attribute, len(rows), where
        )

    def _post(self, body: bytes, where: str) -> requests.Response:
        settings = self.settings
        for attempt in range(settings.max_retries + 1):
            last = attempt == settings.max_retries
            try:
                response = self._session().post(
                    settings.url, data=body, headers=self.headers, timeout=settings.timeout_s
                )
            except requests.Timeout as error:
                problem, delay = f"no response within {settings.timeout_s:g}s", None
                cause: Exception = error
            except requests.ConnectionError as error:
                problem, delay, cause = f"connection failed: {_first_line(error)}", None, error
            else:
                if response.status_code < 300:
                    return response
                problem = f"HTTP {response.status_code} {response.reason}: {_snippet(response)}"
                if response.status_code not in RETRIED_STATUSES:
                    raise EndpointError(f"{where}: {problem}")
                delay, cause = _retry_after(response), EndpointError(problem)
            if last:
                attempts = settings.max_retries + 1
                raise EndpointError(
                    f"{where}: {problem} (after {attempts} attempt{'s' * (attempts > 1)})"
                ) from cause
            wait = delay if delay is not None else settings.backoff_s * 2**attempt
            logger.warning("%s: %s; retrying in %.2fs", where, problem, min(wait, MAX_BACKOFF_S))
            time.sleep(min(wait, MAX_BACKOFF_S))
        raise AssertionError("unreachable")  # pragma: no cover


def encode_rows(rows: pd.DataFrame, content_type: ContentType, template: str) -> bytes:
    """The request body of ``rows`` in ``content_type`` (numbers written round-trip exact)."""
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
    content: bytes, accept_type: AcceptType, attribute: int | str | None, n_rows: int, where: str
) -> FloatArray:
    """Parse a response into (n_rows, n_outputs) scores; any mismatch is an EndpointError."""
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
            read_options=pa_csv.ReadOptions(autogenerate_column_names=True),
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


def _snippet(response: requests.Response) -> str:
    text = " ".join(response.text.split())
    return text[:120] or "(empty body)"


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:160] if str(error) else type(error).__name__
