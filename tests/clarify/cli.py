"""``explainops clarify`` run in process by the tests, as a user runs it."""

from __future__ import annotations

import pytest

from explainops.cli import main


def run(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str]:
    """``explainops clarify ARGS``: its exit code and what it printed on stderr."""
    capsys.readouterr()
    code = main(["clarify", *args])
    return code, capsys.readouterr().err
