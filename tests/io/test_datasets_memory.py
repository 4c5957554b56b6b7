"""Peak memory of reading and writing samples in batches is bounded by the batch, not the file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from explainops.engines import thread_limits

SMALL_ROWS, LARGE_ROWS = 120_000, 1_200_000
COLUMNS = 8
# Holding every row would cost 1,200,000 x 8 floats = 73 MiB or more; allocators keep some freed
# memory, which grows a little while a process warms up (measured: under 10 MiB).
ALLOWED_GROWTH_MIB = 32

# Writes ROWS random rows through the format's writer, or reads the file back through
# reader_for_path, 10,000 rows at a time; prints the rows and the sum of the values it read and
# its own peak RSS (VmHWM).
SCRIPT = """
import sys
import numpy as np
import pandas as pd
from explainops.io import datasets
from explainops.testing.peak_memory import peak_rss_mib

action, path, rows, columns = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
batch_size = 10_000
if action == "write":
    writer = {"csv": datasets.CsvWriter, "parquet": datasets.ParquetWriter,
              "jsonl": datasets.JsonLinesWriter}[path.rsplit(".", 1)[1]](path=path)
    rng = np.random.default_rng(0)
    with writer.open() as sink:
        for start in range(0, rows, batch_size):
            values = rng.normal(size=(min(batch_size, rows - start), columns))
            sink.write(pd.DataFrame(values, columns=[f"x{i}" for i in range(columns)]))
    total = float("nan")
else:
    rows, total = 0, 0.0
    for batch in datasets.reader_for_path(path, batch_size=batch_size).batches():
        rows += len(batch)
        total += float(batch.to_numpy().sum())
print("ROWS", rows, "TOTAL", total, "PEAK_MIB", peak_rss_mib(), flush=True)
"""


def run_measured(action: str, path: Path, rows: int = 0) -> tuple[int, float, float]:
    """(rows, sum of the values read, peak RSS MiB) of ``action`` in a fresh process."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, action, str(path), str(rows), str(COLUMNS)],
        # The same threads on any machine: allocators keep freed memory per thread.
        env=os.environ | thread_limits(2),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    fields = result.stdout.split()
    return int(fields[1]), float(fields[3]), float(fields[5])


@pytest.mark.slow
@pytest.mark.parametrize("extension", ["parquet", "csv", "jsonl"])
def test_peak_memory_of_writing_and_reading_stays_flat_when_the_file_grows_tenfold(
    tmp_path: Path, extension: str
) -> None:
    # given 120,000 and 1,200,000 rows of 8 columns written 10,000 rows at a time
    written = {}
    for rows in (SMALL_ROWS, LARGE_ROWS):
        path = tmp_path / f"{rows}.{extension}"
        written[rows] = run_measured("write", path, rows)[2]

    # when both files are read back 10,000 rows at a time
    read = {rows: run_measured("read", tmp_path / f"{rows}.{extension}") for rows in written}

    print(
        f"{extension} peak RSS: write {written[SMALL_ROWS]:.0f} -> {written[LARGE_ROWS]:.0f} MiB, "
        f"read {read[SMALL_ROWS][2]:.0f} -> {read[LARGE_ROWS][2]:.0f} MiB "
        f"({SMALL_ROWS:,} -> {LARGE_ROWS:,} rows)"
    )
    # then every row comes back, and ten times the rows cost no more than allocator noise
    assert read[LARGE_ROWS][0] == LARGE_ROWS, "every written row is read back"
    growth = written[LARGE_ROWS] - written[SMALL_ROWS]
    assert growth < ALLOWED_GROWTH_MIB, f"writing: peak RSS grew by {growth:.0f} MiB"
    growth = read[LARGE_ROWS][2] - read[SMALL_ROWS][2]
    assert growth < ALLOWED_GROWTH_MIB, f"reading: peak RSS grew by {growth:.0f} MiB"


@pytest.mark.slow
def test_a_parquet_file_of_one_huge_row_group_is_read_without_holding_the_group(
    tmp_path: Path,
) -> None:
    # given a pandas-written Parquet file of 1,200,000 rows: one row group of 1Mi rows and one
    # of the rest, against 120,000 rows in one row group
    rng = np.random.default_rng(0)
    columns = [f"x{index}" for index in range(COLUMNS)]
    frame = pd.DataFrame(rng.normal(size=(LARGE_ROWS, COLUMNS)), columns=columns)
    frame.to_parquet(tmp_path / "large.parquet")
    frame.iloc[:SMALL_ROWS].to_parquet(tmp_path / "small.parquet")
    expected_total = float(frame.to_numpy().sum())
    del frame
    groups = pq.ParquetFile(tmp_path / "large.parquet").metadata
    assert groups.row_group(0).num_rows == 2**20, "pandas wrote a row group of 1Mi rows"

    # when both are read 10,000 rows at a time
    _, _, small = run_measured("read", tmp_path / "small.parquet")
    rows, total, large = run_measured("read", tmp_path / "large.parquet")

    print(f"parquet, one row group of 1Mi rows: read peak RSS {small:.0f} -> {large:.0f} MiB")
    # then every value is read, and the row group's 64 MiB of column chunks are not held at once
    assert rows == LARGE_ROWS, "every row read"
    assert total == pytest.approx(expected_total, abs=1e-6), "every value read as written"
    assert large - small < ALLOWED_GROWTH_MIB, f"peak RSS grew from {small:.0f} to {large:.0f} MiB"
