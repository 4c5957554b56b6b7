"""Peak memory of a whole job is bounded by the batch size, not by the input's size."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ..conftest import RegistryFixture


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
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("PEAK_MIB"))
    return float(line.split()[1])


@pytest.mark.slow
def test_peak_memory_stays_flat_when_the_input_grows_tenfold(
    tmp_path: Path, test_registry: RegistryFixture
) -> None:
    # given 30,000 and 300,000 wine-like rows, read and explained 5,000 at a time
    rng = np.random.default_rng(0)
    wine = test_registry.wine
    configs = []
    for n_rows in (30_000, 300_000):
        rows = wine.sample(n=n_rows, replace=True, random_state=1).reset_index(drop=True)
        rows = rows * rng.normal(1.0, 0.01, size=rows.shape)
        folder = tmp_path / str(n_rows)
        folder.mkdir()
        rows.to_parquet(folder / "samples.parquet", row_group_size=5_000)
        config = folder / "job.yaml"
        config.write_text(
            "job:\n  KIND: ExplanationsJob\n"
            f"  inputs_samples: {{KIND: ParquetReader, path: {folder / 'samples.parquet'}, "
            "batch_size: 5000}\n"
            f"  models_explanations: {{KIND: CsvWriter, path: {folder / 'models.csv'}}}\n"
            f"  samples_explanations: {{KIND: ParquetWriter, path: {folder / 'samples.out.parquet'}}}\n"
            f"  registry: {{name: wine, tracking_uri: '{test_registry.tracking_uri}'}}\n"
            "  loader: {KIND: BuiltinLoader}\n"
            "  explainer: {KIND: TreeExplainer, num_clusters: 5}\n"
        )
        configs.append(config)

    # when both jobs run
    small, large = (peak_rss_mib(config) for config in configs)

    print(f"peak RSS: {small:.0f} MiB for 30,000 rows, {large:.0f} MiB for 300,000 rows")
    # then ten times the rows cost far less memory than the ~120 MiB of extra output they make
    # (allocators keep some freed memory: 30 MiB more was measured)
    written = pd.read_parquet(tmp_path / "300000" / "samples.out.parquet", columns=["sample_id"])
    assert len(written) == 300_000 * 3, "every row explained for every class"
    assert large - small < 64, f"peak RSS grew from {small:.0f} MiB to {large:.0f} MiB"
