"""The layers import one way only: `lint-imports` (run by `make lint`) refuses a wrong-way import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def _lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    environment = os.environ | {"PYTHONPATH": str(project / "src")}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"],
        cwd=project,
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=False,
    )


def test_the_package_keeps_its_layers(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    shutil.copy(ROOT / "pyproject.toml", project)
    kept = _lint_imports(project)
    assert kept.returncode == 0, kept.stdout[-2000:]
    # when core imports io, the contract is broken and the check fails naming the import
    tables = project / "src" / "explainops" / "core" / "tables.py"
    tables.write_text(tables.read_text() + "\nfrom explainops.io import datasets  # noqa: E402\n")
    broken = _lint_imports(project)
    assert broken.returncode != 0, "a wrong-way import fails the check"
    assert "explainops.core.tables -> explainops.io.datasets" in broken.stdout, broken.stdout[
        -2000:
    ]
