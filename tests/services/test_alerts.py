from __future__ import annotations

from explainops.services.alerts import LogAlerter, Notification, WebhookAlerter

NOTIFICATION = Notification(
    job="ExplanationsJob",
    status="succeeded",
    model="m",
    version=3,
    n_samples=10,
    duration_s=1.5,
    top_features=[("label0", "age", 0.5)],
    max_additivity_error=1e-12,
    outputs={"samples": "/tmp/s.csv"},
)


def test_webhook_retries_server_errors_then_delivers(webhook_receiver) -> None:
    # given a webhook that fails twice with 500 then accepts
    webhook_receiver.statuses.extend([500, 503])
    alerter = WebhookAlerter(url=webhook_receiver.url, max_retries=3, backoff_s=0.01)
    # when notified
    delivered = alerter.notify(NOTIFICATION)
    # then it retried and the third body arrived with the metrics
    assert delivered, "delivered on the third attempt"
    assert len(webhook_receiver.bodies) == 3, "two retries"
    body = webhook_receiver.bodies[-1]
    # Exact: the importance is passed through to JSON unchanged.
    assert body["top_features"] == [{"label": "label0", "feature": "age", "importance": 0.5}], body
    assert "explainops ExplanationsJob succeeded for m v3" in body["text"], body["text"]


def test_webhook_client_errors_are_not_retried_and_only_logged(webhook_receiver, caplog) -> None:
    webhook_receiver.statuses.extend([404])
    delivered = WebhookAlerter(url=webhook_receiver.url, backoff_s=0.01).notify(NOTIFICATION)
    assert not delivered and len(webhook_receiver.bodies) == 1, "a 404 is final"
    assert (
        "notification failed: POST" in caplog.text and "HTTP 404 after 1 attempt(s)" in caplog.text
    )


def test_webhook_url_comes_from_the_environment(webhook_receiver, monkeypatch) -> None:
    monkeypatch.setenv("EXPLAINOPS_WEBHOOK_URL", webhook_receiver.url)
    assert WebhookAlerter().notify(NOTIFICATION), "URL read from $EXPLAINOPS_WEBHOOK_URL"
    monkeypatch.delenv("EXPLAINOPS_WEBHOOK_URL")
    assert not WebhookAlerter().notify(NOTIFICATION), "no URL: logged, not raised"


def test_log_alerter_writes_the_summary(caplog) -> None:
    caplog.set_level("INFO")
    assert LogAlerter().notify(NOTIFICATION), "logging always delivers"
    assert "label0 / age: 0.5" in caplog.text and "samples: /tmp/s.csv" in caplog.text, caplog.text
