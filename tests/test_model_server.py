"""The reference model server, spoken to with plain requests on 127.0.0.1.

Floats must come back exactly as the model computed them. The tests compare with the model's
scores of the very frame the server parsed (``served_scores``): the same rows in the same batch
shape and memory layout, so the same computation, bit for bit. Scores of the test's own frame
could differ in the last bit (BLAS rounds differently for other shapes and layouts on some CPUs),
so they are compared to a tolerance of a few ulps (``ROUNDING``).
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time

import numpy as np
import pandas as pd
import pytest
import requests
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from explainops.testing.model_server import ModelServer

FEATURES = ["feature_1", "feature_2", "feature_3", "feature_4"]
ROUNDING = {"rtol": 1e-12, "atol": 1e-15}


def _data(n_classes: int) -> tuple[pd.DataFrame, np.ndarray]:
    x, y = make_classification(
        n_samples=200,
        n_features=4,
        n_informative=3,
        n_redundant=0,
        n_classes=n_classes,
        random_state=0,
    )
    return pd.DataFrame(x, columns=FEATURES), y


@pytest.fixture(scope="module")
def binary() -> tuple[LogisticRegression, pd.DataFrame]:
    frame, y = _data(2)
    return LogisticRegression().fit(frame, y), frame.iloc[:7]


@pytest.fixture(scope="module")
def three_classes() -> tuple[LogisticRegression, pd.DataFrame]:
    frame, y = _data(3)
    return LogisticRegression().fit(frame, y), frame.iloc[:5]


def _csv(frame: pd.DataFrame) -> bytes:
    # Clarify's example writes ", " between values; repr keeps every bit of each float.
    return "".join(
        ", ".join(repr(float(v)) for v in row) + "\n" for row in frame.to_numpy()
    ).encode()


def _json_lines(frame: pd.DataFrame, key: str = "features") -> bytes:
    return "".join(json.dumps({key: list(row)}) + "\n" for row in frame.to_numpy()).encode()


def _post(
    server: ModelServer, body: bytes, content_type: str, accept: str = "*/*", timeout: float = 5
) -> requests.Response:
    headers = {"Content-Type": content_type, "Accept": accept}
    return requests.post(server.url, data=body, headers=headers, timeout=timeout)


def served_scores(
    model: LogisticRegression,
    server: ModelServer,
    body: bytes,
    content_type: str,
    samples: pd.DataFrame,
) -> np.ndarray:
    """The model's scores of the frame the server parsed from ``body``, checked to be ``samples``.

    The parse is exact (no arithmetic), and the server ran the model on exactly this frame.
    """
    frame = server.read_frame(content_type, body)
    assert np.array_equal(frame.to_numpy(), samples[FEATURES].to_numpy()), "parsed exactly"
    scores: np.ndarray = model.predict_proba(frame)
    np.testing.assert_allclose(scores, model.predict_proba(samples), **ROUNDING)
    return scores


def test_csv_answers_label_and_positive_probability_to_full_precision(binary) -> None:
    # given a binary classifier behind the server and seven rows written as Clarify's CSV
    model, samples = binary
    with ModelServer(model.predict_proba, FEATURES) as server:
        # when posted without a preferred response type
        response = _post(server, _csv(samples), "text/csv")
        expected = served_scores(model, server, _csv(samples), "text/csv", samples)
    # then each line is "label,probability of class 1", bit-identical to what the model computed
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/csv", response.headers
    lines = [line.split(",") for line in response.text.splitlines()]
    assert [int(label) for label, _ in lines] == list(expected.argmax(axis=1)), lines
    probabilities = np.array([float(probability) for _, probability in lines])
    assert np.array_equal(probabilities, expected[:, 1]), "positive-class probability, exact"
    assert server.requests == 1 and server.rows_received == [7], server.rows_received


def test_csv_scores_layout_writes_every_class_score(three_classes) -> None:
    # given a three-class model served with the "scores" layout
    model, samples = three_classes
    with ModelServer(model.predict_proba, FEATURES, csv_layout="scores") as server:
        # when CSV rows are posted and CSV is accepted
        response = _post(server, _csv(samples), "text/csv", accept="text/csv")
        expected = served_scores(model, server, _csv(samples), "text/csv", samples)
    # then the response holds all k scores per row, round-trip exact
    parsed = np.array([[float(v) for v in line.split(",")] for line in response.text.splitlines()])
    assert parsed.shape == (5, 3), parsed.shape
    assert np.array_equal(parsed, expected), "every score, exact"


def test_json_lines_binary_response_is_clarify_record(binary) -> None:
    # given the binary model and Clarify's JSON Lines request records
    model, samples = binary
    body = _json_lines(samples)
    with ModelServer(model.predict_proba, FEATURES) as server:
        # when posted asking for JSON Lines back
        response = _post(server, body, "application/jsonlines", "application/jsonlines")
        expected = served_scores(model, server, body, "application/jsonlines", samples)
    # then every line is {"predicted_label": ..., "probability": ...} and nothing more
    assert response.headers["Content-Type"] == "application/jsonlines", response.headers
    records = [json.loads(line) for line in response.text.splitlines()]
    assert all(set(r) == {"predicted_label", "probability"} for r in records), records[0]
    assert [r["predicted_label"] for r in records] == list(expected.argmax(axis=1)), records
    probabilities = np.array([r["probability"] for r in records])
    assert np.array_equal(probabilities, expected[:, 1]), "positive-class probability, exact"


def test_json_lines_reads_a_custom_key_and_named_features(three_classes) -> None:
    # given a content template {"myfeatures": ...} and records holding name -> value objects
    model, samples = three_classes
    body = "".join(
        json.dumps({"myfeatures": dict(zip(FEATURES[::-1], row[::-1], strict=True))}) + "\n"
        for row in samples.to_numpy()
    ).encode()
    labels = ["a", "b", "c"]
    with ModelServer(
        model.predict_proba,
        FEATURES,
        features_key="myfeatures",
        default_accept="application/jsonlines",
        labels=labels,
    ) as server:
        # when posted with the default response type
        response = _post(server, body, "application/jsonlines; charset=utf-8")
        expected = served_scores(model, server, body, "application/jsonlines", samples)
    # then features are matched by name and the multi-class record lists every probability
    records = [json.loads(line) for line in response.text.splitlines()]
    assert np.array_equal([r["probabilities"] for r in records], expected), "all scores"
    assert [r["probability"] for r in records] == list(expected.max(axis=1)), records
    assert [r["predicted_label"] for r in records] == [
        labels[i] for i in expected.argmax(axis=1)
    ], records


def test_parquet_request_uses_the_columns_by_name(binary) -> None:
    # given a Parquet file with the feature columns in another order and an extra column
    model, samples = binary
    table = samples[FEATURES[::-1]].assign(id=range(len(samples)))
    buffer = io.BytesIO()
    table.to_parquet(buffer)
    with ModelServer(model.predict_proba, FEATURES, csv_layout="scores") as server:
        # when posted as application/x-parquet
        response = _post(server, buffer.getvalue(), "application/x-parquet", "text/csv")
        expected = served_scores(model, server, buffer.getvalue(), "application/x-parquet", samples)
    # then the scores are the model's on the right columns, exact
    parsed = np.array([[float(v) for v in line.split(",")] for line in response.text.splitlines()])
    assert np.array_equal(parsed, expected), "scores from Parquet, exact"
    assert server.rows_received == [7], server.rows_received


def test_unknown_content_type_is_415_and_bad_bodies_are_400(binary) -> None:
    model, samples = binary
    with ModelServer(model.predict_proba, FEATURES) as server:
        unsupported = _post(server, b"<rows/>", "application/xml")
        too_narrow = _post(server, b"1.0, 2.0\n", "text/csv")
        not_json = _post(server, b"not json\n", "application/jsonlines")
        not_acceptable = _post(server, _csv(samples), "text/csv", accept="application/xml")
    assert unsupported.status_code == 415 and "application/xml" in unsupported.text, (
        unsupported.text
    )
    assert too_narrow.status_code == 400 and "expected 4" in too_narrow.text, too_narrow.text
    assert not_json.status_code == 400 and "record 1" in not_json.text, not_json.text
    assert not_acceptable.status_code == 406, not_acceptable.text
    assert server.requests == 4 and server.rows_received == [], "rejected bodies hold no rows"


@pytest.mark.parametrize("status", [500, 503, 429])
def test_fail_first_answers_the_status_then_recovers(binary, status) -> None:
    # given a server told to fail its first two requests
    model, samples = binary
    with ModelServer(model.predict_proba, FEATURES) as server:
        server.fail_first(2, status=status)
        # when the same batch is posted three times
        statuses = [_post(server, _csv(samples), "text/csv") for _ in range(3)]
    # then two failures, then the answer; every attempt was received
    assert [r.status_code for r in statuses] == [status, status, 200], statuses
    assert len(statuses[2].text.splitlines()) == 7, statuses[2].text
    assert server.requests == 3 and server.rows_received == [7, 7, 7], server.rows_received
    if status == 429:
        assert statuses[0].headers["Retry-After"] == "0", statuses[0].headers


def test_fail_always_until_reset(binary) -> None:
    model, samples = binary
    with ModelServer(model.predict_proba, FEATURES) as server:
        server.fail_always(status=502)
        failed = [_post(server, _csv(samples), "text/csv").status_code for _ in range(3)]
        server.reset()
        recovered = _post(server, _csv(samples), "text/csv").status_code
    assert failed == [502, 502, 502] and recovered == 200, (failed, recovered)


def test_delay_trips_a_client_timeout_and_close_does_not_wait_for_it(binary) -> None:
    # given a server that sleeps 30 s before answering
    model, samples = binary
    server = ModelServer(model.predict_proba, FEATURES)
    with server:
        server.delay(30)
        # when a client waits at most 0.2 s
        with pytest.raises(requests.Timeout):
            _post(server, _csv(samples), "text/csv", timeout=0.2)
        start = time.monotonic()
    # then the client timed out, and leaving the context woke the sleeping handler at once
    assert time.monotonic() - start < 2, "close must not wait for the delay"
    assert server.requests == 1, server.requests


def test_delay_below_the_timeout_still_answers(binary) -> None:
    model, samples = binary
    with ModelServer(model.predict_proba, FEATURES) as server:
        server.delay(0.05)
        start = time.monotonic()
        response = _post(server, _csv(samples), "text/csv")
    assert response.status_code == 200 and time.monotonic() - start >= 0.05, "slow but answered"


def test_short_response_drops_the_last_row(binary) -> None:
    model, samples = binary
    with ModelServer(model.predict_proba, FEATURES) as server:
        server.short_response()
        csv = _post(server, _csv(samples), "text/csv")
        lines = _post(
            server, _json_lines(samples), "application/jsonlines", "application/jsonlines"
        )
    assert csv.status_code == 200 and len(csv.text.splitlines()) == 6, csv.text
    assert lines.status_code == 200 and len(lines.text.splitlines()) == 6, lines.text


def test_garbage_and_wrong_content_type_are_200s(binary) -> None:
    model, samples = binary
    with ModelServer(model.predict_proba, FEATURES) as server:
        server.garbage()
        garbage = _post(
            server, _json_lines(samples), "application/jsonlines", "application/jsonlines"
        )
        server.reset()
        server.wrong_content_type()
        html = _post(server, _csv(samples), "text/csv")
    assert garbage.status_code == 200 and garbage.text == "<html>oops</html>", garbage.text
    assert garbage.headers["Content-Type"] == "application/jsonlines", "the expected type"
    assert html.status_code == 200 and html.headers["Content-Type"] == "text/html", html.headers
    assert html.text.startswith("<html>"), html.text


def test_a_session_reuses_one_connection(binary) -> None:
    # given one requests.Session (a keep-alive connection pool)
    model, samples = binary
    with ModelServer(model.predict_proba, FEATURES) as server, requests.Session() as session:
        # when it posts three times
        for _ in range(3):
            response = session.post(
                server.url, data=_csv(samples), headers={"Content-Type": "text/csv"}, timeout=5
            )
            assert response.headers["Content-Length"] == str(len(response.content)), "framed"
        ports = {received.client_port for received in server.received}
    # then the server saw all three on the same client connection
    assert server.requests == 3 and len(ports) == 1, ports


def test_concurrent_clients_are_all_counted(binary) -> None:
    # given eight threads posting five batches each, while a fault is switched on and off
    model, samples = binary
    results: list[int] = []
    with ModelServer(model.predict_proba, FEATURES) as server:
        server.fail_first(3, status=503)

        def client() -> None:
            with requests.Session() as session:
                for size in range(1, 6):
                    response = session.post(
                        server.url,
                        data=_csv(samples.iloc[:size]),
                        headers={"Content-Type": "text/csv"},
                        timeout=5,
                    )
                    results.append(response.status_code)

        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    # then every request was counted once and exactly three were failed
    assert server.requests == 40 and len(results) == 40, server.requests
    assert results.count(503) == 3 and results.count(200) == 37, results
    assert sorted(server.rows_received) == sorted(list(range(1, 6)) * 8), server.rows_received


def _raw_exchange(server: ModelServer, body: bytes) -> tuple[bytes, bytes]:
    """POST over a bare socket: (everything the server sent, the body it announced the length of).

    A bare socket, because requests refuses a body shorter than its Content-Length.
    """
    host, port = server.url.removeprefix("http://").split("/")[0].split(":")
    request = (
        f"POST /invocations HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/csv\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):  # until the server closes the connection
            received += chunk
    return received.partition(b"\r\n\r\n")[0], received.partition(b"\r\n\r\n")[2]


def test_truncated_response_sends_half_the_announced_body_then_closes(binary) -> None:
    # given a server cutting its responses short
    model, samples = binary
    with ModelServer(model.predict_proba, FEATURES) as server:
        whole = _post(server, _csv(samples), "text/csv").content
        server.truncated_response()
        # when a client posts and reads until the connection closes
        head, body = _raw_exchange(server, _csv(samples))
        # then requests (urllib3) sees the shortfall
        with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
            _post(server, _csv(samples), "text/csv")
    # then the status and the whole body's Content-Length came, but half the body and an EOF
    assert head.startswith(b"HTTP/1.1 200"), head
    assert f"Content-Length: {len(whole)}".encode() in head, head
    assert body == whole[: len(whole) // 2], (body, whole)


def test_dropped_connection_closes_without_an_answer(binary) -> None:
    model, samples = binary
    with ModelServer(model.predict_proba, FEATURES) as server:
        server.drop_connection()
        head, body = _raw_exchange(server, _csv(samples))
        with pytest.raises(requests.ConnectionError):
            _post(server, _csv(samples), "text/csv")
    assert head == b"" and body == b"", "no status line, no body"
    assert server.requests == 2 and server.rows_received == [7, 7], "both were read"


def test_a_schedule_gives_one_fault_per_request_in_arrival_order(binary) -> None:
    # given a schedule: 503, nothing, truncated, dropped, stalled, 429
    model, samples = binary
    with ModelServer(model.predict_proba, FEATURES) as server:
        server.schedule([503, None, "truncate", "drop", "stall", 429], stall_s=30)
        outcomes: list[object] = []
        for _ in range(7):
            try:
                outcomes.append(_post(server, _csv(samples), "text/csv", timeout=1.5).status_code)
            except requests.RequestException as error:
                outcomes.append(type(error))
        start = time.monotonic()
    # then each request got its fault, then the server answered normally; closing woke the stall
    assert outcomes == [
        503,
        200,
        requests.exceptions.ChunkedEncodingError,
        requests.ConnectionError,
        requests.exceptions.ReadTimeout,
        429,
        200,
    ], outcomes
    assert server.scheduled == 0 and server.requests == 7, server.requests
    assert time.monotonic() - start < 2, "close must not wait for the stalled request"


def test_unknown_scheduled_faults_are_refused(binary) -> None:
    model, _ = binary
    with ModelServer(model.predict_proba, FEATURES) as server:
        with pytest.raises(ValueError, match="unknown fault 'explode'"):
            server.schedule([None, "explode"])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="unknown fault 200"):
            server.schedule([200])
        assert server.scheduled == 0, "nothing of a refused schedule is kept"


def test_a_query_string_is_ignored(binary) -> None:
    model, samples = binary
    with ModelServer(model.predict_proba, FEATURES) as server:
        response = requests.post(
            f"{server.url}?token=abc",
            data=_csv(samples),
            headers={"Content-Type": "text/csv"},
            timeout=5,
        )
    assert response.status_code == 200 and len(response.text.splitlines()) == 7, response.text
