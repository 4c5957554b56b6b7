"""The drift history loses no window when runs overlap, in both layouts."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pandas as pd
import pytest

from explainops.drift.history import (
    append_history,
    appending_history,
    check_history,
    history_layout,
    read_history,
)
from explainops.errors import ConfigError, InputError

RUNS = 12
LABELS = ("label0", "label1")


def _rows(run: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "window_id": [f"w{run:02d}"] * len(LABELS),
            "window_time": [f"2026-01-01T00:{run:02d}:00+00:00"] * len(LABELS),
            "label": list(LABELS),
            "ndcg": [1.0 - run / 100] * len(LABELS),
        }
    )


def _append(path: str, run: int, start: multiprocessing.synchronize.Event) -> None:
    start.wait()  # every run reads the history at the same moment, as overlapping jobs would
    append_history(path, _rows(run), f"w{run:02d}")


def _append_concurrently(path: str) -> None:
    context = multiprocessing.get_context("fork")
    start = context.Event()
    processes = [context.Process(target=_append, args=(path, run, start)) for run in range(RUNS)]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(timeout=120)
    assert all(process.exitcode == 0 for process in processes), "every append succeeded"


@pytest.mark.parametrize("name", ["history.parquet", "history.csv", "history/"])
def test_overlapping_runs_lose_no_window(tmp_path: Path, name: str) -> None:
    # given a history with one window already
    path = f"{tmp_path}/{name}"
    append_history(path, _rows(99), "w99")
    # when twelve runs append to it at the same moment
    _append_concurrently(path)
    # then every window of every run is there once, with both labels
    history = read_history(path)
    windows = history.groupby("window_id")["label"].apply(sorted).to_dict()
    expected = {f"w{run:02d}": list(LABELS) for run in [*range(RUNS), 99]}
    assert windows == expected, f"{len(history)} rows: {sorted(windows)}"
    assert len(history) == (RUNS + 1) * len(LABELS), "no row twice"


def test_a_folder_history_reads_in_time_order_and_ignores_temporary_files(tmp_path: Path) -> None:
    # given windows appended out of time order and a temporary file of a run still writing
    path = f"{tmp_path}/history/"
    for run in (3, 1, 2):
        append_history(path, _rows(run), f"w{run}")
    (tmp_path / "history" / ".w4-abc.parquet.1234.tmp").write_bytes(b"partial")
    # when read back
    history = read_history(path)
    # then the windows are in time order and the partial file is not read
    assert history["window_id"].drop_duplicates().tolist() == ["w01", "w02", "w03"], history


@pytest.mark.parametrize("name", ["history.parquet", "history/"])
def test_an_append_is_published_only_by_publish(tmp_path: Path, name: str) -> None:
    # given a history with one window
    path = f"{tmp_path}/{name}"
    append_history(path, _rows(1), "w01")
    before = read_history(path)
    # when a run checks its append, draws the history it will leave, then fails before publishing
    with (
        pytest.raises(RuntimeError, match="the run failed"),
        appending_history(path, _rows(2), "w02") as append,
    ):
        drawn = append.table()
        raise RuntimeError("the run failed")
    # then it saw both windows, and the history is still the previous one
    assert drawn["window_id"].drop_duplicates().tolist() == ["w01", "w02"], drawn
    pd.testing.assert_frame_equal(read_history(path), before, obj="the history after a failure")
    # and a later append (which takes the lock again) records its window
    append_history(path, _rows(3), "w03")
    assert read_history(path)["window_id"].drop_duplicates().tolist() == ["w01", "w03"]


def test_values_that_do_not_fit_are_refused_naming_the_column(tmp_path: Path) -> None:
    # given a history file whose ndcg column holds text
    path = tmp_path / "history.csv"
    _rows(1).assign(ndcg="high").to_csv(path, index=False)
    before = path.read_bytes()
    # when a run appends to it, then the append is refused before anything is written
    refused = r"history.csv: the history's column 'ndcg' does not hold"
    with pytest.raises(InputError, match=refused), appending_history(str(path), _rows(2), "w02"):
        pass
    assert path.read_bytes() == before, "the history is untouched"


def test_check_history_reads_a_file_but_not_a_folder(tmp_path: Path) -> None:
    # given a history file of other columns, a missing file and a folder
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    columns = list(_rows(0).columns)
    # then only the file of other columns is refused
    with pytest.raises(InputError, match=r"other.csv: the history has columns \['a', 'b'\]"):
        check_history(str(tmp_path / "other.csv"), columns)
    check_history(str(tmp_path / "missing.csv"), columns)
    check_history(f"{tmp_path}/history/", columns)


def test_a_history_file_without_rows_is_an_empty_history(tmp_path: Path) -> None:
    # given a history file holding only its header
    path = tmp_path / "history.csv"
    path.write_text(",".join(_rows(0).columns) + "\n")
    # then it reads as an empty history, can be appended to, and then holds the run's rows
    assert read_history(str(path)).empty, "no rows, no error"
    check_history(str(path), list(_rows(0).columns))
    assert append_history(str(path), _rows(1), "w01") == len(LABELS), "the run's rows"
    assert read_history(str(path))["window_id"].tolist() == ["w01"] * len(LABELS)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("s3://bucket/monitor/history.parquet", "object store"),
        ("/tmp/history.xlsx", r"use a table file \(.csv, .txt, .parquet"),
    ],
)
def test_unsafe_or_unknown_history_paths_are_refused(path: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        history_layout(path)


def test_layouts() -> None:
    assert history_layout("s3://bucket/monitor/history/") == "folder", "a prefix on S3"
    assert history_layout("/data/history") == "folder", "no extension: a folder"
    assert history_layout("/data/history.parquet") == "file", "a table file"
