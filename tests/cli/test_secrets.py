"""Secrets given through the environment never appear in what explainops prints, logs or writes.

The configs reference them as ``${oc.env:NAME}`` (an endpoint's ``Authorization`` header and URL,
a webhook URL with its token in the query, a tracking URI with user-info) or through
``headers_from_env``. Every scenario runs the CLI in a separate process at ``DEBUG`` level and
searches stdout, stderr, every file under the workspace and every notification the webhook
received for the secret strings: ``validate``, a successful run (real model server, real
webhook), a failed endpoint (HTTP 500, refused connection), a failed webhook (HTTP 500,
unreachable) and an unreachable registry.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from explainops.testing.model_server import ModelServer

from ..conftest import Receiver, RegistryFixture
from .conftest import (
    EXIT_FAILED,
    Workspace,
    closed_port,
    mean_row,
    run_cli,
    wine_samples,
)

pytestmark = pytest.mark.slow

TOKEN = "Bearer s3cr3t-token-XYZ"
API_KEY = "s3cr3t-key-GHI"
HOOK_TOKEN = "s3cr3t-hook-ABC"
URL_PASSWORD = "s3cr3t-url-JKL"
TRACKING_PASSWORD = "s3cr3t-pass-DEF"
SECRETS = ("s3cr3t-token-XYZ", API_KEY, HOOK_TOKEN, URL_PASSWORD, TRACKING_PASSWORD)
SECRET_MARK = "s3cr3t"  # every secret holds it: no part of one may leak either

# A registry that cannot be reached must fail at once, not after MLflow's minutes of retries.
FAST_MLFLOW_HTTP = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"}


@pytest.fixture
def server(test_registry: RegistryFixture) -> Iterator[ModelServer]:
    """The wine forest behind a real HTTP endpoint, answering all three class scores."""
    forest = test_registry.models["wine"]
    features = list(test_registry.wine.columns)
    with ModelServer(forest.predict_proba, features, csv_layout="scores") as running:
        yield running


def job_config(workspace: Workspace, registry: RegistryFixture, tracking_uri: str) -> Path:
    """An ExplanationsJob of the endpoint whose every secret comes from the environment."""
    samples = workspace.data / "samples.csv"
    wine_samples(registry).to_csv(samples, index=False)
    job = {
        "KIND": "ExplanationsJob",
        "inputs_samples": {"KIND": "CsvReader", "path": str(samples), "id_column": "wine_id"},
        "models_explanations": {"KIND": "CsvWriter", "path": str(workspace.out / "models.csv")},
        "samples_explanations": {
            "KIND": "ParquetWriter",
            "path": str(workspace.out / "samples.parquet"),
        },
        "registry": {"name": "wine", "tracking_uri": tracking_uri},
        "loader": {
            "KIND": "EndpointLoader",
            "url": "${oc.env:ENDPOINT_URL}",
            "headers": {"Authorization": "${oc.env:ENDPOINT_TOKEN}"},
            "headers_from_env": {"X-Api-Key": "ENDPOINT_API_KEY"},
            "max_retries": 1,
            "backoff_s": 0.01,
            "timeout_s": 5.0,
        },
        "explainer": {
            "KIND": "KernelExplainer",
            "num_samples": 64,
            "baseline": [mean_row(registry.wine)],
        },
        "alerts": {
            "KIND": "WebhookAlerter",
            "url": "${oc.env:WEBHOOK_URL}",
            "max_retries": 1,
            "backoff_s": 0.01,
            "timeout_s": 5.0,
        },
    }
    return workspace.write_config("job.yaml", {"job": job})


def secret_environment(endpoint_url: str, webhook_url: str) -> dict[str, str | None]:
    return {
        "ENDPOINT_URL": endpoint_url,
        "ENDPOINT_TOKEN": TOKEN,
        "ENDPOINT_API_KEY": API_KEY,
        "WEBHOOK_URL": webhook_url,
        "TRACKING_URI": f"http://explainops:{TRACKING_PASSWORD}@127.0.0.1:{closed_port()}",
        **FAST_MLFLOW_HTTP,
    }


def with_token(url: str) -> str:
    return f"{url}?token={HOOK_TOKEN}"


def with_user_info(url: str) -> str:
    return url.replace("http://", f"http://explainops:{URL_PASSWORD}@", 1)


def run(
    command: str, config: Path, workspace: Workspace, env: dict[str, str | None]
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        [command, str(config), "--no-progress"], cwd=workspace.cwd, env=env, log_level="DEBUG"
    )


def assert_no_secret(
    result: subprocess.CompletedProcess[str],
    workspace: Workspace,
    receiver: Receiver | None = None,
) -> None:
    """No secret in stdout, stderr, any file under the workspace, or any notification."""
    places: dict[str, str] = {"stdout": result.stdout, "stderr": result.stderr}
    for path in sorted(workspace.root.rglob("*")):
        if path.is_file():
            places[str(path.relative_to(workspace.root))] = path.read_bytes().decode(
                "utf-8", errors="replace"
            )
    for number, body in enumerate(receiver.bodies if receiver else [], start=1):
        places[f"notification {number}"] = json.dumps(body)
    leaks = {
        place: [line for line in text.splitlines() if SECRET_MARK in line][:3]
        for place, text in places.items()
        if SECRET_MARK in text
    }
    assert not leaks, f"secrets must not appear anywhere; found in: {leaks}"


def resolved_config(stdout: str) -> dict[str, Any]:
    """The JSON document ``validate`` prints (possibly followed by other lines)."""
    document, _ = json.JSONDecoder().raw_decode(stdout[stdout.index("{") :])
    return dict(document)


def assert_masked(value: str, reference: str, what: str) -> None:
    assert "***" in value or f"${{oc.env:{reference}}}" in value, (
        f"{what} is shown as *** or as its ${{oc.env:{reference}}} reference, got {value!r}"
    )


# --- validate --------------------------------------------------------------------------------


def test_validate_masks_header_values_url_user_info_and_query_values(
    workspace: Workspace,
    test_registry: RegistryFixture,
    server: ModelServer,
    webhook_receiver: Receiver,
) -> None:
    # given a config whose endpoint header, endpoint URL and webhook URL hold secrets
    config = job_config(workspace, test_registry, test_registry.tracking_uri)
    env = secret_environment(with_user_info(server.url), with_token(webhook_receiver.url))

    # when it is validated
    result = run("validate", config, workspace, env)

    # then it is valid, shows where each secret goes, and shows none of them
    assert result.returncode == 0, f"a valid config:\n{result.stderr[-3000:]}"
    assert_no_secret(result, workspace, webhook_receiver)
    job = resolved_config(result.stdout)["job"]
    assert_masked(job["loader"]["headers"]["Authorization"], "ENDPOINT_TOKEN", "the header value")
    assert_masked(job["loader"]["url"], "ENDPOINT_URL", "the endpoint URL's user-info")
    assert_masked(job["alerts"]["url"], "WEBHOOK_URL", "the webhook URL's token")


@pytest.mark.parametrize("given", ["in the config", "with --set"])
def test_validate_hides_a_webhook_url_written_out(
    workspace: Workspace,
    test_registry: RegistryFixture,
    server: ModelServer,
    webhook_receiver: Receiver,
    given: str,
) -> None:
    # given a webhook URL whose path is its token (as Slack's are), written out, not from ${oc.env}
    hook = f"{webhook_receiver.url}/services/T0/B0/{HOOK_TOKEN}"
    config = job_config(workspace, test_registry, test_registry.tracking_uri)
    arguments = ["validate", str(config), "--no-progress"]
    if given == "in the config":
        config.write_text(config.read_text().replace("${oc.env:WEBHOOK_URL}", hook))
    else:
        arguments += ["--set", f"job.alerts.url={hook}"]
    env = secret_environment(server.url, webhook_receiver.url)

    # when it is validated
    result = run_cli(arguments, cwd=workspace.cwd, env=env, log_level="DEBUG")

    # then it is valid and shows the URL as *** (the config file itself holds it: not searched)
    assert result.returncode == 0, f"a valid config:\n{result.stderr[-3000:]}"
    printed = {"stdout": result.stdout, "stderr": result.stderr}
    leaks = {name: text.count(SECRET_MARK) for name, text in printed.items() if SECRET_MARK in text}
    assert not leaks, f"the webhook URL's token was printed: {leaks}"
    assert resolved_config(result.stdout)["job"]["alerts"]["url"] == "***", "the URL, masked"


def test_validate_masks_the_user_info_of_a_tracking_uri(
    workspace: Workspace,
    test_registry: RegistryFixture,
    server: ModelServer,
    webhook_receiver: Receiver,
) -> None:
    # given a registry behind an HTTP tracking server whose URI carries a password
    config = job_config(workspace, test_registry, "${oc.env:TRACKING_URI}")
    env = secret_environment(server.url, with_token(webhook_receiver.url))

    # when it is validated (the tracking server is down: validate may report it)
    result = run("validate", config, workspace, env)

    # then the password appears nowhere, whether validate passed or named the registry
    assert_no_secret(result, workspace, webhook_receiver)
    if result.returncode == 0:
        job = resolved_config(result.stdout)["job"]
        assert_masked(job["registry"]["tracking_uri"], "TRACKING_URI", "the tracking URI")
    else:
        assert result.returncode == EXIT_FAILED, f"a registry failure:\n{result.stderr[-3000:]}"


# --- runs ------------------------------------------------------------------------------------


def test_successful_run_shows_no_secret(
    workspace: Workspace,
    test_registry: RegistryFixture,
    server: ModelServer,
    webhook_receiver: Receiver,
) -> None:
    # given the endpoint and the webhook up
    config = job_config(workspace, test_registry, test_registry.tracking_uri)
    env = secret_environment(server.url, with_token(webhook_receiver.url))

    # when the job runs
    result = run("run", config, workspace, env)

    # then it used every secret, wrote its outputs and notified, and showed no secret
    assert result.returncode == 0, f"the run succeeds:\n{result.stderr[-3000:]}"
    headers = server.received[0].headers
    assert headers.get("Authorization") == TOKEN, "the header from ${oc.env:...} was sent"
    assert headers.get("X-Api-Key") == API_KEY, "the header from headers_from_env was sent"
    assert [body["status"] for body in webhook_receiver.bodies] == ["succeeded"], "notified once"
    assert (workspace.out / "samples.parquet").read_bytes().startswith(b"PAR1"), "outputs written"
    assert_no_secret(result, workspace, webhook_receiver)


@pytest.mark.parametrize("failure", ["http-500", "connection-refused"])
def test_failed_endpoint_shows_no_secret(
    failure: str,
    workspace: Workspace,
    test_registry: RegistryFixture,
    server: ModelServer,
    webhook_receiver: Receiver,
) -> None:
    # given an endpoint answering 500, or refusing connections at a URL with user-info
    if failure == "http-500":
        server.fail_always(500)
        url = server.url
    else:
        url = with_user_info(f"http://127.0.0.1:{closed_port()}/invocations")
    config = job_config(workspace, test_registry, test_registry.tracking_uri)
    env = secret_environment(url, with_token(webhook_receiver.url))

    # when the job runs
    result = run("run", config, workspace, env)

    # then it fails, notifies the failure, and shows no secret in the error or the notification
    assert result.returncode == EXIT_FAILED, f"an endpoint failure:\n{result.stderr[-3000:]}"
    if failure == "http-500":
        assert server.received[0].headers.get("Authorization") == TOKEN, "the header was sent"
    assert [body["status"] for body in webhook_receiver.bodies] == ["failed"], "failure notified"
    assert_no_secret(result, workspace, webhook_receiver)


@pytest.mark.parametrize("failure", ["http-500", "unreachable"])
def test_failed_webhook_shows_no_secret(
    failure: str,
    workspace: Workspace,
    test_registry: RegistryFixture,
    server: ModelServer,
    webhook_receiver: Receiver,
) -> None:
    # given a webhook answering 500 to every attempt, or nothing listening at its URL
    if failure == "http-500":
        webhook_receiver.statuses.extend([500, 500])
        webhook_url = with_token(webhook_receiver.url)
    else:
        webhook_url = with_token(f"http://127.0.0.1:{closed_port()}/hook")
    config = job_config(workspace, test_registry, test_registry.tracking_uri)
    env = secret_environment(server.url, webhook_url)

    # when the job runs
    result = run("run", config, workspace, env)

    # then the job succeeds, the failed notification is logged, and no secret shows
    assert result.returncode == 0, f"a failed notification never fails the job:\n{result.stderr}"
    assert "notification failed" in result.stderr, "the failed notification is logged"
    if failure == "http-500":
        assert len(webhook_receiver.bodies) == 2, "the webhook was tried twice (max_retries 1)"
    assert_no_secret(result, workspace, webhook_receiver)


def test_unreachable_registry_shows_no_tracking_password(
    workspace: Workspace,
    test_registry: RegistryFixture,
    server: ModelServer,
    webhook_receiver: Receiver,
) -> None:
    # given a tracking server URI with a password, and nothing listening there
    config = job_config(workspace, test_registry, "${oc.env:TRACKING_URI}")
    env = secret_environment(server.url, with_token(webhook_receiver.url))

    # when the job runs
    result = run("run", config, workspace, env)

    # then it fails naming the registry, and the password appears nowhere
    assert result.returncode == EXIT_FAILED, f"a registry failure:\n{result.stderr[-3000:]}"
    assert [body["status"] for body in webhook_receiver.bodies] == ["failed"], "failure notified"
    assert_no_secret(result, workspace, webhook_receiver)
