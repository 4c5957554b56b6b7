"""`explainops clarify --baseline-constraints`: the explainability monitor as Model Monitor runs it.

Inputs as Model Monitor's: the seed's analysis config, the baseline constraints (the analysis.json
of a baseline job, in exactly Clarify's shape or as explainops writes it) and a window. The
answers are checked against brute-force Shapley values and Clarify's NDCG written out by hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import explainops
from explainops.cli import EXIT_FAILED, EXIT_INVALID_CONFIG, EXIT_OK, main
from explainops.testing.model_server import ModelServer

from ..conftest import RegistryFixture
from ..drift.slow_ndcg import slow_ndcg
from ..explainers.brute_force import shapley_table
from .test_clarify import FEATURES, SEED_BASELINE, SEED_CSV_CONFIG, clarify

CLEAN = {"version": "1.0", "violations": []}


@pytest.fixture(scope="module")
def seed_model() -> LogisticRegression:
    """A binary classifier on the seed's three features; feature_2 matters most."""
    rng = np.random.default_rng(0)
    x = rng.random((400, 3))
    y = (x @ np.array([1.5, -2.0, 1.0]) + rng.normal(0, 0.2, 400) > 0.0).astype(int)
    return LogisticRegression().fit(pd.DataFrame(x, columns=FEATURES), y)


@pytest.fixture
def csv_server(seed_model: LogisticRegression) -> Iterator[ModelServer]:
    """The seed's CSV endpoint: answers ``label,probability`` per row."""
    with ModelServer(seed_model.predict_proba, FEATURES, labels=seed_model.classes_) as server:
        yield server


def rows(seed: int, n: int, stuck: dict[int, float] | None = None) -> np.ndarray:
    """``n`` uniform rows; ``stuck`` columns held at one value (a broken feed)."""
    data = np.random.default_rng(seed).random((n, 3))
    for column, value in (stuck or {}).items():
        data[:, column] = value
    return data


def drifted_rows(seed: int, n: int) -> np.ndarray:
    """Rows whose feature_2 feed is stuck at the baseline's value and whose feature_3 now comes
    on a wider scale: the baseline's strongest feature falls to the bottom, its weakest rises."""
    data = rows(seed, n, stuck={1: SEED_BASELINE[1]})
    data[:, 2] = data[:, 2] * 4 - 1.5
    return data


def global_values(predict: Callable[[np.ndarray], np.ndarray], data: np.ndarray) -> np.ndarray:
    """(k, d) mean |SHAP| per output by brute force against the seed's baseline row."""
    return np.abs(shapley_table(predict, data, np.asarray([SEED_BASELINE]))).mean(axis=0)


def clarify_analysis(labels: list[str], values: np.ndarray) -> dict[str, Any]:
    """An analysis.json exactly as a Clarify baseline job writes it: no explainops fields."""
    return {
        "version": "1.0",
        "explanations": {
            "kernel_shap": {
                label: {
                    "global_shap_values": dict(zip(FEATURES, map(float, row), strict=True)),
                    "expected_value": 0.5,
                }
                for label, row in zip(labels, values, strict=True)
            }
        },
    }


def write_csv(path: Path, data: np.ndarray) -> Path:
    """A header-less CSV data set, as in the seed."""
    pd.DataFrame(data).to_csv(path, header=False, index=False)
    return path


class Monitor:
    """One monitoring set-up in a folder: the seed's config, Clarify baseline, windows."""

    def __init__(self, folder: Path, model: LogisticRegression) -> None:
        self.folder = folder
        self.config = folder / "analysis_config.json"
        self.config.write_text(SEED_CSV_CONFIG)
        self.output = folder / "monitor"
        self.predict = lambda data: model.predict_proba(pd.DataFrame(data, columns=FEATURES))[:, 1]
        baseline = global_values(self.predict, rows(1, 120))
        self.baseline = dict(zip(FEATURES, baseline[0], strict=True))
        self.constraints = folder / "baseline" / "analysis.json"
        self.constraints.parent.mkdir()
        self.constraints.write_text(json.dumps(clarify_analysis(["label0"], baseline)))

    def window(self, name: str, data: np.ndarray) -> tuple[Path, float]:
        """The window's file and its NDCG against the baseline, by hand."""
        live = dict(zip(FEATURES, global_values(self.predict, data)[0], strict=True))
        return write_csv(self.folder / f"{name}.csv", data), slow_ndcg(self.baseline, live)

    def run(self, window: Path, endpoint: str, *extra: str) -> int:
        return clarify(
            "--config", str(self.config), "--dataset", str(window), "--output", str(self.output),
            "--endpoint", endpoint, "--probability-attribute", "1",
            "--baseline-constraints", str(self.constraints), *extra,
        )  # fmt: skip

    def violations(self) -> dict[str, Any]:
        return json.loads((self.output / "constraint_violations.json").read_text())


@pytest.fixture
def monitor(tmp_path: Path, seed_model: LogisticRegression) -> Monitor:
    return Monitor(tmp_path, seed_model)


def test_clean_and_drifted_windows_get_model_monitor_s_verdict_from_a_clarify_baseline(
    monitor: Monitor, csv_server: ModelServer
) -> None:
    # given a Clarify baseline, a clean window, and a drifted one
    clean, clean_ndcg = monitor.window("clean", rows(2, 60))
    drifted, drifted_ndcg = monitor.window("drifted", drifted_rows(3, 60))
    assert max(monitor.baseline, key=monitor.baseline.__getitem__) == "feature_2", "premise"
    assert clean_ndcg >= 0.9 > drifted_ndcg, f"premise: {clean_ndcg} clean, {drifted_ndcg} drift"

    # when the monitor checks the clean window, then the drifted one
    clean_code = monitor.run(clean, csv_server.url)
    clean_violations = monitor.violations()
    drift_code = monitor.run(drifted, csv_server.url)
    violations = monitor.violations()

    # then the clean window has no violation and the drifted one Model Monitor's entry
    assert (clean_code, drift_code) == (EXIT_OK, EXIT_OK), "a drift is a result, not a crash"
    assert clean_violations == CLEAN, "clean: an empty list"
    assert len(violations["violations"]) == 1, "one violation for the one drifting label"
    entry = violations["violations"][0]
    assert {key: entry[key] for key in ("label", "metric_name", "constraint_check_type")} == {
        "label": "label0",
        "metric_name": "shap",
        "constraint_check_type": "feature_attribution_drift_check",
    }, "Model Monitor's fields"
    assert entry["description"] == (
        f"Feature attribution drift {entry['ndcg']!r} exceeds threshold 0.9"
    ), "Model Monitor's description, every digit of the NDCG"
    assert entry["ndcg"] == pytest.approx(drifted_ndcg, abs=1e-9), "NDCG equals the hand value"
    assert entry["baseline_top_features"][0] == "feature_2", "the baseline's top feature"
    assert entry["live_top_features"] == ["feature_3", "feature_1", "feature_2"], "the live ranking"
    analysis = json.loads((monitor.output / "analysis.json").read_text())
    assert list(analysis["explanations"]["kernel_shap"]) == ["label0"], "analysis.json written"


def test_the_notification_carries_the_ndcg_and_the_threshold_sets_the_verdict(
    monitor: Monitor, csv_server: ModelServer
) -> None:
    # given a drifted window of the seed's model
    window, ndcg = monitor.window("drifted", drifted_rows(3, 60))
    assert 0.85 < ndcg < 0.9, f"premise: NDCG {ndcg} between the two thresholds"
    job = {
        "KIND": "ClarifyJob",
        "analysis_config": str(monitor.config),
        "dataset": str(window),
        "output_dir": str(monitor.output),
        "endpoint_url": csv_server.url,
        "probability_attribute": 1,
        "baseline_constraints": str(monitor.constraints),
    }

    # when it is checked with the default threshold, then with a more tolerant one
    result = explainops.run({"job": job})
    tolerant = explainops.run({"job": job | {"threshold": 0.85}})

    # then the figures are Clarify's NDCG and the verdict follows the threshold
    assert result.metrics["ndcg"] == {"label0": pytest.approx(ndcg, abs=1e-6)}, "NDCG notified"
    assert result.metrics["verdict"] == "drift in label0", "the verdict is notified"
    assert result.metrics["threshold"] == 0.9, "Model Monitor's threshold by default"
    assert result.outputs["constraint_violations"] == str(
        monitor.output / "constraint_violations.json"
    ), "the violations file is an output"
    assert "constraint_violations" in result.notification.outputs, "and is notified"
    assert tolerant.metrics["verdict"] == "no drift", "a tolerant threshold sees no drift"
    assert monitor.violations() == CLEAN, "and the file says so"


def test_labels_match_by_name_and_only_the_drifting_label_is_a_violation(
    tmp_path: Path,
) -> None:
    # given a two-score endpoint named by label_headers: approve leans on feature_2, fraud on
    # feature_3, and Clarify constraints listing the labels in the other order
    def scores(frame: pd.DataFrame) -> np.ndarray:
        x = frame.to_numpy()
        approve = 1 / (1 + np.exp(-(3 * x[:, 0] - 4 * x[:, 1] + 1.2 * x[:, 2])))
        fraud = 1 / (1 + np.exp(-(0.5 * x[:, 0] + 0.2 * x[:, 1] + 3 * x[:, 2])))
        return np.column_stack([approve, fraud])

    def predict(data: np.ndarray) -> np.ndarray:
        return scores(pd.DataFrame(data, columns=FEATURES))

    config = json.loads(SEED_CSV_CONFIG)
    config["predictor"]["label_headers"] = ["approve", "fraud"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    baseline = global_values(predict, rows(1, 120))
    constraints = tmp_path / "baseline.json"
    constraints.write_text(json.dumps(clarify_analysis(["fraud", "approve"], baseline[::-1])))
    window = drifted_rows(3, 60)
    live = global_values(predict, window)
    expected = {
        label: slow_ndcg(
            dict(zip(FEATURES, baseline[index], strict=True)),
            dict(zip(FEATURES, live[index], strict=True)),
        )
        for index, label in enumerate(["approve", "fraud"])
    }
    assert expected["approve"] < 0.9 <= expected["fraud"], f"premise: {expected}"

    # when the monitor checks the window with the endpoint's two scores
    with ModelServer(scores, FEATURES, csv_layout="scores") as server:
        code = clarify(
            "--config", str(tmp_path / "config.json"),
            "--dataset", str(write_csv(tmp_path / "window.csv", window)),
            "--output", str(tmp_path / "out"), "--endpoint", server.url,
            "--baseline-constraints", str(constraints),
        )  # fmt: skip

    # then approve, and only approve, is a violation, with its hand-computed NDCG
    assert code == EXIT_OK, "the monitor run succeeds"
    violations = json.loads((tmp_path / "out" / "constraint_violations.json").read_text())
    assert [entry["label"] for entry in violations["violations"]] == ["approve"], "by name"
    assert violations["violations"][0]["ndcg"] == pytest.approx(expected["approve"], abs=1e-9), (
        "NDCG of approve against approve's constraints"
    )


@pytest.mark.parametrize("model_kind", ["in process", "endpoint"])
def test_an_explainops_baseline_file_works_too(
    tmp_path: Path, test_registry: RegistryFixture, model_kind: str
) -> None:
    # given a baseline recorded by AttributionBaselineJob for the registry's cancer model, and a
    # Clarify config explaining the model against the same background row
    cancer = test_registry.cancer
    features = list(cancer.columns)
    background = cancer.iloc[:200].mean().to_numpy().tolist()
    cancer.iloc[:200].to_csv(tmp_path / "reference.csv", index=False)
    baseline = tmp_path / "baseline.json"
    (tmp_path / "baseline.yaml").write_text(
        "job:\n  KIND: AttributionBaselineJob\n"
        f"  registry: {{name: cancer, tracking_uri: '{test_registry.tracking_uri}'}}\n"
        f"  inputs_samples: {{KIND: CsvReader, path: {tmp_path / 'reference.csv'}}}\n"
        f"  explainer: {{KIND: AutoExplainer, baseline: [{json.dumps(background)}]}}\n"
        f"  baseline_path: {baseline}\n"
    )
    assert main(["run", str(tmp_path / "baseline.yaml")]) == EXIT_OK, "baseline recorded"
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "headers": features,
                "methods": {"shap": {"baseline": [background], "num_samples": 300}},
                "predictor": {"model_name": "cancer"},
            }
        )
    )
    recorded = json.loads(baseline.read_text())["explanations"]["kernel_shap"]
    label1 = recorded["label1"]["global_shap_values"]
    top3 = sorted(features, key=lambda name: -label1[name])[:3]
    clean = cancer.iloc[200:300]
    drifted = cancer.iloc[300:400].copy()
    for name in top3:
        drifted[name] = background[features.index(name)]

    # when the monitor checks both windows, in process or behind an endpoint
    def check(name: str, window: pd.DataFrame) -> tuple[int, Path]:
        window.to_csv(tmp_path / f"{name}.csv", index=False)
        output = tmp_path / name
        common = ["--config", str(config), "--dataset", str(tmp_path / f"{name}.csv")]
        common += ["--output", str(output), "--baseline-constraints", str(baseline)]
        if model_kind == "in process":
            code = clarify(
                *common, "--model", "models:/cancer/1", "--tracking-uri", test_registry.tracking_uri
            )
        else:
            model = test_registry.models["cancer"]
            with ModelServer(model.predict_proba, features, csv_layout="scores") as server:
                code = clarify(*common, "--endpoint", server.url)
        return code, output

    runs = {name: check(name, window) for name, window in (("clean", clean), ("drift", drifted))}

    # then the verdicts are those of Clarify's NDCG between the baseline and the window's analysis
    for name, (code, output) in runs.items():
        assert code == EXIT_OK, f"{name} window: the run succeeds"
        analysis = json.loads((output / "analysis.json").read_text())["explanations"]
        by_hand = {
            label: slow_ndcg(recorded[label]["global_shap_values"], entry["global_shap_values"])
            for label, entry in analysis["kernel_shap"].items()
        }
        assert sorted(by_hand) == ["label0", "label1"], f"{name}: both labels compared"
        violations = json.loads((output / "constraint_violations.json").read_text())
        found = {entry["label"]: entry["ndcg"] for entry in violations["violations"]}
        assert found == {
            label: pytest.approx(value, abs=1e-9) for label, value in by_hand.items() if value < 0.9
        }, f"{name}: one violation per label whose hand NDCG is below 0.9"
        assert bool(found) == (name == "drift"), f"{name}: drift only in the drifted window"


@pytest.mark.parametrize(
    ("constraints", "message"),
    [
        (
            clarify_analysis(["label7"], np.array([[0.3, 0.2, 0.1]])),
            "labels ['label7'] differ from the window's ['label0']",
        ),
        (
            {
                "explanations": {
                    "kernel_shap": {
                        "label0": {
                            "global_shap_values": {"feature_1": 1, "feature_2": 1, "feature_9": 1}
                        }
                    }
                }
            },
            "missing from the window ['feature_9'], not in the constraints ['feature_3']",
        ),
        ({"version": "1.0", "pre_training_bias_metrics": {}}, "no explanations.kernel_shap"),
    ],
)
def test_constraints_that_do_not_fit_the_window_exit_2_naming_file_and_label(
    monitor: Monitor,
    csv_server: ModelServer,
    constraints: dict[str, Any],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given baseline constraints for other labels or features, or no SHAP values at all
    monitor.constraints.write_text(json.dumps(constraints))
    window, _ = monitor.window("window", rows(2, 20))

    # when the monitor runs
    code = monitor.run(window, csv_server.url)

    # then it is a configuration error naming the constraints file and the difference
    error = capsys.readouterr().err
    assert code == EXIT_INVALID_CONFIG, f"a mismatch exits 2: {error}"
    assert str(monitor.constraints) in error and message in error, f"named: {error}"
    assert not monitor.output.exists(), "nothing written"


def test_a_threshold_without_constraints_is_a_configuration_error(
    monitor: Monitor, csv_server: ModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # when clarify runs with --threshold but no baseline constraints
    window, _ = monitor.window("window", rows(2, 20))
    code = clarify(
        "--config", str(monitor.config), "--dataset", str(window), "--output",
        str(monitor.output), "--endpoint", csv_server.url, "--threshold", "0.8",
    )  # fmt: skip

    # then it exits 2 saying what the threshold needs
    assert code == EXIT_INVALID_CONFIG, "a threshold alone is refused"
    assert "needs baseline_constraints" in capsys.readouterr().err, "the reason is named"


def test_a_failed_run_keeps_the_last_good_verdict(
    monitor: Monitor, csv_server: ModelServer
) -> None:
    # given a good monitor run's outputs
    window, _ = monitor.window("window", drifted_rows(3, 60))
    assert monitor.run(window, csv_server.url) == EXIT_OK, "the good run"
    good = {path.name: path.read_bytes() for path in monitor.output.iterdir()}
    assert sorted(good) == ["analysis.json", "constraint_violations.json"], "both written"
    assert monitor.violations()["violations"], "premise: the good verdict is a drift"

    # when a run fails at the endpoint, and another on constraints found not to fit once the
    # window is explained (its labels are known only then)
    csv_server.fail_always(500)
    endpoint_down = monitor.run(window, csv_server.url)
    csv_server.reset()
    monitor.constraints.write_text(
        json.dumps(clarify_analysis(["label9"], np.array([[0.3, 0.2, 0.1]])))
    )
    other_labels = monitor.run(window, csv_server.url)

    # then both fail and the good outputs are untouched, with no temporary files left
    assert (endpoint_down, other_labels) == (EXIT_FAILED, EXIT_INVALID_CONFIG), "both fail"
    after = {path.name: path.read_bytes() for path in monitor.output.iterdir()}
    assert after == good, "the good analysis.json and constraint_violations.json are kept"


def test_the_committed_walkthrough_gives_the_documented_verdicts(tmp_path: Path) -> None:
    # given the walk-through's model (trained as demo/register_clarify_model.py trains it) and
    # the committed example: the seed's config, a Clarify baseline and two windows
    rng = np.random.default_rng(0)
    training = pd.DataFrame(rng.random((500, 3)), columns=FEATURES)
    target = (training.to_numpy() @ [1.5, -2.0, 1.0] + rng.normal(0, 0.2, 500) > 0).astype(int)
    model = LogisticRegression().fit(training, target)
    example = Path(__file__).resolve().parents[2] / "examples" / "clarify"
    baseline = json.loads((example / "monitor" / "baseline_analysis.json").read_text())
    assert sorted(baseline) == ["explanations", "version"], "exactly Clarify's shape"
    gains = baseline["explanations"]["kernel_shap"]["label0"]["global_shap_values"]

    # when the monitor checks both windows against the endpoint
    with ModelServer(model.predict_proba, FEATURES, labels=model.classes_) as server:
        codes = [
            clarify(
                "--config", str(example / "analysis_config_csv.json"),
                "--dataset", str(example / "monitor" / f"window_{name}.csv"),
                "--output", str(tmp_path / name), "--endpoint", server.url,
                "--probability-attribute", "1",
                "--baseline-constraints", str(example / "monitor" / "baseline_analysis.json"),
            )
            for name in ("clean", "drifted")
        ]  # fmt: skip

    # then the clean window passes and the drifted one has the documented NDCG
    assert codes == [EXIT_OK, EXIT_OK], "both runs succeed"
    clean = json.loads((tmp_path / "clean" / "constraint_violations.json").read_text())
    assert clean == CLEAN, "the clean window: no violation"
    drifted = json.loads((tmp_path / "drifted" / "constraint_violations.json").read_text())
    assert [entry["label"] for entry in drifted["violations"]] == ["label0"], "one violation"
    # The docs' arithmetic: live ranking feature_3, feature_1, feature_2, baseline values as gains.
    dcg = gains["feature_3"] + gains["feature_1"] / np.log2(3) + gains["feature_2"] / np.log2(4)
    ideal = gains["feature_2"] + gains["feature_1"] / np.log2(3) + gains["feature_3"] / np.log2(4)
    assert drifted["violations"][0]["live_top_features"] == ["feature_3", "feature_1", "feature_2"]
    assert drifted["violations"][0]["ndcg"] == pytest.approx(dcg / ideal, abs=1e-12), "NDCG"
    assert round(dcg / ideal, 4) == 0.7619, "the figure docs/clarify.md shows"
