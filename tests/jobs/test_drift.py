"""Attribution drift jobs end to end through the CLI, with a real registry and webhook."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from explainops.cli import EXIT_FAILED, EXIT_INVALID_CONFIG, EXIT_OK, main
from explainops.drift.comparison import HISTORY_COLUMNS
from explainops.testing.model_server import ModelServer

from ..conftest import Receiver, RegistryFixture
from ..drift.slow_ndcg import slow_ndcg


class DriftSetup:
    """Files of one monitoring set-up in ``tmp_path``: reference data, baseline, outputs."""

    def __init__(self, tmp_path: Path, registry: RegistryFixture) -> None:
        self.folder = tmp_path
        self.registry = registry
        self.features = list(registry.cancer.columns)
        self.baseline_row = registry.cancer.iloc[:200].mean().to_numpy().tolist()
        self.baseline = tmp_path / "monitor" / "baseline.json"
        self.violations = tmp_path / "monitor" / "constraint_violations.json"
        self.history = tmp_path / "monitor" / "history.parquet"
        registry.cancer.iloc[:200].to_csv(tmp_path / "reference.csv", index=False)

    def model_yaml(self, name: str = "cancer") -> str:
        return (
            f"  registry: {{name: {name}, tracking_uri: '{self.registry.tracking_uri}'}}\n"
            f"  inputs_samples: {{KIND: CsvReader, path: {{path}}}}\n"
        )

    def baseline_config(self, data: Path | None = None, baseline: Path | None = None) -> Path:
        """A baseline job recording ``data`` (the reference data) into ``baseline``."""
        baseline = baseline or self.baseline
        path = self.folder / f"{baseline.stem}.yaml"
        path.write_text(
            "job:\n  KIND: AttributionBaselineJob\n"
            + self.model_yaml().replace("{path}", str(data or self.folder / "reference.csv"))
            + f"  explainer: {{KIND: AutoExplainer, baseline: [{json.dumps(self.baseline_row)}]}}\n"
            + f"  baseline_path: {baseline}\n"
        )
        return path

    def window_config(self, window: pd.DataFrame, window_id: str, **extra: Any) -> Path:
        data = self.folder / f"{window_id}.csv"
        window.to_csv(data, index=False)
        lines = "".join(f"  {key}: {value}\n" for key, value in extra.items())
        path = self.folder / f"{window_id}.yaml"
        path.write_text(
            "job:\n  KIND: AttributionDriftJob\n"
            + self.model_yaml(extra.pop("model", "cancer")).replace("{path}", str(data))
            + f"  baseline_path: {self.baseline}\n"
            + f"  violations_path: {self.violations}\n"
            + f"  history_path: {self.history}\n"
            + f"  window_id: {window_id}\n"
            + "".join(line for line in lines.splitlines(keepends=True) if "model:" not in line)
        )
        return path

    def attributions(self, baseline: Path | None = None) -> dict[str, dict[str, float]]:
        """The global attributions per label recorded in a baseline file (default the fixture's)."""
        document = json.loads((baseline or self.baseline).read_text())
        explanations = document["explanations"]["kernel_shap"]
        return {label: entry["global_shap_values"] for label, entry in explanations.items()}

    def window_attributions(
        self, window: pd.DataFrame, window_id: str
    ) -> dict[str, dict[str, float]]:
        """The window's global attributions per label, recorded by a baseline job of its own.

        That job explains the window with the explainer config and background rows a drift run
        uses, so these are the attributions the drift run compares with the baseline's.
        """
        data = self.folder / f"{window_id}_reference.csv"
        window.to_csv(data, index=False)
        recorded = self.folder / f"{window_id}_baseline.json"
        config = self.baseline_config(data, recorded)
        assert main(["run", str(config)]) == EXIT_OK, f"window {window_id} recorded as a baseline"
        return self.attributions(recorded)

    def top_features(self, k: int) -> list[str]:
        """The baseline's k most important features for label1."""
        values = self.attributions()["label1"]
        return sorted(self.features, key=lambda feature: -values[feature])[:k]

    def broken_feed(self, window: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
        """The window with ``columns`` stuck at the baseline row's values (a broken feed)."""
        stuck = window.copy()
        for column in columns:
            stuck[column] = self.baseline_row[self.features.index(column)]
        return stuck


@pytest.fixture
def setup(tmp_path: Path, test_registry: RegistryFixture) -> DriftSetup:
    """A recorded baseline for the registry's cancer model."""
    drift = DriftSetup(tmp_path, test_registry)
    assert main(["run", str(drift.baseline_config())]) == EXIT_OK, "the baseline job must succeed"
    return drift


def test_baseline_file_records_what_a_window_needs(setup: DriftSetup) -> None:
    # given the baseline written by the fixture
    document = json.loads(setup.baseline.read_text())

    # then it has Clarify's analysis.json shape plus the explainer config, model and data
    explanations = document["explanations"]["kernel_shap"]
    assert list(explanations) == ["label0", "label1"], "one entry per model output"
    assert list(explanations["label1"]["global_shap_values"]) == setup.features, "features"
    details = document["explainops"]
    assert details["model"] == {"name": "cancer", "version": 1, "alias": "Champion"}, "model"
    assert details["explainer"]["KIND"] == "AutoExplainer", "explainer config recorded"
    # Exact: the configured row is recorded as given (float64 survives YAML and JSON unchanged).
    assert details["background"]["rows"] == [setup.baseline_row], "background rows recorded"
    assert details["data"]["n_samples"] == 200, "reference size recorded"
    assert details["data"]["sha256"].startswith("sha256:"), "data fingerprint recorded"


def test_clean_window_passes_and_drifted_window_violates_and_alerts(
    setup: DriftSetup, webhook_receiver: Receiver
) -> None:
    cancer = setup.registry.cancer
    top3 = setup.top_features(3)
    alerts = f"{{KIND: WebhookAlerter, url: '{webhook_receiver.url}'}}"

    # when a clean window, a window whose top features are stuck, and a clean window again run
    clean = setup.window_config(cancer.iloc[200:300], "clean", alerts=alerts)
    assert main(["run", str(clean)]) == EXIT_OK, "a clean window succeeds"
    clean_violations = json.loads(setup.violations.read_text())
    stuck_window = setup.broken_feed(cancer.iloc[300:400], top3)
    stuck = setup.window_config(stuck_window, "stuck", alerts=alerts)
    assert main(["run", str(stuck)]) == EXIT_OK, "a drift is a result, not a crash"
    violations = json.loads(setup.violations.read_text())
    again = setup.window_config(cancer.iloc[400:500], "again")
    assert main(["run", str(again)]) == EXIT_OK, "a third window succeeds"

    # then only the stuck window violates, with Clarify's schema, and the webhook got the verdict
    assert clean_violations == {"version": "1.0", "violations": []}, "clean: no violations"
    assert [entry["label"] for entry in violations["violations"]] == ["label0", "label1"], (
        "one violation per drifting label"
    )
    # the NDCG by Clarify's formula, in plain Python, from the baseline's and the window's values
    baseline, live = setup.attributions(), setup.window_attributions(stuck_window, "stuck")
    expected = {label: slow_ndcg(baseline[label], live[label]) for label in ("label0", "label1")}
    for entry in violations["violations"]:
        label, ndcg_by_hand = entry["label"], expected[entry["label"]]
        assert entry["metric_name"] == "shap", "Clarify metric name"
        assert entry["constraint_check_type"] == "feature_attribution_drift_check", "check type"
        # Same formula, other summation order: equal to rounding.
        assert entry["ndcg"] == pytest.approx(ndcg_by_hand, abs=1e-12), f"NDCG of {label}"
        assert entry["description"] == (
            f"Feature attribution drift {entry['ndcg']!r} exceeds threshold 0.9"
        ), f"Clarify's description for {label}, every digit of the NDCG"
        assert ndcg_by_hand < 0.9, f"the stuck features drop {label}'s NDCG below the threshold"
    entry = violations["violations"][1]
    assert {moved["feature"] for moved in entry["features_moved"]} >= set(top3), (
        "the stuck features are listed as moved"
    )
    assert [body["metrics"]["verdict"] for body in webhook_receiver.bodies] == [
        "no drift",
        "drift in label0, label1",
    ], "each window is notified with its verdict"
    assert "drift in label0, label1" in webhook_receiver.bodies[1]["text"], "Slack text"
    # The notification rounds NDCGs to 6 decimals.
    assert webhook_receiver.bodies[1]["metrics"]["ndcg"] == pytest.approx(expected, abs=1e-6), (
        "NDCGs notified"
    )

    # and the history holds three windows, two labels each, with the stuck window's NDCGs
    history = pd.read_parquet(setup.history)
    assert list(history["window_id"]) == ["clean"] * 2 + ["stuck"] * 2 + ["again"] * 2, "3 runs"
    assert list(history["verdict"]) == ["ok", "ok", "drift", "drift", "ok", "ok"], "verdicts"
    assert history["model_version"].tolist() == [1] * 6, "resolved version recorded"
    np.testing.assert_allclose(
        history.loc[history["window_id"] == "stuck", "ndcg"],
        [expected["label0"], expected["label1"]],
        rtol=0,
        atol=1e-12,
        err_msg="the stuck window's NDCGs in the history",
    )


def test_ndcg_in_history_is_clarify_formula_on_the_windows_attributions(
    setup: DriftSetup,
) -> None:
    # given a window explained by the drift job
    window = setup.registry.cancer.iloc[200:260]
    assert main(["run", str(setup.window_config(window, "w1"))]) == EXIT_OK, "window runs"

    # when the same window is recorded as a baseline of its own
    baseline, live = setup.attributions(), setup.window_attributions(window, "w1")

    # then the history's NDCG is Clarify's formula, in plain Python, on the two attributions
    history = pd.read_parquet(setup.history)
    assert list(history.columns) == list(HISTORY_COLUMNS), "the columns a later run checks"
    for label in ("label0", "label1"):
        expected = slow_ndcg(baseline[label], live[label])
        recorded = history.loc[history["label"] == label, "ndcg"].item()
        # Same formula, other summation order: equal to rounding.
        assert recorded == pytest.approx(expected, abs=1e-12), f"NDCG of {label}"


def test_fail_on_violation_exits_1_after_writing(setup: DriftSetup) -> None:
    cancer = setup.registry.cancer
    window = setup.broken_feed(cancer.iloc[300:400], setup.top_features(3))
    config = setup.window_config(window, "stuck", fail_on_violation="true")
    assert main(["run", str(config)]) == EXIT_FAILED, "fail_on_violation fails the job"
    assert json.loads(setup.violations.read_text())["violations"], "violations still written"
    assert len(pd.read_parquet(setup.history)) == 2, "history still appended"


@pytest.mark.parametrize(
    ("baseline_text", "message"),
    [
        (None, "baseline file not found"),
        ("{not json", "the baseline file is not valid JSON"),
        ('{"version": "1.0", "explanations": {}}', "not an explainops attribution baseline"),
    ],
)
def test_missing_or_corrupt_baseline_fails_and_writes_nothing(
    setup: DriftSetup,
    baseline_text: str | None,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if baseline_text is None:
        setup.baseline.unlink()
    else:
        setup.baseline.write_text(baseline_text)
    config = setup.window_config(setup.registry.cancer.iloc[200:300], "w")
    assert main(["run", str(config)]) == EXIT_FAILED, "a bad baseline fails the job"
    assert message in capsys.readouterr().err, f"the error says {message!r}"
    assert not setup.violations.exists() and not setup.history.exists(), "nothing written"


def test_baseline_of_another_model_or_features_is_refused(
    setup: DriftSetup, capsys: pytest.CaptureFixture[str]
) -> None:
    wine = setup.registry.wine.iloc[:50]
    other_model = setup.window_config(wine, "wine", model="wine")
    assert main(["run", str(other_model)]) == EXIT_FAILED, "another model is refused"
    assert "made for model 'cancer', not 'wine'" in capsys.readouterr().err, "says why"
    allowed = setup.window_config(wine, "wine2", model="wine", allow_model_change="true")
    assert main(["run", str(allowed)]) == EXIT_FAILED, "other features cannot be compared"
    assert "differ from the baseline's" in capsys.readouterr().err, "names the features"
    assert not setup.violations.exists() and not setup.history.exists(), "nothing written"


def test_empty_window_fails_and_writes_nothing(
    setup: DriftSetup, capsys: pytest.CaptureFixture[str]
) -> None:
    config = setup.window_config(setup.registry.cancer.iloc[:0], "empty")
    assert main(["run", str(config)]) == EXIT_FAILED, "an empty window fails"
    assert "no rows" in capsys.readouterr().err, "the error says the window is empty"
    assert not setup.violations.exists() and not setup.history.exists(), "nothing written"


def test_explainer_in_a_drift_config_is_a_config_error(
    setup: DriftSetup, capsys: pytest.CaptureFixture[str]
) -> None:
    config = setup.window_config(
        setup.registry.cancer.iloc[200:210], "w", explainer="{KIND: KernelExplainer}"
    )
    assert main(["run", str(config)]) == EXIT_INVALID_CONFIG, "explainer is refused"
    assert "baseline's explainer config" in capsys.readouterr().err, "says why"


def test_a_baseline_whose_report_cannot_be_drawn_leaves_the_previous_baseline(
    setup: DriftSetup, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a recorded baseline, and a baseline job with a report that cannot be drawn
    before = setup.baseline.read_bytes()
    config = setup.baseline_config(data=setup.folder / "other.csv")
    setup.registry.cancer.iloc[200:260].to_csv(setup.folder / "other.csv", index=False)
    report = setup.folder / "monitor" / "report.html"
    with config.open("a") as handle:
        handle.write(f"  report: {{path: {report}, formats: [html, pdf]}}\n")

    def cannot_draw(*arguments: Any, **options: Any) -> None:
        raise RuntimeError("the PDF could not be drawn")

    monkeypatch.setattr("explainops.reports.render._figure_page", cannot_draw)
    # when it runs
    code = main(["run", str(config)])
    # then it fails, and the previous baseline is as it was, no report written
    assert code == EXIT_FAILED, capsys.readouterr().err
    assert setup.baseline.read_bytes() == before, "the baseline was replaced by a failed run"
    assert not report.exists() and not report.with_suffix(".pdf").exists(), "no report"


def test_a_history_on_the_violations_file_is_a_config_error(
    setup: DriftSetup, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a drift job whose history is configured on its violations file
    config = setup.window_config(setup.registry.cancer.iloc[200:210], "w")
    config.write_text(config.read_text().replace(str(setup.history), str(setup.violations)))
    # when it is validated or run
    for command in ("validate", "run"):
        # then it is refused in one line naming both outputs, and nothing is written
        assert main([command, str(config)]) == EXIT_INVALID_CONFIG, command
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert f"violations and history are the same file '{setup.violations}'" in error, error
    assert not setup.violations.exists(), "nothing written"


def test_history_keeps_previous_windows_if_a_run_fails(setup: DriftSetup) -> None:
    cancer = setup.registry.cancer
    assert main(["run", str(setup.window_config(cancer.iloc[200:300], "w1"))]) == EXIT_OK, "w1"
    before = setup.history.read_bytes()
    bad = cancer.iloc[300:310].astype(object)
    bad.iloc[3, 2] = "not a number"
    assert main(["run", str(setup.window_config(bad, "w2"))]) == EXIT_FAILED, "bad data fails"
    assert setup.history.read_bytes() == before, "the history is untouched by a failed run"
    assert np.isfinite(pd.read_parquet(setup.history)["ndcg"]).all(), "history readable"


def _history_of_other_columns() -> pd.DataFrame:
    return pd.DataFrame({"a": [1], "b": [2]})


def _history_of_other_values() -> pd.DataFrame:
    """The history's columns, but a model version that is not a number."""
    row = {column: ["x"] for column in HISTORY_COLUMNS} | {"n_samples": [100], "ndcg": [0.95]}
    return pd.DataFrame(row | {"model_version": ["v1"]})


@pytest.mark.parametrize(
    ("history", "message"),
    [
        (
            _history_of_other_columns,
            f"the history has columns ['a', 'b'], expected {list(HISTORY_COLUMNS)}",
        ),
        (
            _history_of_other_values,
            "the history's column 'model_version' does not hold Int64 values: ",
        ),
    ],
    ids=["other-columns", "values-that-do-not-fit"],
)
def test_a_history_that_cannot_be_appended_to_leaves_every_output_as_it_was(
    setup: DriftSetup,
    webhook_receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
    history: Callable[[], pd.DataFrame],
    message: str,
) -> None:
    # given the violations file and the report of an earlier run, and a history this run's rows
    # cannot be appended to
    setup.violations.parent.mkdir(parents=True, exist_ok=True)
    setup.violations.write_text('{"version": "1.0", "violations": ["PREVIOUS GOOD RESULT"]}\n')
    report = setup.folder / "monitor" / "report.html"
    report.write_text("<p>previous report</p>\n")
    history().to_parquet(setup.history)
    before = {path: path.read_bytes() for path in (setup.violations, report, setup.history)}
    alerts = f"{{KIND: WebhookAlerter, url: '{webhook_receiver.url}'}}"
    window = setup.registry.cancer.iloc[200:300]
    config = setup.window_config(
        window, "w", alerts=alerts, report=f"{{path: {report}, formats: [html]}}"
    )
    # when a window runs
    code = main(["run", str(config)])
    # then it fails with one line naming the history and what is wrong with it
    assert code == EXIT_FAILED, "an unusable history fails the run"
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"error: {setup.history}: {message}"), error
    # and the violations file, the report and the history are byte for byte the previous ones
    for path, content in before.items():
        assert path.read_bytes() == content, f"{path.name}: a failed run never replaces it"
    assert not list((setup.folder / "monitor").glob(".*.tmp")), "no temporary file left behind"
    # and the one notification is the failure, claiming no output
    assert [body["status"] for body in webhook_receiver.bodies] == ["failed"], "one failure"
    assert webhook_receiver.bodies[0]["outputs"] == {}, "no output claimed"


def test_a_history_of_other_columns_is_refused_by_validate_and_before_explaining(
    setup: DriftSetup, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # given a history table of other columns (a CSV, as a user would point at a wrong file)
    history = setup.folder / "monitor" / "history.csv"
    history.parent.mkdir(parents=True, exist_ok=True)
    history.write_text("a,b\n1,2\n")
    config = setup.window_config(setup.registry.cancer.iloc[200:300], "w")
    config.write_text(config.read_text().replace(str(setup.history), str(history)))
    expected = (
        f"error: {history}: the history has columns ['a', 'b'], expected {list(HISTORY_COLUMNS)}"
    )
    # when the configuration is validated, then the history is refused as the run would
    assert main(["validate", str(config)]) == EXIT_FAILED, "validate reads the history"
    assert capsys.readouterr().err.strip().splitlines()[-1] == expected, "one line"
    # when it runs, then it fails the same way before any sample is explained
    assert main(["run", str(config)]) == EXIT_FAILED, "an unusable history fails the run"
    assert capsys.readouterr().err.strip().splitlines()[-1] == expected, "one line"
    assert "explain window" not in caplog.text, "refused before explaining the window"
    assert not setup.violations.exists(), "no violations file written"


def test_baseline_and_drift_jobs_work_with_an_endpoint(
    tmp_path: Path, test_registry: RegistryFixture
) -> None:
    # given the cancer pipeline served over HTTP, and no registry
    cancer = test_registry.cancer
    cancer.iloc[:100].to_csv(tmp_path / "reference.csv", index=False)
    cancer.iloc[100:200].to_csv(tmp_path / "window.csv", index=False)
    model = test_registry.models["cancer"]
    row = json.dumps(cancer.iloc[:100].mean().to_numpy().tolist())
    with ModelServer(model.predict_proba, list(cancer.columns), csv_layout="scores") as server:
        loader = f"{{KIND: EndpointLoader, url: '{server.url}', probability_attribute: 1}}"
        (tmp_path / "baseline.yaml").write_text(
            "job:\n  KIND: AttributionBaselineJob\n"
            f"  inputs_samples: {{KIND: CsvReader, path: {tmp_path / 'reference.csv'}}}\n"
            f"  loader: {loader}\n"
            f"  explainer: {{KIND: ExactExplainer, baseline: [{row}]}}\n"
            f"  baseline_path: {tmp_path / 'baseline.json'}\n"
        )
        (tmp_path / "window.yaml").write_text(
            "job:\n  KIND: AttributionDriftJob\n"
            f"  inputs_samples: {{KIND: CsvReader, path: {tmp_path / 'window.csv'}}}\n"
            f"  loader: {loader}\n"
            f"  baseline_path: {tmp_path / 'baseline.json'}\n"
            f"  violations_path: {tmp_path / 'violations.json'}\n"
            f"  history_path: {tmp_path / 'history.csv'}\n"
        )
        # when the baseline and a window are explained through it
        assert main(["run", str(tmp_path / "baseline.yaml")]) == EXIT_OK, "baseline runs"
        assert main(["run", str(tmp_path / "window.yaml")]) == EXIT_OK, "window runs"

    # then the baseline names the endpoint, and the clean window does not drift
    details = json.loads((tmp_path / "baseline.json").read_text())["explainops"]
    assert details["model"] == {"name": server.url, "version": None, "alias": None}, "endpoint"
    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history["verdict"]) == ["ok"], "one label, no drift"
    assert json.loads((tmp_path / "violations.json").read_text())["violations"] == [], "clean"
