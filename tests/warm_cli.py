"""``explainops`` in a process of its own, forked from one that has already imported it.

Most of a short CLI run is the interpreter starting and importing MLflow, scikit-learn and the
jobs: 4-7 s a run on a 2-core machine, for runs whose own work takes a second. The suites that
run the CLI a hundred times (bad inputs, secrets, registries) get the same process a user gets
from one that skips that part: a fork server (``multiprocessing``'s, one per test process)
imports :data:`PRELOADED` once and forks a child for each run. The child is a separate process
with its own working folder, environment, standard output and error (files, read back as text)
and exit code; it parses ``sys.argv`` as the console script does, and ends as an interpreter
ends: non-daemon threads joined, then the ``atexit`` handlers. The console script itself, a fresh
interpreter, is what ``tests/test_cli.py`` runs.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

# What a job run imports anyway, loaded once in the fork server (a module missing here is
# imported by the child, as the console script would).
PRELOADED = [
    "explainops.cli",
    "explainops.jobs",
    "explainops.io.registries",
    "explainops.reports.render",
    "mlflow",
    "mlflow.pyfunc",
    "mlflow.sklearn",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "skops.io",
]

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(PRELOADED)


def run(
    arguments: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """``explainops ARGUMENTS`` in ``cwd`` with exactly the environment ``env``."""
    with tempfile.TemporaryDirectory(prefix="explainops-cli-") as folder:
        stdout, stderr = Path(folder) / "stdout", Path(folder) / "stderr"
        child = _context.Process(
            target=_child, args=(list(arguments), str(cwd), dict(env), str(stdout), str(stderr))
        )
        child.start()
        child.join(timeout)
        if child.is_alive():
            child.kill()
            child.join()
            raise subprocess.TimeoutExpired(["explainops", *arguments], timeout)
        assert child.exitcode is not None
        # a negative exit code is a signal, as subprocess reports it
        return subprocess.CompletedProcess(
            ["explainops", *arguments],
            child.exitcode,
            stdout.read_text(encoding="utf-8", errors="replace"),
            stderr.read_text(encoding="utf-8", errors="replace"),
        )


def _child(arguments: list[str], cwd: str, env: dict[str, str], stdout: str, stderr: str) -> None:
    """In the forked child: become ``explainops ARGUMENTS`` and exit with its code."""
    import atexit
    import faulthandler
    import sys
    import threading
    import traceback

    # the streams stay the objects every module holds (a logging handler made at import, say);
    # what they write goes to the files
    for descriptor, path in ((1, stdout), (2, stderr)):
        stream = sys.stdout if descriptor == 1 else sys.stderr
        if stream is not None:
            stream.flush()
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(opened, descriptor)
        os.close(opened)
        if _descriptor(stream) != descriptor:
            stream = open(descriptor, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
            if descriptor == 1:
                sys.stdout = stream
            else:
                sys.stderr = stream
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = ["explainops", *arguments]
    if env.get("PYTHONFAULTHANDLER"):
        faulthandler.enable()
    code: int
    try:
        from explainops.cli import main

        code = main(arguments)
    except SystemExit as exit:
        code = _exit_code(exit.code)
    except BaseException:
        traceback.print_exc()
        code = 1
    threading._shutdown()  # type: ignore[attr-defined]  # as the interpreter does at its end
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _descriptor(stream: object) -> int | None:
    """The file descriptor a stream writes to; None if it has none."""
    try:
        return int(stream.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return None


def _exit_code(code: object) -> int:
    """The exit status of ``sys.exit(code)``: None is 0, an int itself, anything else printed, 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    import sys

    print(code, file=sys.stderr)
    return 1
