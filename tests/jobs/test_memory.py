"""Peak memory of a whole job is bounded by the batch size, not by the input's size."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from explainops.engines import thread_limits

from ..conftest import RegistryFixture

# From 3 row groups on, the allocators are warm: a job over 1 row group peaks some 20 MiB lower.
SMALL_ROWS, LARGE_ROWS = 300_000, 1_200_000


def peak_rss_mib(config: Path) -> float:
    """Peak RSS of ``explainops run --no-progress CONFIG`` in its own process."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "explainops.testing.peak_memory",
            "run",
            "--no-progress",
            str(config),
        ],
        # The same threads on any machine: allocators keep freed memory per thread.
        env=os.environ | thread_limits(2),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("PEAK_MIB"))
    return float(line.split()[1])


@pytest.mark.slow
def test_peak_memory_stays_flat_when_the_input_grows_fourfold(
    tmp_path: Path, test_registry: RegistryFixture
) -> None:
    # given 300,000 and 1,200,000 cancer-like rows in Parquet row groups of 100,000, explained by
    # Kernel SHAP 10,000 at a time (one huge row group is tests/io/test_datasets_memory.py's case)
    rng = np.random.default_rng(0)
    configs = []
    for n_rows in (SMALL_ROWS, LARGE_ROWS):
        rows = test_registry.cancer.sample(n=n_rows, replace=True, random_state=1)
        rows = rows.reset_index(drop=True) * rng.normal(1.0, 0.01, size=rows.shape)
        folder = tmp_path / str(n_rows)
        folder.mkdir()
        rows.to_parquet(folder / "samples.parquet", row_group_size=100_000)
        config = folder / "job.yaml"
        config.write_text(
            "job:\n  KIND: ExplanationsJob\n"
            f"  inputs_samples: {{KIND: ParquetReader, path: {folder / 'samples.parquet'}, "
            "batch_size: 10000}\n"
            f"  models_explanations: {{KIND: CsvWriter, path: {folder / 'models.csv'}}}\n"
            f"  samples_explanations: {{KIND: ParquetWriter, path: {folder / 'samples.out.parquet'}}}\n"
            f"  registry: {{name: cancer, tracking_uri: '{test_registry.tracking_uri}'}}\n"
            "  loader: {KIND: BuiltinLoader}\n"
            "  explainer: {KIND: KernelExplainer, num_samples: 16, num_clusters: 1}\n"
        )
        configs.append(config)
    del rows

    # when both jobs run
    small, large = (peak_rss_mib(config) for config in configs)

    print(f"peak RSS: {small:.0f} MiB for {SMALL_ROWS:,} rows, {large:.0f} MiB for {LARGE_ROWS:,}")
    # then four times the rows cost no more than allocator noise (measured: under 5 MiB), far less
    # than holding the 900,000 extra rows (55 MiB of input, 1.8M rows of explanations)
    written = pq.ParquetFile(tmp_path / str(LARGE_ROWS) / "samples.out.parquet").metadata
    assert written.num_rows == LARGE_ROWS * 2, "every row explained for both classes"
    assert large - small < 32, f"peak RSS grew from {small:.0f} MiB to {large:.0f} MiB"
