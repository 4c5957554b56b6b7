"""Bad inputs through the CLI, as a user meets them: one clear error, nothing lost, nothing left.

Every case runs ``explainops`` in a separate process, in a fresh working folder, against a real
SQLite registry, real files and real HTTP servers on 127.0.0.1, and asserts that the run:

- exits 2 for an invalid configuration, 1 for a failed job;
- prints exactly one ``error:`` line, once, naming the file, row, column, field, URI or URL and
  what was expected, with no traceback;
- leaves the sentinel file at every output path byte for byte as it was, and nothing new
  anywhere in the workspace (outputs, inputs, working folder: no ``mlruns/``, no temp files).
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from explainops.explainers import ExactExplainer
from explainops.testing.model_server import ModelServer

from ..conftest import RegistryFixture
from .conftest import (
    EXIT_FAILED,
    EXIT_INVALID_CONFIG,
    SAMPLE_ROWS,
    Expected,
    Outcome,
    TruncatingServer,
    Workspace,
    assert_clean_failure,
    closed_port,
    mean_row,
    run_cli,
    snapshot_changes,
    wine_samples,
)

pytestmark = pytest.mark.slow

UNSET_VARIABLE = "BADINPUTS_UNSET_VARIABLE"
# Endpoint faults fail fast: one retry, a short backoff.
FAST_ENDPOINT = {"max_retries": 1, "backoff_s": 0.01, "timeout_s": 5.0}


@dataclass(frozen=True)
class Invocation:
    """The CLI arguments of one case and the environment variables it sets (None: unset)."""

    arguments: list[str]
    env: dict[str, str | None] = field(default_factory=dict)


@dataclass
class Context:
    """What a case builds its inputs from."""

    workspace: Workspace
    registry: RegistryFixture
    stack: ExitStack
    request: pytest.FixtureRequest
    servers: list[Any] = field(default_factory=list)

    @property
    def features(self) -> list[str]:
        return list(self.registry.wine.columns)

    def model_server(self) -> ModelServer:
        """The wine forest served on 127.0.0.1, answering all three class scores as CSV."""
        forest = self.registry.models["wine"]
        server = self.stack.enter_context(
            ModelServer(forest.predict_proba, self.features, csv_layout="scores")
        )
        self.servers.append(server)
        return server

    def truncating_server(self) -> TruncatingServer:
        server = self.stack.enter_context(TruncatingServer())
        self.servers.append(server)
        return server

    def drift_baseline(self) -> Path:
        """A copy of a real wine baseline file in ``data/``."""
        source: Path = self.request.getfixturevalue("wine_drift_baseline")
        target = self.workspace.data / "baseline.json"
        shutil.copyfile(source, target)
        return target


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Context], Invocation]
    expected: Expected
    check: Callable[[Context, Outcome], None] | None = None


CASES: list[Case] = []


def case(
    case_id: str,
    exit_code: int,
    *patterns: str,
    forbidden: tuple[str, ...] = (),
    max_length: int | None = None,
    check: Callable[[Context, Outcome], None] | None = None,
) -> Callable[[Callable[[Context], Invocation]], Callable[[Context], Invocation]]:
    """Register a bad-input case: how to build it and how it must fail."""

    def register(build: Callable[[Context], Invocation]) -> Callable[[Context], Invocation]:
        CASES.append(
            Case(case_id, build, Expected(exit_code, patterns, forbidden, max_length), check)
        )
        return build

    return register


def path_pattern(path: Path | str) -> str:
    return re.escape(str(path))


# --- building blocks -------------------------------------------------------------------------


def write_samples(context: Context, frame: pd.DataFrame | None = None) -> Path:
    """``data/samples.csv``: six wine rows with a ``wine_id`` column (or ``frame``)."""
    frame = wine_samples(context.registry) if frame is None else frame
    path = context.workspace.data / "samples.csv"
    frame.to_csv(path, index=False)
    return path


def explanations_job(context: Context, **changes: Any) -> dict[str, Any]:
    """An ExplanationsJob of the registry's wine forest on ``data/samples.csv``.

    Kernel SHAP with 64 coalitions against one baseline row: fast wherever a case gets that far.
    ``changes`` replace top-level fields (None removes one).
    """
    workspace = context.workspace
    job: dict[str, Any] = {
        "KIND": "ExplanationsJob",
        "inputs_samples": {
            "KIND": "CsvReader",
            "path": str(workspace.data / "samples.csv"),
            "id_column": "wine_id",
        },
        "models_explanations": {"KIND": "CsvWriter", "path": str(workspace.out / "models.csv")},
        "samples_explanations": {
            "KIND": "ParquetWriter",
            "path": str(workspace.out / "samples.parquet"),
        },
        "registry": {"name": "wine", "tracking_uri": context.registry.tracking_uri},
        "loader": {"KIND": "BuiltinLoader"},
        "explainer": {
            "KIND": "KernelExplainer",
            "num_samples": 64,
            "baseline": [mean_row(context.registry.wine)],
        },
    }
    for name, value in changes.items():
        if value is None:
            job.pop(name, None)
        else:
            job[name] = value
    return job


def run_job(
    context: Context,
    job: Mapping[str, Any],
    *extra: str,
    name: str = "job.yaml",
    env: dict[str, str | None] | None = None,
) -> Invocation:
    path = context.workspace.write_config(name, {"job": dict(job)})
    return Invocation(["run", str(path), "--no-progress", *extra], env or {})


def run_explanations(context: Context, *extra: str, **changes: Any) -> Invocation:
    """Samples written, then an ExplanationsJob with ``changes``."""
    if not (context.workspace.data / "samples.csv").exists():
        write_samples(context)
    return run_job(context, explanations_job(context, **changes), *extra)


def endpoint_loader(url: str, **options: Any) -> dict[str, Any]:
    return {"KIND": "EndpointLoader", "url": url, **FAST_ENDPOINT, **options}


def no_explanation_started(context: Context, outcome: Outcome) -> None:
    """An output path problem is found before any work: nothing was explained."""
    assert "explain with" not in outcome.result.stderr, (
        "the output path is checked before any work starts:\n" + outcome.result.stderr[-3000:]
    )


# --- configurations --------------------------------------------------------------------------


@case(
    "config-unknown-key",
    EXIT_INVALID_CONFIG,
    r"job\.inputs_samples(\.CsvReader)?\.pth\b",
    r"not permitted|unknown|extra",
)
def _(context: Context) -> Invocation:
    reader = {"KIND": "CsvReader", "pth": str(context.workspace.data / "samples.csv")}
    return run_explanations(context, inputs_samples=reader)


@case("config-unknown-job-field", EXIT_INVALID_CONFIG, r"job\.explainr\b")
def _(context: Context) -> Invocation:
    return run_explanations(context, explainr={"KIND": "KernelExplainer"})


@case(
    "config-wrong-type",
    EXIT_INVALID_CONFIG,
    r"job\.explainer(\.KernelExplainer)?\.num_samples",
    r"integer",
)
def _(context: Context) -> Invocation:
    return run_explanations(context, explainer={"KIND": "KernelExplainer", "num_samples": "many"})


@case(
    "config-out-of-range",
    EXIT_INVALID_CONFIG,
    r"job\.inputs_samples(\.CsvReader)?\.limit",
    r"greater than or equal to 1",
)
def _(context: Context) -> Invocation:
    reader = {"KIND": "CsvReader", "path": str(context.workspace.data / "samples.csv"), "limit": 0}
    return run_explanations(context, inputs_samples=reader)


@case("config-missing-field", EXIT_INVALID_CONFIG, r"job\.samples_explanations", r"required")
def _(context: Context) -> Invocation:
    return run_explanations(context, samples_explanations=None)


@case("config-bad-component-kind", EXIT_INVALID_CONFIG, r"job\.loader", r"Pickle", r"BuiltinLoader")
def _(context: Context) -> Invocation:
    return run_explanations(context, loader={"KIND": "Pickle"})


@case("config-bad-job-kind", EXIT_INVALID_CONFIG, r"\bjob\b", r"ExplanationJob", r"ExplanationsJob")
def _(context: Context) -> Invocation:
    return run_explanations(context, KIND="ExplanationJob")


@case("config-missing-kind", EXIT_INVALID_CONFIG, r"job\.explainer", r"KIND")
def _(context: Context) -> Invocation:
    return run_explanations(context, explainer={"num_samples": 64})


@case("config-yaml-syntax-error", EXIT_INVALID_CONFIG, r"job\.yaml", r"YAML", r"line \d+")
def _(context: Context) -> Invocation:
    path = context.workspace.write_text(
        "job.yaml",
        "job:\n  KIND: ExplanationsJob\n  inputs_samples: {KIND: CsvReader, path: [samples.csv\n"
        "  registry: {name: wine}\n",
    )
    return Invocation(["run", str(path), "--no-progress"])


@case("config-json-syntax-error", EXIT_INVALID_CONFIG, r"job\.json", r"line \d+")
def _(context: Context) -> Invocation:
    path = context.workspace.write_text(
        "job.json", '{"job": {"KIND": "ExplanationsJob",\n  "registry": {"name": "wine"}},,\n}\n'
    )
    return Invocation(["run", str(path), "--no-progress"])


@case("config-missing-file", EXIT_INVALID_CONFIG, r"nope\.yaml", r"not found")
def _(context: Context) -> Invocation:
    return Invocation(["run", str(context.workspace.root / "nope.yaml"), "--no-progress"])


@case("config-top-level-not-a-mapping", EXIT_INVALID_CONFIG, r"list\.yaml", r"mapping")
def _(context: Context) -> Invocation:
    path = context.workspace.write_text("list.yaml", "- job\n- KIND\n")
    return Invocation(["run", str(path), "--no-progress"])


@case("config-set-without-equals", EXIT_INVALID_CONFIG, r"--set", r"job\.alias_or_version", r"=")
def _(context: Context) -> Invocation:
    return run_explanations(context, "--set", "job.alias_or_version")


@case(
    "config-set-wrong-type",
    EXIT_INVALID_CONFIG,
    r"job\.explainer(\.KernelExplainer)?\.num_samples",
    r"integer",
)
def _(context: Context) -> Invocation:
    return run_explanations(context, "--set", "job.explainer.num_samples=lots")


@case(
    "config-missing-env-variable-in-webhook-url",
    EXIT_INVALID_CONFIG,
    UNSET_VARIABLE,
    r"job\.alerts\.url",
    forbidden=("full_key", "object_type", "OmegaConf"),
)
def _(context: Context) -> Invocation:
    alerts = {"KIND": "WebhookAlerter", "url": f"${{oc.env:{UNSET_VARIABLE}}}"}
    return run_explanations(context, alerts=alerts)


@case(
    "config-missing-env-variable-in-endpoint-header",
    EXIT_INVALID_CONFIG,
    UNSET_VARIABLE,
    r"job\.loader\.headers\.Authorization",
    forbidden=("full_key", "object_type", "OmegaConf"),
)
def _(context: Context) -> Invocation:
    loader = endpoint_loader(
        "http://127.0.0.1:9/invocations", headers={"Authorization": f"${{oc.env:{UNSET_VARIABLE}}}"}
    )
    return run_explanations(context, loader=loader)


@case(
    "config-endpoint-template-without-features",
    EXIT_INVALID_CONFIG,
    r"job\.loader",
    r"content_template",
    r"\$features",
)
def _(context: Context) -> Invocation:
    loader = endpoint_loader(
        "http://127.0.0.1:9/invocations",
        content_type="application/jsonlines",
        content_template='{"rows": 1}',
    )
    return run_explanations(context, loader=loader)


@case("config-drift-history-not-a-table", EXIT_INVALID_CONFIG, r"history_path", r"parquet|csv")
def _(context: Context) -> Invocation:
    history = str(context.workspace.out / "drift" / "history.xlsx")
    baseline = str(context.workspace.data / "baseline.json")
    return run_job(context, drift_job(context, history_path=history, baseline_path=baseline))


# --- data files ------------------------------------------------------------------------------


@case("data-missing-file", EXIT_FAILED, r"missing\.csv", r"not found")
def _(context: Context) -> Invocation:
    reader = {"KIND": "CsvReader", "path": str(context.workspace.data / "missing.csv")}
    return run_explanations(context, inputs_samples=reader)


@case("data-empty-file", EXIT_FAILED, r"samples\.csv", r"empty|no rows|no columns|no data")
def _(context: Context) -> Invocation:
    (context.workspace.data / "samples.csv").write_bytes(b"")
    return run_explanations(context)


@case("data-header-only", EXIT_FAILED, r"samples\.csv", r"no rows")
def _(context: Context) -> Invocation:
    write_samples(context, wine_samples(context.registry).iloc[:0])
    return run_explanations(context)


@case("data-parquet-file-read-as-csv", EXIT_FAILED, r"samples\.csv", r"CSV")
def _(context: Context) -> Invocation:
    wine_samples(context.registry).to_parquet(context.workspace.data / "samples.csv")
    return run_explanations(context)


@case("data-csv-file-read-as-parquet", EXIT_FAILED, r"samples_in\.parquet", r"Parquet")
def _(context: Context) -> Invocation:
    path = context.workspace.data / "samples_in.parquet"
    wine_samples(context.registry).to_csv(path, index=False)
    reader = {"KIND": "ParquetReader", "path": str(path), "id_column": "wine_id"}
    return run_explanations(context, inputs_samples=reader)


@case("data-corrupt-parquet", EXIT_FAILED, r"samples_in\.parquet", r"Parquet")
def _(context: Context) -> Invocation:
    path = context.workspace.data / "samples_in.parquet"
    wine_samples(context.registry).to_parquet(path)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    reader = {"KIND": "ParquetReader", "path": str(path), "id_column": "wine_id"}
    return run_explanations(context, inputs_samples=reader)


@case(
    "data-csv-row-with-extra-fields",
    EXIT_FAILED,
    r"samples\.csv",
    r"more fields|expected \d+ fields",
    r"(line|row) \d+",
)
def _(context: Context) -> Invocation:
    path = write_samples(context)
    lines = path.read_text().splitlines()
    lines[3] += ",9.99"
    path.write_text("\n".join(lines) + "\n")
    return run_explanations(context)


def with_value(context: Context, row: int, column: str, value: Any) -> pd.DataFrame:
    frame = wine_samples(context.registry).astype({column: object})
    frame.loc[row, column] = value
    return frame


@case(
    "data-missing-value-not-nullable",
    EXIT_FAILED,
    r"samples\.csv",
    r"row 2\b",
    r"alcohol",
    r"missing value",
)
def _(context: Context) -> Invocation:
    write_samples(context, with_value(context, 2, "alcohol", None))
    return run_explanations(context)


@case("data-inf-value", EXIT_FAILED, r"samples\.csv", r"row 3\b", r"'ash'", r"inf|finite")
def _(context: Context) -> Invocation:
    write_samples(context, with_value(context, 3, "ash", "inf"))
    return run_explanations(context)


@case("data-minus-inf-value", EXIT_FAILED, r"samples\.csv", r"row 1\b", r"hue", r"inf|finite")
def _(context: Context) -> Invocation:
    write_samples(context, with_value(context, 1, "hue", "-inf"))
    return run_explanations(context)


@case(
    "data-inf-value-in-parquet",
    EXIT_FAILED,
    r"samples_in\.parquet",
    r"row 4\b",
    r"proline",
    r"inf|finite",
)
def _(context: Context) -> Invocation:
    frame = wine_samples(context.registry)
    frame.loc[4, "proline"] = np.inf
    path = context.workspace.data / "samples_in.parquet"
    frame.to_parquet(path)
    reader = {"KIND": "ParquetReader", "path": str(path), "id_column": "wine_id"}
    return run_explanations(context, inputs_samples=reader)


@case("data-wrong-dtype", EXIT_FAILED, r"samples\.csv", r"row 0\b", r"'ash'", r"float", r"abc")
def _(context: Context) -> Invocation:
    write_samples(context, with_value(context, 0, "ash", "abc"))
    return run_explanations(context)


@case("data-missing-column", EXIT_FAILED, r"samples\.csv", r"proline", r"missing column")
def _(context: Context) -> Invocation:
    write_samples(context, wine_samples(context.registry).drop(columns="proline"))
    return run_explanations(context)


@case("data-unexpected-column", EXIT_FAILED, r"samples\.csv", r"colour", r"unexpected column")
def _(context: Context) -> Invocation:
    write_samples(context, wine_samples(context.registry).assign(colour=1.0))
    return run_explanations(context)


@case(
    "data-duplicate-ids",
    EXIT_FAILED,
    r"samples\.csv",
    r"wine_id",
    r"duplicate|repeat|more than once|each sample once",
    r"wine-1\b",
    r"\brows?\b",
    # the two rows holding wine-1: positions 1 and 4 (or 2 and 5 counted from 1)
    r"\b1\b.*\b4\b|\b2\b.*\b5\b",
)
def _(context: Context) -> Invocation:
    frame = wine_samples(context.registry)
    frame.loc[4, "wine_id"] = "wine-1"
    write_samples(context, frame)
    return run_explanations(context)


def write_json_lines(context: Context, lines: list[str]) -> dict[str, Any]:
    path = context.workspace.data / "samples.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return {"KIND": "JsonLinesReader", "path": str(path), "id_column": "wine_id"}


def json_records(context: Context) -> list[str]:
    return [
        json.dumps(record) for record in wine_samples(context.registry).to_dict(orient="records")
    ]


@case("data-invalid-json-lines-line", EXIT_FAILED, r"samples\.jsonl", r"line 3\b", r"JSON")
def _(context: Context) -> Invocation:
    lines = json_records(context)
    lines[2] = lines[2][:-5]
    return run_explanations(context, inputs_samples=write_json_lines(context, lines))


@case(
    "data-json-lines-record-not-an-object", EXIT_FAILED, r"samples\.jsonl", r"line 2\b", r"object"
)
def _(context: Context) -> Invocation:
    lines = json_records(context)
    lines[1] = "[1, 2, 3]"
    return run_explanations(context, inputs_samples=write_json_lines(context, lines))


@case("data-missing-id-column", EXIT_FAILED, r"samples\.csv", r"wine_key", r"not found|missing")
def _(context: Context) -> Invocation:
    reader = {
        "KIND": "CsvReader",
        "path": str(context.workspace.data / "samples.csv"),
        "id_column": "wine_key",
    }
    return run_explanations(context, inputs_samples=reader)


@case("data-schema-check-fails", EXIT_FAILED, r"samples\.csv", r"row 0\b", r"alcohol", r"10")
def _(context: Context) -> Invocation:
    columns: dict[str, Any] = {name: {"dtype": "float"} for name in context.features}
    columns["alcohol"] = {"dtype": "float", "le": 10}
    return run_explanations(context, input_schema={"columns": columns})


# --- registry states -------------------------------------------------------------------------


@case(
    "registry-unknown-model",
    EXIT_FAILED,
    r"'wines'",
    r"\bwine\b",
    r"mlflow\.db",
    r"MLFLOW_TRACKING_URI",
)
def _(context: Context) -> Invocation:
    registry = {"name": "wines", "tracking_uri": context.registry.tracking_uri}
    return run_explanations(context, registry=registry)


@case("registry-unknown-alias", EXIT_FAILED, r"'wine'", r"Champ\b", r"Champion", r"Challenger")
def _(context: Context) -> Invocation:
    return run_explanations(context, alias_or_version="Champ")


@case("registry-unknown-version", EXIT_FAILED, r"'wine'", r"version 7", r"\b1\b.*\b2\b")
def _(context: Context) -> Invocation:
    return run_explanations(context, alias_or_version=7)


@case(
    "registry-file-missing",
    EXIT_FAILED,
    r"registry/mlflow\.db",
    r"MLFLOW_TRACKING_URI",
)
def _(context: Context) -> Invocation:
    uri = f"sqlite:///{context.workspace.root / 'registry' / 'mlflow.db'}"
    return run_explanations(context, registry={"name": "wine", "tracking_uri": uri})


@case("registry-corrupt-file", EXIT_FAILED, r"registry\.db", forbidden=("DatabaseError",))
def _(context: Context) -> Invocation:
    path = context.workspace.data / "registry.db"
    path.write_bytes(np.random.default_rng(0).bytes(8192))
    return run_explanations(context, registry={"name": "wine", "tracking_uri": f"sqlite:///{path}"})


@case("registry-not-a-sqlite-file", EXIT_FAILED, r"registry\.db", forbidden=("DatabaseError",))
def _(context: Context) -> Invocation:
    path = context.workspace.data / "registry.db"
    path.write_text("name,version\nwine,1\n" * 200)
    return run_explanations(context, registry={"name": "wine", "tracking_uri": f"sqlite:///{path}"})


@case("registry-env-uri-missing", EXIT_FAILED, r"env-registry/mlflow\.db")
def _(context: Context) -> Invocation:
    uri = f"sqlite:///{context.workspace.root / 'env-registry' / 'mlflow.db'}"
    invocation = run_explanations(context, registry={"name": "wine"})
    return Invocation(invocation.arguments, {"MLFLOW_TRACKING_URI": uri})


@case("registry-default-missing", EXIT_FAILED, r"mlruns/mlflow\.db", r"MLFLOW_TRACKING_URI")
def _(context: Context) -> Invocation:
    return run_explanations(context, registry={"name": "wine"})


@case("clarify-unknown-model-uri", EXIT_FAILED, r"wines")
def _(context: Context) -> Invocation:
    return clarify(context, model="models:/wines/1")


# --- output paths ----------------------------------------------------------------------------


def make_folder(context: Context, relative: str) -> Path:
    """Turn the sentinel at ``relative`` into a folder holding a file."""
    path = context.workspace.path(relative)
    path.unlink()
    path.mkdir()
    (path / "keep.txt").write_text("a file the user keeps here\n")
    return path


def make_file(context: Context, relative: str) -> Path:
    path = context.workspace.path(relative)
    path.write_text("a file where a folder was expected\n")
    return path


@case(
    "output-samples-path-is-a-directory",
    EXIT_FAILED,
    path_pattern("out/samples.parquet"),
    r"director|folder",
    check=no_explanation_started,
)
def _(context: Context) -> Invocation:
    make_folder(context, "out/samples.parquet")
    return run_explanations(context)


@case(
    "output-models-path-is-a-directory",
    EXIT_FAILED,
    path_pattern("out/models.csv"),
    r"director|folder",
    check=no_explanation_started,
)
def _(context: Context) -> Invocation:
    make_folder(context, "out/models.csv")
    return run_explanations(context)


@case(
    "output-samples-parent-is-a-file",
    EXIT_FAILED,
    path_pattern("out/blocker") + r"'? is a file, not a folder",
    check=no_explanation_started,
)
def _(context: Context) -> Invocation:
    blocker = make_file(context, "out/blocker")
    writer = {"KIND": "ParquetWriter", "path": str(blocker / "samples.parquet")}
    return run_explanations(context, samples_explanations=writer)


@case(
    "output-models-parent-is-a-file",
    EXIT_FAILED,
    path_pattern("out/blocker") + r"'? is a file, not a folder",
    check=no_explanation_started,
)
def _(context: Context) -> Invocation:
    blocker = make_file(context, "out/blocker")
    writer = {"KIND": "CsvWriter", "path": str(blocker / "models.csv")}
    return run_explanations(context, models_explanations=writer)


# Tests run as root, whom chmod does not stop; nobody can create a folder in /proc.
UNWRITABLE = "/proc/explainops-bad-inputs/out"


@case(
    "output-unwritable-location",
    EXIT_FAILED,
    re.escape(UNWRITABLE),
    check=no_explanation_started,
)
def _(context: Context) -> Invocation:
    writer = {"KIND": "ParquetWriter", "path": f"{UNWRITABLE}/samples.parquet"}
    return run_explanations(context, samples_explanations=writer)


@case(
    "output-clarify-output-is-a-file",
    EXIT_FAILED,
    path_pattern("out/clarify_file") + r"'? is a file, not a folder",
    check=no_explanation_started,
)
def _(context: Context) -> Invocation:
    output = make_file(context, "out/clarify_file")
    return clarify(context, output=output)


@case(
    "output-clarify-analysis-is-a-directory",
    EXIT_FAILED,
    path_pattern("out/clarify/analysis.json"),
    r"director|folder",
    check=no_explanation_started,
)
def _(context: Context) -> Invocation:
    make_folder(context, "out/clarify/analysis.json")
    return clarify(context)


@case(
    "output-drift-violations-is-a-directory",
    EXIT_FAILED,
    path_pattern("out/drift/constraint_violations.json"),
    r"director|folder",
    check=no_explanation_started,
)
def _(context: Context) -> Invocation:
    make_folder(context, "out/drift/constraint_violations.json")
    return run_job(context, drift_job(context))


@case(
    "output-drift-history-parent-is-a-file",
    EXIT_FAILED,
    path_pattern("out/blocker") + r"'? is a file, not a folder",
    check=no_explanation_started,
)
def _(context: Context) -> Invocation:
    blocker = make_file(context, "out/blocker")
    return run_job(context, drift_job(context, history_path=str(blocker / "history.csv")))


@case(
    "output-baseline-path-is-a-directory",
    EXIT_FAILED,
    path_pattern("out/baseline/baseline.json"),
    r"director|folder",
    check=no_explanation_started,
)
def _(context: Context) -> Invocation:
    make_folder(context, "out/baseline/baseline.json")
    write_samples(context)
    job = explanations_job(context, models_explanations=None, samples_explanations=None)
    job |= {
        "KIND": "AttributionBaselineJob",
        "baseline_path": str(context.workspace.out / "baseline" / "baseline.json"),
    }
    return run_job(context, job)


# --- Clarify configs -------------------------------------------------------------------------


def cancer_features(context: Context) -> list[str]:
    return list(context.registry.cancer.columns)


def analysis_config(context: Context, **shap: Any) -> dict[str, Any]:
    """A Clarify config for the registry's cancer model: 8 headers, 32 coalitions, one row."""
    baseline = [mean_row(context.registry.cancer)]
    return {
        "version": "1.0",
        "headers": cancer_features(context),
        "methods": {"shap": {"baseline": baseline, "num_samples": 32, "seed": 0} | shap},
        "predictor": {"model_name": "cancer"},
    }


def clarify(
    context: Context,
    config: dict[str, Any] | str | None = None,
    *,
    dataset: Path | None = None,
    output: Path | None = None,
    model: str | None = "models:/cancer/1",
    endpoint: str | None = None,
    extra: tuple[str, ...] = (),
) -> Invocation:
    """``explainops clarify`` on six header-less cancer rows, in process unless ``endpoint``."""
    workspace = context.workspace
    config_path = workspace.data / "analysis_config.json"
    document = analysis_config(context) if config is None else config
    config_path.write_text(document if isinstance(document, str) else json.dumps(document))
    if dataset is None:
        dataset = workspace.data / "dataset.csv"
        context.registry.cancer.iloc[:6].to_csv(dataset, index=False, header=False)
    arguments = [
        "clarify",
        "--no-progress",
        "--config",
        str(config_path),
        "--dataset",
        str(dataset),
        "--output",
        str(output or workspace.out / "clarify"),
    ]
    if endpoint is not None:
        arguments += ["--endpoint", endpoint, "--max-retries", "1", "--timeout", "5"]
    else:
        arguments += ["--model", str(model), "--tracking-uri", context.registry.tracking_uri]
        arguments += ["--probability-attribute", "1"]
    return Invocation([*arguments, *extra])


@case(
    "clarify-unknown-field",
    EXIT_INVALID_CONFIG,
    r"analysis_config\.json",
    r"methods\.shap\.num_sample\b",
)
def _(context: Context) -> Invocation:
    config = analysis_config(context)
    config["methods"]["shap"]["num_sample"] = config["methods"]["shap"].pop("num_samples")
    return clarify(context, config)


@case("clarify-no-methods", EXIT_INVALID_CONFIG, r"analysis_config\.json", r"give shap or pdp")
def _(context: Context) -> Invocation:
    config = analysis_config(context)
    config["methods"] = {}
    return clarify(context, config)


@case(
    "clarify-bad-json",
    EXIT_INVALID_CONFIG,
    r"analysis_config\.json",
    r"JSON",
    r"line \d+",
)
def _(context: Context) -> Invocation:
    return clarify(context, '{"version": "1.0",\n "methods": {"shap": {"num_samples": 32,}}}\n')


@case(
    "clarify-text-config-without-language",
    EXIT_INVALID_CONFIG,
    r"analysis_config\.json",
    r"text_config\.language",
)
def _(context: Context) -> Invocation:
    return clarify(context, analysis_config(context, text_config={"granularity": "token"}))


@case(
    "clarify-image-config-without-image-data-set",
    EXIT_INVALID_CONFIG,
    r"analysis_config\.json",
    r"image_config",
    r"application/x-image",
)
def _(context: Context) -> Invocation:
    return clarify(
        context, analysis_config(context, image_config={"model_type": "IMAGE_CLASSIFICATION"})
    )


@case(
    "clarify-baseline-row-of-wrong-width",
    EXIT_FAILED,
    r"methods\.shap\.baseline",
    r"row 1\b",
    r"expected 8",
)
def _(context: Context) -> Invocation:
    return clarify(context, analysis_config(context, baseline=[[0.1, 0.2]]))


@case("clarify-label-headers-not-matching-outputs", EXIT_INVALID_CONFIG, r"label_headers", r"\b3\b")
def _(context: Context) -> Invocation:
    config = analysis_config(context)
    config["predictor"]["label_headers"] = ["low", "medium", "high"]
    return clarify(context, config)


def no_local_values_folder(context: Context, outcome: Outcome) -> None:
    folder = context.workspace.out / "clarify" / "explanations_shap"
    assert not folder.exists(), f"a failed run leaves no {folder}"


@case(
    "clarify-failed-run-leaves-no-local-values-folder",
    EXIT_FAILED,
    r"methods\.shap\.baseline",
    check=no_local_values_folder,
)
def _(context: Context) -> Invocation:
    config = analysis_config(context, baseline=[[0.1, 0.2]], save_local_shap_values=True)
    return clarify(context, config)


@case("clarify-missing-dataset", EXIT_FAILED, r"nope\.csv", r"not found")
def _(context: Context) -> Invocation:
    return clarify(context, dataset=context.workspace.data / "nope.csv")


@case("clarify-header-row-differs-from-headers", EXIT_FAILED, r"dataset\.csv", r"header")
def _(context: Context) -> Invocation:
    dataset = context.workspace.data / "dataset.csv"
    frame = context.registry.cancer.iloc[:6]
    frame.rename(columns={frame.columns[0]: "radius"}).to_csv(dataset, index=False)
    return clarify(context, dataset=dataset)


@case("clarify-header-option-without-variable", EXIT_INVALID_CONFIG, r"--header", r"NAME=ENV_VAR")
def _(context: Context) -> Invocation:
    return clarify(
        context, endpoint="http://127.0.0.1:9/invocations", extra=("--header", "Authorization")
    )


@case("clarify-header-variable-unset", EXIT_INVALID_CONFIG, UNSET_VARIABLE, r"Authorization")
def _(context: Context) -> Invocation:
    url = f"http://127.0.0.1:{closed_port()}/invocations"
    return clarify(context, endpoint=url, extra=("--header", f"Authorization={UNSET_VARIABLE}"))


@case(
    "clarify-endpoint-refuses-connection",
    EXIT_FAILED,
    r"http://127\.0\.0\.1:\d+/invocations",
    r"request batch",
    forbidden=("Max retries exceeded", "NewConnectionError"),
)
def _(context: Context) -> Invocation:
    return clarify(context, endpoint=f"http://127.0.0.1:{closed_port()}/invocations")


# --- drift baselines -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wine_drift_baseline(
    tmp_path_factory: pytest.TempPathFactory, test_registry: RegistryFixture
) -> Path:
    """A real baseline file of the wine forest on 40 reference rows (TreeExplainer, one row)."""
    folder = tmp_path_factory.mktemp("drift-baseline")
    reference = folder / "reference.csv"
    wine_samples(test_registry, 40).to_csv(reference, index=False)
    baseline = folder / "baseline.json"
    config = Workspace(folder / "ws").write_config(
        "baseline.yaml",
        {
            "job": {
                "KIND": "AttributionBaselineJob",
                "inputs_samples": {
                    "KIND": "CsvReader",
                    "path": str(reference),
                    "id_column": "wine_id",
                },
                "registry": {"name": "wine", "tracking_uri": test_registry.tracking_uri},
                "loader": {"KIND": "BuiltinLoader"},
                "explainer": {"KIND": "TreeExplainer", "baseline": [mean_row(test_registry.wine)]},
                "baseline_path": str(baseline),
            }
        },
    )
    result = run_cli(["run", str(config), "--no-progress"], cwd=folder)
    assert result.returncode == 0, f"the baseline job must succeed:\n{result.stderr[-3000:]}"
    return baseline


def drift_job(context: Context, **changes: Any) -> dict[str, Any]:
    """An AttributionDriftJob of the wine forest on six window rows, against a real baseline."""
    workspace = context.workspace
    window = workspace.data / "window.csv"
    if not window.exists():
        frame = wine_samples(context.registry, 46).iloc[40:]
        frame.to_csv(window, index=False)
    baseline = workspace.data / "baseline.json"
    if "baseline_path" not in changes and not baseline.exists():
        context.drift_baseline()
    job: dict[str, Any] = {
        "KIND": "AttributionDriftJob",
        "inputs_samples": {"KIND": "CsvReader", "path": str(window), "id_column": "wine_id"},
        "registry": {"name": "wine", "tracking_uri": context.registry.tracking_uri},
        "loader": {"KIND": "BuiltinLoader"},
        "baseline_path": str(baseline),
        "violations_path": str(workspace.out / "drift" / "constraint_violations.json"),
        "history_path": str(workspace.out / "drift" / "history.csv"),
        "window_id": "w1",
    }
    return job | changes


@case("drift-baseline-missing", EXIT_FAILED, r"nope\.json", r"not found")
def _(context: Context) -> Invocation:
    return run_job(
        context, drift_job(context, baseline_path=str(context.workspace.data / "nope.json"))
    )


@case("drift-baseline-corrupt-json", EXIT_FAILED, r"baseline\.json", r"not valid JSON", r"line \d+")
def _(context: Context) -> Invocation:
    path = context.workspace.write_text("data/baseline.json", '{"version": "1.0", "explanations": ')
    return run_job(context, drift_job(context, baseline_path=str(path)))


@case(
    "drift-baseline-foreign-json",
    EXIT_FAILED,
    r"baseline\.json",
    r"not an explainops attribution baseline",
)
def _(context: Context) -> Invocation:
    foreign = {"version": "1.0", "violations": []}
    path = context.workspace.write_text("data/baseline.json", json.dumps(foreign))
    return run_job(context, drift_job(context, baseline_path=str(path)))


@case(
    "drift-baseline-without-background",
    EXIT_FAILED,
    r"baseline\.json",
    r"background",
)
def _(context: Context) -> Invocation:
    path = context.drift_baseline()
    document = json.loads(path.read_text())
    del document["explainops"]["background"]
    path.write_text(json.dumps(document))
    return run_job(context, drift_job(context))


@case("drift-baseline-of-another-model", EXIT_FAILED, r"baseline\.json", r"'wine'", r"'cancer'")
def _(context: Context) -> Invocation:
    window = context.workspace.data / "window.csv"
    context.registry.cancer.iloc[:6].to_csv(window, index=False)
    registry = {"name": "cancer", "tracking_uri": context.registry.tracking_uri}
    reader = {"KIND": "CsvReader", "path": str(window)}
    return run_job(context, drift_job(context, registry=registry, inputs_samples=reader))


@case("drift-window-with-other-features", EXIT_FAILED, r"window\.csv", r"features", r"baseline")
def _(context: Context) -> Invocation:
    window = context.workspace.data / "window.csv"
    context.registry.cancer.iloc[:6].to_csv(window, index=False)
    registry = {"name": "cancer", "tracking_uri": context.registry.tracking_uri}
    reader = {"KIND": "CsvReader", "path": str(window)}
    job = drift_job(context, registry=registry, inputs_samples=reader, allow_model_change=True)
    return run_job(context, job)


@case("drift-empty-window", EXIT_FAILED, r"window\.csv", r"no rows")
def _(context: Context) -> Invocation:
    window = context.workspace.data / "window.csv"
    wine_samples(context.registry).iloc[:0].to_csv(window, index=False)
    return run_job(context, drift_job(context))


@case("drift-explainer-set", EXIT_INVALID_CONFIG, r"job\.explainer|\bexplainer\b", r"baseline")
def _(context: Context) -> Invocation:
    job = drift_job(context, explainer={"KIND": "KernelExplainer", "num_samples": 64})
    return run_job(context, job)


# --- endpoints -------------------------------------------------------------------------------

# The URL, the request batch and the rows it held: samples (or baseline rows), not the internal
# frame of coalitions the model is called on.
ENDPOINT_MESSAGE = (r"request batch \d+", r"\b(samples?|baseline rows?|sample rows?) \d+")


def run_endpoint(context: Context, url: str, **options: Any) -> Invocation:
    return run_explanations(context, loader=endpoint_loader(url, **options))


@case(
    "endpoint-refuses-connection",
    EXIT_FAILED,
    r"http://127\.0\.0\.1:\d+/invocations",
    *ENDPOINT_MESSAGE,
    r"connect|refused",
    forbidden=("Max retries exceeded", "NewConnectionError", "HTTPConnectionPool"),
    max_length=300,
)
def _(context: Context) -> Invocation:
    return run_endpoint(context, f"http://127.0.0.1:{closed_port()}/invocations")


def server_with(fault: str, *arguments: Any) -> Callable[[Context], ModelServer]:
    def start(context: Context) -> ModelServer:
        server = context.model_server()
        getattr(server, fault)(*arguments)
        return server

    return start


@case("endpoint-http-500-permanent", EXIT_FAILED, r"/invocations", *ENDPOINT_MESSAGE, r"HTTP 500")
def _(context: Context) -> Invocation:
    return run_endpoint(context, server_with("fail_always", 500)(context).url)


@case("endpoint-http-400", EXIT_FAILED, r"/invocations", *ENDPOINT_MESSAGE, r"HTTP 400")
def _(context: Context) -> Invocation:
    return run_endpoint(context, server_with("fail_always", 400)(context).url)


@case(
    "endpoint-wrong-content-type",
    EXIT_FAILED,
    r"/invocations",
    *ENDPOINT_MESSAGE,
    r"Content-Type",
    r"text/html",
)
def _(context: Context) -> Invocation:
    return run_endpoint(context, server_with("wrong_content_type")(context).url)


@case(
    "endpoint-short-response",
    EXIT_FAILED,
    r"/invocations",
    *ENDPOINT_MESSAGE,
    r"\d+ rows, expected \d+|expected \d+ rows",
)
def _(context: Context) -> Invocation:
    return run_endpoint(context, server_with("short_response")(context).url)


@case(
    "endpoint-garbage-body",
    EXIT_FAILED,
    r"/invocations",
    *ENDPOINT_MESSAGE,
    r"not a number|rows?, expected",
)
def _(context: Context) -> Invocation:
    return run_endpoint(context, server_with("garbage")(context).url)


def truncated_body_was_retried(context: Context, outcome: Outcome) -> None:
    (server,) = context.servers
    attempts = FAST_ENDPOINT["max_retries"] + 1
    assert server.requests == attempts, (
        f"a truncated response is retried like a 503: {attempts} attempts, got {server.requests}"
    )


@case(
    "endpoint-truncated-body",
    EXIT_FAILED,
    r"http://127\.0\.0\.1:\d+/invocations",
    *ENDPOINT_MESSAGE,
    forbidden=("ChunkedEncodingError", "IncompleteRead"),
    check=truncated_body_was_retried,
)
def _(context: Context) -> Invocation:
    return run_endpoint(context, context.truncating_server().url)


@case("endpoint-header-variable-unset", EXIT_INVALID_CONFIG, UNSET_VARIABLE, r"headers_from_env")
def _(context: Context) -> Invocation:
    server = context.model_server()
    return run_endpoint(context, server.url, headers_from_env={"Authorization": UNSET_VARIABLE})


def names_sample_rows(context: Context, outcome: Outcome) -> None:
    """The rows an endpoint error names are samples (0-5), not rows of the coalition frame."""
    message = outcome.error_lines[0]
    found = re.search(r"\bsample(?:s| rows?) (\d+)(?:-(\d+))?", message)
    assert found, f"the message names the sample rows the request held: {message!r}"
    rows = [int(group) for group in found.groups() if group is not None]
    assert all(0 <= row < SAMPLE_ROWS for row in rows), (
        f"rows {rows} are sample rows of the {SAMPLE_ROWS} samples: {message!r}"
    )


@case(
    "endpoint-http-400-on-a-batch-of-samples",
    EXIT_FAILED,
    r"/invocations",
    *ENDPOINT_MESSAGE,
    r"HTTP 400",
    check=names_sample_rows,
)
def _(context: Context) -> Invocation:
    server = context.model_server()
    server.schedule([None, None, 400])  # the third request: coalitions of the first samples
    return run_endpoint(context, server.url, batch_size=100, max_concurrency=1)


@case(
    "endpoint-drops-every-connection",
    EXIT_FAILED,
    r"/invocations",
    *ENDPOINT_MESSAGE,
    r"connection|closed|dropped|no answer|no response",
    forbidden=("RemoteDisconnected", "ConnectionError(", "ProtocolError("),
)
def _(context: Context) -> Invocation:
    return run_endpoint(context, server_with("drop_connection")(context).url)


@case(
    "endpoint-stalls-past-its-timeout",
    EXIT_FAILED,
    r"/invocations",
    *ENDPOINT_MESSAGE,
    r"no response within|timed? ?out",
    forbidden=("ReadTimeout", "HTTPConnectionPool"),
)
def _(context: Context) -> Invocation:
    server = server_with("delay", 5.0)(context)
    return run_endpoint(context, server.url, timeout_s=0.5)


# --- explainers and their baselines ----------------------------------------------------------


@case(
    "explainer-exact-over-its-feature-limit",
    EXIT_FAILED,
    r"ExactExplainer",
    r"\b4\b",
    r"\b13\b",
)
def _(context: Context) -> Invocation:
    return run_explanations(context, explainer={"KIND": "ExactExplainer", "max_features": 4})


@case("explainer-tree-without-native-model", EXIT_FAILED, r"TreeExplainer", r"BuiltinLoader")
def _(context: Context) -> Invocation:
    explainer = {"KIND": "TreeExplainer", "baseline": [mean_row(context.registry.wine)]}
    return run_explanations(context, loader={"KIND": "CustomLoader"}, explainer=explainer)


@case("explainer-baseline-file-missing", EXIT_FAILED, r"nope_baseline\.csv", r"not found")
def _(context: Context) -> Invocation:
    baseline = str(context.workspace.data / "nope_baseline.csv")
    explainer = {"KIND": "KernelExplainer", "num_samples": 64, "baseline": baseline}
    return run_explanations(context, explainer=explainer)


@case(
    "explainer-baseline-rows-of-wrong-width",
    EXIT_FAILED,
    r"explainer\.baseline",
    r"\b2\b",
    r"expected 13",
)
def _(context: Context) -> Invocation:
    explainer = {"KIND": "KernelExplainer", "num_samples": 64, "baseline": [[1.0, 2.0]]}
    return run_explanations(context, explainer=explainer)


@case(
    "explainer-baseline-file-of-another-model",
    EXIT_FAILED,
    r"baseline",
    r"missing",
    r"alcohol",
)
def _(context: Context) -> Invocation:
    baseline = context.workspace.data / "other_baseline.csv"
    context.registry.cancer.iloc[:3].to_csv(baseline, index=False)
    explainer = {"KIND": "KernelExplainer", "num_samples": 64, "baseline": str(baseline)}
    return run_explanations(context, explainer=explainer)


@case(
    "data-json-lines-without-the-features-path",
    EXIT_FAILED,
    r"samples\.jsonl",
    r"line 1\b",
    r"'?features'?",
)
def _(context: Context) -> Invocation:
    reader = write_json_lines(context, json_records(context)) | {"features": "features"}
    return run_explanations(context, inputs_samples=reader)


@case(
    "data-json-lines-features-of-wrong-length",
    EXIT_FAILED,
    r"samples\.jsonl",
    r"line 1\b",
    r"12 features, expected 13",
)
def _(context: Context) -> Invocation:
    frame = wine_samples(context.registry)
    values = frame[context.features].to_numpy().tolist()
    lines = [  # 12 of the 13 features
        json.dumps({"wine_id": wine_id, "features": row[:-1]})
        for wine_id, row in zip(frame["wine_id"], values, strict=True)
    ]
    reader = write_json_lines(context, lines) | {
        "features": "features",
        "headers": context.features,
    }
    return run_explanations(context, inputs_samples=reader)


# --- the suite -------------------------------------------------------------------------------


@pytest.fixture
def context(
    workspace: Workspace, test_registry: RegistryFixture, request: pytest.FixtureRequest
) -> Iterator[Context]:
    with ExitStack() as stack:
        yield Context(workspace, test_registry, stack, request)


def run_case(context: Context, invocation: Invocation) -> Outcome:
    before = context.workspace.snapshot()
    result = run_cli(invocation.arguments, cwd=context.workspace.cwd, env=invocation.env)
    return Outcome(result, before, context.workspace.snapshot())


def test_the_suite_covers_at_least_60_bad_inputs() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) >= 60, f"at least 60 bad-input cases, got {len(ids)}"
    assert len(set(ids)) == len(ids), "case ids are unique"


@pytest.mark.parametrize("bad_input", CASES, ids=[case.id for case in CASES])
def test_bad_input_fails_with_one_clear_error_and_leaves_everything_as_it_was(
    bad_input: Case, context: Context
) -> None:
    # given a bad input, and sentinels at every output path
    invocation = bad_input.build(context)

    # when the CLI runs it
    outcome = run_case(context, invocation)

    # then it fails with one clear message and leaves the workspace as it was
    message = assert_clean_failure(outcome, bad_input.expected)
    print(f"{bad_input.id}: error: {message}")  # shown with -rP: the message a user reads
    if bad_input.check is not None:
        bad_input.check(context, outcome)


# What `explainops validate` can find without explaining (the model and version, the first batch
# of samples, the output paths) it reports as the run would: same message, same exit code.
VALIDATED = (
    "data-missing-file",
    "data-inf-value",
    "data-duplicate-ids",
    "data-missing-column",
    "registry-unknown-model",
    "registry-unknown-version",
    "registry-file-missing",
    "registry-default-missing",
    "registry-env-uri-missing",
    "output-samples-path-is-a-directory",
    "output-models-parent-is-a-file",
    "output-unwritable-location",
)
VALIDATED_CASES = [case for case in CASES if case.id in VALIDATED]


def test_every_validated_case_exists() -> None:
    found = {case.id for case in VALIDATED_CASES}
    assert found == set(VALIDATED), f"every VALIDATED id names a case: {set(VALIDATED) - found}"


@pytest.mark.parametrize("bad_input", VALIDATED_CASES, ids=[case.id for case in VALIDATED_CASES])
def test_validate_reports_the_run_s_error_and_writes_nothing(
    bad_input: Case, context: Context
) -> None:
    # given a bad input the run would report
    invocation = bad_input.build(context)
    assert invocation.arguments[0] == "run", "a job config case"

    # when it is validated instead of run
    validate = Invocation(["validate", *invocation.arguments[1:]], invocation.env)
    outcome = run_case(context, validate)

    # then validate fails like the run would, and leaves the workspace as it was
    message = assert_clean_failure(outcome, bad_input.expected)
    print(f"validate {bad_input.id}: error: {message}")  # shown with -rP


# --- what must work --------------------------------------------------------------------------


def resolved_config(stdout: str) -> dict[str, Any]:
    """The JSON document ``validate`` prints (possibly followed by other lines)."""
    document, _ = json.JSONDecoder().raw_decode(stdout[stdout.index("{") :])
    return dict(document)


@pytest.mark.parametrize(
    ("later_explainer", "expected_explainer"),
    [
        pytest.param(
            {"KIND": "TreeExplainer"},
            {"KIND": "TreeExplainer", "absent": "num_samples"},
            id="changed-kind-replaces-the-component",
        ),
        pytest.param(
            {"KIND": "KernelExplainer", "seed": 3},
            {"KIND": "KernelExplainer", "num_samples": 64, "seed": 3},
            id="same-kind-merges-key-by-key",
        ),
    ],
)
def test_a_later_config_file_replaces_a_component_whose_kind_it_changes(
    context: Context, later_explainer: dict[str, Any], expected_explainer: dict[str, Any]
) -> None:
    # given a runnable base config with a Kernel explainer, and a later file changing it
    write_samples(context)
    base = context.workspace.write_config("base.yaml", {"job": explanations_job(context)})
    later = context.workspace.write_config("later.yaml", {"job": {"explainer": later_explainer}})

    # when both are validated
    outcome = run_case(context, Invocation(["validate", str(base), str(later), "--no-progress"]))

    # then the explainer is the later file's, merged only when the KIND is the same
    result = outcome.result
    assert result.returncode == 0, f"the merged config is valid:\n{result.stderr[-3000:]}"
    explainer = resolved_config(result.stdout)["job"]["explainer"]
    expected = dict(expected_explainer)
    absent = expected.pop("absent", None)
    for name, value in expected.items():
        assert explainer.get(name) == value, f"explainer.{name} == {value!r}: {explainer}"
    if absent is not None:
        assert explainer.get(absent) is None, (
            f"a changed KIND does not inherit the old component's {absent}: {explainer}"
        )
    assert not snapshot_changes(outcome.before, outcome.after), "validate writes nothing"


def test_exact_explainer_limit_counts_the_explained_features_not_the_frame_width() -> None:
    # given a 4-feature additive model and its samples inside a 20-column frame
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.random((5, 20)), columns=[f"x{index}" for index in range(20)])
    features = ["x3", "x7", "x11", "x19"]
    weights = np.array([1.0, -2.0, 0.5, 3.0])
    baseline = frame[features].iloc[:2]

    def model(rows: pd.DataFrame) -> np.ndarray:
        return np.asarray(rows[features], dtype=float) @ weights

    # when ExactExplainer (limit 16 features) explains the 4 features
    explanation = ExactExplainer(baseline=baseline, feature_names=features).explain(model, frame)

    # then it is not refused for the frame's width, and the values are the known answer
    expected = (frame[features].to_numpy() - baseline.to_numpy().mean(axis=0)) * weights
    assert explanation.values.shape == (5, 1, 4), "4 explained features"
    np.testing.assert_allclose(
        explanation.values[:, 0, :],
        expected,
        rtol=1e-12,
        atol=1e-12,
        err_msg="an additive model's Shapley values are w_i (x_i - mean of the baseline's x_i)",
    )


def _refuse_non_finite(token: str) -> float:
    raise ValueError(f"{token} is not JSON")


def test_a_missing_value_in_a_baseline_row_gives_valid_json_or_a_clear_error(
    context: Context,
) -> None:
    # given a baseline job whose explicit baseline row has a null where the schema allows one
    write_samples(context)
    columns: dict[str, Any] = {name: {"dtype": "float"} for name in context.features}
    columns["alcohol"] = {"dtype": "float", "nullable": True}
    row = mean_row(context.registry.wine)
    row[context.features.index("alcohol")] = None
    job = explanations_job(
        context,
        models_explanations=None,
        samples_explanations=None,
        input_schema={"columns": columns},
        explainer={"KIND": "KernelExplainer", "num_samples": 64, "baseline": [row]},
    )
    baseline_path = context.workspace.out / "baseline" / "baseline.json"
    job |= {"KIND": "AttributionBaselineJob", "baseline_path": str(baseline_path)}

    # when it runs
    outcome = run_case(context, run_job(context, job))

    # then the baseline file is valid JSON (NaN as null), or the run fails naming the field
    print(f"exit {outcome.result.returncode}; {outcome.error_lines}")  # shown with -rP
    if outcome.result.returncode == 0:
        document = json.loads(baseline_path.read_text(), parse_constant=_refuse_non_finite)
        rows = document["explainops"]["background"]["rows"]
        assert rows[0][context.features.index("alcohol")] is None, "NaN is written as null"
        assert all(value is None or math.isfinite(value) for value in rows[0]), (
            "finite values or null"
        )
    else:
        message = assert_clean_failure(
            outcome, Expected(EXIT_FAILED, (r"baseline|background", r"alcohol|NaN|null"))
        )
        assert "Out of range float values" not in message, "a clear error, not json's"
