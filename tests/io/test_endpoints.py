"""EndpointLoader against a real HTTP model server on 127.0.0.1, with injected faults."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from explainops.errors import ConfigError, EndpointError
from explainops.explainers import KernelExplainer
from explainops.io.endpoints import EndpointLoader, encode_rows
from explainops.testing.model_server import ModelServer

FEATURES = ["feature_1", "feature_2", "feature_3"]


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

    # then the SHAP values agree to 1e-9, in row order
    np.testing.assert_allclose(remote.values, local.values, atol=1e-9, rtol=0)
    np.testing.assert_allclose(remote.predictions, local.predictions, atol=1e-12, rtol=0)
    assert max(server.rows_received) <= 5, "requests must carry at most batch_size rows"
    assert server.received[0].content_type.startswith(content_type), "content type sent"


def test_csv_scores_without_attribute_are_all_outputs(
    model: LogisticRegression, samples: pd.DataFrame
) -> None:
    # given a server answering every class's score
    with ModelServer(model.predict_proba, FEATURES, csv_layout="scores") as server:
        # when the loader reads whole rows
        scores = loader(server, probability_attribute=None).load(None).predict(samples)

    # then every output comes back in order
    np.testing.assert_array_equal(scores, model.predict_proba(samples), "scores in row order")


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

    # then the template and the header were used
    np.testing.assert_array_equal(scores[:, 0], model.predict_proba(samples)[:, 1], "scores")
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

    # then the failed requests were retried and the result is unchanged
    np.testing.assert_array_equal(scores, expected, "retried result must equal the clean one")
    assert server.requests - requests_before == 5 + 2, "5 batches + 2 retries"
    server.fail_first(1, status=429)
    np.testing.assert_array_equal(endpoint.predict(samples), expected, "429 is retried too")


def test_permanent_server_error_names_the_batch_and_status(
    server: ModelServer, samples: pd.DataFrame
) -> None:
    server.fail_always(500)
    endpoint = loader(server, max_retries=2, max_concurrency=1).load(None)
    with pytest.raises(
        EndpointError, match=r"request batch \d+ \(rows 0-4\): HTTP 500.*3 attempts"
    ):
        endpoint.predict(samples)


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
        ("short_response", r"rows 0-4\): response has 4 rows, expected 5"),
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


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"content_template must contain \$features"):
        EndpointLoader(
            url="http://127.0.0.1:1/", content_type="application/jsonlines", content_template="{}"
        )
    with pytest.raises(ValueError, match="column index for text/csv"):
        EndpointLoader(url="http://127.0.0.1:1/", probability_attribute="probability")


def test_unreachable_endpoint_is_reported(samples: pd.DataFrame) -> None:
    endpoint = EndpointLoader(url="http://127.0.0.1:9/", max_retries=1, backoff_s=0.01).load(None)
    with pytest.raises(EndpointError, match=r"connection failed.*after 2 attempts"):
        endpoint.predict(samples.head(2))


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
