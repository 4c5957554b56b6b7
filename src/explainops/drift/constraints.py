"""Baseline constraints as SageMaker Model Monitor's explainability monitor reads them.

The constraints of a feature attribution drift check are the ``analysis.json`` of a baseline
job: the global SHAP values of every feature, per label, under
``explanations.kernel_shap.<label>.global_shap_values``. Clarify writes that file, and so do
``explainops clarify`` and ``AttributionBaselineJob`` (whose baseline file has the same shape plus
explainops' own fields); all three read the same. Everything else in the file (``expected_value``,
bias metrics, ``pdp``, run details) is not a constraint and is ignored.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from explainops.core.pipeline import DatasetAttributions
from explainops.drift.baseline_file import BASELINE_FORMAT, METHOD_KEY
from explainops.drift.comparison import DriftCheck, compare_with_baseline, violations_document
from explainops.errors import ConfigError
from explainops.io.datasets import read_json, write_json

logger = logging.getLogger(__name__)

VIOLATIONS_FILE = "constraint_violations.json"  # Model Monitor's name for the check's verdict


@dataclass(frozen=True)
class AttributionConstraints:
    """The global attributions a window is checked against, per label, and their file.

    Attributes:
        path: the file read.
        attributions: ``{label: {feature: global SHAP value}}``, in the file's order.
        labels: the labels, in the file's order.
        features: the features of the first label, in the file's order (every label has them).
        kind: ``"Clarify analysis.json"`` (as Clarify and ``explainops clarify`` write it) or
            ``"explainops attribution baseline"`` (``AttributionBaselineJob``'s file).

    """

    path: str
    attributions: dict[str, dict[str, float]]
    labels: list[str]
    features: list[str]
    kind: str

    @classmethod
    def read(cls, path: str) -> AttributionConstraints:
        """Read the constraints in ``path``; ConfigError naming the file and what is wrong."""
        document = read_json(path, "baseline constraints", ConfigError)
        explanations = document.get("explanations") if isinstance(document, dict) else None
        method = explanations.get(METHOD_KEY) if isinstance(explanations, dict) else None
        if not isinstance(method, dict) or not method:
            raise ConfigError(
                f"{path}: no explanations.{METHOD_KEY}.<label>.global_shap_values: expected the "
                "analysis.json of a Clarify explainability baseline job (or an explainops "
                "attribution baseline)"
            )
        attributions = {
            str(label): _global_values(path, str(label), entry) for label, entry in method.items()
        }
        labels = list(attributions)
        features = list(attributions[labels[0]])
        for label in labels[1:]:
            if sorted(attributions[label]) != sorted(features):
                raise ConfigError(
                    f"{path}: label {label!r} has features {sorted(attributions[label])}, label "
                    f"{labels[0]!r} has {sorted(features)}; every label must have the same"
                )
        details = document.get("explainops")
        explainops_baseline = isinstance(details, dict) and details.get("format") == BASELINE_FORMAT
        if explainops_baseline:
            logger.info(
                "%s: an explainops attribution baseline; only its global SHAP values are "
                "constraints (its explainer config and background rows are not used)",
                path,
            )
        return cls(
            path=path,
            attributions=attributions,
            labels=labels,
            features=features,
            kind=(
                "explainops attribution baseline"
                if explainops_baseline
                else "Clarify analysis.json"
            ),
        )

    def describe(self) -> str:
        """One line for logs: the file, who wrote it, its labels and number of features."""
        return (
            f"{self.path} ({self.kind}): labels {', '.join(self.labels)}; "
            f"{len(self.features)} features"
        )

    def check_window(self, features: Sequence[str], labels: Sequence[str], source: str) -> None:
        """ConfigError unless the window explains the constraints' features and labels.

        Order does not matter (a ranking compares values by name); names must match exactly.
        """
        missing = [name for name in self.features if name not in features]
        extra = [name for name in features if name not in self.features]
        if missing or extra:
            raise ConfigError(
                f"{self.path}: the baseline constraints' features differ from the window's "
                f"({source}): missing from the window {missing}, not in the constraints {extra}"
            )
        unknown = [label for label in labels if label not in self.attributions]
        absent = [label for label in self.labels if label not in labels]
        if unknown or absent:
            problems = [f"no constraints for label {label!r}" for label in unknown] + [
                f"label {label!r} not in the window" for label in absent
            ]
            raise ConfigError(
                f"{self.path}: the baseline constraints' labels {self.labels} differ from the "
                f"window's {list(labels)} ({source}): {'; '.join(problems)} (the window's labels "
                "are predictor.label_headers, else label0, label1, ...)"
            )

    def compare(
        self, attributions: DatasetAttributions, threshold: float, top_k: int, source: str
    ) -> list[DriftCheck]:
        """NDCG per label of a window's global values against these, each verdict logged.

        ConfigError, before any comparison, when the window's features or labels differ.
        """
        self.check_window(attributions.feature_names, attributions.output_names, source)
        checks = compare_with_baseline(self, attributions, threshold, top_k)
        for check in checks:
            logger.info(
                "label %s: NDCG %.4f (threshold %.2f): %s",
                check.label,
                check.ndcg,
                threshold,
                "DRIFT" if check.drifted else "ok",
            )
        return checks


def write_violations(path: str, checks: list[DriftCheck], threshold: float) -> None:
    """Write Model Monitor's verdict to ``path``: the drifting labels, an empty list if none."""
    drifted = [check for check in checks if check.drifted]
    logger.info("write %s (%d violations)", path, len(drifted))
    write_json(path, violations_document(drifted, threshold))


def _global_values(path: str, label: str, entry: Any) -> dict[str, float]:
    """One label's ``global_shap_values``, every value a finite number."""
    values = entry.get("global_shap_values") if isinstance(entry, dict) else None
    if not isinstance(values, dict) or not values:
        raise ConfigError(
            f"{path}: label {label!r}: expected a non-empty mapping "
            f"explanations.{METHOD_KEY}.{label}.global_shap_values of feature to value"
        )
    checked = {}
    for feature, value in values.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ConfigError(
                f"{path}: label {label!r}, feature {feature!r}: global SHAP value {value!r} is "
                "not a finite number"
            )
        checked[str(feature)] = float(value)
    return checked
