"""The explainers' docstring Examples print what they show (docs/ blocks: tests/test_docs.py)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from types import ModuleType

import pytest

import explainops.explainers

OPTIONS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
# The modules of the public API: each must carry at least one runnable example.
DOCUMENTED = ("base", "baseline", "exact", "explanation", "kernel", "tree")


def explainer_modules() -> list[str]:
    """Every module of the explainers package, the package itself included."""
    package = explainops.explainers
    return [package.__name__] + [
        f"{package.__name__}.{info.name}" for info in pkgutil.iter_modules(package.__path__)
    ]


def run_examples(module: ModuleType) -> doctest.TestResults:
    return doctest.testmod(module, optionflags=OPTIONS, verbose=False, report=True)


@pytest.mark.parametrize("name", explainer_modules())
def test_docstring_examples_pass(name: str) -> None:
    # given a module of the explainers package
    module = importlib.import_module(name)
    # when its docstring examples run
    results = run_examples(module)
    # then none fails, and the documented modules have some
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples fail in {name}"
    if name.rsplit(".", 1)[-1] in DOCUMENTED:
        assert results.attempted > 0, f"{name} has no runnable example"


def python_blocks(markdown: str) -> list[str]:
    """The bodies of the page's ```python fenced blocks."""
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.MULTILINE | re.DOTALL)
