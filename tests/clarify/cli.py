"""``explainops clarify`` run in process by the tests, as a user runs it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from explainops.cli import main
from tests.conftest import RegistryFixture


def run(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str]:
    """``explainops clarify ARGS``: its exit code and what it printed on stderr."""
    capsys.readouterr()
    code = main(["clarify", *args])
    return code, capsys.readouterr().err


def clarify_args(config: Path, dataset: Path, output: Path, *model: str) -> list[str]:
    """The arguments of ``explainops clarify`` for ``config`` on ``dataset`` into ``output``.

    ``model``: where the model is, e.g. ``"--endpoint", url`` or ``"--model", uri,
    "--tracking-uri", uri``.
    """
    return ["--config", str(config), "--dataset", str(dataset), "--output", str(output), *model]


def registered_model(uri: str, registry: RegistryFixture) -> tuple[str, ...]:
    """The arguments naming the registered model ``uri`` in the test ``registry``."""
    return ("--model", uri, "--tracking-uri", registry.tracking_uri)


def assert_report_drawn_again(
    output: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> str:
    """``explainops report`` of output/analysis.json into ``folder``: the page, checked.

    The run's own report (output/report.html) must be there: the page drawn again from the files
    has its sections, in order, and its figures with their captions.
    """
    capsys.readouterr()
    page = folder / "report.html"
    code = main(["report", str(output / "analysis.json"), "-o", str(page), "--formats", "html"])
    assert code == 0, f"the report is drawn again: {capsys.readouterr().err}"
    again, first = page.read_text(), (output / "report.html").read_text()
    for pattern in (r'<section id="([^"]+)"', r'<figure id="([^"]+)"', r"<figcaption>(.*?)<"):
        found = re.findall(pattern, again, flags=re.DOTALL)
        assert found == re.findall(pattern, first, flags=re.DOTALL) and found, (
            f"the run's {pattern} again: {found}"
        )
    return again
