"""Keep secrets out of everything explainops prints, logs or writes.

Secrets reach explainops as ``${oc.env:NAME}`` references in a configuration, as request headers
read from the environment, or inside URLs (user-info such as ``https://user:token@host`` and query
values such as ``?token=...``). The configuration loader registers every value it read from the
environment with :func:`register_secret`; :func:`redact` replaces each registered value in a text
with ``***``, and :func:`mask_url` hides a URL's user-info and query values. The CLI installs
:class:`RedactingFilter` on its log handler, so no log line can carry a registered secret.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
# Shorter values (e.g. "1", "true") would mask ordinary words and numbers everywhere.
MIN_SECRET_LENGTH = 4

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Remember ``value`` as a secret: :func:`redact` masks it from now on."""
    if len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


def registered_secrets() -> frozenset[str]:
    """The values registered so far."""
    with _lock:
        return frozenset(_secrets)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``, longest first."""
    for secret in sorted(registered_secrets(), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def mask_url(url: str, *, hide_path: bool = False) -> str:
    """``url`` with its user-info and the values of its query parameters shown as ``***``.

    With ``hide_path``, the path too: a webhook's path is often its token.

    >>> mask_url("https://bob:s3cret@hooks.example.com/services/T0?token=abc&x=1")
    'https://***@hooks.example.com/services/T0?token=***&x=***'
    >>> mask_url("https://hooks.example.com/services/T0/B1/xyz", hide_path=True)
    'https://hooks.example.com/***'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if not parts.scheme or not parts.netloc:
        return redact(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(name, MASK) for name, _ in pairs], safe="*")
    path = f"/{MASK}" if hide_path and parts.path not in ("", "/") else parts.path
    masked = SplitResult(parts.scheme, netloc, path, query, "")
    return redact(urlunsplit(masked))


class RedactingFilter(logging.Filter):
    """Masks registered secrets in every record passing through the handler it is set on."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the record's message once, redacted (its arguments may hold secrets)."""
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def masked_config(node: Any) -> Any:
    """A configuration for display: header values masked, URLs through :func:`mask_url`."""
    if isinstance(node, dict):
        return {
            key: (
                {name: MASK for name in value}
                if key == "headers" and isinstance(value, dict)
                else masked_config(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [masked_config(item) for item in node]
    if isinstance(node, str):
        redacted = redact(node)  # a registered secret (a webhook's URL) is hidden whole
        return mask_url(node) if "://" in node and redacted == node else redacted
    return node
