"""Baseline constraints: Clarify's analysis.json and explainops' baseline file read the same."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from explainops.core.pipeline import DatasetAttributions
from explainops.drift.baseline_file import BASELINE_FORMAT
from explainops.drift.constraints import AttributionConstraints, write_violations
from explainops.errors import ConfigError

from .slow_ndcg import slow_ndcg

# A baseline analysis.json exactly as a Clarify explainability baseline job writes it for a model
# with label_headers ["approve", "fraud"]: no explainops fields, and sections that are no
# constraints (bias metrics, pdp) beside the SHAP values.
CLARIFY_ANALYSIS = {
    "version": "1.0",
    "pre_training_bias_metrics": {"label": "approve", "facets": {}},
    "explanations": {
        "kernel_shap": {
            "approve": {
                "global_shap_values": {"age": 0.40, "income": 0.30, "tenure": 0.20, "region": 0.10},
                "expected_value": 0.61,
            },
            "fraud": {
                "global_shap_values": {"age": 0.05, "income": 0.10, "tenure": 0.02, "region": 0.5},
                "expected_value": 0.03,
            },
        },
        "pdp": [{"feature_name": "age", "data_type": "numerical", "feature_values": [1, 2]}],
    },
}


def write(tmp_path: Path, document: Any, name: str = "analysis.json") -> str:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def window(values: dict[str, dict[str, float]]) -> DatasetAttributions:
    """A window's global attributions per label, as the explain pipeline returns them."""
    labels = list(values)
    features = list(values[labels[0]])
    return DatasetAttributions(
        feature_names=tuple(features),
        output_names=tuple(labels),
        importance=np.array([[values[label][name] for name in features] for label in labels]),
        expected_values=np.zeros(len(labels)),
        n_samples=10,
        max_additivity_error=0.0,
        explainer="KernelExplainer",
        background=pd.DataFrame([[0.0] * len(features)], columns=features),
        background_weights=np.ones(1),
    )


def test_a_clarify_analysis_reads_as_constraints_per_label(tmp_path: Path) -> None:
    # given Clarify's analysis.json of a baseline job
    path = write(tmp_path, CLARIFY_ANALYSIS)

    # when it is read as baseline constraints
    constraints = AttributionConstraints.read(path)

    # then every label's global SHAP values are constraints, named as in the file
    assert constraints.labels == ["approve", "fraud"], "labels are the file's label names"
    assert constraints.features == ["age", "income", "tenure", "region"], "features in order"
    assert constraints.attributions["fraud"]["region"] == 0.5, "values read as written"
    assert constraints.kind == "Clarify analysis.json", "recognised as Clarify's"


def test_an_explainops_baseline_file_reads_the_same(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # given an explainops baseline file: the same shape plus explainops' own fields
    document = CLARIFY_ANALYSIS | {
        "explainops": {"format": BASELINE_FORMAT, "background": {"rows": [[0, 0, 0, 0]]}}
    }
    path = write(tmp_path, document, "baseline.json")

    # when it is read as baseline constraints
    with caplog.at_level(logging.INFO, logger="explainops"):
        constraints = AttributionConstraints.read(path)

    # then it gives the same constraints, and the log says its background is not used
    assert (
        constraints.attributions
        == AttributionConstraints.read(write(tmp_path, CLARIFY_ANALYSIS)).attributions
    ), "same constraints as the Clarify file"
    assert constraints.kind == "explainops attribution baseline", "recognised as ours"
    assert "background rows are not used" in caplog.text, "the log says what is not used"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "not valid JSON"),
        ({"version": "1.0"}, "no explanations.kernel_shap.<label>.global_shap_values"),
        ({"explanations": {"kernel_shap": {}}}, "no explanations.kernel_shap"),
        (
            {"explanations": {"kernel_shap": {"label0": {"expected_value": 0.1}}}},
            "label 'label0': expected a non-empty mapping",
        ),
        (
            {"explanations": {"kernel_shap": {"label0": {"global_shap_values": {"a": "high"}}}}},
            "label 'label0', feature 'a': global SHAP value 'high' is not a finite number",
        ),
        (
            {"explanations": {"kernel_shap": {"label0": {"global_shap_values": {"a": True}}}}},
            "feature 'a': global SHAP value True",
        ),
        ('{"explanations": {"kernel_shap": {"l": {"global_shap_values": {"a": NaN}}}}}', "nan"),
        (
            {
                "explanations": {
                    "kernel_shap": {
                        "label0": {"global_shap_values": {"a": 1.0, "b": 2.0}},
                        "label1": {"global_shap_values": {"a": 1.0, "c": 2.0}},
                    }
                }
            },
            "label 'label1' has features ['a', 'c'], label 'label0' has ['a', 'b']",
        ),
    ],
)
def test_a_file_that_is_no_constraints_is_a_configuration_error(
    tmp_path: Path, document: Any, message: str
) -> None:
    # given a file that holds no usable global SHAP values
    path = write(tmp_path, document)

    # when it is read, then a ConfigError names the file and what is wrong
    with pytest.raises(ConfigError) as raised:
        AttributionConstraints.read(path)
    assert str(raised.value).startswith(path), f"the file is named first: {raised.value}"
    assert message in str(raised.value), f"the problem is named: {raised.value}"


def test_a_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    # when a file that does not exist is read, then the error says so
    with pytest.raises(ConfigError, match="baseline constraints not found"):
        AttributionConstraints.read(str(tmp_path / "nowhere.json"))


def test_labels_match_by_name_whatever_their_order(tmp_path: Path) -> None:
    # given the constraints and a window explaining the same labels and features, reordered
    constraints = AttributionConstraints.read(write(tmp_path, CLARIFY_ANALYSIS))
    live = {
        "fraud": {"region": 0.45, "tenure": 0.03, "income": 0.12, "age": 0.04},
        "approve": {"region": 0.40, "tenure": 0.10, "income": 0.30, "age": 0.15},
    }

    # when the window is compared with them
    checks = {check.label: check for check in constraints.compare(window(live), 0.9, 3, "w.csv")}

    # then each label is scored against its own constraints, by Clarify's NDCG formula
    baseline = CLARIFY_ANALYSIS["explanations"]["kernel_shap"]  # type: ignore[index]
    for label in ("approve", "fraud"):
        expected = slow_ndcg(baseline[label]["global_shap_values"], live[label])
        assert checks[label].ndcg == pytest.approx(expected, abs=1e-12), f"NDCG of {label}"
    # approve: the docs' worked example (0.7857), a drift; fraud keeps its ranking.
    assert checks["approve"].ndcg == pytest.approx(0.785714, abs=1e-6), "hand-computed NDCG"
    assert (checks["approve"].drifted, checks["fraud"].drifted) == (True, False), "verdicts"


@pytest.mark.parametrize(
    ("live", "message"),
    [
        (
            {"approve": {"age": 1.0, "income": 1.0, "tenure": 1.0, "zip": 1.0}},
            "missing from the window ['region'], not in the constraints ['zip']",
        ),
        (
            {
                "approve": {"age": 1.0, "income": 1.0, "tenure": 1.0, "region": 1.0},
                "label1": {"age": 1.0, "income": 1.0, "tenure": 1.0, "region": 1.0},
            },
            "no constraints for label 'label1'; label 'fraud' not in the window",
        ),
    ],
)
def test_a_window_of_other_features_or_labels_is_a_configuration_error(
    tmp_path: Path, live: dict[str, dict[str, float]], message: str
) -> None:
    # given constraints and a window whose features or labels are not theirs
    path = write(tmp_path, CLARIFY_ANALYSIS)
    constraints = AttributionConstraints.read(path)

    # when they are compared, then a ConfigError names the file, the window and the difference
    with pytest.raises(ConfigError) as raised:
        constraints.compare(window(live), 0.9, 3, "window.csv")
    assert str(raised.value).startswith(path), f"the constraints file is named: {raised.value}"
    assert "(window.csv)" in str(raised.value), f"the window is named: {raised.value}"
    assert message in str(raised.value), f"the difference is named: {raised.value}"


def test_violations_are_model_monitor_s_schema_and_empty_when_clean(tmp_path: Path) -> None:
    # given the constraints, a drifting window and a clean one
    constraints = AttributionConstraints.read(write(tmp_path, CLARIFY_ANALYSIS))
    baseline = CLARIFY_ANALYSIS["explanations"]["kernel_shap"]  # type: ignore[index]
    clean = {label: entry["global_shap_values"] for label, entry in baseline.items()}
    drifted = clean | {"approve": {"age": 0.15, "income": 0.30, "tenure": 0.10, "region": 0.40}}

    # when the verdicts are written
    path = tmp_path / "constraint_violations.json"
    write_violations(str(path), constraints.compare(window(drifted), 0.9, 3, "w"), 0.9)
    violations = json.loads(path.read_text())
    write_violations(str(path), constraints.compare(window(clean), 0.9, 3, "w"), 0.9)

    # then the drifting label is one violation with Model Monitor's fields; clean is empty
    assert violations["version"] == "1.0", "Model Monitor's version"
    assert [entry["label"] for entry in violations["violations"]] == ["approve"], "one per label"
    entry = violations["violations"][0]
    assert entry["metric_name"] == "shap", "metric_name"
    assert entry["constraint_check_type"] == "feature_attribution_drift_check", "check type"
    assert entry["description"] == (
        f"Feature attribution drift {entry['ndcg']!r} exceeds threshold 0.9"
    ), "Model Monitor's text, every digit of the NDCG"
    assert entry["ndcg"] == pytest.approx(0.785714, abs=1e-6), "NDCG carried as a number"
    assert json.loads(path.read_text()) == {"version": "1.0", "violations": []}, "clean: empty"
