"""The CLI run as a user runs it: a separate process, in a fresh working folder.

The process is forked from one that has already imported explainops (``tests/warm_cli.py``).

Shared by the bad-input suite and the secrets test: how to run ``explainops``, a workspace whose
output paths hold sentinel files, a snapshot of every file and folder under it, the assertions a
clean failure must pass, and servers that misbehave in ways ``ModelServer`` does not.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from .. import warm_cli
from ..conftest import RegistryFixture

CLI_TIMEOUT_S = 300
# Environment variables of the test process that would change what the CLI does.
_INHERITED_SETTINGS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "EXPLAINOPS_")

EXIT_FAILED, EXIT_INVALID_CONFIG = 1, 2


def cli_environment(extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The test process's environment without MLflow/explainops settings, plus ``extra``.

    A value of None in ``extra`` removes the variable.
    """
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_INHERITED_SETTINGS)
    }
    environment["MLFLOW_DISABLE_TELEMETRY"] = "true"
    # A process killed by a signal (an abort at exit) shows its threads' Python stacks.
    environment["PYTHONFAULTHANDLER"] = "1"
    for name, value in (extra or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return environment


def run_cli(
    arguments: Sequence[str],
    cwd: Path,
    env: Mapping[str, str | None] | None = None,
    log_level: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``explainops ARGUMENTS`` in ``cwd`` and capture its output."""
    options = ["--log-level", log_level] if log_level else []
    return warm_cli.run([*options, *arguments], cwd, cli_environment(env), CLI_TIMEOUT_S)


# --- the workspace ---------------------------------------------------------------------------

# Every output path of every job the suites run, each holding known bytes before a run.
SENTINELS = {
    "out/models.csv": b"sentinel: models explanations\n",
    "out/samples.parquet": b"sentinel: samples explanations\n",
    "out/clarify/analysis.json": b'{"sentinel": "analysis"}\n',
    "out/drift/constraint_violations.json": b'{"sentinel": "violations"}\n',
    # A valid, empty history: a run that gets as far as appending finds what it expects.
    "out/drift/history.csv": (
        b"window_id,window_time,model,model_version,n_samples,label,ndcg,verdict,"
        b"baseline_top_features,live_top_features\n"
    ),
    "out/baseline/baseline.json": b'{"sentinel": "baseline"}\n',
}


@dataclass
class Workspace:
    """A tmp folder: ``data/`` (inputs), ``out/`` (outputs, with sentinels), ``cwd/`` (empty)."""

    root: Path

    def __post_init__(self) -> None:
        for folder in (self.data, self.out, self.cwd):
            folder.mkdir(parents=True, exist_ok=True)
        for relative, content in SENTINELS.items():
            path = self.root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def cwd(self) -> Path:
        return self.root / "cwd"

    def path(self, relative: str) -> Path:
        return self.root / relative

    def write_config(self, name: str, document: Mapping[str, Any]) -> Path:
        """A YAML config file in the workspace's root."""
        path = self.root / name
        path.write_text(yaml.safe_dump(dict(document), sort_keys=False))
        return path

    def write_text(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def snapshot(self) -> dict[str, bytes | None]:
        """Every file (its bytes) and folder (None) under the root, by relative path."""
        return {
            str(path.relative_to(self.root)): None if path.is_dir() else path.read_bytes()
            for path in sorted(self.root.rglob("*"))
        }


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def snapshot_changes(before: dict[str, bytes | None], after: dict[str, bytes | None]) -> list[str]:
    """What a run changed under the workspace: new, removed and modified paths."""
    changes = [f"new: {path}" for path in after if path not in before]
    changes += [f"removed: {path}" for path in before if path not in after]
    changes += [
        f"changed: {path}" for path in before if path in after and before[path] != after[path]
    ]
    return changes


# --- what a clean failure looks like --------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """How a bad input must fail.

    Attributes:
        exit_code: 2 for an invalid configuration, 1 for a failed job.
        patterns: regular expressions (case-insensitive) the error message must match: the
            file, row, column, field, URI or URL, and what was expected.
        forbidden: texts that may not appear anywhere on stderr (internals, long exception
            texts of libraries).
        max_length: the error message's longest acceptable length, when it must be short.

    """

    exit_code: int
    patterns: tuple[str, ...]
    forbidden: tuple[str, ...] = ()
    max_length: int | None = None


@dataclass
class Outcome:
    """A finished CLI run and the workspace around it."""

    result: subprocess.CompletedProcess[str]
    before: dict[str, bytes | None]
    after: dict[str, bytes | None]
    notes: list[str] = field(default_factory=list)

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.result.stderr.splitlines() if line.startswith("error:")]


def _readable(stderr: str, limit: int = 6000) -> str:
    """The end of stderr, without faulthandler's list of extension modules."""
    lines = [line for line in stderr.splitlines() if not line.startswith("Extension modules:")]
    return "\n".join(lines)[-limit:]


def assert_clean_failure(outcome: Outcome, expected: Expected) -> str:
    """Assert everything a bad input's failure must be; return the error message."""
    result = outcome.result
    stderr = result.stderr
    context = f"\n--- stderr ---\n{_readable(stderr)}\n--- stdout ---\n{result.stdout[-1000:]}"
    assert result.returncode == expected.exit_code, (
        f"exit code {result.returncode}, expected {expected.exit_code}{context}"
    )
    assert "Traceback" not in stderr, f"no traceback on stderr{context}"
    lines = outcome.error_lines
    assert len(lines) == 1, f"exactly one 'error:' line on stderr, got {len(lines)}{context}"
    message = lines[0].removeprefix("error:").strip()
    assert stderr.count(message) == 1, f"the error message is printed once{context}"
    assert not message.startswith("unexpected"), (
        f"a bad input is an expected failure, not an 'unexpected' one{context}"
    )
    for pattern in expected.patterns:
        assert re.search(pattern, message, re.IGNORECASE), (
            f"the error message matches {pattern!r}: {message!r}{context}"
        )
    for text in expected.forbidden:
        assert text not in stderr, f"stderr does not contain {text!r}{context}"
    if expected.max_length is not None:
        assert len(message) <= expected.max_length, (
            f"a short message (<= {expected.max_length} characters), got {len(message)}: "
            f"{message!r}"
        )
    changes = snapshot_changes(outcome.before, outcome.after)
    assert not changes, (
        "sentinels unchanged and nothing new left in the workspace (outputs, inputs, cwd): "
        f"{changes}{context}"
    )
    return message


# --- data ------------------------------------------------------------------------------------

SAMPLE_ROWS = 6


def wine_samples(registry: RegistryFixture, rows: int = SAMPLE_ROWS) -> pd.DataFrame:
    """The first wine rows with a ``wine_id`` column first."""
    frame = registry.wine.iloc[:rows].reset_index(drop=True).copy()
    frame.insert(0, "wine_id", [f"wine-{index}" for index in range(rows)])
    return frame


def mean_row(frame: pd.DataFrame) -> list[float]:
    """One baseline row: the column means, as plain floats."""
    return [float(value) for value in frame.mean().to_numpy()]


# --- servers ---------------------------------------------------------------------------------


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TruncatingServer:
    """Answers every POST with 200 and a ``Content-Length`` larger than the body it sends,
    then closes the connection: a response cut by a proxy or load balancer."""

    def __init__(self, body: bytes = b"0.1,0.2,0.7\n", missing_bytes: int = 500) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with server._lock:
                    server._requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(body) + missing_bytes))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/invocations"

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    def __enter__(self) -> TruncatingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)
