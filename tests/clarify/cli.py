"""``explainops clarify`` run in process by the tests, as a user runs it."""

from __future__ import annotations

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
