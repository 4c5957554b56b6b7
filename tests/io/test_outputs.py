"""Output paths are checked before any work, and a failed write leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from explainops.errors import WriteError
from explainops.io.datasets import CsvWriter, ParquetWriter, check_output_path, write_json


def test_an_existing_folder_is_not_an_output_path(tmp_path: Path) -> None:
    (tmp_path / "samples.parquet").mkdir()
    path = str(tmp_path / "samples.parquet")
    with pytest.raises(WriteError, match=r"samples\.parquet: cannot write: it is a folder"):
        check_output_path(path)
    with pytest.raises(WriteError, match="it is a folder"):
        ParquetWriter(path=path).write(pd.DataFrame({"a": [1.0]}))
    assert list((tmp_path / "samples.parquet").iterdir()) == [], "nothing moved into the folder"


def test_a_parent_that_is_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file")
    path = str(tmp_path / "blocker" / "deeper" / "out.csv")
    with pytest.raises(WriteError, match=r"blocker is a file, not a folder"):
        check_output_path(path)


def test_missing_folders_are_fine_and_checking_writes_nothing(tmp_path: Path) -> None:
    check_output_path(str(tmp_path / "new" / "deeper" / "out.csv"))
    assert list(tmp_path.iterdir()) == [], "checking creates nothing"


def test_a_failed_write_removes_the_folders_it_created(tmp_path: Path) -> None:
    # given an output in folders that do not exist yet
    writer = CsvWriter(path=str(tmp_path / "out" / "explanations_shap" / "out.csv"))
    # when the writing fails midway
    with pytest.raises(RuntimeError), writer.open() as sink:
        sink.write(pd.DataFrame({"a": [1.0]}))
        raise RuntimeError("the model failed")
    # then neither the file nor the folders are left
    assert list(tmp_path.iterdir()) == [], "no file or folder left"


def test_a_failed_write_keeps_folders_that_were_there(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "previous.csv").write_text("kept\n")
    writer = CsvWriter(path=str(tmp_path / "out" / "new.csv"))
    with pytest.raises(RuntimeError), writer.open():
        raise RuntimeError("boom")
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["previous.csv"], "kept"


def test_json_outputs_write_non_finite_numbers_as_null(tmp_path: Path) -> None:
    # given a document with NaN and infinities (e.g. a null in a user's baseline row)
    path = tmp_path / "analysis.json"
    write_json(str(path), {"rows": [[1.0, float("nan")]], "max": float("inf"), "ok": 2})
    # then the file is valid JSON with nulls where the numbers were not finite
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text, text
    assert json.loads(text) == {"rows": [[1.0, None]], "max": None, "ok": 2}, text


def test_json_outputs_refuse_unserialisable_values_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "analysis.json"
    path.write_text("previous\n")
    with pytest.raises(WriteError, match=r"analysis.json: cannot write as JSON"):
        write_json(str(path), {"value": object()})
    assert path.read_text() == "previous\n", "the previous file is kept"


def test_a_folder_that_cannot_be_created_is_named_before_any_work() -> None:
    # /proc refuses new folders, even to root (tests may run as root, so chmod would not do)
    with pytest.raises(WriteError, match=r"cannot create a folder in /proc"):
        check_output_path("/proc/explainops-test/out/samples.parquet")
