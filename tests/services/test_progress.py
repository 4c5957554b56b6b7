"""Progress: a bar on a terminal, log lines elsewhere."""

from __future__ import annotations

import io
import logging

import pytest

from explainops.services import progress
from explainops.services.progress import Progress


def test_without_a_terminal_progress_goes_to_the_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given no terminal and a log line at every update
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)
    with caplog.at_level(logging.INFO, logger="explainops"), Progress(100, "explained") as bar:
        # when two batches are done
        bar.update(40)
        bar.update(60)

    # then the log has the counts, the rate and the ETA, then the total time
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0].startswith("explained 40/100 rows ("), lines
    assert "rows/s, ETA" in lines[0], "rate and ETA reported"
    assert lines[-1].startswith("explained 100/100 rows") and " in " in lines[-1], lines


class FakeTerminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_bar_is_drawn_unless_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with Progress(10, "explained") as bar:
        bar.update(10)
    drawn = terminal.getvalue()
    assert "100%" in drawn and "10.0/10.0" in drawn, f"rows done out of the total: {drawn!r}"
    assert "rows/s" in drawn, "the rate is shown"

    quiet = FakeTerminal()
    monkeypatch.setattr("sys.stderr", quiet)
    token = progress.bar_enabled.set(False)
    try:
        with Progress(10, "explained") as bar:
            bar.update(10)
    finally:
        progress.bar_enabled.reset(token)
    assert quiet.getvalue() == "", "--no-progress draws nothing"


def test_no_progress_holds_for_one_command_only(tmp_path) -> None:
    # given a command run with --no-progress in this process (it fails: no such file)
    from explainops.cli import main

    assert main(["run", str(tmp_path / "missing.yaml"), "--no-progress"]) != 0
    # then the next bar in the process is drawn again
    assert progress.bar_enabled.get(), "--no-progress leaked out of its command"
