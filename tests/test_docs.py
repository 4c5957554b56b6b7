"""Every Python block in README.md and docs/ runs as written, so the docs cannot rot.

Blocks of one file run in order in one namespace, from a copy of the repository in which the
demo's model is registered (as after ``make demo``); ``>>>`` blocks run as doctests.
"""

from __future__ import annotations

import doctest
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^[ \t]*```python\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)


def python_blocks(document: Path) -> list[str]:
    """The ```python blocks of a Markdown file, dedented."""
    blocks = []
    for match in BLOCK.finditer(document.read_text()):
        lines = match.group(1).splitlines()
        indent = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
        blocks.append("\n".join(line[indent:] for line in lines) + "\n")
    return blocks


@pytest.fixture(scope="module")
def demo_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's demo, confs and docs with the demo model registered."""
    folder = tmp_path_factory.mktemp("checkout")
    for name in ("demo", "confs", "docs", "examples"):
        shutil.copytree(ROOT / name, folder / name)
    environment = os.environ | {"MLFLOW_DISABLE_TELEMETRY": "true"}
    subprocess.run(
        [sys.executable, "demo/register_model.py"],
        cwd=folder,
        env=environment,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return folder


def test_the_docs_have_python_blocks() -> None:
    counts = {document.name: len(python_blocks(document)) for document in DOCUMENTS}
    assert counts["README.md"] >= 2, counts
    assert sum(counts.values()) >= 4, counts


@pytest.mark.slow
@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda document: document.name)
def test_python_blocks_run_as_written(
    document: Path, demo_checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib

    matplotlib.use("Agg")  # shap.plots draw without a screen
    blocks = python_blocks(document)
    if not blocks:
        return  # nothing to run in this document
    monkeypatch.chdir(demo_checkout)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for number, block in enumerate(blocks, start=1):
        if block.lstrip().startswith(">>>"):
            test = doctest.DocTestParser().get_doctest(block, namespace, document.name, None, 0)
            runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
            runner.run(test)
            assert runner.failures == 0, f"{document.name} block {number}: doctest failed"
        else:
            exec(compile(block, f"{document.name}[block {number}]", "exec"), namespace)
