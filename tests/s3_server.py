"""A real S3-compatible server on 127.0.0.1 (moto's server mode) and a fresh bucket per test.

One server per session (starting it costs about a second); each test gets a bucket of its own and
an AWS environment that points every client (s3fs, boto3 inside MLflow) at the server: dummy
credentials, ``AWS_ENDPOINT_URL``, and no user configuration, so nothing ever reaches AWS.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Variables that could send a client elsewhere or give it other credentials.
_CLEARED = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "MLFLOW_S3_ENDPOINT_URL",
)


@dataclass(frozen=True)
class S3Bucket:
    """An empty bucket on the local server, and a boto3 client to look inside it."""

    name: str
    endpoint_url: str
    client: Any

    def uri(self, key: str) -> str:
        """``s3://<bucket>/<key>``."""
        return f"s3://{self.name}/{key}"

    def upload(self, local: Path, key: str) -> str:
        """Upload the file ``local`` (or every file under the folder) to ``key``; its URI."""
        files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
        for file in files:
            name = key if file == local else f"{key}/{file.relative_to(local).as_posix()}"
            self.client.upload_file(str(file), self.name, name)
        return self.uri(key)

    def object_keys(self, prefix: str = "") -> list[str]:
        """The keys of the objects (under ``prefix``), sorted."""
        listed = self.client.list_objects_v2(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def body(self, key: str) -> bytes:
        """The bytes of the object at ``key``."""
        return bytes(self.client.get_object(Bucket=self.name, Key=key)["Body"].read())

    def multipart_uploads(self) -> list[str]:
        """Keys of multipart uploads started and neither completed nor aborted."""
        listed = self.client.list_multipart_uploads(Bucket=self.name)
        return [upload["Key"] for upload in listed.get("Uploads", [])]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of moto's S3 server, on 127.0.0.1 at a free port."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[S3Bucket]:
    """A new bucket, with the environment of this test pointing AWS clients at the server."""
    import boto3
    import s3fs

    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    missing = tmp_path_factory.getbasetemp() / "no-aws-config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(missing))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(missing))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no credentials: never ask EC2
    # fsspec keeps one S3FileSystem (its client, endpoint and listings) per set of arguments:
    # a test must not see another's.
    s3fs.S3FileSystem.clear_instance_cache()
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    name = f"test-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name)
    yield S3Bucket(name, s3_endpoint, client)
    s3fs.S3FileSystem.clear_instance_cache()
