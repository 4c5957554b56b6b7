"""Tree SHAP for tree ensembles: interventional values against a baseline, in native-speed code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from explainops.errors import ExplainerError
from explainops.explainers import _compiled as kernel
from explainops.explainers.baseline import resolve_baseline
from explainops.explainers.explanation import Explanation
from explainops.explainers.inputs import as_feature_table, default_output_names
from explainops.explainers.tree_models import TreeEnsemble, read_tree_ensemble

FloatArray = npt.NDArray[np.float64]
FeaturePerturbation = Literal["interventional", "tree_path_dependent"]

# Preprocessing steps whose output column j depends on input column j alone: Shapley values of
# the pipeline equal those of the final trees on the transformed columns.
ONE_TO_ONE_STEPS = (
    "StandardScaler",
    "MinMaxScaler",
    "MaxAbsScaler",
    "RobustScaler",
    "SimpleImputer",
)
# Our reading of a model must reproduce its native raw output to this relative tolerance.
_PARSE_TOLERANCE = 1e-4


def split_pipeline(model: Any) -> tuple[list[Any], Any]:
    """Return (column-wise preprocessing steps, final tree model) of a model or sklearn Pipeline.

    Raises ExplainerError when a step does not map input columns one to one, because Tree SHAP
    on the transformed columns would then not attribute to the input columns.
    """
    if type(model).__name__ != "Pipeline" or not hasattr(model, "steps"):
        return [], model
    steps = [step for _, step in model.steps if step not in (None, "passthrough")]
    preprocessing, final = steps[:-1], steps[-1]
    for step in preprocessing:
        name = type(step).__name__
        keeps_columns = name in ONE_TO_ONE_STEPS and not getattr(step, "add_indicator", False)
        if not keeps_columns:
            raise ExplainerError(
                f"TreeExplainer cannot attribute through pipeline step {name}: only column-wise "
                f"steps ({', '.join(ONE_TO_ONE_STEPS)}) keep attributions on the input columns; "
                "use KernelExplainer or ExactExplainer for this model"
            )
    return preprocessing, final


def _transform(steps: list[Any], rows: Any) -> FloatArray:
    for step in steps:
        rows = step.transform(rows)
    return np.asarray(rows, dtype=np.float64)


class TreeExplainer:
    """SHAP values of a tree ensemble's raw output, computed exactly from the trees.

    The raw output is the regression value, the class probabilities of a decision tree or forest,
    or the margin (log-odds) of a gradient-boosted classifier. With the default
    ``feature_perturbation="interventional"`` the values are interventional Shapley values against
    the (weighted) baseline, identical to ExactExplainer's on the same raw output and baseline.
    ``"tree_path_dependent"`` instead uses the library's own contributions (LightGBM, XGBoost),
    which condition on the training data's tree paths and need no baseline.

    Args:
        baseline: (m, d) background rows; None for a k-means summary of the samples.
        baseline_weights: optional (m,) non-negative weights of the baseline rows.
        feature_perturbation: "interventional" (default) or "tree_path_dependent".
        use_logit: not supported (the raw output of boosted classifiers is already log-odds).
        num_clusters, seed: k-means summary settings when no baseline is given.
        feature_names, output_names: names to report (default column_i, label_j).

    """

    def __init__(
        self,
        baseline: Any | None = None,
        baseline_weights: Any | None = None,
        *,
        feature_perturbation: FeaturePerturbation = "interventional",
        use_logit: bool = False,
        num_clusters: int | None = None,
        seed: int | None = 0,
        feature_names: Sequence[str] | None = None,
        output_names: Sequence[str] | None = None,
    ) -> None:
        if use_logit:
            raise ExplainerError(
                "TreeExplainer explains the ensemble's raw output (log-odds for boosted "
                "classifiers) and does not support use_logit; use KernelExplainer or "
                "ExactExplainer to explain the log-odds of predicted probabilities"
            )
        if feature_perturbation not in ("interventional", "tree_path_dependent"):
            raise ExplainerError(
                "feature_perturbation must be 'interventional' or 'tree_path_dependent', "
                f"got {feature_perturbation!r}"
            )
        self.baseline = baseline
        self.baseline_weights = baseline_weights
        self.feature_perturbation = feature_perturbation
        self.num_clusters = num_clusters
        self.seed = seed
        self.feature_names = tuple(feature_names) if feature_names is not None else None
        self.output_names = tuple(output_names) if output_names is not None else None

    def explain(self, model: Any, samples: Any) -> Explanation:
        """Explain the native tree ``model`` (or a column-wise sklearn Pipeline) on ``samples``."""
        table = as_feature_table(samples, self.feature_names)
        if not table.is_numeric:
            raise ExplainerError("TreeExplainer needs numeric features; use KernelExplainer")
        if table.values.shape[0] == 0:
            raise ExplainerError("no samples to explain")
        preprocessing, final = split_pipeline(model)
        ensemble = read_tree_ensemble(final)
        if ensemble.n_features != table.values.shape[1]:
            raise ExplainerError(
                f"the model was trained on {ensemble.n_features} features, "
                f"the samples have {table.values.shape[1]}"
            )
        model_rows = _transform(preprocessing, self._model_input(table.values, table))
        if self.feature_perturbation == "tree_path_dependent":
            values, base_values, predictions = self._path_dependent(ensemble, model_rows)
        else:
            baseline = resolve_baseline(
                self.baseline, self.baseline_weights, table, self.num_clusters, self.seed
            )
            baseline_rows = _transform(
                preprocessing, self._model_input(baseline.table.values, table)
            )
            values, base_values, predictions = self._interventional(
                ensemble, model_rows, baseline_rows, baseline.weights
            )
        return Explanation(
            values=values,
            base_values=base_values,
            predictions=predictions,
            feature_names=table.feature_names,
            output_names=self._output_names(predictions.shape[1]),
        )

    @staticmethod
    def _model_input(rows: FloatArray, table: Any) -> Any:
        if table.dtypes is None:
            return rows
        import pandas as pd

        return pd.DataFrame(rows, columns=list(table.feature_names))

    @staticmethod
    def _path_dependent(
        ensemble: TreeEnsemble, rows: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        if ensemble.native_contributions is None:
            raise ExplainerError(
                f"feature_perturbation 'tree_path_dependent' needs native contributions, which "
                f"{ensemble.kind} does not provide (LightGBM and XGBoost do); use 'interventional'"
            )
        values, base_values = ensemble.native_contributions(rows)
        return values, base_values, ensemble.raw_output(rows)

    @staticmethod
    def _interventional(
        ensemble: TreeEnsemble, rows: FloatArray, baseline_rows: FloatArray, weights: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        samples, background = ensemble.prepare(rows), ensemble.prepare(baseline_rows)
        trees = (
            ensemble.left,
            ensemble.right,
            ensemble.feature,
            ensemble.threshold,
            ensemble.default_left,
            ensemble.strict,
            ensemble.missing,
            ensemble.leaf_values,
            ensemble.roots,
        )
        sample_sums = kernel.ensemble_predict(samples, *trees)
        background_sums = kernel.ensemble_predict(background, *trees)
        offset = _native_offset(
            ensemble, rows, baseline_rows, sample_sums, background_sums, weights
        )
        node_end = np.append(ensemble.roots[1:], ensemble.left.shape[0])
        start, group_rows, group_weights = kernel.background_groups(
            background,
            weights,
            ensemble.left,
            ensemble.threshold,
            ensemble.default_left,
            ensemble.strict,
            ensemble.missing,
            ensemble.feature,
            ensemble.roots,
            node_end,
        )
        coef_x, coef_b = kernel.path_coefficients(ensemble.max_depth)
        values = kernel.interventional_values(
            samples, background, start, group_rows, group_weights, *trees,
            ensemble.max_depth, coef_x, coef_b,
        )  # fmt: skip
        base_values = weights @ background_sums + offset
        return values, np.asarray(base_values, dtype=np.float64), sample_sums + offset

    def _output_names(self, n_outputs: int) -> tuple[str, ...]:
        if self.output_names is None:
            return default_output_names(n_outputs)
        if len(self.output_names) != n_outputs:
            raise ExplainerError(
                f"{len(self.output_names)} output names for a model with {n_outputs} outputs"
            )
        return self.output_names


def _native_offset(
    ensemble: TreeEnsemble,
    rows: FloatArray,
    baseline_rows: FloatArray,
    sample_sums: FloatArray,
    background_sums: FloatArray,
    weights: FloatArray,
) -> FloatArray:
    """The model's constant (initial score, base margin) and a check that we read it right."""
    native_samples = ensemble.raw_output(rows)
    native_background = ensemble.raw_output(baseline_rows)
    if native_samples.shape != sample_sums.shape:
        raise ExplainerError(
            f"{ensemble.kind}: the trees give {sample_sums.shape[1]} outputs, the model "
            f"{native_samples.shape[1]}"
        )
    offset = np.asarray(weights @ (native_background - background_sums), dtype=np.float64)
    native = np.concatenate([native_samples, native_background])
    ours = np.concatenate([sample_sums, background_sums]) + offset
    error = np.max(np.abs(native - ours) / np.maximum(1.0, np.abs(native)))
    if error > _PARSE_TOLERANCE:
        raise ExplainerError(
            f"{ensemble.kind}: the trees as read reproduce the model's raw output only to "
            f"{error:.2g} (relative); this model variant is not supported by TreeExplainer, "
            "use KernelExplainer"
        )
    return offset
