"""The drift history loses no window when runs overlap, in both layouts."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pandas as pd
import pytest

from explainops.drift.history import append_history, history_layout, read_history
from explainops.errors import ConfigError

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
