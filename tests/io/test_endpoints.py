"""EndpointLoader against a real HTTP model server on 127.0.0.1, with injected faults.

The server predicts the rows of each request as one batch, so a score can differ in the last bit
from the same row's score in a local call on a differently shaped batch (BLAS rounds differently
for other shapes on some CPUs). Such comparisons use ``ROUNDING``, a tolerance a few ulps wide
that any real defect (a shifted row, a wrong column, a lost digit) exceeds by far. Exact equality
is kept where both sides did the very same computation, and each such test says why.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from explainops.core.explainer_settings import KernelExplainerSettings
from explainops.core.pipeline import explain_dataset
from explainops.errors import ConfigError, EndpointError
from explainops.explainers import KernelExplainer, kernel
from explainops.io.datasets import CsvReader
from explainops.io.endpoints import EndpointLoader, display_url, encode_rows
from explainops.testing.model_server import ModelServer, ScheduledFault

FEATURES = ["feature_1", "feature_2", "feature_3"]
# Scores are probabilities in [0, 1]: a few ulps of rounding, relative, or 1e-15 near zero.
ROUNDING = {"rtol": 1e-12, "atol": 1e-15}
# SHAP values are differences of scores: their rounding is absolute, about 1e-16 per ulp.
SHAP_ROUNDING = {"rtol": 1e-12, "atol": 1e-14}


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    """A binary logistic regression on three features."""
    rng = np.random.default_rng(0)
    x = rng.random((300, 3))
    y = (x @ np.array([2.0, -1.0, 0.5]) + rng.normal(0, 0.3, 300) > 0.6).astype(int)
    return LogisticRegression().fit(pd.DataFrame(x, columns=FEATURES), y)


@pytest.fixture(scope="module")
def samples() -> pd.DataFrame:
    """Rows to explain."""
    return pd.DataFrame(np.random.default_rng(1).random((23, 3)), columns=FEATURES)


@pytest.fixture
def server(model: LogisticRegression) -> Iterator[ModelServer]:
    """The model served like a SageMaker endpoint: CSV answers ``label,probability``."""
    with ModelServer(model.predict_proba, FEATURES, labels=model.classes_) as running:
        yield running


def loader(server: ModelServer, **options: Any) -> EndpointLoader:
    """A fast-failing loader for ``server``."""
    settings: dict[str, Any] = {
        "url": server.url,
        "probability_attribute": 1,
        "batch_size": 5,
        "backoff_s": 0.01,
        "timeout_s": 5.0,
    }
    return EndpointLoader(**(settings | options))


def explain(predict: Any, samples: pd.DataFrame) -> Any:
    """Kernel SHAP of the positive class against a 4-row baseline, 2^3 coalitions (exact)."""
    baseline = samples.iloc[:4]
    explainer = KernelExplainer(baseline, num_samples=100, seed=3)
    return explainer.explain(predict, samples)


@pytest.mark.parametrize(
    ("content_type", "accept_type", "attribute"),
    [
        ("text/csv", "text/csv", 1),
        ("application/jsonlines", "application/jsonlines", "probability"),
        ("application/x-parquet", "text/csv", 1),
    ],
)
def test_endpoint_explanations_equal_in_process_explanations(
    server: ModelServer,
    model: LogisticRegression,
    samples: pd.DataFrame,
    content_type: str,
    accept_type: str,
    attribute: int | str,
) -> None:
    # given the same model in process and behind the endpoint
    endpoint = loader(
        server,
        content_type=content_type,
        accept_type=accept_type,
        probability_attribute=attribute,
        max_concurrency=3,
    ).load(None)

    # when both are explained
    remote = explain(endpoint.predict, samples)
    local = explain(lambda frame: model.predict_proba(frame)[:, 1], samples)

    # then the SHAP values agree to the last bits (the server predicts other batch shapes)
    np.testing.assert_allclose(remote.values, local.values, **SHAP_ROUNDING)
    np.testing.assert_allclose(remote.predictions, local.predictions, **ROUNDING)
    assert max(server.rows_received) <= 5, "requests must carry at most batch_size rows"
    assert server.received[0].content_type.startswith(content_type), "content type sent"


def test_csv_scores_without_attribute_are_all_outputs(
    model: LogisticRegression, samples: pd.DataFrame
) -> None:
    # given a server answering every class's score
    with ModelServer(model.predict_proba, FEATURES, csv_layout="scores") as server:
        # when the loader reads whole rows
        scores = loader(server, probability_attribute=None).load(None).predict(samples)

    # then every output comes back in order (the server predicted batches of 5, the test all 23
    # rows at once: rounding may differ in the last bit)
    np.testing.assert_allclose(
        scores, model.predict_proba(samples), **ROUNDING, err_msg="scores in row order"
    )


def test_json_lines_template_and_auth_header_from_environment(
    model: LogisticRegression, samples: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an endpoint expecting {"myfeatures": [...]} and a token in the environment
    monkeypatch.setenv("ENDPOINT_TOKEN", "Bearer s3cret")
    with ModelServer(model.predict_proba, FEATURES, features_key="myfeatures") as server:
        endpoint = loader(
            server,
            content_type="application/jsonlines",
            content_template='{"myfeatures":$features}',
            probability_attribute="probability",
            headers_from_env={"Authorization": "ENDPOINT_TOKEN"},
        ).load(None)

        # when it predicts
        scores = endpoint.predict(samples)

    # then the template and the header were used (scores as above: other batch shapes)
    np.testing.assert_allclose(
        scores[:, 0], model.predict_proba(samples)[:, 1], **ROUNDING, err_msg="scores"
    )
    assert server.received[0].headers.get("Authorization") == "Bearer s3cret", "auth header"
    assert server.received[0].body.startswith(b'{"myfeatures":['), "template applied"


def test_missing_environment_variable_is_a_config_error(server: ModelServer) -> None:
    with pytest.raises(ConfigError, match="ENDPOINT_TOKEN_MISSING is not set"):
        loader(server, headers_from_env={"Authorization": "ENDPOINT_TOKEN_MISSING"}).load(None)


def test_server_errors_are_retried_with_the_same_result(
    server: ModelServer, samples: pd.DataFrame
) -> None:
    # given a server failing its first three requests with 500 and 429
    endpoint = loader(server, max_concurrency=1).load(None)
    expected = endpoint.predict(samples)
    server.fail_first(2, status=500)
    requests_before = server.requests

    # when the rows are scored again
    scores = endpoint.predict(samples)

    # then the failed requests were retried and the result is unchanged: bit for bit, since the
    # same rows went in the same requests to the same model
    np.testing.assert_array_equal(scores, expected, "retried result must equal the clean one")
    assert server.requests - requests_before == 5 + 2, "5 batches + 2 retries"
    server.fail_first(1, status=429)
    np.testing.assert_array_equal(endpoint.predict(samples), expected, "429 is retried too")


def test_permanent_server_error_is_one_line_naming_url_batch_rows_status_and_attempts(
    server: ModelServer, samples: pd.DataFrame
) -> None:
    server.fail_always(500)
    endpoint = loader(server, max_retries=2, max_concurrency=1).load(None)
    with pytest.raises(EndpointError) as raised:
        endpoint.predict(samples)
    assert str(raised.value) == (
        f"{server.url}: request batch 1 (sample rows 0-4): "
        "HTTP 500 Internal Server Error: injected failure 500 (after 3 attempts)"
    ), "the URL, the batch, its sample rows, the status with the body, and the attempts"


def test_client_errors_are_not_retried(server: ModelServer, samples: pd.DataFrame) -> None:
    server.fail_always(403)
    endpoint = loader(server, max_concurrency=1).load(None)
    with pytest.raises(EndpointError, match="HTTP 403"):
        endpoint.predict(samples.head(3))
    assert server.requests == 1, "a 4xx other than 429 must not be retried"


def test_timeout_is_retried_then_reported(server: ModelServer, samples: pd.DataFrame) -> None:
    server.delay(1.0)
    endpoint = loader(server, timeout_s=0.2, max_retries=1, max_concurrency=1).load(None)
    with pytest.raises(EndpointError, match=r"no response within 0.2s \(after 2 attempts\)"):
        endpoint.predict(samples.head(3))


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("short_response", r"\(sample rows 0-4\): response has 4 rows, expected 5"),
        ("garbage", r"response has 1 rows, expected 5"),
        ("wrong_content_type", r"response Content-Type 'text/html', expected 'text/csv'"),
    ],
)
def test_malformed_responses_are_errors_never_shifted_rows(
    server: ModelServer, samples: pd.DataFrame, fault: str, message: str
) -> None:
    getattr(server, fault)()
    endpoint = loader(server, max_concurrency=1).load(None)
    with pytest.raises(EndpointError, match=message):
        endpoint.predict(samples)


def test_unparsable_values_and_missing_attributes_are_named(
    server: ModelServer, samples: pd.DataFrame
) -> None:
    server.garbage()
    single_row = loader(server).load(None)
    with pytest.raises(EndpointError, match=r"response row 1 has 1 columns, no column 1"):
        single_row.predict(samples.head(1))
    server.reset()
    missing = loader(
        server,
        content_type="application/jsonlines",
        probability_attribute="score",
    ).load(None)
    with pytest.raises(EndpointError, match=r"response row 1 has no 'score'"):
        missing.predict(samples.head(2))


@pytest.mark.parametrize("score", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_a_score_that_is_not_a_finite_number_is_an_error_naming_its_row(
    model: LogisticRegression, samples: pd.DataFrame, score: float
) -> None:
    # given an endpoint answering `score` for the positive class of the third sample only
    third = samples.iloc[2]

    def predict(frame: pd.DataFrame) -> Any:
        scores = model.predict_proba(frame)
        scores[(frame == third).all(axis=1).to_numpy(), 1] = score
        return scores

    with ModelServer(predict, FEATURES, csv_layout="scores") as server:
        both = loader(server, max_retries=0, probability_attribute=None).load(None)
        positive = loader(server, max_retries=0, probability_attribute=1).load(None)
        # when the samples are scored, both classes' scores or the positive class's only
        with pytest.raises(EndpointError) as both_raised:
            both.predict(samples.head(4))
        with pytest.raises(EndpointError) as positive_raised:
            positive.predict(samples.head(4))

    # then one line names the request, the response row and the score, and says what was expected
    for raised, which in ((both_raised, "score 2 of 2"), (positive_raised, "the score")):
        message = str(raised.value)
        assert message == (
            f"{server.url}: request batch 1 (sample rows 0-3): "
            f"response row 3: {which} is {score}, expected a finite number"
        ), message


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"content_template must contain \$features"):
        EndpointLoader(
            url="http://127.0.0.1:1/", content_type="application/jsonlines", content_template="{}"
        )
    with pytest.raises(ValueError, match="column index for text/csv"):
        EndpointLoader(url="http://127.0.0.1:1/", probability_attribute="probability")


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_refused_connection_is_one_short_line(samples: pd.DataFrame) -> None:
    # given an endpoint nothing listens on
    url = f"http://127.0.0.1:{free_port()}/invocations"
    endpoint = EndpointLoader(url=url, max_retries=1, backoff_s=0.01).load(None)

    # when rows are scored
    with pytest.raises(EndpointError) as raised:
        endpoint.predict(samples.head(2))

    # then the error says so in a few words, not requests' nested exception text
    assert str(raised.value) == (
        f"{url}: request batch 1 (sample rows 0-1): connection refused (after 2 attempts)"
    ), "one short line"
    assert raised.value.__cause__ is None, "no chained exception repeating requests' text"


@pytest.mark.parametrize("faults", [["truncate"], ["truncate", "truncate", "truncate"]])
def test_truncated_response_is_retried_like_a_503(
    server: ModelServer, samples: pd.DataFrame, faults: list[ScheduledFault]
) -> None:
    # given an endpoint whose next responses are cut short (half the Content-Length, then EOF)
    endpoint = loader(server, max_concurrency=1).load(None)
    expected = endpoint.predict(samples)
    requests_before = server.requests
    server.schedule(faults)

    # when the rows are scored again
    scores = endpoint.predict(samples)

    # then each truncated response was retried, and the result is the clean one (bit for bit:
    # the same rows in the same requests)
    np.testing.assert_array_equal(scores, expected, "retried result must equal the clean one")
    assert server.requests - requests_before == 5 + len(faults), "5 batches + one retry a fault"


def test_truncated_responses_fail_after_the_retries_naming_url_and_batch(
    server: ModelServer, samples: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    # given an endpoint that cuts every response short
    server.truncated_response()
    endpoint = loader(server, max_retries=2, max_concurrency=1).load(None)

    # when rows are scored
    with pytest.raises(EndpointError) as raised:
        endpoint.predict(samples.head(3))

    # then after the retries one line names the URL, the batch and how much came
    # ("0,0.4" + ... : three CSV lines, half of them sent)
    message = str(raised.value)
    assert message.startswith(f"{server.url}: request batch 1 (sample rows 0-2): "), message
    assert message.endswith("(after 3 attempts)") and "\n" not in message, message
    got, expected = map(int, message.split("(got ")[1].split(" bytes")[0].split(" of "))
    assert got == expected // 2 and expected > 20, f"half the body: {message}"
    assert server.requests == 3, "retried like a 503"
    retries = [r.getMessage() for r in caplog.records if r.name == "explainops.io.endpoints"]
    assert len(retries) == 2 and all("response truncated" in line for line in retries), retries


def test_many_mixed_faults_give_the_in_process_values(
    server: ModelServer,
    model: LogisticRegression,
    samples: pd.DataFrame,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a clean endpoint run of an explanation, concurrent requests of 8 rows
    settings = {"batch_size": 8, "max_concurrency": 3, "max_retries": 10, "timeout_s": 2.0}
    clean = explain(loader(server, **settings).load(None).predict, samples)
    clean_requests = server.requests
    assert clean_requests == 1 + 3 + 69, "4 baseline, 23 sample and 552 masked rows, 8 a request"

    # and a second run where a schedule, in arrival order, gives 45 of its 118 requests a fault:
    # error statuses, stalls past the client's timeout, dropped connections and truncated bodies
    faults: list[ScheduledFault] = [
        *[503] * 6,
        *[500] * 4,
        *[502] * 4,
        *[504] * 3,
        *[429] * 5,
        *["drop"] * 8,
        *["truncate"] * 13,
        *["stall"] * 2,
    ]
    schedule: list[ScheduledFault] = [*faults, *[None] * 35]
    np.random.default_rng(11).shuffle(schedule)
    server.schedule(schedule)

    # when the explanation runs through the faults
    faulted = explain(loader(server, **settings).load(None).predict, samples)

    # then every fault cost one retry, none was lost, and the values are the clean run's bit for
    # bit (the same requests reached the same model) and the in-process values to the last bits
    assert server.scheduled == 0, "the whole schedule was used"
    assert server.requests - clean_requests == clean_requests + len(faults), (
        f"{clean_requests} requests, each fault retried once"
    )
    retries = [r.getMessage() for r in caplog.records if r.name == "explainops.io.endpoints"]
    assert len(retries) == len(faults), "one retry, logged, a fault"
    for problem in ["HTTP 503", "HTTP 429", "connection", "no response", "response truncated"]:
        assert any(problem in line for line in retries), f"{problem} among {retries}"
    np.testing.assert_array_equal(faulted.values, clean.values, "faults must change nothing")
    local = explain(lambda frame: model.predict_proba(frame)[:, 1], samples)
    np.testing.assert_allclose(faulted.values, local.values, **SHAP_ROUNDING)
    np.testing.assert_allclose(faulted.predictions, local.predictions, **ROUNDING)


def failing_on_masked_rows_of(model: LogisticRegression, sample: pd.Series) -> Any:
    """predict_proba, failing on masked rows that hold ``sample``'s feature_1 but not its feature_2."""

    def predict(frame: pd.DataFrame) -> Any:
        masked = (frame["feature_1"] == sample["feature_1"]) & (
            frame["feature_2"] != sample["feature_2"]
        )
        if masked.any():
            raise ValueError("cannot score this row")
        return model.predict_proba(frame)

    return predict


BASELINE = pd.DataFrame(np.random.default_rng(2).random((4, 3)), columns=FEATURES)


def test_errors_name_the_samples_of_the_masked_rows_in_the_request(
    model: LogisticRegression, samples: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given samples labelled 100..122 (their positions in a data set), Kernel SHAP against 4
    # baseline rows with 6 coalitions (24 model rows a sample, sample-major), in chunks of 3
    # samples, and a model failing on the masked rows of sample 107 (the second of the third
    # chunk) that keep its feature_1 and take feature_2 from the baseline
    labelled = samples.set_axis(range(100, 123))
    monkeypatch.setattr(kernel, "MAX_VALUES_IN_MEMORY", 3 * 6)
    predict = failing_on_masked_rows_of(model, labelled.loc[107])
    with ModelServer(predict, FEATURES, csv_layout="scores") as server:
        endpoint = loader(
            server, batch_size=10, max_retries=0, max_concurrency=1, probability_attribute=1
        ).load(None)
        explainer = KernelExplainer(BASELINE, num_samples=100, seed=3)

        # when they are explained through the endpoint
        with pytest.raises(EndpointError) as raised:
            explainer.explain(endpoint.predict, labelled)

    # then the error names the samples whose masked rows the failing request held: model rows
    # 20-29 of the chunk's call hold samples 1 (rows 0-23 of sample 0, 24-47 of sample 1) of the
    # chunk starting at sample 6, i.e. labels 106 and 107; not rows of the call
    message = str(raised.value)
    assert message.startswith(f"{server.url}: request batch "), message
    assert " (sample rows 106-107): HTTP 500 Internal Server Error: model failed: " in message, (
        message
    )
    assert message.endswith("(after 1 attempt)") and "\n" not in message, message


def test_errors_of_baseline_requests_name_baseline_rows(
    server: ModelServer, samples: pd.DataFrame
) -> None:
    # given an endpoint failing every request; the explainer first scores its baseline
    server.fail_always(503)
    endpoint = loader(server, max_retries=0, max_concurrency=1).load(None)
    explainer = KernelExplainer(BASELINE.iloc[:3], num_samples=100, seed=3)

    # when samples are explained
    with pytest.raises(EndpointError) as raised:
        explainer.explain(endpoint.predict, samples)

    # then the failing request is named by the baseline rows it held
    assert str(raised.value) == (
        f"{server.url}: request batch 1 (baseline rows 0-2): "
        "HTTP 503 Service Unavailable: injected failure 503 (after 1 attempt)"
    ), "baseline rows, not sample rows"


def test_a_frame_scored_outside_an_explainer_is_named_by_its_index(
    server: ModelServer, samples: pd.DataFrame
) -> None:
    # given rows picked from a data set (as a job's preview of a random sample of rows)
    picked = samples.iloc[:5].set_axis([834, 12, 5551, 9, 4])
    server.fail_always(500)
    endpoint = loader(server, max_retries=0).load(None)
    with pytest.raises(EndpointError, match=r"\(sample rows 834, 12, 5551 and 2 more\): HTTP"):
        endpoint.predict(picked)


def test_pipeline_errors_name_positions_in_the_data_set(
    tmp_path: Path, model: LogisticRegression, samples: pd.DataFrame
) -> None:
    # given 23 samples in a CSV file read in batches of 10, and a model failing on the masked
    # rows of the sample at position 13 (the 4th of the second batch)
    samples.to_csv(tmp_path / "samples.csv", index=False)
    reader = CsvReader(path=str(tmp_path / "samples.csv"), batch_size=10)
    predict = failing_on_masked_rows_of(model, samples.iloc[13])
    settings = KernelExplainerSettings(
        baseline=BASELINE.to_numpy().tolist(), num_samples=100, seed=3
    )
    with ModelServer(predict, FEATURES, csv_layout="scores") as server:
        endpoint = loader(server, batch_size=10, max_retries=0, max_concurrency=1).load(None)

        # when the data set is explained
        with pytest.raises(EndpointError) as raised:
            explain_dataset(reader, None, endpoint, settings)

    # then the error names positions in the data set: model rows 70-79 of the second batch's call
    # hold its samples 2 and 3 (24 rows each), positions 12 and 13
    assert "(sample rows 12-13): HTTP 500" in str(raised.value), str(raised.value)


class EchoingServer:
    """An endpoint on 127.0.0.1 answering every POST with ``status`` and its Authorization and path."""

    def __init__(self, status: int = 500) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = f"denied {self.headers.get('Authorization')} at {self.path}".encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/invocations"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def __enter__(self) -> EchoingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.shutdown()
        self._http.server_close()


def test_no_header_value_user_info_or_query_appears_in_errors_or_logs(
    model: LogisticRegression,
    samples: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given an endpoint URL with user-info and a query token, a secret header from the
    # environment, and a server that echoes the request's headers in its error body
    monkeypatch.setenv("ENDPOINT_TOKEN", "Bearer tok-from-env-1234")
    secrets = ["tok-from-env-1234", "hunter22", "query-secret-99", "x-api-key-5678", "alice"]
    with ModelServer(model.predict_proba, FEATURES) as server:
        server.fail_always(502)
        host = server.url.removeprefix("http://")
        url = f"http://alice:hunter22@{host}?token=query-secret-99"
        endpoint = loader(
            server,
            url=url,
            headers={"X-Api-Key": "x-api-key-5678"},
            headers_from_env={"Authorization": "ENDPOINT_TOKEN"},
            max_retries=1,
        ).load(None)
        echoing = EchoingServer()
        echo = loader(
            server,
            url=f"{echoing.url}?token=query-secret-99",
            headers_from_env={"Authorization": "ENDPOINT_TOKEN"},
            max_retries=0,
        ).load(None)

        # when requests fail (retried, then given up) against both
        with pytest.raises(EndpointError) as failed:
            endpoint.predict(samples.head(2))
        with echoing, pytest.raises(EndpointError) as echoed:
            echo.predict(samples.head(2))
        answering = EchoingServer(status=200)  # a 200 whose body is not scores
        unparsable = loader(
            server,
            url=answering.url,
            headers_from_env={"Authorization": "ENDPOINT_TOKEN"},
            probability_attribute=None,
        ).load(None)
        with answering, pytest.raises(EndpointError) as quoted:
            unparsable.predict(samples.head(1))

    # then the secrets reached the servers but appear in no error and no log line (requests
    # sends the URL's user-info as the Authorization header)
    assert server.received[0].headers["X-Api-Key"] == "x-api-key-5678", "the header was sent"
    errors = [str(failed.value), str(echoed.value), str(quoted.value)]
    texts = [*errors, *(r.getMessage() for r in caplog.records)]
    leaks = [(secret, text) for text in texts for secret in secrets if secret in text]
    assert not leaks, leaks
    assert str(failed.value).startswith(f"{server.url}: request batch "), "scheme://host:port/path"
    assert "***" in str(echoed.value), f"an echoed secret is masked: {echoed.value}"
    assert "is not a number" in str(quoted.value), f"the body is quoted: {quoted.value}"
    assert "***" in str(quoted.value), f"masked in a quoted body too: {quoted.value}"


def test_display_url_keeps_scheme_host_port_and_path_only() -> None:
    assert display_url("https://bob:pw@example.com:8443/a/b?token=x#frag") == (
        "https://example.com:8443/a/b"
    ), "user-info, query and fragment dropped"
    assert display_url("http://[::1]:8080/invocations") == "http://[::1]:8080/invocations", "IPv6"
    assert display_url("http://example.com/x") == "http://example.com/x", "no port given"


def test_invalid_header_value_is_a_config_error_without_the_value(
    server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a token read from a file with its trailing newline
    monkeypatch.setenv("ENDPOINT_TOKEN", "Bearer s3cret-token\n")
    with pytest.raises(ConfigError) as raised:
        loader(server, headers_from_env={"Authorization": "ENDPOINT_TOKEN"}).load(None)
    assert "loader.headers_from_env.Authorization" in str(raised.value), str(raised.value)
    assert "s3cret" not in str(raised.value), "the value is never quoted"


def test_request_bodies_are_exact_and_missing_values_are_null() -> None:
    # given rows with awkward floats, and a row with a missing value
    rows = pd.DataFrame({"a": [0.1, 1e-300, np.nan], "b": [1 / 3, 2.0**60, 5.0]})

    # when they are encoded for each request type
    csv = encode_rows(rows.iloc[:2], "text/csv", "")
    jsonl = encode_rows(rows.iloc[:2], "application/jsonlines", '{"f":$features}')
    with_missing = encode_rows(rows, "application/jsonlines", '{"f":$features}')

    # then the numbers read back exactly, and NaN becomes null (NaN is not JSON)
    parsed = [list(map(float, line.split(","))) for line in csv.decode().splitlines()]
    assert parsed == rows.iloc[:2].to_numpy().tolist(), "CSV numbers round-trip exactly"
    records = [json.loads(line)["f"] for line in jsonl.decode().splitlines()]
    assert records == rows.iloc[:2].to_numpy().tolist(), "JSON numbers round-trip exactly"
    last = json.loads(with_missing.decode().splitlines()[2])
    assert last == {"f": [None, 5.0]}, "a missing value is null"
