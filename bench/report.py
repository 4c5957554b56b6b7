"""Benchmark reports: their size, and the time to write them, for 10k and 1M explained rows.

The explained rows are synthetic but consistent: 30 features drawn from a fixed-seed normal
(each feature its own mean and scale, rounded to 4 decimals as measured data is), and a linear
model of 2 outputs whose SHAP values are ``w_kj * (x_j - mean_j)``, so that every row adds up:
``base_value + sum(values) == prediction`` with ``base_value = f(mean)``.

For each size it times, best of REPEATS, alternating:

* the job's path: each batch of 10,000 rows fed to ``ReportOutput.collector()`` as
  ``ExplanationsJob`` does (``ReportRows.add(table, explanation)``); only the ``add`` calls are
  timed, each batch being generated (and its table built) outside the clock. Then the report
  built with ``explanations_run_report`` and written with ``ReportOutput.write`` (html, pdf,
  ipynb), and, for the breakdown, each format written alone;
* from files: ``report_from_outputs`` (what ``explainops report`` runs) on the
  sample-explanations Parquet (one row group a batch, as the job writes it), the
  model-explanations CSV and the inputs CSV (with an ``id`` column), all written beforehand.
  It reads the whole table in batches, then the inputs once for the sampled ids, then renders
  the three formats.

Memory stays bounded by a batch: the 1M-row table (2M rows x 34 columns, about 550 MB as
float64) is never held whole; the process's peak RSS is printed.

Run it with ``.venv/bin/python bench/report.py`` (``--rows`` to choose the sizes, ``--quick``
for 10,000 rows only, ``--profile`` to print where the from-files path spends its time); about a
minute on 2 cores. Everything is written to a temporary folder.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

N_FEATURES = 30
LABELS = ("label0", "label1")
ROWS_PER_BATCH = 10_000
REPEATS = 2
SEED = 0
HTML_LIMIT_BYTES = 2_000_000
FEATURE_NAMES = tuple(f"x{index:02d}" for index in range(N_FEATURES))


@dataclass(frozen=True)
class LinearModel:
    """A linear model of 2 outputs, and the distribution its inputs are drawn from."""

    weights: np.ndarray  # (k, d)
    intercepts: np.ndarray  # (k,)
    means: np.ndarray  # (d,)
    scales: np.ndarray  # (d,)

    @classmethod
    def drawn(cls, seed: int = SEED) -> LinearModel:
        rng = np.random.default_rng(seed)
        return cls(
            weights=rng.normal(size=(len(LABELS), N_FEATURES)) / np.arange(1, N_FEATURES + 1),
            intercepts=rng.normal(size=len(LABELS)),
            means=rng.normal(0.0, 5.0, size=N_FEATURES),
            scales=rng.uniform(0.5, 3.0, size=N_FEATURES),
        )

    def explained_batch(self, start: int, size: int) -> tuple[Any, np.ndarray]:
        """(Explanation, sample ids) of the rows start .. start + size, the same every call."""
        from explainops.explainers import Explanation

        rng = np.random.default_rng([SEED, start])
        inputs = np.round(rng.normal(self.means, self.scales, size=(size, N_FEATURES)), 4)
        explanation = Explanation(
            values=self.weights[None, :, :] * (inputs - self.means)[:, None, :],
            base_values=self.weights @ self.means + self.intercepts,
            predictions=inputs @ self.weights.T + self.intercepts,
            feature_names=FEATURE_NAMES,
            output_names=LABELS,
            data=inputs,
        )
        return explanation, np.arange(start, start + size, dtype=np.int64)

    def batches(self, n_rows: int) -> Any:
        for start in range(0, n_rows, ROWS_PER_BATCH):
            yield self.explained_batch(start, min(ROWS_PER_BATCH, n_rows - start))


@dataclass(frozen=True)
class Outputs:
    """The files a run of n_rows leaves, as ``explainops report`` reads them."""

    samples: Path
    models: Path
    inputs: Path


def write_outputs(folder: Path, model: LinearModel, n_rows: int) -> Outputs:
    """The sample explanations (Parquet), model explanations and inputs (CSV), batch by batch."""
    from explainops.core.tables import model_explanations_table
    from explainops.io.datasets import CsvWriter, ParquetWriter

    outputs = Outputs(
        folder / "samples_explanations.parquet",
        folder / "models_explanations.csv",
        folder / "inputs.csv",
    )
    abs_sums = np.zeros((len(LABELS), N_FEATURES))
    with (
        ParquetWriter(path=str(outputs.samples)).open() as samples,
        CsvWriter(path=str(outputs.inputs)).open() as inputs,
    ):
        for explanation, ids in model.batches(n_rows):
            samples.write(explanation.to_frame(ids))
            frame = pd.DataFrame(explanation.data, columns=list(FEATURE_NAMES))
            frame.insert(0, "id", ids)
            inputs.write(frame)
            abs_sums += np.abs(explanation.values).sum(axis=0)
    table = model_explanations_table(abs_sums / n_rows, FEATURE_NAMES, LABELS, "mean_abs")
    CsvWriter(path=str(outputs.models)).write(table)
    return outputs


@dataclass
class JobTimes:
    """One run of the job's path, in seconds, and the report's file sizes in bytes."""

    sampling: float
    writing: float
    formats: dict[str, float]
    sizes: dict[str, int]


def job_path(folder: Path, model: LinearModel, n_rows: int, outputs: Outputs) -> JobTimes:
    """Feed the rows batch by batch as ExplanationsJob does, then build and write the report."""
    from explainops.core.pipeline import DatasetAttributions
    from explainops.core.tables import model_explanations_table
    from explainops.io.datasets import CsvReader
    from explainops.reports.output import REPORT_FORMATS, ReportOutput
    from explainops.reports.runs import explanations_run_report, run_summary

    started = time.perf_counter()
    output = ReportOutput(path=str(folder / "report.html"))
    rows = output.collector()
    sampling = 0.0
    abs_sums = np.zeros((len(LABELS), N_FEATURES))
    additivity = 0.0
    for explanation, ids in model.batches(n_rows):
        table = explanation.to_frame(ids)
        abs_sums += np.abs(explanation.values).sum(axis=0)
        additivity = max(additivity, explanation.additivity_error())
        clock = time.perf_counter()
        rows.add(table, explanation)
        sampling += time.perf_counter() - clock

    attributions = DatasetAttributions(
        feature_names=FEATURE_NAMES,
        output_names=LABELS,
        importance=abs_sums / n_rows,
        expected_values=model.weights @ model.means + model.intercepts,
        n_samples=n_rows,
        max_additivity_error=additivity,
        explainer="LinearExplainer (synthetic)",
        background=pd.DataFrame([model.means], columns=list(FEATURE_NAMES)),
        background_weights=np.ones(1),
    )
    models_table = model_explanations_table(abs_sums / n_rows, FEATURE_NAMES, LABELS, "mean_abs")
    source = {
        "kind": "explanations",
        "samples_explanations": str(outputs.samples),
        "models_explanations": str(outputs.models),
        "partial_dependence": None,
        "inputs": CsvReader(path=str(outputs.inputs), id_column="id").model_dump(mode="json"),
        "agg_method": "mean_abs",
    }

    def report() -> Any:
        return explanations_run_report(
            output,
            rows,
            attributions,
            models_table,
            title="Explanations of a synthetic linear model",
            summary=run_summary(
                attributions,
                model="synthetic linear model",
                duration_s=time.perf_counter() - started,
                inputs=str(outputs.inputs),
                rows=rows,
            ),
            agg_method="mean_abs",
            dependence=None,
            source=source,
        )

    clock = time.perf_counter()
    paths = output.write(report())
    writing = time.perf_counter() - clock
    formats = {}
    for kind in REPORT_FORMATS:
        alone = ReportOutput(path=str(folder / "alone" / "report.html"), formats=[kind])
        clock = time.perf_counter()
        alone.write(report())
        formats[kind] = time.perf_counter() - clock
    sizes = {name.removeprefix("report_"): os.path.getsize(path) for name, path in paths.items()}
    return JobTimes(sampling, writing, formats, sizes)


def files_path(folder: Path, outputs: Outputs, profile: bool) -> tuple[float, dict[str, int]]:
    """``report_from_outputs`` on the files; (seconds, sizes in bytes)."""
    from explainops.reports.output import ReportOutput
    from explainops.reports.rebuild import report_from_outputs

    output = ReportOutput(path=str(folder / "report.html"))
    profiler = cProfile.Profile() if profile else None
    clock = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    paths = report_from_outputs(
        [str(outputs.samples), str(outputs.models)],
        output,
        samples=str(outputs.inputs),
        id_column="id",
    )
    if profiler is not None:
        profiler.disable()
    elapsed = time.perf_counter() - clock
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
        print(text.getvalue())
    sizes = {name.removeprefix("report_"): os.path.getsize(path) for name, path in paths.items()}
    return elapsed, sizes


def kilobytes(size: int | None) -> str:
    return f"{size / 1000:10.0f}" if size is not None else f"{'-':>10}"


def main() -> None:
    import logging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows",
        default="10000,1000000",
        help="comma-separated numbers of explained rows (default 10000,1000000)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 10,000 rows only")
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of the from-files path"
    )
    arguments = parser.parse_args()
    sizes = [10_000] if arguments.quick else [int(n) for n in arguments.rows.split(",")]
    logging.basicConfig(level=logging.WARNING)
    model = LinearModel.drawn()

    results: list[tuple[int, str, float, dict[str, int]]] = []
    details: list[str] = []
    with tempfile.TemporaryDirectory(prefix="explainops-report-") as name:
        for n_rows in sizes:
            folder = Path(name) / f"rows-{n_rows}"
            clock = time.perf_counter()
            outputs = write_outputs(folder / "outputs", model, n_rows)
            setup = time.perf_counter() - clock
            print(
                f"{n_rows:,} rows x {N_FEATURES} features x {len(LABELS)} labels: "
                f"samples_explanations.parquet {outputs.samples.stat().st_size / 2**20:.0f} MiB, "
                f"inputs.csv {outputs.inputs.stat().st_size / 2**20:.0f} MiB "
                f"(written in {setup:.0f} s, outside the clock)",
                flush=True,
            )
            jobs, files = [], []
            for repeat in range(REPEATS):
                jobs.append(job_path(folder / f"job{repeat}", model, n_rows, outputs))
                files.append(
                    files_path(
                        folder / f"files{repeat}", outputs, arguments.profile and repeat == 0
                    )
                )
                print(
                    f"  run {repeat + 1}: job sampling {jobs[-1].sampling:.2f} s, "
                    f"job write {jobs[-1].writing:.2f} s, from files {files[-1][0]:.2f} s",
                    flush=True,
                )
            sampling = min(job.sampling for job in jobs)
            writing = min(job.writing for job in jobs)
            formats = {kind: min(job.formats[kind] for job in jobs) for kind in jobs[0].formats}
            batches = -(-n_rows // ROWS_PER_BATCH)
            results.append((n_rows, "job", sampling + writing, jobs[0].sizes))
            results.append((n_rows, "from files", min(t for t, _ in files), files[0][1]))
            details.append(
                f"{n_rows:>9,}  sampler {sampling / batches * 1000:6.1f} ms a batch of "
                f"{ROWS_PER_BATCH:,} rows, {sampling / n_rows * 1e6:5.2f} s a million rows "
                f"({sampling:.2f} s in all); report built and written {writing:.2f} s "
                "(each format alone: "
                + ", ".join(f"{kind} {seconds:.2f} s" for kind, seconds in formats.items())
                + ")"
            )

    print(f"\nbest of {REPEATS}; {os.cpu_count()} CPUs; batches of {ROWS_PER_BATCH:,} rows\n")
    header = (
        f"{'rows':>9}  {'path':<10}  {'write_s':>8}  {'html_kb':>10}  {'pdf_kb':>10}  "
        f"{'ipynb_kb':>10}"
    )
    print(header)
    print("-" * len(header))
    for n_rows, path, seconds, files_sizes in results:
        print(
            f"{n_rows:>9,}  {path:<10}  {seconds:8.2f}  {kilobytes(files_sizes.get('html'))}  "
            f"{kilobytes(files_sizes.get('pdf'))}  {kilobytes(files_sizes.get('ipynb'))}"
        )
    print("\njob path (write_s = sampler + report):")
    for line in details:
        print(line)
    print("\nchecks:")
    for n_rows, path, _, files_sizes in results:
        if n_rows >= 1_000_000 or n_rows == max(sizes):
            verdict = "PASS" if files_sizes["html"] < HTML_LIMIT_BYTES else "FAIL"
            print(
                f"  {verdict}  html < 2 MB at {n_rows:,} rows ({path}): "
                f"{files_sizes['html'] / 1e6:.2f} MB"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
