"""Run a committed walk-through script of examples/clarify/ as a newcomer would, in a copy."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_walkthrough(
    script: str,
    tmp_path: Path,
    *,
    port_variable: str = "PORT",
    isolated: tuple[str, ...] = ("MLFLOW_TRACKING", "MLFLOW_REGISTRY"),
    timeout: float = 400,
) -> subprocess.CompletedProcess[str]:
    """Run examples/clarify/``script`` in a copy of demo/ and examples/ under ``tmp_path``.

    The script gets this interpreter's bin folder as ``BIN`` and a free port on 127.0.0.1 in
    ``port_variable``; environment variables starting with ``isolated`` are left out, so the
    script uses its own registry (./mlruns of the copy) and settings, never this session's.
    """
    for name in ("demo", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith(isolated)
    } | {"BIN": str(Path(sys.executable).parent), port_variable: str(port)}
    return subprocess.run(
        ["bash", f"examples/clarify/{script}"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
