from __future__ import annotations

import logging

from explainops.core.redaction import (
    RedactingFilter,
    mask_url,
    masked_config,
    redact,
    register_secret,
)


def test_registered_secrets_are_masked_in_text_and_log_records() -> None:
    # given a secret read from the environment
    register_secret("tok-redaction-test-1234")
    # when it appears in a message, directly or as a logging argument
    record = logging.LogRecord(
        "explainops",
        logging.ERROR,
        __file__,
        1,
        "POST failed: %s",
        ("tok-redaction-test-1234",),
        None,
    )
    RedactingFilter().filter(record)
    # then it is masked
    assert redact("Bearer tok-redaction-test-1234!") == "Bearer ***!", "masked in text"
    assert record.getMessage() == "POST failed: ***", "masked in log records"


def test_short_values_are_not_treated_as_secrets() -> None:
    register_secret("1")
    assert redact("version 1") == "version 1", "a one-character value would mask every digit"


def test_urls_lose_user_info_and_query_values() -> None:
    assert mask_url("https://bob:pw@host:8443/a/b?token=abc&n=1#frag") == (
        "https://***@host:8443/a/b?token=***&n=***"
    ), "user-info and query values masked, fragment dropped"
    assert mask_url("https://hooks.example.com/services/T0/B1/x", hide_path=True) == (
        "https://hooks.example.com/***"
    ), "a webhook's path is its token"
    assert mask_url("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db", "paths unchanged"


def test_masked_config_hides_headers_and_url_secrets() -> None:
    config = {
        "job": {
            "loader": {"url": "http://127.0.0.1:1/x?key=v", "headers": {"Authorization": "B x"}},
            "registry": {"name": "wine"},
        }
    }
    assert masked_config(config) == {
        "job": {
            "loader": {"url": "http://127.0.0.1:1/x?key=***", "headers": {"Authorization": "***"}},
            "registry": {"name": "wine"},
        }
    }, "header values and query values masked, the rest shown"
