"""Where the registry is (config, MLFLOW_TRACKING_URI, ./mlruns/mlflow.db), and that a lookup
only ever reads it: every missing, unreadable or unreachable registry is one ModelLoadError line
naming the URI, and nothing is created where the lookup looked."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from explainops.errors import ModelLoadError
from explainops.io.registries import (
    LOOK_ELSEWHERE,
    BuiltinLoader,
    CustomLoader,
    Registry,
    default_registry_uri,
    default_tracking_uri,
    registered_version,
)

from .. import warm_cli
from ..conftest import log_sklearn_model

FEATURES = ["f1", "f2", "f3"]
# Variables of the test process that would change where the CLI looks.
MLFLOW_SETTINGS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@dataclass(frozen=True)
class TinyRegistry:
    """A SQLite registry holding ``tiny`` (version 1, alias Champion) and ``broken`` (version 1,
    its artifacts deleted), both a logistic regression on three features."""

    folder: Path
    model: LogisticRegression
    samples: pd.DataFrame

    @property
    def path(self) -> Path:
        return self.folder / "mlflow.db"

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.path}"


def _register(name: str, model: LogisticRegression, samples: pd.DataFrame, artifacts: Path) -> None:
    import mlflow

    experiment = mlflow.create_experiment(name, artifact_location=artifacts.as_uri())
    log_sklearn_model(name, model, samples, "predict_proba", experiment)


@pytest.fixture(scope="module")
def tiny_registry(tmp_path_factory: pytest.TempPathFactory) -> TinyRegistry:
    import mlflow

    folder = tmp_path_factory.mktemp("tiny_registry")
    rng = np.random.default_rng(0)
    samples = pd.DataFrame(rng.random((40, 3)), columns=FEATURES)
    target = (samples.to_numpy() @ np.array([2.0, -1.0, 0.5]) > 0.7).astype(int)
    model = LogisticRegression().fit(samples, target)
    registry = TinyRegistry(folder, model, samples)
    # Registering creates the registry: MLflow makes the database, the lookups below only read it.
    saved = {name: os.environ.get(name) for name in MLFLOW_SETTINGS}
    current = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    mlflow.set_tracking_uri(registry.uri)
    mlflow.set_registry_uri(registry.uri)
    try:
        _register("tiny", model, samples, folder / "artifacts")
        _register("broken", model, samples, folder / "broken_artifacts")
        mlflow.MlflowClient().set_registered_model_alias("tiny", "Champion", "1")
    finally:  # leave MLflow's current registry, and the variables its setters export, as they were
        mlflow.set_tracking_uri(current[0])
        mlflow.set_registry_uri(current[1])
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    shutil.rmtree(folder / "broken_artifacts")
    return registry


@pytest.fixture
def no_mlflow_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty working folder and no MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI."""
    for name in MLFLOW_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def registries_under(folder: Path) -> list[Path]:
    """Every mlflow.db and mlruns under ``folder``: what a lookup must never create."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.name in ("mlflow.db", "mlruns", "mlflow.db-journal")
    )


# --- bad registry states, each as a function of a tmp folder returning its URI -------------------


def _missing(folder: Path) -> str:
    return f"sqlite:///{folder / 'nowhere' / 'mlflow.db'}"


def _empty_file(folder: Path) -> str:
    (folder / "mlflow.db").write_bytes(b"")
    return f"sqlite:///{folder / 'mlflow.db'}"


def _text_file(folder: Path) -> str:
    (folder / "mlflow.db").write_text("name,version\ntiny,1\n" * 50)
    return f"sqlite:///{folder / 'mlflow.db'}"


def _truncated(folder: Path) -> str:
    source = folder / "source.db"
    with sqlite3.connect(source) as connection:  # a real SQLite file of several pages
        connection.execute("CREATE TABLE rows (value TEXT)")
        connection.executemany("INSERT INTO rows VALUES (?)", [("x" * 500,)] * 200)
    (folder / "mlflow.db").write_bytes(source.read_bytes()[:20_000])
    source.unlink()
    return f"sqlite:///{folder / 'mlflow.db'}"


def _folder(folder: Path) -> str:
    (folder / "mlflow.db").mkdir()
    return f"sqlite:///{folder / 'mlflow.db'}"


def _other_sqlite_database(folder: Path) -> str:
    with sqlite3.connect(folder / "mlflow.db") as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    return f"sqlite:///{folder / 'mlflow.db'}"


BAD_REGISTRIES: dict[str, tuple[Callable[[Path], str], str]] = {
    "missing": (_missing, "does not exist"),
    "empty-file": (_empty_file, "is an empty file"),
    "text-file": (_text_file, "is not a readable SQLite database (file is not a database)"),
    "truncated-sqlite": (_truncated, "is not a readable SQLite database"),
    "folder": (_folder, "is a folder, not a SQLite file"),
    "other-sqlite-database": (_other_sqlite_database, "without MLflow's alembic_version table"),
}


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    return {
        str(path.relative_to(folder)): None if path.is_dir() else path.read_bytes()
        for path in sorted(folder.rglob("*"))
    }


# --- resolution order ----------------------------------------------------------------------------


def test_the_default_is_mlflow_tracking_uri_then_mlruns_of_the_working_folder(
    no_mlflow_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given no variable, then each kind of MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI
    assert default_tracking_uri() == f"sqlite:///{no_mlflow_settings / 'mlruns' / 'mlflow.db'}", (
        "without the variable: ./mlruns/mlflow.db of the working folder, absolute"
    )
    assert Registry(name="m").registry_uri is None, "without the variable: the tracking URI"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere/registry.db?timeout=5")
    assert default_tracking_uri() == (
        f"sqlite:///{no_mlflow_settings / 'elsewhere' / 'registry.db'}?timeout=5"
    ), "a relative SQLite path is relative to the working folder, as MLflow reads it"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example.com")
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "databricks-uc")
    assert (default_tracking_uri(), default_registry_uri()) == (
        "https://mlflow.example.com",
        "databricks-uc",
    ), "other URIs are taken as they are"

    # when a registry names its URIs, or does not
    named = Registry(name="m", tracking_uri="sqlite:////a/b.db", registry_uri="sqlite:////c/d.db")
    unnamed = Registry(name="m")

    # then the configuration wins, else the variables
    assert (named.tracking_uri, named.registry_uri) == ("sqlite:////a/b.db", "sqlite:////c/d.db"), (
        "the configured URIs beat the variables"
    )
    assert (unnamed.tracking_uri, unnamed.registry_uri) == (
        "https://mlflow.example.com",
        "databricks-uc",
    ), "without configured URIs: MLFLOW_TRACKING_URI and MLFLOW_REGISTRY_URI"


def test_a_configured_uri_beats_the_variable_and_a_lookup_leaves_the_variable_alone(
    tiny_registry: TinyRegistry, no_mlflow_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given MLFLOW_TRACKING_URI naming a registry that does not exist
    missing = f"sqlite:///{no_mlflow_settings / 'missing.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", missing)

    # when the configured registry resolves an alias
    version = Registry(name="tiny", tracking_uri=tiny_registry.uri).resolve("Champion")

    # then it is found there, and the variable is still the user's (MLflow's setters export theirs)
    assert (version.version, version.uri) == (1, "models:/tiny/1"), "Champion is version 1"
    assert os.environ["MLFLOW_TRACKING_URI"] == missing, "a lookup does not rewrite the variable"
    assert "MLFLOW_REGISTRY_URI" not in os.environ, "nor set the registry's"
    assert Registry(name="tiny").tracking_uri == missing, "so the next default is still the user's"
    assert registries_under(no_mlflow_settings) == [], "nothing created in the working folder"


# --- a lookup only reads -------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(BAD_REGISTRIES))
def test_a_bad_registry_is_one_error_naming_it_and_nothing_is_created(
    state: str, tmp_path: Path, no_mlflow_settings: Path
) -> None:
    # given a registry URI of a missing, unreadable or foreign file
    make, problem = BAD_REGISTRIES[state]
    folder = tmp_path / "registry"
    folder.mkdir()
    uri = make(folder)
    before = _snapshot(tmp_path)

    # when a model is looked up there
    with pytest.raises(ModelLoadError) as raised:
        Registry(name="tiny", tracking_uri=uri).resolve("Champion")

    # then one line names the URI, what is wrong and where else to look; nothing changed
    message = str(raised.value)
    assert "\n" not in message, f"one line: {message!r}"
    assert uri in message and problem in message, f"names {uri} and {problem!r}: {message}"
    assert message.endswith(LOOK_ELSEWHERE), f"says where else to look: {message}"
    assert "DatabaseError" not in message, f"no driver internals: {message}"
    assert _snapshot(tmp_path) == before, "the lookup created or changed nothing"


def test_unknown_model_alias_and_version_list_what_exists_and_where(
    tiny_registry: TinyRegistry, no_mlflow_settings: Path
) -> None:
    registry = Registry(name="tiny", tracking_uri=tiny_registry.uri)
    expected = {
        "Staging": "model 'tiny' has no alias 'Staging'; aliases: Champion -> 1; versions: [1]",
        "9": "model 'tiny' has no version 9; versions: [1]",
    }
    for alias_or_version, start in expected.items():
        with pytest.raises(ModelLoadError) as raised:
            registry.resolve(alias_or_version)
        message = str(raised.value)
        assert message.startswith(start), f"lists what exists: {message}"
        assert tiny_registry.uri in message and LOOK_ELSEWHERE in message, (
            f"names the registry and where else to look: {message}"
        )
    with pytest.raises(ModelLoadError) as raised:
        Registry(name="tin", tracking_uri=tiny_registry.uri).resolve(1)
    assert str(raised.value) == (
        f"model 'tin' is not registered in {tiny_registry.uri}; "
        f"registered models: ['broken', 'tiny']; {LOOK_ELSEWHERE}"
    ), "an unknown model lists the registered ones"


def test_an_unreachable_tracking_server_fails_fast_without_showing_credentials(
    no_mlflow_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a tracking server that is down, its URI carrying a user, a token and a query secret
    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    port = closed_port()
    uri = f"https://alice:s3cr3t-token@127.0.0.1:{port}/mlflow?key=k3y-value"

    # when a model is looked up there, with MLflow's default retry settings
    started = time.perf_counter()
    with pytest.raises(ModelLoadError) as raised:
        Registry(name="tiny", tracking_uri=uri).resolve("Champion")
    elapsed = time.perf_counter() - started

    # then it fails in seconds (MLflow alone retries for about four minutes), in one masked line
    message = str(raised.value)
    assert elapsed < 30, f"a lookup gives up quickly, took {elapsed:.1f} s"
    assert f"https://***@127.0.0.1:{port}/mlflow?key=***" in message, f"masked URI: {message}"
    assert "Connection refused" in message, f"says why: {message}"
    for secret in ("alice", "s3cr3t-token", "k3y-value"):
        assert secret not in message, f"{secret} must not show: {message}"
    assert "\n" not in message and LOOK_ELSEWHERE in message, f"one line: {message}"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ, "the retry limit was temporary"


def test_a_model_whose_artifacts_are_gone_fails_to_load_naming_it_and_its_registry(
    tiny_registry: TinyRegistry, no_mlflow_settings: Path
) -> None:
    version = Registry(name="broken", tracking_uri=tiny_registry.uri).resolve(1)
    for load in (version.input_schema, lambda: CustomLoader().load(version)):
        with pytest.raises(ModelLoadError) as raised:
            load()
        message = str(raised.value)
        assert message.startswith(f"models:/broken/1 in {tiny_registry.uri}: cannot "), message
        assert "\n" not in message, f"one line: {message!r}"
    with pytest.raises(ModelLoadError, match=r"^models:/broken/1 in .*: cannot read the model"):
        BuiltinLoader().load(version)


def test_registered_version_reads_models_uris_like_a_job(
    tiny_registry: TinyRegistry, no_mlflow_settings: Path
) -> None:
    by_alias = registered_version("models:/tiny@Champion", tiny_registry.uri)
    by_number = registered_version("models:/tiny/1", tiny_registry.uri)
    assert by_alias is not None and by_number is not None, "both name a registered version"
    assert (by_alias.uri, by_alias.alias, by_number.uri) == (
        "models:/tiny/1",
        "Champion",
        "models:/tiny/1",
    ), "an alias resolves to its concrete version"
    missing = f"sqlite:///{no_mlflow_settings / 'mlruns' / 'mlflow.db'}"
    assert registered_version(str(no_mlflow_settings / "model"), missing) is None, (
        "a local folder needs no registry"
    )
    for uri in ("models:/tiny/latest", "runs:/0123/model"):
        with pytest.raises(ModelLoadError, match="does not exist"):
            registered_version(uri, missing)
    assert registries_under(no_mlflow_settings) == [], "no lookup created a registry"


# --- end to end, through the CLI in a separate process (tests/warm_cli.py) ---------------------


def run_cli(
    arguments: list[str], cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``explainops ARGUMENTS`` in ``cwd``, with only the MLflow settings of ``env``."""
    environment = {
        name: value for name, value in os.environ.items() if name not in MLFLOW_SETTINGS
    } | {"MLFLOW_DISABLE_TELEMETRY": "true", **(env or {})}
    return warm_cli.run(arguments, cwd, environment, timeout=300)


def assert_clean_failure(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit 1, one ``error:`` line holding every fragment, no traceback; returns the line."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1, f"a failed lookup exits 1, got {result.returncode}: {errors}"
    assert len(errors) == 1, f"one error line: {result.stderr}"
    assert "Traceback" not in result.stderr, f"no traceback: {result.stderr}"
    for fragment in fragments:
        assert fragment in errors[0], f"the error names {fragment!r}: {errors[0]}"
    return errors[0]


@dataclass(frozen=True)
class Workspace:
    """A job on ``tiny`` reading ``data/samples.csv``, with an empty working folder ``cwd``."""

    root: Path

    @property
    def cwd(self) -> Path:
        return self.root / "cwd"

    def explanations_config(self, samples: pd.DataFrame, registry: str = "{name: tiny}") -> Path:
        (self.root / "data").mkdir(exist_ok=True)
        self.cwd.mkdir(exist_ok=True)
        samples.to_csv(self.root / "data" / "samples.csv", index=False)
        path = self.root / "job.yaml"
        path.write_text(
            "job:\n  KIND: ExplanationsJob\n"
            "  inputs_samples: {KIND: CsvReader, path: data/samples.csv}\n"
            "  models_explanations: {KIND: CsvWriter, path: out/models.csv}\n"
            "  samples_explanations: {KIND: CsvWriter, path: out/samples.csv}\n"
            f"  registry: {registry}\n"
        )
        return path

    def clarify_arguments(self, samples: pd.DataFrame, model_uri: str) -> list[str]:
        (self.root / "data").mkdir(exist_ok=True)
        self.cwd.mkdir(exist_ok=True)
        samples.to_csv(self.root / "data" / "dataset.csv", header=False, index=False)
        config = {
            "headers": FEATURES,
            "methods": {
                "shap": {"baseline": [[0.5, 0.5, 0.5]], "num_samples": 6, "agg_method": "mean_abs"}
            },
            "predictor": {"model_name": "tiny"},
        }
        (self.root / "analysis_config.json").write_text(json.dumps(config))
        return [
            "clarify",
            "--config",
            str(self.root / "analysis_config.json"),
            "--dataset",
            str(self.root / "data" / "dataset.csv"),
            "--output",
            str(self.root / "out"),
            "--model",
            model_uri,
            "--probability-attribute",
            "1",
        ]


@pytest.mark.slow
def test_run_finds_the_model_in_the_registry_of_mlflow_tracking_uri(
    tiny_registry: TinyRegistry, tmp_path: Path
) -> None:
    # given a config naming no tracking URI, and MLFLOW_TRACKING_URI relative to the working folder
    workspace = Workspace(tmp_path)
    samples = tiny_registry.samples.iloc[:12]
    config = workspace.explanations_config(samples)
    relative = os.path.relpath(tiny_registry.path, workspace.cwd)

    # when the job runs
    result = run_cli(
        ["run", str(config)], workspace.cwd, {"MLFLOW_TRACKING_URI": f"sqlite:///{relative}"}
    )

    # then it explains the registered model, logs where it looked, and creates no registry
    assert result.returncode == 0, result.stderr
    assert f"in sqlite:///{tiny_registry.path}" in result.stderr, (
        f"the log names the resolved registry: {result.stderr}"
    )
    explained = pd.read_csv(tmp_path / "out" / "samples.csv")
    probabilities = tiny_registry.model.predict_proba(samples)
    labels = list(explained["label"].unique())
    assert len(labels) == 2, f"one row per sample and class: {labels}"
    for index, label in enumerate(labels):
        predictions = explained.loc[explained["label"] == label, "prediction"]
        # The job predicts in other batch shapes than this call: equal up to BLAS rounding.
        np.testing.assert_allclose(predictions, probabilities[:, index], rtol=1e-12, atol=0)
    assert registries_under(tmp_path) == [], "no mlruns or mlflow.db created in the workspace"


@pytest.mark.slow
def test_clarify_finds_a_models_uri_in_the_registry_of_mlflow_tracking_uri(
    tiny_registry: TinyRegistry, tmp_path: Path
) -> None:
    # given no --tracking-uri, and MLFLOW_TRACKING_URI naming the registry
    workspace = Workspace(tmp_path)
    arguments = workspace.clarify_arguments(tiny_registry.samples.iloc[:8], "models:/tiny@Champion")

    # when clarify runs
    result = run_cli(arguments, workspace.cwd, {"MLFLOW_TRACKING_URI": tiny_registry.uri})

    # then it resolves the alias there and writes the analysis
    assert result.returncode == 0, result.stderr
    assert f"resolve model 'tiny' Champion in {tiny_registry.uri}" in result.stderr, result.stderr
    analysis = json.loads((tmp_path / "out" / "analysis.json").read_text())
    assert list(analysis["explanations"]["kernel_shap"]) == ["label0"], "one explained output"
    assert registries_under(tmp_path) == [], "no mlruns or mlflow.db created in the workspace"


def _unreachable(folder: Path) -> str:
    return f"http://127.0.0.1:{closed_port()}"


CLI_FAILURES: dict[str, tuple[Callable[[Path], str], str, str]] = {
    **{state: (make, "Champion", problem) for state, (make, problem) in BAD_REGISTRIES.items()},
    "unreachable-server": (_unreachable, "Champion", "Connection refused"),
    "unknown-model": (lambda folder: "", "Champion", "model 'ghost' is not registered"),
    "unknown-alias": (lambda folder: "", "Staging", "has no alias 'Staging'; aliases: Champion"),
    "unknown-version": (lambda folder: "", "9", "has no version 9; versions: [1]"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CLI_FAILURES))
def test_run_with_a_bad_registry_in_mlflow_tracking_uri_fails_cleanly(
    case: str, tiny_registry: TinyRegistry, tmp_path: Path
) -> None:
    # given MLFLOW_TRACKING_URI naming a bad registry (or the good one, and a bad model or version)
    make, alias, problem = CLI_FAILURES[case]
    workspace = Workspace(tmp_path)
    uri = make(tmp_path) or tiny_registry.uri
    name = "ghost" if case == "unknown-model" else "tiny"
    config = workspace.explanations_config(tiny_registry.samples.iloc[:5], f"{{name: {name}}}")
    config.write_text(config.read_text() + f"  alias_or_version: '{alias}'\n")
    before = _snapshot(tmp_path)

    # when the job runs
    result = run_cli(
        ["run", str(config)],
        workspace.cwd,
        {"MLFLOW_TRACKING_URI": uri, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
    )

    # then exit 1, one error line naming the URI and the problem, and nothing new anywhere
    assert_clean_failure(result, uri, problem)
    assert _snapshot(tmp_path) == before, "no registry, output or temp file created"


@pytest.mark.slow
def test_clarify_without_any_registry_names_the_default_and_creates_none(tmp_path: Path) -> None:
    # given no --tracking-uri, no MLFLOW_TRACKING_URI and no ./mlruns in the working folder
    workspace = Workspace(tmp_path)
    samples = pd.DataFrame(np.full((3, 3), 0.5), columns=FEATURES)
    arguments = workspace.clarify_arguments(samples, "models:/tiny/1")
    before = _snapshot(tmp_path)

    # when clarify runs
    result = run_cli(arguments, workspace.cwd)

    # then it names the default registry and every way to name another, and creates nothing
    default = f"sqlite:///{workspace.cwd / 'mlruns' / 'mlflow.db'}"
    assert_clean_failure(result, default, "does not exist", "--tracking-uri", "MLFLOW_TRACKING_URI")
    assert _snapshot(tmp_path) == before, "no mlruns folder, no mlflow.db"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model_uri", "problem"),
    [("models:/tiny/9", "has no version 9; versions: [1]"), ("models:/ghost@Champion", "'ghost'")],
)
def test_clarify_with_an_unknown_version_or_model_lists_what_exists(
    model_uri: str, problem: str, tiny_registry: TinyRegistry, tmp_path: Path
) -> None:
    workspace = Workspace(tmp_path)
    arguments = workspace.clarify_arguments(tiny_registry.samples.iloc[:3], model_uri)
    result = run_cli(arguments, workspace.cwd, {"MLFLOW_TRACKING_URI": tiny_registry.uri})
    assert_clean_failure(result, tiny_registry.uri, problem, "MLFLOW_TRACKING_URI")
    assert not (tmp_path / "out").exists(), "no output folder left behind"


@pytest.mark.slow
def test_clarify_tracking_uri_option_beats_the_variable(
    tiny_registry: TinyRegistry, tmp_path: Path
) -> None:
    # given --tracking-uri naming a corrupt registry file, and MLFLOW_TRACKING_URI the good one
    workspace = Workspace(tmp_path)
    uri = _text_file(tmp_path)
    arguments = workspace.clarify_arguments(tiny_registry.samples.iloc[:3], "models:/tiny/1")
    result = run_cli(
        [*arguments, "--tracking-uri", uri],
        workspace.cwd,
        {"MLFLOW_TRACKING_URI": tiny_registry.uri},
    )
    assert_clean_failure(result, uri, "is not a readable SQLite database")
