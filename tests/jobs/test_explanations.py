"""ExplanationsJob end to end through the CLI, against a real SQLite MLflow registry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explainops.cli import EXIT_FAILED, EXIT_INVALID_CONFIG, EXIT_OK, main
from explainops.testing.model_server import ModelServer

from ..conftest import RegistryFixture
from ..explainers.brute_force import shapley_table


def job_config(tmp_path: Path, registry: RegistryFixture, name: str, **sections: str) -> Path:
    """A job YAML with CSV in, CSV out, for model ``name``; ``sections`` replace defaults."""
    parts = {
        "inputs_samples": f"{{KIND: CsvReader, path: {tmp_path / 'samples.csv'}}}",
        "models_explanations": f"{{KIND: CsvWriter, path: {tmp_path / 'out' / 'models.csv'}}}",
        "samples_explanations": f"{{KIND: CsvWriter, path: {tmp_path / 'out' / 'samples.csv'}}}",
        "registry": f"{{name: {name}, tracking_uri: '{registry.tracking_uri}'}}",
    } | sections
    body = "\n".join(f"  {key}: {value}" for key, value in parts.items())
    path = tmp_path / "job.yaml"
    path.write_text(f"job:\n  KIND: ExplanationsJob\n{body}\n")
    return path


def assert_additive(samples: pd.DataFrame, features: list[str]) -> None:
    reconstructed = samples["base_value"] + samples[features].sum(axis=1)
    error = np.abs(reconstructed - samples["prediction"]) / np.maximum(
        1.0, np.abs(samples["prediction"])
    )
    assert error.max() < 1e-6, (
        f"base + sum(values) must equal the prediction on every row, max error {error.max()}"
    )


def test_champion_forest_is_explained_per_class_with_the_tree_fast_path(
    tmp_path, test_registry, caplog
) -> None:
    # given wine samples with ids, and the Champion forest loaded natively
    samples = test_registry.wine.iloc[:20].copy()
    samples.insert(0, "wine_id", [f"w{index}" for index in range(20)])
    samples.to_csv(tmp_path / "samples.csv", index=False)
    config = job_config(
        tmp_path,
        test_registry,
        "wine",
        inputs_samples=f"{{KIND: CsvReader, path: {tmp_path / 'samples.csv'}, id_column: wine_id, batch_size: 7}}",
        loader="{KIND: BuiltinLoader}",
        labels="[class_0, class_1, class_2]",
    )
    # when the job runs
    code = main(["run", str(config)])
    # then it succeeds with one row per (sample, class), in input order, additive, tree-explained
    assert code == EXIT_OK, "the job must succeed"
    out = pd.read_csv(tmp_path / "out" / "samples.csv")
    features = list(test_registry.wine.columns)
    assert list(out.columns[:4]) == ["sample_id", "label", "prediction", "base_value"], (
        "fixed columns first"
    )
    assert list(out.columns[4:]) == features, "then one column per feature, in input order"
    assert list(out["sample_id"]) == [f"w{index}" for index in range(20) for _ in range(3)], (
        "ids follow the input"
    )
    assert list(out["label"][:3]) == ["class_0", "class_1", "class_2"], (
        "outputs named by the configured labels"
    )
    np.testing.assert_allclose(
        out["prediction"].to_numpy().reshape(20, 3),
        test_registry.models["wine"].predict_proba(test_registry.wine.iloc[:20]),
        atol=1e-9,
        err_msg="predictions are the Champion's (version 2) probabilities",
    )
    assert_additive(out, features)
    assert "explain with TreeExplainer" in caplog.text, (
        "a forest's probabilities take the tree fast path"
    )
    assert "resolved wine version 2 (alias Champion)" in caplog.text, (
        "the alias is resolved and logged"
    )
    models = pd.read_csv(tmp_path / "out" / "models.csv")
    assert len(models) == 3 * len(features), "one row per (label, feature)"
    for label, group in models.groupby("label"):
        assert sorted(group["rank"]) == list(range(1, len(features) + 1)), f"ranks 1..d for {label}"
        ranked = group.sort_values("rank")["importance"].to_numpy()
        assert np.all(np.diff(ranked) <= 0), f"rank 1 is the most important for {label}"
    expected_importance = np.abs(out[out["label"] == "class_0"][features]).mean()
    np.testing.assert_allclose(
        models[models["label"] == "class_0"].set_index("feature").loc[features, "importance"],
        expected_importance,
        err_msg="importance is mean |phi| over samples",
    )
    assert models["native_importance"].notna().all(), "forests expose feature_importances_"


def test_a_version_number_selects_that_version(tmp_path, test_registry) -> None:
    test_registry.wine.iloc[:5].to_csv(tmp_path / "samples.csv", index=False)
    config = job_config(
        tmp_path, test_registry, "wine", alias_or_version="1", loader="{KIND: BuiltinLoader}"
    )
    assert main(["run", str(config)]) == EXIT_OK, "version 1 must run"
    out = pd.read_csv(tmp_path / "out" / "samples.csv")
    np.testing.assert_allclose(
        out["prediction"].to_numpy().reshape(5, 3),
        test_registry.models["wine_v1"].predict_proba(test_registry.wine.iloc[:5]),
        atol=1e-9,
        err_msg="version 1's predictions, not the Champion's",
    )
    assert list(out["label"].astype(str)[:3]) == ["0", "1", "2"], (
        "without labels, outputs are named by class"
    )


# The brute force calls the pipeline with arrays, 6,000 times: a DataFrame each time is too slow.
@pytest.mark.filterwarnings("ignore:X does not have valid feature names:UserWarning")
@pytest.mark.parametrize("use_logit", [False, True])
def test_pyfunc_logistic_pipeline_matches_exact_shapley_values(
    tmp_path, test_registry, use_logit
) -> None:
    # given the cancer pipeline through its pyfunc (predict_proba), Parquet in, JSON Lines out
    samples = test_registry.cancer.iloc[100:112]
    samples.to_parquet(tmp_path / "samples.parquet")
    baseline = test_registry.cancer.iloc[:3].to_numpy().tolist()
    config = job_config(
        tmp_path,
        test_registry,
        "cancer",
        inputs_samples=f"{{KIND: ParquetReader, path: {tmp_path / 'samples.parquet'}}}",
        samples_explanations=f"{{KIND: JsonLinesWriter, path: {tmp_path / 'out' / 'samples.jsonl'}}}",
        models_explanations=f"{{KIND: ParquetWriter, path: {tmp_path / 'out' / 'models.parquet'}}}",
        explainer=f"{{KIND: AutoExplainer, baseline: {json.dumps(baseline)}, use_logit: {str(use_logit).lower()}, agg_method: mean_sq}}",
    )
    # when run
    assert main(["run", str(config)]) == EXIT_OK, "the job must succeed"
    # then the values are the textbook Shapley values of the same model, by brute force
    out = pd.read_json(tmp_path / "out" / "samples.jsonl", lines=True)
    features = list(test_registry.cancer.columns)
    expected = shapley_table(
        test_registry.models["cancer"].predict_proba,
        samples[features].to_numpy(),
        np.array(baseline),
        logit=use_logit,
    )
    np.testing.assert_allclose(
        out[features].to_numpy(),
        expected.reshape(-1, len(features)),
        atol=1e-9,
        err_msg="job vs brute force",
    )
    assert list(out["sample_id"]) == [index for index in range(12) for _ in range(2)], (
        "ids are row positions"
    )
    assert_additive(out, features)
    models = pd.read_parquet(tmp_path / "out" / "models.parquet")
    assert set(models["agg_method"]) == {"mean_sq"}, "the configured aggregation is recorded"


def test_endpoint_loader_explains_like_the_registered_model(tmp_path, test_registry) -> None:
    # given the cancer pipeline served over HTTP (all class scores as CSV) and in the registry
    samples = test_registry.cancer.iloc[200:215]
    samples.to_csv(tmp_path / "samples.csv", index=False)
    baseline = test_registry.cancer.iloc[:4].to_numpy().tolist()
    explainer = (
        f"{{KIND: KernelExplainer, baseline: {json.dumps(baseline)}, num_samples: 120, seed: 4}}"
    )
    model = test_registry.models["cancer"]
    features = list(test_registry.cancer.columns)
    (tmp_path / "endpoint").mkdir()
    (tmp_path / "pyfunc").mkdir()
    with ModelServer(model.predict_proba, features, csv_layout="scores") as server:
        endpoint = job_config(
            tmp_path / "endpoint",
            test_registry,
            "cancer",
            inputs_samples=f"{{KIND: CsvReader, path: {tmp_path / 'samples.csv'}}}",
            loader=f"{{KIND: EndpointLoader, url: '{server.url}', batch_size: 500, label_headers: [benign, malignant]}}",
            explainer=explainer,
        )
        # when the job runs through the endpoint and through the pyfunc
        assert main(["run", str(endpoint)]) == EXIT_OK, "the endpoint job must succeed"
    in_process = job_config(
        tmp_path / "pyfunc",
        test_registry,
        "cancer",
        inputs_samples=f"{{KIND: CsvReader, path: {tmp_path / 'samples.csv'}}}",
        explainer=explainer,
        labels="[benign, malignant]",
    )
    assert main(["run", str(in_process)]) == EXIT_OK, "the pyfunc job must succeed"

    # then the sample explanations agree to 1e-9
    remote = pd.read_csv(tmp_path / "endpoint" / "out" / "samples.csv")
    local = pd.read_csv(tmp_path / "pyfunc" / "out" / "samples.csv")
    assert list(remote["label"].unique()) == ["benign", "malignant"], "label_headers name outputs"
    np.testing.assert_allclose(
        remote[features].to_numpy(), local[features].to_numpy(), atol=1e-9, rtol=0
    )
    assert_additive(remote, features)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "loader", "explainer"),
    [
        ("cancer", "{KIND: CustomLoader}", "{KIND: KernelExplainer, num_samples: 100, seed: 3}"),
        ("cancer", "{KIND: CustomLoader}", "{KIND: ExactExplainer}"),
        ("wine", "{KIND: BuiltinLoader}", "{KIND: TreeExplainer}"),
    ],
)
def test_dask_engine_gives_the_local_engine_results(
    tmp_path, test_registry, dask_scheduler, name, loader, explainer
) -> None:
    # given samples in several batches, explained locally and on a 2-worker Dask cluster
    data = test_registry.cancer if name == "cancer" else test_registry.wine
    data.iloc[:90].to_csv(tmp_path / "samples.csv", index=False)
    outputs = {}
    for engine in ("{KIND: LocalEngine}", f"{{KIND: DaskEngine, address: '{dask_scheduler}'}}"):
        folder = tmp_path / engine.split()[1].rstrip("},")
        folder.mkdir()
        config = job_config(
            folder,
            test_registry,
            name,
            inputs_samples=f"{{KIND: CsvReader, path: {tmp_path / 'samples.csv'}, batch_size: 25}}",
            loader=loader,
            explainer=explainer,
            engine=engine,
        )
        # when each job runs
        assert main(["run", str(config)]) == EXIT_OK, f"the job on {engine} must succeed"
        outputs[engine] = pd.read_csv(folder / "out" / "samples.csv")

    # then the outputs are equal to 1e-12, rows in input order: the batches are the same, but the
    # workers' BLAS runs on one thread and may round otherwise than this process's
    local, remote = outputs.values()
    assert list(remote["sample_id"]) == list(local["sample_id"]), "same rows, same order"
    columns = [*data.columns, "base_value", "prediction"]
    np.testing.assert_allclose(
        remote[columns].to_numpy(),
        local[columns].to_numpy(),
        atol=1e-12,
        rtol=0,
    )


def test_json_lines_features_path_and_kernel_standard_errors(tmp_path, test_registry) -> None:
    # given Clarify-style JSON Lines records and a sampled Kernel budget
    features = list(test_registry.diabetes.columns)
    records = [
        {"features": row, "label": 0} for row in test_registry.diabetes.iloc[:6].to_numpy().tolist()
    ]
    (tmp_path / "samples.jsonl").write_text(
        "\n".join(json.dumps(record) for record in records) + "\n"
    )
    config = job_config(
        tmp_path,
        test_registry,
        "diabetes",
        inputs_samples=f"{{KIND: JsonLinesReader, path: {tmp_path / 'samples.jsonl'}, features: features, headers: {json.dumps(features)}}}",
        explainer="{KIND: KernelExplainer, num_samples: 64, seed: 3}",
    )
    assert main(["run", str(config)]) == EXIT_OK, "the job must succeed"
    out = pd.read_csv(tmp_path / "out" / "samples.csv")
    assert_additive(out, features)
    assert all(f"{feature}_stderr" in out.columns for feature in features), (
        "kernel standard errors are written"
    )
    assert (out[[f"{feature}_stderr" for feature in features]] > 0).any().any(), (
        "a sampled design has errors"
    )


def test_webhook_receives_the_metrics(tmp_path, test_registry, webhook_receiver) -> None:
    test_registry.diabetes.iloc[:4].to_csv(tmp_path / "samples.csv", index=False)
    config = job_config(
        tmp_path,
        test_registry,
        "diabetes",
        loader="{KIND: BuiltinLoader}",
        alerts=f"{{KIND: WebhookAlerter, url: '{webhook_receiver.url}'}}",
    )
    assert main(["run", str(config)]) == EXIT_OK, "the job must succeed"
    assert len(webhook_receiver.bodies) == 1, "one notification"
    body = webhook_receiver.bodies[0]
    assert body["status"] == "succeeded" and body["model"] == "diabetes" and body["version"] == 1, (
        body
    )
    assert body["n_samples"] == 4, "number of samples"
    assert body["max_additivity_error"] < 1e-9, "additivity error"
    assert len(body["top_features"]) == 5 and body["top_features"][0]["importance"] > 0, (
        "top features"
    )
    assert body["outputs"]["samples_explanations"].endswith("samples.csv"), "output locations"
    assert "diabetes" in body["text"], "Slack-compatible text"


# --- bad input ---------------------------------------------------------------------------------


def _good_output(tmp_path: Path) -> Path:
    (tmp_path / "out").mkdir(exist_ok=True)
    path = tmp_path / "out" / "samples.csv"
    path.write_text("previous good output\n")
    return path


def test_schema_violations_are_all_reported_before_any_model_call(
    tmp_path, test_registry, capsys
) -> None:
    # given samples with a string in a numeric column, a missing value and an extra column
    samples = test_registry.wine.iloc[:5].astype(object)
    samples.loc[1, "alcohol"] = "strong"
    samples.loc[3, "hue"] = None
    samples["unexpected"] = 1
    samples.to_csv(tmp_path / "samples.csv", index=False)
    previous = _good_output(tmp_path)
    # when run
    code = main(["run", str(job_config(tmp_path, test_registry, "wine"))])
    # then one error line names every violation, and the previous output is untouched
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == EXIT_FAILED, "invalid data fails the job"
    assert "3 schema violation(s)" in error, error
    assert "row 1, column 'alcohol': expected float64, got 'strong'" in error, error
    assert "row 3, column 'hue': missing value" in error, error
    assert "column 'unexpected': unexpected column" in error, error
    assert previous.read_text() == "previous good output\n", (
        "a failed run never overwrites a good output"
    )
    assert not (tmp_path / "out" / "models.csv").exists(), "nothing is written"


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        (
            "Staging",
            "model 'wine' has no alias 'Staging'; aliases: Challenger -> 1, Champion -> 2; versions: [1, 2]",
        ),
        ("7", "model 'wine' has no version 7; versions: [1, 2]"),
    ],
)
def test_unknown_alias_or_version_lists_what_exists(
    tmp_path, test_registry, capsys, alias, message
) -> None:
    test_registry.wine.iloc[:2].to_csv(tmp_path / "samples.csv", index=False)
    code = main(
        ["run", str(job_config(tmp_path, test_registry, "wine", alias_or_version=f"'{alias}'"))]
    )
    assert code == EXIT_FAILED, "an unknown alias fails the job"
    assert message in capsys.readouterr().err, "the error lists what exists"


def test_unknown_model_lists_registered_models(tmp_path, test_registry, capsys) -> None:
    test_registry.wine.iloc[:2].to_csv(tmp_path / "samples.csv", index=False)
    assert main(["run", str(job_config(tmp_path, test_registry, "whine"))]) == EXIT_FAILED, (
        "unknown model"
    )
    assert "model 'whine' is not registered" in capsys.readouterr().err, "names the model"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "samples.csv: file not found"),
        ("", "samples.csv: cannot read as CSV"),
        (
            "alcohol,malic_acid\n1,2,3,4\n",
            "samples.csv: rows have more fields than the header's columns: line 2 has 4 fields, "
            "expected 2",
        ),
        (
            "alcohol,malic_acid\n1,2\n1,2,3,4\n",
            "samples.csv: cannot read as CSV: Error tokenizing "
            "data. C error: Expected 2 fields in line 3, saw 4",
        ),
    ],
)
def test_unreadable_samples_give_a_clear_error(
    tmp_path, test_registry, capsys, content, message
) -> None:
    if content is not None:
        (tmp_path / "samples.csv").write_text(content)
    assert main(["run", str(job_config(tmp_path, test_registry, "wine"))]) == EXIT_FAILED, (
        "unreadable input"
    )
    assert message in capsys.readouterr().err, "the error names the file"


def test_empty_input_is_refused(tmp_path, test_registry, capsys) -> None:
    test_registry.wine.iloc[:0].to_csv(tmp_path / "samples.csv", index=False)
    assert main(["run", str(job_config(tmp_path, test_registry, "wine"))]) == EXIT_FAILED, (
        "empty input"
    )
    assert "no rows to explain" in capsys.readouterr().err, "says the input is empty"


def test_unwritable_output_fails_without_touching_other_outputs(
    tmp_path, test_registry, capsys
) -> None:
    test_registry.wine.iloc[:3].to_csv(tmp_path / "samples.csv", index=False)
    (tmp_path / "blocker").write_text("a file where a folder is needed")
    previous = _good_output(tmp_path)
    config = job_config(
        tmp_path,
        test_registry,
        "wine",
        models_explanations=f"{{KIND: CsvWriter, path: {tmp_path / 'blocker' / 'models.csv'}}}",
    )
    assert main(["run", str(config)]) == EXIT_FAILED, "an unwritable output fails the job"
    assert "blocker/models.csv: cannot write: " in (error := capsys.readouterr().err), (
        "names the path"
    )
    assert "blocker is a file, not a folder" in error, "says what is wrong"
    assert previous.read_text() == "previous good output\n", "the sample output was not replaced"
    assert not list((tmp_path / "out").glob(".*.tmp")), "no temporary file is left behind"


def test_webhook_down_is_logged_and_outputs_are_kept(tmp_path, test_registry, caplog) -> None:
    test_registry.diabetes.iloc[:3].to_csv(tmp_path / "samples.csv", index=False)
    config = job_config(
        tmp_path,
        test_registry,
        "diabetes",
        alerts="{KIND: WebhookAlerter, url: 'http://127.0.0.1:9/down', max_retries: 1, backoff_s: 0.01, timeout_s: 2}",
    )
    assert main(["run", str(config)]) == EXIT_OK, (
        "the job's work is done even if the notification fails"
    )
    assert (tmp_path / "out" / "samples.csv").exists(), "outputs are kept"
    # the webhook's path is its token: the log names the host only
    assert (
        "notification failed: POST http://127.0.0.1:9/***: ConnectionError after 2 attempt(s)"
        in caplog.text
    )
    assert "/down" not in caplog.text, "the webhook's path is not logged"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("job.inputs_samples.KIND=ExcelReader", "job.inputs_samples"),
        ("job.explainer.num_samples=many", "job.explainer.AutoExplainer.num_samples"),
        ("job.explainer.agg_method=max", "job.explainer.AutoExplainer.agg_method"),
        ("job.unknown_field=1", "job.unknown_field: Extra inputs are not permitted"),
        ("job.registry.name=null", "job.registry.name"),
        ("job.loader={}", "job.loader: missing KIND"),
    ],
)
def test_invalid_configuration_exits_2_naming_the_field(
    tmp_path, test_registry, capsys, override, message
) -> None:
    config = job_config(tmp_path, test_registry, "wine", explainer="{KIND: AutoExplainer}")
    code = main(["run", str(config), "--set", override])
    assert code == EXIT_INVALID_CONFIG, "invalid configuration exits 2"
    assert message in capsys.readouterr().err, "the error names the field"


@pytest.mark.parametrize(
    ("outputs", "names"),
    [
        (
            {
                "models_explanations": "{KIND: CsvWriter, path: OUT/samples.csv}",
                "samples_explanations": "{KIND: CsvWriter, path: OUT/samples.csv}",
            },
            "models_explanations and samples_explanations",
        ),
        (  # one file spelled two ways
            {"models_explanations": "{KIND: CsvWriter, path: OUT/../out/./samples.csv}"},
            "models_explanations and samples_explanations",
        ),
        (  # a file beside the report's page, where its PDF goes
            {
                "report": "{path: OUT/report.html}",
                "partial_dependence": "{path: OUT/report.pdf}",
            },
            "partial_dependence and report_pdf",
        ),
    ],
    ids=["same-path", "same-file", "report-pdf"],
)
@pytest.mark.parametrize("command", ["run", "validate"])
def test_two_outputs_on_one_file_are_a_configuration_error(
    tmp_path, test_registry, capsys, outputs, names, command
) -> None:
    # given two outputs of one job configured to write one file, and a previous good output
    test_registry.wine.iloc[:3].to_csv(tmp_path / "samples.csv", index=False)
    previous = _good_output(tmp_path)
    sections = {
        name: value.replace("OUT", str(tmp_path / "out")) for name, value in outputs.items()
    }
    config = job_config(tmp_path, test_registry, "wine", **sections)
    # when the job runs, or is validated
    code = main([command, str(config)])
    # then it is refused before anything is written, in one line naming both outputs and the file
    assert code == EXIT_INVALID_CONFIG, "colliding outputs are an invalid configuration"
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: invalid configuration: job: "), error
    assert f"{names} are the same file '{tmp_path / 'out'}/" in error, error
    assert previous.read_text() == "previous good output\n", "the previous output is kept"
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["samples.csv"], (
        "nothing else is written"
    )


def test_kernel_auto_budget_writes_each_rows_evaluations_and_convergence(
    tmp_path, test_registry
) -> None:
    # given a Kernel explainer with an adaptive budget and a report
    features = list(test_registry.diabetes.columns)
    test_registry.diabetes.iloc[:12].to_csv(tmp_path / "samples.csv", index=False)
    target = 0.3  # in the regression's units (the disease progression score)
    config = job_config(
        tmp_path,
        test_registry,
        "diabetes",
        explainer=f"{{KIND: KernelExplainer, num_samples: auto, target_stderr: {target}, seed: 3, baseline: {test_registry.diabetes.iloc[100:104].to_numpy().tolist()}}}",
        report=f"{{path: {tmp_path / 'out' / 'report.html'}, formats: [html]}}",
    )
    # when the job runs
    assert main(["run", str(config)]) == EXIT_OK, "the job must succeed"
    # then every row says what it cost and that it converged below the target
    out = pd.read_csv(tmp_path / "out" / "samples.csv")
    assert list(out.columns[-2:]) == ["n_evaluations", "converged"]
    assert_additive(out, features)
    assert out["converged"].all()
    assert (out[[f"{feature}_stderr" for feature in features]] < target).all().all()
    assert (out["n_evaluations"] % 4 == 0).all(), "coalitions x 4 baseline rows"
    assert out["n_evaluations"].nunique() > 1, "rows stop at different rounds"
    html = (tmp_path / "out" / "report.html").read_text()
    assert "samples whose standard errors reached target_stderr" in html
    assert "12 of 12" in html
