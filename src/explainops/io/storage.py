"""Where files live: local paths and fsspec URIs, and the package each kind of URI needs.

``s3://`` URIs go through s3fs (the ``s3`` extra). Credentials, region and endpoint come from
the usual AWS environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``,
``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL`` or ``AWS_ENDPOINT_URL_S3`` for an S3-compatible
server): botocore reads them itself (the endpoint variables since botocore 1.31), for s3fs as
for MLflow's boto3 client, so explainops passes no storage options of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import fsspec

from explainops.errors import ExplainOpsError, InputError

# The extra of explainops that installs what a protocol needs, where there is one.
_EXTRAS = {"s3": "s3", "s3a": "s3"}


def protocol_of(path: str) -> str:
    """The URI's scheme (``s3``), or ``file`` for a local path."""
    scheme, separator, _ = path.partition("://")
    return scheme.lower() if separator else "file"


def missing_package_message(path: str, error: ImportError) -> str:
    """One line saying which install makes ``path`` readable and writable."""
    protocol = protocol_of(path)
    extra = _EXTRAS.get(protocol)
    if extra is not None:
        return f"{path}: {protocol}:// URIs need s3fs: pip install 'explainops[{extra}]'"
    return f"{path}: {protocol}:// URIs need a package that is not installed ({error})"


@contextlib.contextmanager
def _packages_for(path: str, error: type[ExplainOpsError]) -> Iterator[None]:
    # fsspec imports a protocol's implementation (s3fs) on first use and raises ImportError
    # when it is missing.
    try:
        yield
    except ImportError as problem:
        raise error(missing_package_message(path, problem)) from problem


def filesystem_of(path: str, error: type[ExplainOpsError] = InputError) -> tuple[Any, str]:
    """The fsspec filesystem of ``path`` and the path within it.

    Raises ``error`` naming the URI and the install it needs when its package is missing.
    """
    with _packages_for(path, error):
        return fsspec.core.url_to_fs(path)  # type: ignore[no-any-return]


def open_file(
    path: str, mode: str = "rb", error: type[ExplainOpsError] = InputError, **options: Any
) -> Any:
    """``fsspec.open(path, mode, **options)``, an OpenFile to use in a ``with`` statement.

    Raises ``error`` naming the URI and the install it needs when its package is missing.
    """
    with _packages_for(path, error):
        return fsspec.open(path, mode, **options)


def is_local(filesystem: Any) -> bool:
    """Whether ``filesystem`` is this machine's (where a rename is atomic)."""
    protocols = filesystem.protocol
    return "file" in ((protocols,) if isinstance(protocols, str) else protocols)


def storage_errors(*also: type[Exception]) -> tuple[type[Exception], ...]:
    """``also``, and what object-store clients raise that is not an OSError, for ``except``.

    botocore (s3fs's client) raises its own types for missing credentials or an unreachable
    endpoint; it is imported only when installed.
    """
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return also
    return (*also, BotoCoreError, ClientError)
