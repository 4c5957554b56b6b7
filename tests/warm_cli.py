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

What the server fixed when it started stays fixed: variables read as the interpreter starts or a
module is imported (``PYTHON*``, thread counts, MLflow's telemetry and logging). A run whose
environment differs from the server's in one of them gets a fresh interpreter instead, as does
every run if the server cannot start.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
import warnings
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
# Variables read when the interpreter starts or a module is imported, not when the CLI runs.
FIXED_AT_START = (
    "PYTHON",
    "NUMBA_",
    "OMP_",
    "OPENBLAS_",
    "MKL_",
    "MLFLOW_DISABLE_TELEMETRY",
    "MLFLOW_CONFIGURE_LOGGING",
    "MLFLOW_LOGGING_LEVEL",
)
# ... but for this one, which the child applies itself.
APPLIED_BY_CHILD = ("PYTHONFAULTHANDLER",)
FRESH = [sys.executable, "-c", "from explainops.cli import entry_point; entry_point()"]

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(PRELOADED)
_started_with: dict[str, str] | None = None  # the server's fixed variables, once it started
_unavailable: str | None = None  # why the server could not start, once it could not


def run(
    arguments: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """``explainops ARGUMENTS`` in ``cwd`` with exactly the environment ``env``."""
    global _started_with, _unavailable
    # not started yet, the server starts with this process's environment
    server = _fixed(os.environ) if _started_with is None else _started_with
    if _unavailable is not None or _fixed(env) != server:
        return fresh(arguments, cwd, env, timeout)
    command = ["explainops", *arguments]
    with tempfile.TemporaryDirectory(prefix="explainops-cli-") as folder:
        stdout, stderr = Path(folder) / "stdout", Path(folder) / "stderr"
        stdout.touch()
        stderr.touch()
        child = _context.Process(
            target=_child, args=(list(arguments), str(cwd), dict(env), str(stdout), str(stderr))
        )
        try:
            child.start()
        except (EOFError, OSError) as error:
            _unavailable = f"{type(error).__name__}: {error}"
            warnings.warn(
                f"no fork server ({_unavailable}): the CLI runs in fresh interpreters",
                stacklevel=2,
            )
            return fresh(arguments, cwd, env, timeout)
        _started_with = server
        try:
            child.join(timeout)
            timed_out = child.is_alive()
        finally:  # timed out or interrupted: the child goes too
            if child.is_alive():
                child.kill()
                child.join()
        output = stdout.read_text(encoding="utf-8", errors="replace")
        errors = stderr.read_text(encoding="utf-8", errors="replace")
        exit_code = child.exitcode
        child.close()
    if timed_out:
        raise subprocess.TimeoutExpired(command, timeout, output, errors)
    assert exit_code is not None
    # a negative exit code is a signal, as subprocess reports it
    return subprocess.CompletedProcess(command, exit_code, output, errors)


def fresh(
    arguments: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """The same run in a fresh interpreter."""
    return subprocess.run(
        [*FRESH, *arguments],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _fixed(environment: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``environment`` that the server fixed when it started."""
    return {
        name: value
        for name, value in environment.items()
        if name.startswith(FIXED_AT_START) and name not in APPLIED_BY_CHILD
    }


def _child(arguments: list[str], cwd: str, env: dict[str, str], stdout: str, stderr: str) -> None:
    """In the forked child: become ``explainops ARGUMENTS`` and exit with its code."""
    import atexit
    import contextlib
    import faulthandler
    import threading
    import traceback

    # the streams stay the objects every module holds (a logging handler made at import, say);
    # what they write goes to the files
    for descriptor, path in ((1, stdout), (2, stderr)):
        stream = sys.stdout if descriptor == 1 else sys.stderr
        with contextlib.suppress(AttributeError, OSError, ValueError):
            stream.flush()  # what the server left unwritten is not this run's
        opened = os.open(path, os.O_WRONLY | os.O_TRUNC)
        if opened != descriptor:
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

        code = _exit_code(main(arguments))
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
        return code & 0xFF  # as the operating system keeps it
    print(code, file=sys.stderr)
    return 1
